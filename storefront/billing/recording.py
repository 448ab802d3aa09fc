"""Recording what iamport says about a payment: lock our order, apply the verified outcome once and write what it owes, then carry that out."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy.exc import IntegrityError

from storefront import clock
from storefront.billing.common import (
    UnknownPayment,
    client,
    from_unix,
    jsonable,
    refusal_of,
    retried_on_conflict,
    without_buyer,
)
from storefront.billing.events import record_payment_outcome
from storefront.billing.outcomes import follow_payment, give_back_unused
from storefront.billing.obligations import carry_out
from storefront.billing.refunds import NOT_THE_ORDERS, owe_refund
from storefront.billing.verification import (
    OPEN, USAGE_SCHEDULED, Outcome, judge, may_move, not_the_orders_reason,
)
from storefront.extensions import db
from storefront.models import Payment, PaymentKind, PaymentStatus, Subscription, User

log = logging.getLogger(__name__)

# Why a payment whose recording failed was given back (the shopper reads the generic wording).
UNUSABLE = "Refunded: this payment could not be applied to the subscription."


class Recorded(NamedTuple):
    """Our payment after a recording, whether this recording changed it, and why iamport's
    payment was not the order's (None when it was)."""

    payment: Payment
    changed: bool
    not_ours: str | None = None


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
    answer = jsonable(info)
    if db.session.execute(db.select(User.erased_at).where(User.id == payment.user_id)).scalar():
        # A payment that settles after its account was erased: its record is kept, the person not.
        answer = without_buyer(answer)
    values: dict[str, Any] = {
        "status": outcome.status,
        "fail_reason": outcome.reason,
        "imp_uid": info.get("imp_uid"),
        "provider_response": answer,
        "updated_at": clock.now(),
    }
    if outcome.status == PaymentStatus.PAID:
        values["paid_at"] = from_unix(info.get("paid_at")) or clock.now()
    if outcome.status == PaymentStatus.REVIEW and payment.status != PaymentStatus.REVIEW:
        values["held_until"] = clock.now() + current_app.config["REVIEW_DEADLINE"]
    # The session brings the payment object up to date with the values it sets.
    moved = db.session.execute(
        db.update(Payment).where(Payment.id == payment.id, Payment.status == payment.status)
        .values(**values)
    ).rowcount == 1
    if not moved:
        db.session.refresh(payment)  # another delivery moved it first: read what it wrote
    else:
        record_payment_outcome(payment, outcome.reason)
    return moved


def after_change(payment: Payment, info: dict[str, Any], ran_schedule: bool, withdrawn: bool) -> None:
    """Write what a payment that just changed does to its subscription and owes iamport, in
    the recording's transaction.

    `ran_schedule`: the payment was one of the subscription's scheduled renewals (`withdrawn`:
    one being withdrawn).
    """
    by_schedule = info.get("customer_uid_usage") == USAGE_SCHEDULED
    if ran_schedule and not by_schedule:
        # A renewal settled by a payment iamport did not schedule: if iamport still runs the
        # schedule, that second charge of the order is refused and given back.
        log.warning("renewal %s settled by a payment iamport did not schedule", payment.merchant_uid)
        ran_schedule = False
    if payment.subscription_id is not None:
        follow_payment(payment, payment.subscription, info, ran_schedule, by_schedule, withdrawn)


def refuse(payment: Payment, info: dict[str, Any], reason: str) -> None:
    """Someone else's payment on our order id, or one this shop does not accept (a test channel,
    another MID, another amount or card): it never settles the order, and money it took is
    owed back. A renewal iamport ran on our schedule and refused so (another MID after a change
    of project, say) fails its attempt, so that dunning runs."""
    log.warning("payment %s on order %s is not the order's: %s", info.get("imp_uid"),
                payment.merchant_uid, reason)
    stored_reason = f"{NOT_THE_ORDERS}{reason}."
    if info.get("status") == "paid":
        owe_refund(info, stored_reason)
    ran_our_schedule = (info.get("customer_uid_usage") == USAGE_SCHEDULED
                        and info.get("customer_uid") == payment.customer_uid)
    if payment.kind == PaymentKind.RENEWAL and ran_our_schedule and payment.status in OPEN:
        withdrawn = payment.status == PaymentStatus.WITHDRAWING
        if apply_outcome(payment, Outcome(PaymentStatus.FAILED, stored_reason[:255]), {"imp_uid": None}):
            follow_payment(payment, payment.subscription, info, ran_schedule=True, by_schedule=True,
                           withdrawn=withdrawn)


@retried_on_conflict
def record_change(info: dict[str, Any], now: datetime | None) -> "Recorded":
    """Lock our order and apply what iamport says about it once, writing what that owes, in one
    transaction committed here; nothing is asked of iamport."""
    merchant_uid = str(info.get("merchant_uid") or "")
    payment = lock_order(merchant_uid)
    if payment is None:
        db.session.rollback()
        raise UnknownPayment(f"no order with merchant_uid {merchant_uid!r}")
    not_ours = not_the_orders_reason(payment, info, refusal_of(info))
    if not_ours:
        refuse(payment, info, not_ours)
        db.session.commit()
        return Recorded(payment, False, not_ours)
    ran_schedule = payment.status in (PaymentStatus.SCHEDULED, PaymentStatus.WITHDRAWING)
    withdrawn = payment.status == PaymentStatus.WITHDRAWING
    changed = apply_outcome(payment, judge(payment, info, now or clock.now()), info)
    if changed:
        after_change(payment, info, ran_schedule, withdrawn)
        log.info("payment %s (%s, %s) is now %s", merchant_uid, payment.kind, info.get("imp_uid"),
                 payment.status)
    db.session.commit()
    return Recorded(payment, changed)


def record_unusable(info: dict[str, Any], error: Exception) -> "Recorded":
    """A payment whose recording failed on a constraint: if iamport took money, it is recorded
    on its order and owed back, so none is ever left taken and unrecorded."""
    db.session.rollback()
    log.exception("payment %s could not be recorded (%s)", info.get("imp_uid"), error)
    payment = lock_order(str(info.get("merchant_uid") or ""))
    if payment is None:
        raise error
    changed = False
    if info.get("status") == "paid" and not_the_orders_reason(payment, info, refusal_of(info)) is None:
        changed = apply_outcome(payment, Outcome(PaymentStatus.PAID), info)
        if changed and payment.subscription is not None:
            give_back_unused(payment, payment.subscription, info, UNUSABLE)
    db.session.commit()
    return Recorded(payment, changed)


def record_payment(info: dict[str, Any], carry_out_now: bool = True,
                   now: datetime | None = None) -> "Recorded":
    """Record what iamport says about a payment (`info`, as its REST lookup answers) on our order,
    then carry out what that owes iamport.

    The callback, the mobile redirect and the webhook all end here, in any order, any number
    of times, also at the same moment: the status compare-and-set (plus row locks on
    PostgreSQL) lets exactly one of them apply each change. Everything the change owes iamport
    (a refund, a key to delete, a schedule to send or withdraw) is written in the same
    transaction, so a worker that dies after the commit loses nothing: reconcile carries out
    what is left.

    `now` is when the record is judged (reconcile's run time: a hold for review ends at its
    deadline). `carry_out_now=False` leaves carrying out to the caller, who may answer first.
    """
    try:
        recorded = record_change(info, now)
    except IntegrityError as exc:
        recorded = record_unusable(info, exc)
    if carry_out_now and recorded.payment.subscription_id is not None:
        carry_out(recorded.payment.subscription_id)
    return recorded


def verify(imp_uid: str, carry_out_now: bool = True) -> Recorded:
    """Verify iamport's payment `imp_uid` by REST lookup and record it on our order once."""
    return record_payment(client().get_payment(imp_uid), carry_out_now)


def verify_payment(imp_uid: str, carry_out_now: bool = True) -> Payment:
    """Verify iamport's payment `imp_uid` by REST lookup and record it on our order once."""
    return verify(imp_uid, carry_out_now).payment


def verify_order(merchant_uid: str) -> Payment:
    """Verify our order by REST lookup of its `merchant_uid` (for when no `imp_uid` reached us)
    and record what iamport holds for it once."""
    return record_payment(client().find_payment(merchant_uid)).payment
