"""iamport's schedule protocol: send a scheduled renewal, withdraw it, and retire a billing key with its schedules."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from storefront.billing.common import client, notice_url, set_payment_status
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import Payment, PaymentKind, PaymentStatus, RetiredKey, Subscription, utcnow

log = logging.getLogger(__name__)

# The least time ahead a schedule is placed, so that iamport still sees it in the future.
SCHEDULE_MARGIN = timedelta(minutes=5)


def scheduled_renewals(subscription_id: int) -> list[Payment]:
    """The subscription's renewals scheduled now."""
    return list(db.session.execute(
        db.select(Payment).where(
            Payment.subscription_id == subscription_id,
            Payment.kind == PaymentKind.RENEWAL,
            Payment.status == PaymentStatus.SCHEDULED,
        )
    ).scalars())


def schedule_of(row: Payment, subscription: Subscription) -> dict[str, Any]:
    """The schedule iamport is sent for a scheduled renewal."""
    return {
        "merchant_uid": row.merchant_uid,
        "schedule_at": row.scheduled_at,
        "amount": row.amount,
        "currency": row.currency,
        "name": subscription.plan.name[:40],
        "buyer_email": subscription.buyer_email,
        "buyer_name": subscription.buyer_name,
        **({"notice_url": url} if (url := notice_url()) else {}),
    }


def withdraw_schedule(customer_uid: str, merchant_uid: str) -> bool:
    """Ask iamport to drop one schedule; False if it may still hold it (outcome unknown)."""
    try:
        client().unschedule_payments(customer_uid, [merchant_uid])
    except IamportError as exc:
        if exc.unknown_outcome:
            log.warning("renewal %s not unscheduled: %s", merchant_uid, exc)
            return False
        # Nothing to withdraw: never registered, or already run (its webhook will tell which).
        log.info("renewal %s had no schedule to withdraw: %s", merchant_uid, exc)
    return True


def put_back_unknown(merchant_uid: str) -> None:
    """A revoked renewal whose withdrawal had no answer: iamport may or may not hold it, so it
    is scheduled here again and back in the outbox. The next update of the subscription
    withdraws it again if it is not wanted, or sends it (iamport refuses a second schedule for
    the order id, and the lookup that follows finds the first)."""
    set_payment_status(merchant_uid, PaymentStatus.REVOKED, PaymentStatus.SCHEDULED,
                       schedule_taken_at=None)


def schedule_status(merchant_uid: str) -> str | None:
    """iamport's schedule_status of one renewal, looked up alone; None when it holds none
    (IamportError when iamport does not answer)."""
    try:
        return str(client().get_schedule(merchant_uid).get("schedule_status"))
    except IamportError as exc:
        if exc.not_found:
            return None
        raise


def holds_schedule(merchant_uid: str) -> bool:
    """Whether iamport holds a renewal's schedule now (asked when sending it failed: the
    answer may have been lost, or another sender was first)."""
    try:
        return schedule_status(merchant_uid) == "scheduled"
    except IamportError:
        return False


def send_schedule(row: Payment) -> bool:
    """Send iamport the schedule of a scheduled renewal it has not taken, and record that it
    took it; False while iamport does not hold it (reconcile sends it again).

    A time gone by meanwhile is moved a little ahead, as iamport refuses a schedule in the past:
    no one holds the schedule yet, so only here may its time change (the attempt stays the same).
    """
    merchant_uid, customer_uid = row.merchant_uid, row.customer_uid
    soonest = (utcnow() + SCHEDULE_MARGIN).replace(microsecond=0)
    if row.scheduled_at is None or row.scheduled_at < soonest:
        if not set_payment_status(merchant_uid, PaymentStatus.SCHEDULED, PaymentStatus.SCHEDULED,
                                  scheduled_at=soonest):
            return False  # ran, failed or revoked meanwhile
        db.session.refresh(row)
    schedule = schedule_of(row, row.subscription)
    db.session.commit()  # no transaction stays open while iamport is asked
    try:
        client().schedule_payments(customer_uid, [schedule])
    except IamportError as exc:
        if not holds_schedule(merchant_uid):
            log.warning("renewal %s not scheduled yet: %s", merchant_uid, exc)
            return False
    # Recorded only if the renewal is still scheduled here: a revoke that came while the
    # schedule was on its way found nothing to withdraw, so it is withdrawn now (see
    # revoke_schedule).
    if set_payment_status(merchant_uid, PaymentStatus.SCHEDULED, PaymentStatus.SCHEDULED,
                          schedule_taken_at=utcnow()):
        log.info("renewal %s scheduled for %s", merchant_uid, schedule["schedule_at"])
        return True
    log.info("renewal %s was revoked while being scheduled; withdrawing it", merchant_uid)
    if not withdraw_schedule(customer_uid, merchant_uid):
        put_back_unknown(merchant_uid)
    return False


def revoke_schedule(row: Payment) -> bool:
    """Withdraw a scheduled renewal at iamport and record it as revoked.

    Recorded before the call, so that a registration of the same renewal still on its way to
    iamport reads it once iamport holds the schedule, and withdraws it itself. A revoke and a
    registration that overlap thus never leave iamport a schedule that is revoked here. A
    withdrawal without an answer puts the renewal back (see put_back_unknown).
    """
    if not set_payment_status(row.merchant_uid, PaymentStatus.SCHEDULED, PaymentStatus.REVOKED):
        return True  # ran, failed or revoked meanwhile: nothing of ours is left to withdraw
    if withdraw_schedule(row.customer_uid, row.merchant_uid):
        return True
    put_back_unknown(row.merchant_uid)
    return False


def delete_retired_key(retired: RetiredKey) -> bool:
    """Withdraw every schedule of a retired key, then delete the key at iamport; False while
    either is still to do (reconcile tries again)."""
    customer_uid = retired.customer_uid
    withdrawn = all([revoke_schedule(row) for row in db.session.execute(
        db.select(Payment).where(
            Payment.customer_uid == customer_uid,
            Payment.status == PaymentStatus.SCHEDULED,
        )
    ).scalars().all()])
    retired.attempts += 1
    try:
        client().delete_billing_key(customer_uid, reason=retired.reason)
    except IamportError as exc:
        if not exc.not_found:
            retired.last_error = str(exc)[:255]
            db.session.commit()
            log.warning("billing key %s not deleted yet: %s", customer_uid, exc)
            return False
    if not withdrawn:
        # A schedule iamport may still hold is withdrawn on the next try.
        retired.last_error = "a schedule of this key could not be withdrawn yet"
        db.session.commit()
        return False
    retired.deleted_at = utcnow()
    retired.last_error = None
    db.session.commit()
    log.info("billing key %s deleted", customer_uid)
    return True


def retire_key(subscription_id: int | None, customer_uid: str,
               reason: str = "subscription ended or card replaced") -> bool:
    """Withdraw every schedule of a billing key and delete it at iamport.

    Recorded first as a key to delete, so that a deletion iamport does not carry out is tried
    again by reconcile: no card stays with the PG after we gave it up.
    """
    retired = db.session.execute(
        db.select(RetiredKey).where(RetiredKey.customer_uid == customer_uid)
    ).scalar_one_or_none()
    if retired is None:
        retired = RetiredKey(customer_uid=customer_uid, subscription_id=subscription_id,
                             reason=reason[:255])
        db.session.add(retired)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # retired at this moment by another caller, who deletes it
            return False
    if retired.deleted_at is not None:
        return True
    return delete_retired_key(retired)
