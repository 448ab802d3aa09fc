"""Recording what iamport says about a payment: lock our order, apply the verified outcome once, owe back money that is not the order's."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, NamedTuple

from storefront.billing.common import (
    UnknownPayment,
    client,
    from_unix,
    jsonable,
    refusal_of,
    retried_on_conflict,
)
from storefront.billing.lifecycle import follow_payment
from storefront.billing.refunds import NOT_THE_ORDERS, owe_refund
from storefront.billing.renewals import update_schedules
from storefront.billing.schedules import withdraw_schedule
from storefront.billing.verification import USAGE_SCHEDULED, Outcome, judge, may_move, not_the_orders_reason
from storefront.extensions import db
from storefront.models import Payment, PaymentStatus, Subscription, utcnow

log = logging.getLogger(__name__)


class Recorded(NamedTuple):
    """Our payment after a recording, and whether this recording changed it."""

    payment: Payment
    changed: bool


def lock_order(merchant_uid: str) -> Payment | None:
    """Our payment and its subscription, fresh from the database and row-locked in this order
    (PostgreSQL; on SQLite the status compare-and-set and the subscription's version keep
    writers apart)."""
    payment = db.session.execute(
        db.select(Payment).where(Payment.merchant_uid == merchant_uid)
        .with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if payment is not None and payment.subscription_id is not None:
        db.session.get(Subscription, payment.subscription_id, with_for_update=True,
                       populate_existing=True)
    return payment


def apply_outcome(payment: Payment, outcome: Outcome, info: dict[str, Any]) -> bool:
    """Move the payment to the outcome if it may (see TRANSITIONS) and no one else moved it
    first; False otherwise.

    A compare-and-set on the status in the database (UPDATE … WHERE status = the status we
    read): of deliveries racing on one payment, exactly one applies each change.
    """
    if not may_move(payment.status, outcome):
        return False
    values: dict[str, Any] = {
        "status": outcome.status,
        "fail_reason": outcome.reason,
        "imp_uid": info.get("imp_uid"),
        "provider_response": jsonable(info),
        "updated_at": utcnow(),
    }
    if outcome.status == PaymentStatus.PAID:
        values["paid_at"] = from_unix(info.get("paid_at")) or utcnow()
    # The session brings the payment object up to date with the values it sets.
    moved = db.session.execute(
        db.update(Payment).where(Payment.id == payment.id, Payment.status == payment.status)
        .values(**values)
    ).rowcount == 1
    if not moved:
        db.session.refresh(payment)  # another delivery moved it first: read what it wrote
    return moved


def after_change(payment: Payment, info: dict[str, Any], ran_schedule: bool) -> list[partial]:
    """What a payment that just changed does to its renewal's schedule and its subscription;
    return the calls to iamport that withdraw a schedule, give money back or retire a key, to
    make after the commit.

    `ran_schedule`: the payment was one of the subscription's scheduled renewals.
    """
    after: list[partial] = []
    by_schedule = info.get("customer_uid_usage") == USAGE_SCHEDULED
    if ran_schedule and not by_schedule:
        # The renewal left "scheduled" by a payment made otherwise on its order id: iamport
        # still holds its schedule, which must not charge the period as well.
        log.warning("renewal %s settled by a payment iamport did not schedule; withdrawing it",
                    payment.merchant_uid)
        after.append(partial(withdraw_schedule, payment.customer_uid, payment.merchant_uid))
        ran_schedule = False
    if payment.subscription_id is None:
        return after
    return after + follow_payment(payment, payment.subscription, info, ran_schedule, by_schedule)


@retried_on_conflict
def record_payment(info: dict[str, Any], send_schedules: bool = True) -> Recorded:
    """Record what iamport says about a payment (`info`, as its REST lookup answers) on our order.

    The callback, the mobile redirect and the webhook all end here, in any order, any number
    of times, also at the same moment: the status compare-and-set (plus row locks on
    PostgreSQL) lets exactly one of them apply each change. The next renewal is written in the
    same transaction as the paid one; calls to iamport come after the commit.

    `send_schedules=False` leaves sending the subscription's schedules (`update_schedules`) to
    the caller, who may answer first; refunds and withdrawals are never left.
    """
    merchant_uid = str(info.get("merchant_uid") or "")
    payment = lock_order(merchant_uid)
    if payment is None:
        db.session.rollback()
        raise UnknownPayment(f"no order with merchant_uid {merchant_uid!r}")

    not_ours = not_the_orders_reason(payment, info, refusal_of(info))
    if not_ours:
        # Someone else's payment on our order id (or a second charge of it): it never changes
        # the order, and money it took is given back.
        db.session.commit()
        log.warning("payment %s on order %s is not the order's: %s", info.get("imp_uid"),
                    merchant_uid, not_ours)
        if info.get("status") == "paid":
            owe_refund(info, f"{NOT_THE_ORDERS}{not_ours}.")
        return Recorded(payment, False)

    ran_schedule = payment.status == PaymentStatus.SCHEDULED
    changed = apply_outcome(payment, judge(payment, info), info)
    after = after_change(payment, info, ran_schedule) if changed else []
    subscription_id = payment.subscription_id
    # A charge that settled moves the subscription's next renewal (one in review does not), and
    # a paid one may have brought a billing key iamport is still to confirm.
    settled = changed and payment.status in (PaymentStatus.PAID, PaymentStatus.FAILED)
    key_to_confirm = (payment.status == PaymentStatus.PAID and subscription_id is not None
                      and payment.subscription.billing_key_ready_at is None)
    if changed:
        log.info("payment %s (%s, %s) is now %s", merchant_uid, payment.kind, info.get("imp_uid"),
                 payment.status)
    db.session.commit()
    # Calls to iamport come after the commit, so no row stays locked while the network is slow.
    for action in after:
        action()
    if send_schedules and subscription_id is not None and (settled or key_to_confirm):
        update_schedules(subscription_id)
    return Recorded(payment, changed)


def verify_payment(imp_uid: str, send_schedules: bool = True) -> Payment:
    """Verify iamport's payment `imp_uid` by REST lookup and record it on our order once."""
    return record_payment(client().get_payment(imp_uid), send_schedules).payment


def verify_order(merchant_uid: str) -> Payment:
    """Verify our order by REST lookup of its `merchant_uid` (for when no `imp_uid` reached us)
    and record what iamport holds for it once."""
    return record_payment(client().find_payment(merchant_uid)).payment
