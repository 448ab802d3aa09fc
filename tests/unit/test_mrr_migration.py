"""The MRR and subscription-price migrations: what they back-fill from the subscriptions there are, and taken away again."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_migrate import check, downgrade, upgrade

from storefront.extensions import db

BEFORE = "e8b5c3a1f4d7"
T0 = datetime(2026, 3, 1, 1, 0)
T1 = datetime(2026, 6, 1, 1, 0)
T2 = datetime(2026, 9, 15, 1, 0)


def empty_database() -> None:
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def seed_old_rows() -> None:
    meta = sa.MetaData()
    meta.reflect(bind=db.engine)
    users, plans, subs = meta.tables["users"], meta.tables["plans"], meta.tables["subscriptions"]
    with db.engine.begin() as conn:
        for n in (1, 2, 3):
            conn.execute(users.insert().values(
                id=n, email=f"u{n}@example.com", first_name="U", last_name="Ser", password_hash="x",
                created_at=T0, session_token=f"t{n}"))
        conn.execute(plans.insert(), [
            dict(id=1, slug="m", name="M", description="", features=[], price=Decimal("9.00"),
                 currency="USD", interval="month", active=True, sort_order=0, translations={}),
            dict(id=2, slug="wy", name="WY", description="", features=[], price=Decimal("99000"),
                 currency="KRW", interval="year", active=True, sort_order=1, translations={}),
        ])
        common = dict(cancel_at_period_end=False, retry_count=0, created_at=T0, updated_at=T0)
        rows = [
            dict(id=1, user_id=1, plan_id=1, status="active", billing_anchor=T1, **common),
            dict(id=2, user_id=2, plan_id=2, status="past_due", billing_anchor=None, **common),
            dict(id=3, user_id=3, plan_id=1, status="canceled", billing_anchor=T0, canceled_at=T2,
                 ended_reason="payment_failed", **common),
            dict(id=4, user_id=3, plan_id=2, status="canceled", billing_anchor=T0, canceled_at=T1,
                 ended_reason="cancelled", **common),
            # Given up before it was paid, and still being bought: never live, never in MRR.
            dict(id=5, user_id=1, plan_id=2, status="canceled", billing_anchor=None, canceled_at=T1,
                 **common),
            dict(id=6, user_id=2, plan_id=1, status="incomplete", **common),
        ]
        blank = {"billing_anchor": None, "canceled_at": None, "ended_reason": None}
        conn.execute(subs.insert(), [{**blank, **row} for row in rows])


def test_the_migration_back_fills_snapshots_and_ledger_and_goes_down_again(app_factory):
    app = app_factory()
    with app.app_context():
        empty_database()
        upgrade(revision=BEFORE)
        seed_old_rows()
        upgrade()
        check()
        with db.engine.connect() as conn:
            snapshots = dict(conn.execute(sa.text("SELECT id, mrr_amount FROM subscriptions")).all())
            ledger = conn.execute(sa.text(
                "SELECT subscription_id, user_id, currency, kind, occurred_at, amount_before, "
                "amount_after, voluntary FROM mrr_changes ORDER BY subscription_id, id")).all()
        assert {k: (None if v is None else Decimal(str(v))) for k, v in snapshots.items()} == {
            1: Decimal("9.00"), 2: Decimal("8250"), 3: Decimal("9.00"), 4: Decimal("8250"),
            5: None, 6: None}
        rows = [(s, u, c, k, str(at)[:19], Decimal(str(b)), Decimal(str(a)),
                 None if v is None else bool(v)) for s, u, c, k, at, b, a, v in ledger]
        assert rows == [
            (1, 1, "USD", "start", "2026-06-01 01:00:00", Decimal(0), Decimal("9.00"), None),
            (2, 2, "KRW", "start", "2026-03-01 01:00:00", Decimal(0), Decimal("8250"), None),
            (3, 3, "USD", "start", "2026-03-01 01:00:00", Decimal(0), Decimal("9.00"), None),
            (3, 3, "USD", "end", "2026-09-15 01:00:00", Decimal("9.00"), Decimal(0), False),
            (4, 3, "KRW", "start", "2026-03-01 01:00:00", Decimal(0), Decimal("8250"), None),
            (4, 3, "KRW", "end", "2026-06-01 01:00:00", Decimal("8250"), Decimal(0), True),
        ]
        downgrade(revision=BEFORE)
        inspector = sa.inspect(db.engine)
        assert "mrr_changes" not in inspector.get_table_names()
        assert "mrr_amount" not in {c["name"] for c in inspector.get_columns("subscriptions")}
        upgrade()
        check()
        empty_database()


def test_the_price_migration_gives_every_subscription_once_live_its_plans_price(app_factory):
    app = app_factory()
    with app.app_context():
        empty_database()
        upgrade(revision="b4d9e2f6a8c3")
        seed_old_rows()
        upgrade()
        check()
        with db.engine.connect() as conn:
            prices = dict(conn.execute(sa.text("SELECT id, price FROM subscriptions")).all())
        assert {k: (None if v is None else Decimal(str(v))) for k, v in prices.items()} == {
            1: Decimal("9.00"), 2: Decimal("99000"), 3: Decimal("9.00"), 4: Decimal("99000"),
            5: Decimal("99000"), 6: None}
        downgrade(revision="b4d9e2f6a8c3")
        assert "price" not in {c["name"] for c in sa.inspect(db.engine).get_columns("subscriptions")}
        upgrade()
        empty_database()
