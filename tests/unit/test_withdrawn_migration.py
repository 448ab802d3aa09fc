"""The migration that lets a subscription end as withdrawn (청약철회), up and down."""

from __future__ import annotations

import pytest
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storefront.cli import seed_plans
from storefront.extensions import db
from storefront.models import Plan, Subscription, User

BEFORE = "c7e1a3f5b9d2"


def test_withdrawn_is_allowed_after_and_reads_cancelled_once_downgraded(app_factory):
    app = app_factory()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        check()
        seed_plans()
        user = User(email="u@example.com", first_name="U", last_name="Ser")
        user.set_password("correct horse")
        plan = db.session.execute(db.select(Plan)).scalars().first()
        db.session.add(Subscription(user=user, plan=plan, status="canceled", ended_reason="withdrawn"))
        db.session.commit()
        db.session.remove()
        downgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT ended_reason FROM subscriptions")).scalar() == "cancelled"
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(text("UPDATE subscriptions SET ended_reason = 'withdrawn'"))
        upgrade()
        check()
        db.session.remove()
