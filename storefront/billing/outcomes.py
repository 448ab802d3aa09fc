"""What a payment just recorded does to its subscription: activate it, extend it, count a failed renewal, or give the money back."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from storefront import clock
from storefront.billing import mrr, notices, plan_change
from storefront.billing.common import LIVE_STATUSES, from_unix
from storefront.billing.events import record_event
from storefront.billing.lifecycle import anchor_of
from storefront.billing.refunds import (
    ALREADY_CANCELED,
    ALREADY_SUBSCRIBED,
    ORDER_EXPIRED,
    PERIOD_PAID_ALREADY,
    refund_payment,
)
from storefront.billing.renewals import renewal_due, schedule_next_renewal
from storefront.billing.schedules import owe_key_deletion
from storefront.extensions import db
from storefront.formatting import shop_zone
from storefront.models import (
    EndedReason, Payment, PaymentKind, PaymentStatus, Subscription, SubscriptionStatus,
)
from storefront.periods import next_period_end

log = logging.getLogger(__name__)


def activate(payment: Payment, subscription: Subscription) -> None:
    """A paid first payment starts the subscription's first period on its billing key."""
    start = payment.paid_at or clock.now()
    # Worked out before anything is set: loading the plan or the buyer midway would write the
    # subscription twice (the session flushes before it loads).
    end = next_period_end(start, start, subscription.plan.interval, zone=shop_zone())
    plan = subscription.plan
    monthly = mrr.monthly_amount(payment.amount, plan.currency, plan.interval)
    buyer_email, buyer_name = issued_with(payment)
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.customer_uid = payment.customer_uid
    subscription.buyer_email = buyer_email
    subscription.buyer_name = buyer_name
    subscription.billing_key_ready_at = None
    subscription.billing_anchor = start
    subscription.current_period_start = start
    subscription.current_period_end = end
    # The price consented to at checkout is the one every renewal charges until it changes.
    subscription.price = payment.amount
    record_event(subscription, "activated", payment=payment, period_end=end)
    mrr.started(subscription, monthly, start)
    log.info("subscription %s activated by %s", subscription.id, payment.merchant_uid)


def issued_with(payment: Payment) -> tuple[str, str]:
    """The buyer e-mail and name a window's payment was opened with, which PAYMENTWALL wants on
    every later charge of the key it issued (the account's, for orders opened before they were
    kept on the order)."""
    if payment.buyer_email and payment.buyer_name:
        return payment.buyer_email, payment.buyer_name
    return payment.user.email, payment.user.buyer_name


def replaces_the_key(payment: Payment, subscription: Subscription) -> bool:
    """Whether a paid payment's billing key replaces the subscription's: only a card change
    newer than the payment that issued the key in use. A charge on an older key (a renewal
    iamport ran as the card changed, a "charge now" approved after a review) buys its period
    and never touches the key."""
    if payment.kind != PaymentKind.CARD_CHANGE or not payment.customer_uid:
        return False
    if payment.customer_uid == subscription.customer_uid:
        return False
    issued_the_key_in_use = db.session.execute(
        db.select(sa.func.max(Payment.id)).where(
            Payment.subscription_id == subscription.id,
            Payment.customer_uid == subscription.customer_uid,
            Payment.kind.in_([PaymentKind.FIRST, PaymentKind.CARD_CHANGE]),
        )
    ).scalar_one_or_none()
    return issued_the_key_in_use is None or payment.id > issued_the_key_in_use


def extend(payment: Payment, subscription: Subscription, ran_schedule: bool) -> None:
    """A paid repeat charge, card change or renewal pays one more period, from the end of the
    paid one to the anchor's next date; a newer card's key replaces the old one, which is
    written to be deleted."""
    old_end = subscription.current_period_end or payment.paid_at or clock.now()
    anchor = anchor_of(subscription, old_end)
    # A downgrade waiting for this period takes it: on a shorter interval its periods are
    # counted from here.
    downgrade = plan_change.due_downgrade(payment, subscription)
    interval = downgrade.to_plan.interval if downgrade else subscription.plan.interval
    if interval != subscription.plan.interval:
        anchor = old_end
    # Worked out before anything is set (see activate).
    new_end = next_period_end(anchor, old_end, interval, zone=shop_zone())
    new_card = replaces_the_key(payment, subscription)
    buyer = issued_with(payment) if new_card else None
    subscription.billing_anchor = anchor
    subscription.current_period_end = new_end
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.retry_count = 0
    subscription.past_due_since = None
    if payment.kind == PaymentKind.RENEWAL:
        subscription.current_period_start = old_end
    if buyer is not None:
        old_key = subscription.customer_uid
        subscription.customer_uid = payment.customer_uid
        subscription.buyer_email, subscription.buyer_name = buyer
        subscription.billing_key_ready_at = None
        if old_key:
            owe_key_deletion(subscription.id, old_key)
        record_event(subscription, "card_changed", payment=payment)
    elif payment.kind == PaymentKind.CARD_CHANGE and payment.customer_uid != subscription.customer_uid:
        # An older card change paid late: its period is bought, its key is not kept.
        owe_key_deletion(subscription.id, payment.customer_uid)
    if downgrade is not None:
        plan_change.apply_change(downgrade, subscription, old_end, payment)
    record_event(subscription, "renewed", payment=payment, period_end=new_end)
    schedule_next_renewal(subscription, ran_schedule)


def renewal_failed(payment: Payment, subscription: Subscription, info: dict[str, Any],
                   ran_schedule: bool) -> None:
    """A declined renewal: past due and retried later, cancelled after the last retry (its key
    written to be deleted). A subscription set to end at its period's end ends instead: the
    shopper asked for no further period, and this one went unpaid."""
    if subscription.status not in LIVE_STATUSES:
        return
    failed_at = from_unix(info.get("failed_at")) or clock.now()
    if subscription.cancel_at_period_end:
        end_subscription(subscription, subscription.current_period_end or failed_at,
                         EndedReason.CANCELLED)
        return
    subscription.retry_count += 1
    if subscription.retry_count == 1:
        subscription.past_due_since = failed_at
    if subscription.retry_count > len(current_app.config["RENEWAL_RETRY_DAYS"]):
        end_subscription(subscription, failed_at, EndedReason.PAYMENT_FAILED)
        notices.ended_unpaid(subscription, subscription.current_period_end)
        return
    subscription.status = SubscriptionStatus.PAST_DUE
    record_event(subscription, "past_due", payment=payment, retry=subscription.retry_count)
    next_try = None
    if payment.period_start == subscription.current_period_end:
        schedule_next_renewal(subscription, ran_schedule, attempt=(payment.attempt or 0) + 1)
        next_try = renewal_due(subscription)
    notices.payment_failed(subscription, payment, next_try)


def end_subscription(subscription: Subscription, at: datetime, reason: EndedReason) -> None:
    """End a subscription whose renewal went unpaid, writing its key to be deleted: the
    shopper's cancel at the period's end, or the end of the retries."""
    mrr.ended(subscription, at, voluntary=mrr.chose_to_end(reason))
    subscription.status = SubscriptionStatus.CANCELED
    subscription.canceled_at = at
    subscription.ended_reason = reason
    subscription.cancel_at_period_end = False
    record_event(subscription, "ended", reason=reason)
    if subscription.customer_uid:
        owe_key_deletion(subscription.id, subscription.customer_uid)


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


def give_back_unused(payment: Payment, subscription: Subscription, info: dict[str, Any],
                     reason: str) -> None:
    """Owe back a paid payment the subscription cannot use, with the key it issued (a first
    payment or a card change) unless a live subscription uses that key."""
    refund_payment(payment, info, reason)
    key = payment.customer_uid
    if payment.kind in (PaymentKind.FIRST, PaymentKind.CARD_CHANGE) and key and not key_in_use(key):
        owe_key_deletion(subscription.id, key)


def key_in_use(customer_uid: str) -> bool:
    """Whether a live subscription renews on this billing key."""
    return db.session.execute(
        db.select(Subscription.id).where(Subscription.customer_uid == customer_uid,
                                         Subscription.status.in_(LIVE_STATUSES)).limit(1)
    ).first() is not None


def follow_payment(payment: Payment, subscription: Subscription, info: dict[str, Any],
                   ran_schedule: bool, by_schedule: bool, withdrawn: bool = False) -> None:
    """Change the (locked) subscription for its payment that just changed, writing what is owed
    to iamport (a refund, a key to delete) in the same transaction; the schedules follow from
    the database after the commit (see obligations.carry_out).

    `ran_schedule`: the payment was a scheduled renewal that iamport ran; `by_schedule`: iamport
    says a schedule made the payment; `withdrawn`: the renewal was being withdrawn.
    """
    paid = payment.status == PaymentStatus.PAID
    if paid and payment.kind == PaymentKind.FIRST:
        if subscription.status in LIVE_STATUSES:
            # Two checkouts for one plan were both paid: the second is refunded.
            give_back_unused(payment, subscription, info, ALREADY_SUBSCRIBED)
        elif subscription.status != SubscriptionStatus.INCOMPLETE:
            # Approved after the shopper gave the subscription up: it is not revived.
            give_back_unused(payment, subscription, info, ALREADY_CANCELED)
        elif other_live_subscription(subscription) is not None:
            # Bought again meanwhile, or another plan is live: one live subscription per
            # shopper (a plan change replaces the plan instead).
            give_back_unused(payment, subscription, info, ALREADY_SUBSCRIBED)
        elif order_no_longer_sold(payment, subscription):
            give_back_unused(payment, subscription, info, ORDER_EXPIRED)
        else:
            activate(payment, subscription)
            notices.contract_confirmed(subscription, payment)
            notices.receipt(payment, subscription, info, subscription.current_period_start,
                            subscription.current_period_end)
        return
    if paid and payment.kind == PaymentKind.PLAN_CHANGE:
        plan_change.change_paid(payment, subscription, info)
        return
    if payment.kind == PaymentKind.PLAN_CHANGE:
        if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELLED):
            plan_change.change_failed(payment)
        return
    if paid:
        ending = subscription.cancel_at_period_end and payment.kind == PaymentKind.RENEWAL
        if subscription.status == SubscriptionStatus.CANCELED or ending:
            # "No further charges" was promised: a charge that still went through goes back.
            give_back_unused(payment, subscription, info, ALREADY_CANCELED)
        elif payment.kind == PaymentKind.RENEWAL and period_paid_already(payment, subscription):
            refund_payment(payment, info, PERIOD_PAID_ALREADY)
        elif payment.kind == PaymentKind.CARD_CHANGE and order_no_longer_sold(payment, subscription):
            give_back_unused(payment, subscription, info, ORDER_EXPIRED)
        else:
            paid_from = subscription.current_period_end
            new_card = replaces_the_key(payment, subscription)
            extend(payment, subscription, ran_schedule)
            notices.receipt(payment, subscription, info, paid_from, subscription.current_period_end)
            if new_card:
                notices.card_changed(subscription, payment, info)
        return
    if payment.status == PaymentStatus.FAILED and payment.kind == PaymentKind.RENEWAL:
        if withdrawn or not by_schedule or not decides_its_period(payment, subscription):
            # Not the card declining the period's renewal (a renewal being withdrawn, a payment
            # made otherwise on its order id, or an older attempt declined late): the
            # subscription stays as it is.
            return
        renewal_failed(payment, subscription, info, ran_schedule)


def other_live_subscription(subscription: Subscription) -> Subscription | None:
    """Another live subscription of the same shopper, to any plan, if any."""
    return db.session.execute(
        db.select(Subscription).where(
            Subscription.user_id == subscription.user_id,
            Subscription.id != subscription.id,
            Subscription.status.in_(LIVE_STATUSES),
        )
    ).scalars().first()


def order_no_longer_sold(payment: Payment, subscription: Subscription) -> bool:
    """Whether a window's order (first payment, new card) was paid after it expired for a plan
    no longer sold at the order's price (its price changed, or it was withdrawn)."""
    paid_at = payment.paid_at or clock.now()
    if paid_at <= payment.created_at + current_app.config["ORDER_EXPIRES"]:
        return False
    plan = subscription.plan
    return (not plan.active or subscription.renewal_price != payment.amount
            or plan.currency != payment.currency)
