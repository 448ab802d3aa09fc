"""Following a sandbox reset while another job (another process) follows the same one."""

from __future__ import annotations

import sqlalchemy as sa

from storefront.billing.sandbox_reset import follow_reset
from storefront.extensions import db
from storefront.models import ShopState


def test_a_job_whose_generation_another_job_records_first_still_finishes(app):
    def other_job_records_first(session, flush_context, instances):
        # Both jobs found no generation recorded; the other one (its own connection, as
        # another process) writes it just before this one does.
        with db.engine.begin() as other:
            other.execute(sa.insert(ShopState).values(key="sandbox_generation", value="1"))

    with app.app_context():
        sa.event.listen(db.session, "before_flush", other_job_records_first, once=True)
        try:
            assert follow_reset(1) == 0
        finally:
            sa.event.remove(db.session, "before_flush", other_job_records_first)
        db.session.expire_all()
        assert db.session.get(ShopState, "sandbox_generation").value == "1"
        # Later jobs take the generation as seen.
        assert follow_reset(1) == 0
