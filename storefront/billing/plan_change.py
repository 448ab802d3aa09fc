"""Changing a subscription's plan: which plans it may change to, what each change charges now (proration) and when it applies, and applying a change once paid or at the period's end."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from flask_babel import gettext as _

from storefront import clock
from storefront.billing import mrr, notices
from storefront.billing.common import LIVE_STATUSES
from storefront.billing.events import record_event
from storefront.billing.refunds import refund_payment
from storefront.extensions import db
from storefront.formatting import minor_unit, shop_zone
from storefront.mail import language_of
from storefront.models import (
    ChangeStatus, ChangeWhen, Interval, MrrKind, Payment, PaymentKind, Plan, PlanChange, PriceConsent,
    Subscription, SubscriptionStatus,
)
from storefront.models.subscriptions import ORDER_NAME_LENGTH
from storefront.periods import next_period_end

log = logging.getLogger(__name__)

MONTHS_IN = {Interval.MONTH: 1, Interval.YEAR: 12}
# Why an upgrade's charge is given back (stored in English; wording.py shows it translated).
CHANGE_TOO_LATE = "Refunded: the plan change was paid too late to apply, so the plan did not change."


@dataclass(frozen=True)
class Quote:
    """What changing to `plan` means now: charged now, from when the new price applies, and the
    next renewal's date and amount."""

    plan: Plan
    takes_effect: ChangeWhen
    amount: Decimal
    new_price: Decimal
    applies_from: datetime
    next_renewal_at: datetime
    period_end: datetime
    new_period: bool  # the upgrade starts a new, longer period now

    @property
    def is_upgrade(self) -> bool:
        return self.takes_effect == ChangeWhen.NOW


def change_refusal(subscription: Subscription, now: datetime | None = None) -> str | None:
    """Why the subscription cannot change plan now, or None when it can."""
    now = now or clock.now()
    if subscription.status != SubscriptionStatus.ACTIVE:
        return _("Only an active subscription can change plan.")
    if subscription.cancel_at_period_end:
        from storefront.billing.price_changes import open_consent  # it schedules through renewals

        if open_consent(subscription) is not None:
            # Set to end for want of consent to a new price: resuming is not offered.
            return _("This subscription ends at the end of the period unless you agree to the "
                     "new price on your account page; agree to it first to change plan.")
        return _("This subscription ends at the end of the period; resume it first.")
    if subscription.billing_key_ready_at is None:
        return _("Your card is still being activated by PAYMENTWALL. This takes a few seconds.")
    if subscription.current_period_end is None or subscription.current_period_end <= now:
        return _("The period has ended and its renewal is under way; please try again later.")
    if charging_change(subscription.id) is not None:
        return _("A plan change is being charged; please wait until it is decided.")
    return None


def charging_change(subscription_id: int) -> PlanChange | None:
    """The subscription's upgrade whose charge is on its way or held for review, if any."""
    return db.session.execute(
        db.select(PlanChange).where(PlanChange.subscription_id == subscription_id,
                                    PlanChange.status == ChangeStatus.CHARGING)
    ).scalars().first()


def waiting_change(subscription_id: int) -> PlanChange | None:
    """The subscription's downgrade waiting for the period's end, if any."""
    return db.session.execute(
        db.select(PlanChange).where(PlanChange.subscription_id == subscription_id,
                                    PlanChange.status == ChangeStatus.WAITING)
        .order_by(PlanChange.id.desc())
    ).scalars().first()


def other_plans(subscription: Subscription) -> tuple[list[Plan], list[Plan]]:
    """The plans on sale the subscription may change to (same currency), and those in another
    currency (which it may not: cancel, then subscribe when it ends)."""
    plans = db.session.execute(
        db.select(Plan).where(Plan.active.is_(True), Plan.id != subscription.plan_id)
        .order_by(Plan.sort_order, Plan.id)
    ).scalars()
    same, other = [], []
    for plan in plans:
        (same if plan.currency == subscription.plan.currency else other).append(plan)
    return same, other


def price_paid(subscription: Subscription) -> Decimal:
    """The price the running period was paid at: the subscription's price, unless a price change
    already set it for the next renewal (a decrease given, an increase agreed to), when it is
    the price before that change."""
    price = subscription.price if subscription.price is not None else subscription.plan.price
    if subscription.id is None or subscription.current_period_end is None:
        return price
    before = db.session.execute(
        db.select(PriceConsent.old_price).where(
            PriceConsent.subscription_id == subscription.id,
            PriceConsent.renewal_at == subscription.current_period_end,
            PriceConsent.new_price == price, PriceConsent.old_price != price)
        .order_by(PriceConsent.id.desc()).limit(1)).scalar_one_or_none()
    return before if before is not None else price


def paid_share(subscription: Subscription, now: datetime) -> Decimal:
    """The unused part of all the time paid for, counted in periods: (paid-until − now) ÷ the
    length of one period, in seconds over all the time paid (periods paid in advance included)."""
    start, end = subscription.current_period_start, subscription.current_period_end
    if start is None or end is None or end <= now or end <= start:
        return Decimal(0)
    # Whole periods paid: the span over an average period's days (28 to 31 a month).
    days = (end - start).total_seconds() / 86400
    periods = max(1, round(days / (30.44 * MONTHS_IN[Interval(subscription.plan.interval)])))
    left = min(Decimal((end - now).total_seconds()), Decimal((end - start).total_seconds()))
    return periods * left / Decimal((end - start).total_seconds())


def quote(subscription: Subscription, plan: Plan, now: datetime | None = None) -> Quote:
    """What changing the subscription to `plan` charges now and when it applies.

    To a longer interval: a new period starts now, charged the new price less the unused value
    of what was paid. To the same interval at a price as high or higher: the paid-until date
    stays, charged (new price − price paid) × the unused share. Anything else (a lower price, a
    shorter interval) waits for the period's end and charges nothing now. Rounded down to the
    currency's minor unit, never below nothing."""
    now = now or clock.now()
    old_price = price_paid(subscription)
    new_price = Decimal(plan.price)
    end = subscription.current_period_end
    old_months = MONTHS_IN[Interval(subscription.plan.interval)]
    new_months = MONTHS_IN[Interval(plan.interval)]
    share = paid_share(subscription, now)
    unit = minor_unit(plan.currency)
    if new_months > old_months:
        amount = max(Decimal(0), new_price - old_price * share).quantize(unit, rounding=ROUND_DOWN)
        next_at = next_period_end(now, now, plan.interval, zone=shop_zone())
        return Quote(plan, ChangeWhen.NOW, amount, new_price, now, next_at, end, True)
    if new_months == old_months and new_price >= old_price:
        amount = ((new_price - old_price) * share).quantize(unit, rounding=ROUND_DOWN)
        return Quote(plan, ChangeWhen.NOW, amount, new_price, now, end, end, False)
    return Quote(plan, ChangeWhen.PERIOD_END, Decimal(0), new_price, end, end, end, False)


def apply_change(change: PlanChange, subscription: Subscription, at: datetime,
                 payment: Payment | None = None) -> None:
    """Put the subscription on the change's plan and price from `at` (in the caller's
    transaction): an upgrade to a longer interval starts its new period at `at`. Any other
    change waiting is replaced. The schedule follows after the commit (ensure_schedule)."""
    plan = change.to_plan
    old_plan = subscription.plan
    # Worked out before anything is set (see outcomes.activate).
    before = subscription.mrr_amount
    after = mrr.monthly_amount(change.new_price, plan.currency, plan.interval)
    new_period = (change.takes_effect == ChangeWhen.NOW
                  and MONTHS_IN[Interval(plan.interval)] > MONTHS_IN[Interval(old_plan.interval)])
    new_end = next_period_end(at, at, plan.interval, zone=shop_zone()) if new_period else None
    order_name = plan.name_in(language_of(subscription.user))[:ORDER_NAME_LENGTH]
    for other in db.session.execute(
        db.select(PlanChange).where(PlanChange.subscription_id == subscription.id,
                                    PlanChange.status == ChangeStatus.WAITING,
                                    PlanChange.id != change.id)
    ).scalars():
        other.status = ChangeStatus.CANCELLED
        other.settled_at = at
    subscription.plan_id = plan.id
    subscription.price = change.new_price
    subscription.next_plan_id = None
    subscription.next_price = None
    subscription.order_name = order_name
    if new_end is not None:
        subscription.billing_anchor = at
        subscription.current_period_start = at
        subscription.current_period_end = new_end
    subscription.mrr_amount = after
    change.status = ChangeStatus.APPLIED
    change.settled_at = at
    mrr.record_mrr(subscription, before, after, MrrKind.CHANGE, at=at)
    record_event(subscription, "plan_changed", payment=payment, from_plan=old_plan.slug,
                 to_plan=plan.slug, price=str(change.new_price), currency=plan.currency,
                 period_end=subscription.current_period_end)
    queue_mail(change, subscription)
    log.info("subscription %s changed from %s to %s", subscription.id, old_plan.slug, plan.slug)


def queue_mail(change: PlanChange, subscription: Subscription) -> None:
    """Tell the subscriber of a change applied or waiting (one mail per change and state)."""
    notices._queue("plan_changed", f"plan-change-{change.id}-{change.status}", subscription,
                   change=change, to_plan=change.to_plan, from_plan=change.from_plan)


def change_of(payment: Payment) -> PlanChange | None:
    """The plan change a payment of kind PLAN_CHANGE charges."""
    return db.session.execute(
        db.select(PlanChange).where(PlanChange.payment_id == payment.id)
    ).scalar_one_or_none()


def extra_span(payment: Payment) -> tuple[datetime, datetime] | None:
    """The time an upgrade's charge paid for on top of its period's payment: from when it was
    paid to the paid-until date it kept (a same-interval upgrade); None for any other payment
    (one to a longer interval paid a new period of its own)."""
    if payment.kind != PaymentKind.PLAN_CHANGE or payment.paid_at is None:
        return None
    change = change_of(payment)
    if change is None or change.status != ChangeStatus.APPLIED:
        return None
    if MONTHS_IN[Interval(change.to_plan.interval)] != MONTHS_IN[Interval(change.from_plan.interval)]:
        return None
    return payment.paid_at, change.period_end


def too_late(change: PlanChange | None, subscription: Subscription, paid_at: datetime) -> bool:
    """Whether an upgrade's charge paid at `paid_at` can no longer apply: its change was settled
    otherwise, the subscription ended or moved on to another period or plan, or it came after
    its deadline or the period's end."""
    return (change is None or change.status != ChangeStatus.CHARGING
            or subscription.status not in LIVE_STATUSES
            or subscription.plan_id != change.from_plan_id
            or subscription.current_period_end != change.period_end
            or paid_at > change.deadline or paid_at >= change.period_end)


def change_paid(payment: Payment, subscription: Subscription, info: dict[str, Any]) -> None:
    """An upgrade's charge was paid: the change applies now, or (too late) the money goes back
    and nothing changes."""
    change = change_of(payment)
    paid_at = payment.paid_at or clock.now()
    if too_late(change, subscription, paid_at):
        refund_payment(payment, info, CHANGE_TOO_LATE)
        if change is not None and change.status == ChangeStatus.CHARGING:
            change.status = ChangeStatus.FAILED
            change.settled_at = paid_at
        return
    apply_change(change, subscription, paid_at, payment)
    # It pays the new plan from now to the paid-until date.
    notices.receipt(payment, subscription, info, paid_at, subscription.current_period_end)


def change_failed(payment: Payment) -> None:
    """An upgrade's charge was declined: the change is dropped, nothing else changes."""
    change = change_of(payment)
    if change is not None and change.status == ChangeStatus.CHARGING:
        change.status = ChangeStatus.FAILED
        change.settled_at = clock.now()


def due_downgrade(payment: Payment, subscription: Subscription) -> PlanChange | None:
    """The downgrade a payment of the next period takes up: the one waiting, when the payment
    charged its price (a renewal scheduled before it was asked for charged the old one)."""
    if subscription.next_plan_id is None or payment.amount != subscription.next_price:
        return None
    change = waiting_change(subscription.id)
    return change if change is not None and change.to_plan_id == subscription.next_plan_id else None
