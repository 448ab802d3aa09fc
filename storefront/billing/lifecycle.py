"""The subscription lifecycle: activate, extend, renewal failed (for a payment just recorded), cancel, resume, and periods that end."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from functools import partial
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from storefront.billing.common import (
    LIVE_STATUSES,
    ActionRefused,
    from_unix,
    lock_unclaimed,
    retried_on_conflict,
)
from storefront.billing.refunds import (
    ALREADY_CANCELED,
    ALREADY_SUBSCRIBED,
    PERIOD_PAID_ALREADY,
    refund_payment,
)
from storefront.billing.renewals import ensure_schedule, schedule_next_renewal
from storefront.billing.schedules import retire_key
from storefront.extensions import db
from storefront.formatting import minor_unit, shop_zone
from storefront.models import Payment, PaymentKind, PaymentStatus, Subscription, SubscriptionStatus, utcnow
from storefront.periods import next_period_end

log = logging.getLogger(__name__)


def anchor_of(subscription: Subscription, end: datetime) -> datetime:
    """The date the subscription's periods are counted from (see Subscription.billing_anchor)."""
    return subscription.billing_anchor or subscription.current_period_start or end


def period_end_after(subscription: Subscription) -> datetime:
    """The paid-until date once one more period is charged (for the charge's confirmation)."""
    end = subscription.current_period_end or utcnow()
    return next_period_end(anchor_of(subscription, end), end, subscription.plan.interval, zone=shop_zone())


def activate(payment: Payment, subscription: Subscription) -> None:
    """A paid first payment starts the subscription's first period on its billing key."""
    start = payment.paid_at or utcnow()
    # Worked out before anything is set: loading the plan or the buyer midway would write the
    # subscription twice (the session flushes before it loads).
    end = next_period_end(start, start, subscription.plan.interval, zone=shop_zone())
    buyer = payment.user
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.customer_uid = payment.customer_uid
    subscription.buyer_email = buyer.email
    subscription.buyer_name = buyer.buyer_name
    subscription.billing_key_ready_at = None
    subscription.billing_anchor = start
    subscription.current_period_start = start
    subscription.current_period_end = end
    log.info("subscription %s activated by %s", subscription.id, payment.merchant_uid)


def extend(payment: Payment, subscription: Subscription, ran_schedule: bool) -> list[partial]:
    """A paid repeat charge, card change or renewal pays one more period, from the end of the
    paid one to the anchor's next date; return the calls to iamport to make after the commit."""
    after: list[partial] = []
    old_end = subscription.current_period_end or payment.paid_at or utcnow()
    anchor = anchor_of(subscription, old_end)
    # Worked out before anything is set (see activate).
    new_end = next_period_end(anchor, old_end, subscription.plan.interval, zone=shop_zone())
    new_card = payment.customer_uid and payment.customer_uid != subscription.customer_uid
    buyer = payment.user if new_card else None
    subscription.billing_anchor = anchor
    subscription.current_period_end = new_end
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.retry_count = 0
    subscription.past_due_since = None
    if payment.kind == PaymentKind.RENEWAL:
        subscription.current_period_start = old_end
    if buyer is not None:
        # Paid with a new card: its key replaces the old one, which is deleted at iamport.
        old_key = subscription.customer_uid
        subscription.customer_uid = payment.customer_uid
        subscription.buyer_email = buyer.email
        subscription.buyer_name = buyer.buyer_name
        subscription.billing_key_ready_at = None
        if old_key:
            after.append(partial(retire_key, subscription.id, old_key))
    schedule_next_renewal(subscription, ran_schedule)
    return after


def renewal_failed(payment: Payment, subscription: Subscription, info: dict[str, Any],
                   ran_schedule: bool) -> list[partial]:
    """A declined renewal: past due and retried later, canceled after the last retry; return
    the calls to iamport to make after the commit."""
    if subscription.status not in LIVE_STATUSES:
        return []
    failed_at = from_unix(info.get("failed_at")) or utcnow()
    subscription.retry_count += 1
    if subscription.retry_count == 1:
        subscription.past_due_since = failed_at
    if subscription.retry_count > len(current_app.config["RENEWAL_RETRY_DAYS"]):
        subscription.status = SubscriptionStatus.CANCELED
        subscription.canceled_at = failed_at
        key = subscription.customer_uid
        return [partial(retire_key, subscription.id, key)] if key else []
    subscription.status = SubscriptionStatus.PAST_DUE
    if payment.period_start == subscription.current_period_end:
        schedule_next_renewal(subscription, ran_schedule, attempt=(payment.attempt or 0) + 1)
    return []


def other_attempt_at_period(payment: Payment, *conditions: Any) -> bool:
    """Whether another attempt at this renewal's period meets the conditions."""
    return db.session.execute(
        db.select(Payment.id).where(
            Payment.subscription_id == payment.subscription_id,
            Payment.kind == PaymentKind.RENEWAL,
            Payment.period_start == payment.period_start,
            Payment.id != payment.id,
            *conditions,
        ).limit(1)
    ).first() is not None


def decides_its_period(payment: Payment, subscription: Subscription) -> bool:
    """Whether a renewal attempt's failure may change the subscription: only the latest attempt
    at the period still due may (an older one declined late, after a later one paid, may not)."""
    if payment.period_start is None:
        return True  # made before renewals recorded their period
    if payment.period_start != subscription.current_period_end:
        return False
    return not other_attempt_at_period(payment, Payment.attempt > (payment.attempt or 0))


def period_paid_already(payment: Payment, subscription: Subscription) -> bool:
    """Whether another attempt at this paid renewal's period was paid first.

    Only asked when the period is no longer the one due (in the common case it is, and no query
    is made): charged otherwise meanwhile ("charge now"), this payment still buys a period.
    """
    if payment.period_start is None or payment.period_start == subscription.current_period_end:
        return False
    return other_attempt_at_period(payment, Payment.status == PaymentStatus.PAID)


def follow_payment(payment: Payment, subscription: Subscription, info: dict[str, Any],
                   ran_schedule: bool, by_schedule: bool) -> list[partial]:
    """Change the (locked) subscription for its payment that just changed; return the calls
    to iamport that give money back or retire a key, to make after the commit (the schedules
    follow from the database, see update_schedules).

    `ran_schedule`: the payment was a scheduled renewal that iamport ran; `by_schedule`: iamport
    says a schedule made the payment.
    """
    paid = payment.status == PaymentStatus.PAID
    if paid and payment.kind == PaymentKind.FIRST:
        if subscription.status in LIVE_STATUSES:
            # Two checkouts for one plan were both paid: the second is refunded.
            after = [partial(refund_payment, payment.id, ALREADY_SUBSCRIBED)]
            if payment.customer_uid and payment.customer_uid != subscription.customer_uid:
                # The key this payment issued would stay with the PG, used by nothing.
                after.append(partial(retire_key, subscription.id, payment.customer_uid))
            return after
        activate(payment, subscription)
        return []
    if paid:
        if subscription.status == SubscriptionStatus.CANCELED:
            return [partial(refund_payment, payment.id, ALREADY_CANCELED)]
        if payment.kind == PaymentKind.RENEWAL and period_paid_already(payment, subscription):
            return [partial(refund_payment, payment.id, PERIOD_PAID_ALREADY)]
        return extend(payment, subscription, ran_schedule)
    if payment.status == PaymentStatus.FAILED and payment.kind == PaymentKind.RENEWAL:
        if not by_schedule or not decides_its_period(payment, subscription):
            # Not the card declining the period's renewal (a payment made otherwise on its
            # order id, or an older attempt declined late): the subscription stays as it is.
            return []
        return renewal_failed(payment, subscription, info, ran_schedule)
    return []


@dataclass(frozen=True)
class GivenUp:
    """What cancelling now gives up: the paid time left (whole days, until when) and what it is
    worth at the plan's current price. Cancelling now refunds nothing (see cancel)."""

    days: int
    amount: Decimal
    currency: str
    until: datetime | None


def given_up_now(subscription: Subscription, now: datetime | None = None) -> GivenUp:
    """The paid time left that cancelling now gives up, from now to the paid-until date (more
    than one period after "Charge now"), valued pro rata at the plan's price, rounded down."""
    now = now or utcnow()
    plan = subscription.plan
    start, end = subscription.current_period_start, subscription.current_period_end
    if end is None or start is None or end <= now or end <= start:
        return GivenUp(days=0, amount=Decimal(0), currency=plan.currency, until=None)
    # The span since the period began holds whole periods: one, or more paid in advance.
    months = (end.year - start.year) * 12 + end.month - start.month
    periods = max(1, round(months / (12 if plan.interval == "year" else 1)))
    share = Decimal((end - now).total_seconds()) / Decimal((end - start).total_seconds())
    amount = (plan.price * periods * min(share, Decimal(1))).quantize(
        minor_unit(plan.currency), rounding=ROUND_DOWN)
    return GivenUp(days=(end - now).days, amount=amount, currency=plan.currency, until=end)


@retried_on_conflict
def cancel(subscription: Subscription, at_period_end: bool) -> None:
    """Stop renewals: at the period's end (access until then) or now (the key is deleted)."""
    if subscription.status not in LIVE_STATUSES:
        raise ActionRefused(_("This subscription is not active."))
    if at_period_end:
        if subscription.status != SubscriptionStatus.ACTIVE:
            raise ActionRefused(_("A past-due subscription can only be cancelled now."))
        subscription.cancel_at_period_end = True
        db.session.commit()
        ensure_schedule(subscription.id)
        return
    subscription.status = SubscriptionStatus.CANCELED
    subscription.canceled_at = utcnow()
    subscription.cancel_at_period_end = False
    key = subscription.customer_uid
    db.session.commit()
    if key:
        retire_key(subscription.id, key)


@retried_on_conflict
def resume(subscription: Subscription) -> None:
    """Undo a cancel at period end while the period lasts."""
    if not subscription.cancel_at_period_end or subscription.status != SubscriptionStatus.ACTIVE:
        raise ActionRefused(_("Only a subscription that is ending can be resumed."))
    if subscription.current_period_end and subscription.current_period_end <= utcnow():
        raise ActionRefused(_("The period has ended; please subscribe again."))
    subscription.cancel_at_period_end = False
    db.session.commit()
    ensure_schedule(subscription.id)


@retried_on_conflict
def end_period(subscription_id: int, now: datetime) -> bool:
    """Cancel one subscription whose cancel-at-period-end has come and retire its key."""
    subscription = lock_unclaimed(Subscription, subscription_id)
    if (subscription is None or not subscription.cancel_at_period_end
            or subscription.status != SubscriptionStatus.ACTIVE
            or subscription.current_period_end > now):
        db.session.rollback()
        return False
    subscription.status = SubscriptionStatus.CANCELED
    subscription.canceled_at = subscription.current_period_end
    key = subscription.customer_uid
    db.session.commit()
    if key:
        retire_key(subscription_id, key)
    return True


def end_finished_periods(now: datetime | None = None) -> int:
    """Cancel subscriptions whose cancel-at-period-end has come, deleting their keys."""
    now = now or utcnow()
    ids = db.session.execute(
        db.select(Subscription.id).where(
            Subscription.cancel_at_period_end.is_(True),
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscription.current_period_end <= now,
        )
    ).scalars().all()
    return sum(1 for subscription_id in ids if end_period(subscription_id, now))
