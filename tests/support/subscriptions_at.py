"""Subscriptions started and ended at chosen moments through the billing functions themselves, for the figures' tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from storefront import clock, consents
from storefront.billing import lifecycle, outcomes
from storefront.extensions import db
from storefront.models import Payment, PaymentKind, PaymentStatus, Plan, Subscription, User

_counter = {"n": 0}


def _next() -> int:
    _counter["n"] += 1
    return _counter["n"]


def plan(slug: str, price: str, currency: str = "USD", interval: str = "month") -> Plan:
    """A plan on sale (added to the session and committed)."""
    row = Plan(slug=slug, name=slug, price=Decimal(price), currency=currency, interval=interval)
    db.session.add(row)
    db.session.commit()
    return row


def customer(name: str) -> User:
    """A shopper (committed)."""
    user = User(email=f"{name}@example.com", first_name=name.title(), last_name="Tester")
    user.set_password("correct horse")
    consents.record(user)  # as sign-up does
    db.session.add(user)
    db.session.commit()
    return user


def subscribe(user: User, plan_row: Plan, paid_at: datetime) -> Subscription:
    """A subscription whose first payment was paid at `paid_at`, activated as billing does.

    A shopper's second live subscription is one held from before one live subscription per
    shopper was the rule: the earlier ones are flagged as the migration flagged them."""
    n = _next()
    for earlier in db.session.execute(db.select(Subscription).where(
            Subscription.user_id == user.id, Subscription.status.in_(("active", "past_due")))).scalars():
        earlier.kept_before_one_live = True
    sub = Subscription(user_id=user.id, plan_id=plan_row.id, created_at=paid_at, updated_at=paid_at)
    db.session.add(sub)
    db.session.flush()
    payment = Payment(merchant_uid=f"sub_at_{n}", user_id=user.id, subscription_id=sub.id,
                      amount=plan_row.price,
                      currency=plan_row.currency, kind=PaymentKind.FIRST, status=PaymentStatus.PAID,
                      customer_uid=f"cu_at_{n}", paid_at=paid_at, buyer_email=user.email,
                      buyer_name="Tester", created_at=paid_at)
    db.session.add(payment)
    db.session.flush()
    outcomes.activate(payment, sub)
    db.session.commit()
    return sub


def cancel_now(monkeypatch, sub: Subscription, at: datetime) -> None:
    """The shopper's "cancel now" at `at` (the shop's clock set there meanwhile)."""
    with monkeypatch.context() as patch:
        patch.setattr(clock, "now", lambda: at)
        lifecycle.cancel(sub, at_period_end=False)


def end_unpaid(sub: Subscription, at: datetime) -> None:
    """The renewal's last retry declined at `at`: the subscription ends after failed payments."""
    sub.status = "past_due"
    sub.retry_count = 3
    db.session.commit()
    renewal = Payment(merchant_uid=f"ren_at_{_next()}", user_id=sub.user_id, subscription_id=sub.id,
                      amount=sub.plan.price, currency=sub.plan.currency, kind=PaymentKind.RENEWAL,
                      status=PaymentStatus.FAILED, customer_uid=sub.customer_uid,
                      period_start=sub.current_period_end, scheduled_at=at, created_at=at)
    db.session.add(renewal)
    db.session.flush()
    outcomes.renewal_failed(renewal, sub, {"failed_at": int(at.timestamp())}, ran_schedule=False)
    db.session.commit()
