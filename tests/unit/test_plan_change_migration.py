"""The plan-change migration: a shopper holding two live subscriptions keeps them but cannot add a third, and it goes down again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_migrate import check, downgrade, upgrade

from storefront.extensions import db
from tests.unit.test_mrr_migration import empty_database, seed_old_rows

BEFORE = "d8a6f2c4e1b9"


def insert_live(conn, sub_id: int, user_id: int, plan_id: int) -> None:
    conn.execute(sa.text(
        "INSERT INTO subscriptions (id, user_id, plan_id, status, cancel_at_period_end, retry_count, "
        "created_at, updated_at, version) VALUES (:id, :user, :plan, 'active', false, 0, "
        "'2026-03-01 01:00:00', '2026-03-01 01:00:00', 1)"), {"id": sub_id, "user": user_id, "plan": plan_id})


def test_shoppers_with_two_live_subscriptions_keep_them_and_cannot_add_a_third(app_factory):
    app = app_factory()
    with app.app_context():
        empty_database()
        upgrade(revision=BEFORE)
        seed_old_rows()
        with db.engine.begin() as conn:
            # User 1 holds subscription 1 (plan 1) live; a second live one, to plan 2, from before.
            insert_live(conn, 7, 1, 2)
            conn.execute(sa.text(
                "INSERT INTO plans (id, slug, name, description, features, price, currency, interval, "
                "active, sort_order, translations) VALUES (3, 'p', 'P', '', '[]', 19, 'USD', 'month', "
                "true, 2, '{}')"))
        upgrade()
        check()
        with db.engine.connect() as conn:
            kept = dict(conn.execute(sa.text(
                "SELECT id, kept_before_one_live FROM subscriptions WHERE user_id = 1 "
                "AND status = 'active'")).all())
        assert {k: bool(v) for k, v in kept.items()} == {1: True, 7: False}
        with pytest.raises(sa.exc.IntegrityError):
            with db.engine.begin() as conn:
                insert_live(conn, 8, 1, 3)
        # Another shopper's first live subscription is no clash.
        with db.engine.begin() as conn:
            insert_live(conn, 9, 3, 1)
        downgrade(revision=BEFORE)
        inspector = sa.inspect(db.engine)
        assert "plan_changes" not in inspector.get_table_names()
        assert "next_price" not in {c["name"] for c in inspector.get_columns("subscriptions")}
        upgrade()
        check()
        empty_database()
