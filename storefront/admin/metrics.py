"""The dashboard's figures, each one aggregate query: live counts, MRR per currency, this month's movements, the last twelve months, what needs attention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from storefront import clock
from storefront.extensions import db
from storefront.formatting import shop_zone
from storefront.models import (
    Money, MrrChange, MrrKind, Payment, PaymentKind, PaymentStatus, Plan, Refund, RefundStatus,
    Subscription, SubscriptionStatus, WebhookOutcome, WebhookReceipt,
)

LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
ZERO = Decimal(0)


def _money(expression: Any) -> Any:
    """A sum read back as Decimal on every database. SQLite adds NUMERIC as floats (8.33 +
    8.34 − 8.33 − 8.34 is 2e-15 there): rounded to the cents a Money column holds, a sum that
    should be 0 is 0, and compares so."""
    total = sa.func.round(sa.func.coalesce(sa.func.sum(expression), 0), 2)
    return sa.type_coerce(total, Money)


def _count(condition: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def month_start(moment: datetime, months_back: int = 0) -> datetime:
    """The start (aware UTC) of the shop-calendar month holding `moment`, or of one before it."""
    local = moment.astimezone(shop_zone())
    index = local.year * 12 + local.month - 1 - months_back
    start = datetime(index // 12, index % 12 + 1, 1, tzinfo=shop_zone())
    return start.astimezone(timezone.utc)


def live_counts() -> dict[str, int]:
    """How many subscriptions are active and how many past due."""
    counts = dict(db.session.execute(
        db.select(Subscription.status, sa.func.count()).where(Subscription.status.in_(LIVE))
        .group_by(Subscription.status)
    ).all())
    return {"active": counts.get(SubscriptionStatus.ACTIVE, 0),
            "past_due": counts.get(SubscriptionStatus.PAST_DUE, 0)}


def mrr_by_currency() -> dict[str, Decimal]:
    """MRR now per currency: the sum of the live subscriptions' monthly snapshots."""
    rows = db.session.execute(
        db.select(Plan.currency, _money(Subscription.mrr_amount))
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(Subscription.status.in_(LIVE))
        .group_by(Plan.currency).order_by(Plan.currency)
    ).all()
    return {currency: amount for currency, amount in rows}


@dataclass(frozen=True)
class Movements:
    """One currency's MRR movements over a month: amounts, and how many customers each."""

    start: Decimal
    new: Decimal
    new_count: int
    expansion: Decimal
    expansion_count: int
    reactivation: Decimal
    reactivation_count: int
    contraction: Decimal
    contraction_count: int
    churn_voluntary: Decimal
    churn_voluntary_count: int
    churn_involuntary: Decimal
    churn_involuntary_count: int
    end: Decimal


def movements(now: datetime | None = None) -> dict[str, Movements]:
    """This month's movements per currency, per customer month over month (Lago's buckets and
    Chargebee's reactivation): previous = the customer's MRR at the month's start, current = now.

    A customer live in the month and gone again has 0 then and 0 now: neither new nor churn.
    Churn is involuntary when one of the customer's ends this month came after failed payments.
    """
    now = now or clock.now()
    start = month_start(now)
    delta = MrrChange.amount_after - MrrChange.amount_before
    before_month = MrrChange.occurred_at < start
    per_customer = (
        db.select(
            MrrChange.currency.label("currency"),
            _money(sa.case((before_month, delta), else_=0)).label("previous"),
            _money(delta).label("current"),
            _count(before_month & (MrrChange.kind == MrrKind.START)).label("live_before"),
            _count(~before_month & (MrrChange.kind == MrrKind.END)
                   & (MrrChange.voluntary == sa.false())).label("involuntary"),
        )
        .where(MrrChange.occurred_at <= now)
        .group_by(MrrChange.user_id, MrrChange.currency)
        .subquery()
    )
    previous, current = per_customer.c.previous, per_customer.c.current
    grew_from_nothing = (previous == 0) & (current > 0)
    churned = (current == 0) & (previous > 0)
    kinds = {
        "new": (grew_from_nothing & (per_customer.c.live_before == 0), current),
        "reactivation": (grew_from_nothing & (per_customer.c.live_before > 0), current),
        "expansion": ((previous > 0) & (current > previous), current - previous),
        "contraction": ((current > 0) & (current < previous), previous - current),
        "churn_voluntary": (churned & (per_customer.c.involuntary == 0), previous),
        "churn_involuntary": (churned & (per_customer.c.involuntary > 0), previous),
    }
    columns = [per_customer.c.currency, _money(previous), _money(current)]
    for condition, amount in kinds.values():
        columns += [_money(sa.case((condition, amount), else_=0)), _count(condition)]
    rows = db.session.execute(
        db.select(*columns).group_by(per_customer.c.currency).order_by(per_customer.c.currency)
    ).all()
    figures = {}
    for currency, month_start_mrr, month_end_mrr, *pairs in rows:
        named = {}
        for index, name in enumerate(kinds):
            named[name] = pairs[2 * index]
            named[f"{name}_count"] = int(pairs[2 * index + 1])
        figures[currency] = Movements(start=month_start_mrr, end=month_end_mrr, **named)
    return figures


@dataclass(frozen=True)
class History:
    """Month by month, the oldest first: MRR per currency and live subscriptions at each
    month's end (the current month: now)."""

    months: list[date]
    mrr: dict[str, list[Decimal]]
    live: list[int]


def history(now: datetime | None = None, months: int = 12) -> History:
    """The last `months` months from the ledger, in one grouped query: each month-end figure
    is the sum of the changes before that month's end."""
    now = now or clock.now()
    starts = [month_start(now, back) for back in range(months - 1, -1, -1)]
    ends = starts[1:]
    delta = MrrChange.amount_after - MrrChange.amount_before
    step = sa.case((MrrChange.kind == MrrKind.START, 1), (MrrChange.kind == MrrKind.END, -1), else_=0)
    # The current month's figure is "so far": every change up to now.
    bounds = [MrrChange.occurred_at < end for end in ends] + [MrrChange.occurred_at <= now]
    columns = [MrrChange.currency]
    columns += [_money(sa.case((bound, delta), else_=0)) for bound in bounds]
    columns += [sa.func.coalesce(sa.func.sum(sa.case((bound, step), else_=0)), 0) for bound in bounds]
    rows = db.session.execute(
        db.select(*columns).where(MrrChange.occurred_at <= now)
        .group_by(MrrChange.currency).order_by(MrrChange.currency)
    ).all()
    live = [0] * months
    mrr = {}
    for currency, *values in rows:
        mrr[currency] = list(values[:months])
        live = [total + int(count) for total, count in zip(live, values[months:])]
    zone = shop_zone()
    return History(months=[start.astimezone(zone).date() for start in starts], mrr=mrr, live=live)


def failed_renewals(now: datetime | None = None) -> int:
    """Renewal attempts declined this month (by when they were due to run)."""
    now = now or clock.now()
    due = sa.func.coalesce(Payment.scheduled_at, Payment.created_at)
    return db.session.execute(
        db.select(sa.func.count()).select_from(Payment).where(
            Payment.kind == PaymentKind.RENEWAL, Payment.status == PaymentStatus.FAILED,
            due >= month_start(now), due <= now)
    ).scalar_one()


def refunds_owed() -> dict[str, tuple[int, Decimal]]:
    """Refunds not done yet, per currency: how many, and how much."""
    rows = db.session.execute(
        db.select(Refund.currency, sa.func.count(), _money(Refund.amount))
        .where(Refund.status != RefundStatus.DONE)
        .group_by(Refund.currency).order_by(Refund.currency)
    ).all()
    return {currency: (count, amount) for currency, count, amount in rows}


def failed_webhooks(now: datetime | None = None) -> int:
    """Webhooks received this month that could not be recorded (iamport did not answer the
    lookup, or the recording failed): iamport sends them again, reconcile catches up."""
    now = now or clock.now()
    return db.session.execute(
        db.select(sa.func.count()).select_from(WebhookReceipt).where(
            WebhookReceipt.outcome == WebhookOutcome.ERROR,
            WebhookReceipt.received_at >= month_start(now), WebhookReceipt.received_at <= now)
    ).scalar_one()
