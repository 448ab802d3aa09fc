"""A subscription's monthly recurring amount (its MRR snapshot) and the ledger rows written with every change of it."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from storefront import clock
from storefront.extensions import db
from storefront.formatting import minor_unit
from storefront.models import EndedReason, Interval, MrrChange, MrrKind, Plan, Subscription

MONTHS_IN = {Interval.MONTH: 1, Interval.YEAR: 12}


def monthly_amount(price: Decimal, currency: str, interval: str) -> Decimal:
    """A price per interval as an amount a month, VAT included as the price is: a yearly price
    ÷ 12, rounded half up to the currency's minor unit (₩99,000 → ₩8,250; $100 → $8.33)."""
    months = MONTHS_IN[Interval(interval)]
    return (Decimal(price) / months).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def plan_monthly(plan: Plan) -> Decimal:
    """The plan's list price a month (what a subscriber pays until their amount can differ)."""
    return monthly_amount(plan.price, plan.currency, plan.interval)


def record_mrr(subscription: Subscription, before: Decimal | None, after: Decimal | None,
               kind: MrrKind, voluntary: bool | None = None,
               at: datetime | None = None) -> MrrChange:
    """Add a ledger row for a change of the subscription's monthly amount (0 while not live) to
    the session: the caller commits it with the change, so the ledger is never out of step.

    `at` is when the change takes effect (the first payment's time, the end's), now by default."""
    row = MrrChange(
        user_id=subscription.user_id,
        subscription_id=subscription.id,
        currency=subscription.plan.currency,
        occurred_at=at or clock.now(),
        amount_before=before or Decimal(0),
        amount_after=after or Decimal(0),
        kind=kind,
        voluntary=voluntary if kind == MrrKind.END else None,
    )
    db.session.add(row)
    return row


def started(subscription: Subscription, amount: Decimal, at: datetime) -> None:
    """The subscription went live at `at` paying `amount` a month: snapshot and ledger."""
    subscription.mrr_amount = amount
    record_mrr(subscription, Decimal(0), amount, MrrKind.START, at=at)


def ended(subscription: Subscription, at: datetime, voluntary: bool) -> None:
    """The live subscription ended at `at`: it leaves MRR (its snapshot is kept, as what it
    paid a month). Call it before changing the subscription, so that nothing it loads writes
    the subscription twice."""
    record_mrr(subscription, subscription.mrr_amount, Decimal(0), MrrKind.END,
               voluntary=voluntary, at=at)


def chose_to_end(reason: EndedReason | None) -> bool:
    """Whether an end was the customer's choice: every end but the one after failed payments."""
    return reason != EndedReason.PAYMENT_FAILED
