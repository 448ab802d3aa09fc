"""The migration to a refund row per request keeps the refunds already written, up and down."""

from __future__ import annotations

from decimal import Decimal

from flask_migrate import check, downgrade, upgrade
from sqlalchemy import text

from storefront.extensions import db
from storefront.models import Payment, Refund

BEFORE = "e8b5c3a1f4d7"


def fresh(app) -> None:
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_existing_refunds_keep_their_rows_keyed_by_imp_uid_up_and_down(app_factory):
    app = app_factory()
    with app.app_context():
        fresh(app)
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (email, first_name, last_name, password_hash, created_at, "
                "session_token) VALUES ('u@example.com', 'U', 'Ser', 'x', CURRENT_TIMESTAMP, 't')"))
            for uid, status in (("sub_20261201_aa", "cancelled"), ("sub_20261201_bb", "paid")):
                conn.execute(text(
                    "INSERT INTO payments (merchant_uid, imp_uid, user_id, amount, currency, status, "
                    f"kind, created_at, updated_at) VALUES ('{uid}', 'imp_{uid}', 1, 9, 'USD', "
                    f"'{status}', 'first', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            for imp_uid, payment_id, status in (("imp_sub_20261201_aa", 1, "done"),
                                                ("imp_sub_20261201_bb", 2, "owed"),
                                                ("imp_someone_else", None, "done")):
                conn.execute(text(
                    "INSERT INTO refunds (imp_uid, merchant_uid, payment_id, amount, currency, reason, "
                    "status, attempts, created_at) VALUES (:imp, 'sub_20261201_aa', :pid, 9, 'USD', "
                    "'Refunded: test', :status, 1, CURRENT_TIMESTAMP)"),
                    {"imp": imp_uid, "pid": payment_id, "status": status})
        upgrade()
        check()
        keys = dict(db.session.execute(db.select(Refund.imp_uid, Refund.request_key)).all())
        assert keys == {"imp_sub_20261201_aa": "full:imp_sub_20261201_aa",
                        "imp_sub_20261201_bb": "full:imp_sub_20261201_bb",
                        "imp_someone_else": "full:imp_someone_else"}
        refunded = dict(db.session.execute(db.select(Payment.merchant_uid, Payment.refunded_amount)).all())
        assert refunded == {"sub_20261201_aa": Decimal("9.00"), "sub_20261201_bb": Decimal("0.00")}
        # A second request on one payment now has its own row.
        db.session.add(Refund(request_key="staff:1", imp_uid="imp_sub_20261201_bb",
                              merchant_uid="sub_20261201_bb", payment_id=2, amount=Decimal(3),
                              currency="USD", reason="asked"))
        db.session.commit()
        assert db.session.execute(db.select(db.func.count(Refund.id))).scalar_one() == 4
        db.session.remove()

        downgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            rows = conn.execute(text("SELECT imp_uid FROM refunds ORDER BY id")).scalars().all()
        assert rows == ["imp_sub_20261201_aa", "imp_sub_20261201_bb", "imp_someone_else"]
        upgrade()
        check()
        db.session.remove()
        fresh(app)
