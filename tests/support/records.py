"""What the storefront stored and what the sandbox holds, read by the tests of the served shop."""

from __future__ import annotations

from storefront.extensions import db
from storefront.models import Payment, Subscription
from tests.support.shop import Shop

DAY = 86400


def subscription(shop: Shop, sub_id: int) -> Subscription:
    """The subscription as stored now (detached)."""
    with shop.context():
        sub = db.session.get(Subscription, sub_id)
        db.session.expunge(sub)
        return sub


def stored_payments(app, *where, kind=None, status=None) -> list[Payment]:
    """Payments as stored now (detached), oldest first, of a kind and status if given."""
    with app.app_context():
        query = db.select(Payment).where(*where).order_by(Payment.id)
        if kind:
            query = query.where(Payment.kind == kind)
        if status:
            query = query.where(Payment.status == status)
        rows = list(db.session.execute(query).scalars())
        for row in rows:
            db.session.expunge(row)
        return rows


def payments(shop: Shop, sub_id: int, kind=None, status=None) -> list[Payment]:
    """The subscription's payments as stored now (detached), oldest first."""
    return stored_payments(shop.app, Payment.subscription_id == sub_id, kind=kind, status=status)


def scheduled(shop: Shop, sub_id: int) -> list[Payment]:
    """The subscription's renewals that wait for their date."""
    return payments(shop, sub_id, kind="renewal", status="scheduled")


def registered(shop: Shop, sub_id: int) -> bool:
    """True once the subscription has a scheduled renewal that iamport knows too, and that the
    shop has recorded iamport took: until then the webhook's work after its answer is still
    writing the row, and a test's own change of it could be overwritten."""
    rows = scheduled(shop, sub_id)
    return bool(rows) and all(row.schedule_taken_at is not None for row in rows) and all(
        shop.sandbox.api("GET", f"/subscribe/payments/schedule/{row.merchant_uid}").ok for row in rows
    )


def iamport_schedule(shop: Shop, merchant_uid: str) -> dict:
    """The sandbox's record of a scheduled payment."""
    return shop.sandbox.api("GET", f"/subscribe/payments/schedule/{merchant_uid}").json()["response"]


def key_exists(shop: Shop, customer_uid: str) -> bool:
    """True while the sandbox holds the billing key."""
    return shop.sandbox.api("GET", f"/subscribe/customers/{customer_uid}").status_code == 200
