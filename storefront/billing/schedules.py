"""iamport's schedule protocol: send a scheduled renewal, withdraw it, and retire a billing key with its schedules."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from storefront import clock
from storefront.billing.common import client, move_payment, notice_url
from storefront.billing.events import record_for_order
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import Payment, PaymentKind, PaymentStatus, RetiredKey, Subscription

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
        "name": subscription.name_for_orders,
        "buyer_email": subscription.buyer_email,
        "buyer_name": subscription.buyer_name,
        **({"notice_url": url} if (url := notice_url()) else {}),
    }


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
    soonest = (clock.now() + SCHEDULE_MARGIN).replace(microsecond=0)
    if row.scheduled_at is None or row.scheduled_at < soonest:
        moved = move_payment(merchant_uid, PaymentStatus.SCHEDULED, PaymentStatus.SCHEDULED,
                             scheduled_at=soonest)
        db.session.commit()
        if not moved:
            return False  # ran, failed or withdrawn meanwhile
        db.session.refresh(row)
    schedule = schedule_of(row, row.subscription)
    db.session.commit()  # no transaction stays open while iamport is asked
    try:
        client().schedule_payments(customer_uid, [schedule])
    except IamportError as exc:
        if not holds_schedule(merchant_uid):
            log.warning("renewal %s not scheduled yet: %s", merchant_uid, exc)
            return False
    taken = move_payment(merchant_uid, PaymentStatus.SCHEDULED, PaymentStatus.SCHEDULED,
                         schedule_taken_at=clock.now())
    if not taken:
        # Withdrawn while the schedule was on its way: that withdrawal may have found nothing
        # to withdraw yet, so it is owed again now that iamport holds the schedule.
        log.info("renewal %s was withdrawn while being scheduled; withdrawing it again", merchant_uid)
        move_payment(merchant_uid, PaymentStatus.REVOKED, PaymentStatus.WITHDRAWING)
    db.session.commit()
    if taken:
        log.info("renewal %s scheduled for %s", merchant_uid, schedule["schedule_at"])
    return taken


def mark_to_withdraw(row: Payment) -> bool:
    """Write that iamport must drop a scheduled renewal's schedule (in the caller's
    transaction); False when it ran, failed or was withdrawn meanwhile."""
    return move_payment(row.merchant_uid, PaymentStatus.SCHEDULED, PaymentStatus.WITHDRAWING)


def withdraw(row: Payment, looked_up: bool = False) -> bool:
    """Carry out a renewal marked to withdraw: True once iamport holds no schedule for it.

    Only an answer that shows the schedule gone counts: the unschedule's list of what it
    revoked, or, when iamport refuses it (nothing to withdraw, but also a 401 or a 429), its
    schedule looked up as revoked or never taken. Then the renewal is revoked. A schedule
    iamport ran is left for its payment to settle, and so is one due by now until a lookup found
    no payment for it (`looked_up`). Anything else leaves it owed, to be tried again.
    """
    merchant_uid, customer_uid, due = row.merchant_uid, row.customer_uid, row.scheduled_at
    db.session.commit()  # no transaction stays open while iamport is asked
    try:
        revoked = client().unschedule_payments(customer_uid, [merchant_uid])
    except IamportError as exc:
        if exc.unknown_outcome:
            log.warning("renewal %s not withdrawn yet: %s", merchant_uid, exc)
            return False
        try:
            status = schedule_status(merchant_uid)
        except IamportError as lookup_error:
            log.warning("renewal %s not withdrawn yet: %s; %s", merchant_uid, exc, lookup_error)
            return False
    else:
        if not any(schedule.get("merchant_uid") == merchant_uid for schedule in revoked):
            log.warning("renewal %s not in iamport's list of what it withdrew", merchant_uid)
            return False
        return mark_withdrawn(merchant_uid)  # iamport held it until now: it never ran
    if status == "scheduled":
        log.warning("renewal %s still scheduled at iamport; withdrawing it again later", merchant_uid)
        return False
    ran = status not in (None, "revoked")
    could_have_run = ran or (due is not None and due <= clock.now())
    if ran or (could_have_run and not looked_up):
        # Its payment settles it (a webhook, or reconcile's lookup; the paid audit at worst).
        log.info("renewal %s may have run (%s); its payment settles it", merchant_uid, status)
        return True
    return mark_withdrawn(merchant_uid)


def mark_withdrawn(merchant_uid: str) -> bool:
    """Record a renewal iamport holds no schedule for, and never ran, as revoked."""
    if move_payment(merchant_uid, PaymentStatus.WITHDRAWING, PaymentStatus.REVOKED):
        record_for_order(merchant_uid, "schedule_withdrawn")
        log.info("renewal %s withdrawn", merchant_uid)
    db.session.commit()
    return True


def revoke_schedule(row: Payment) -> bool:
    """Withdraw a scheduled renewal now (marked, committed, then carried out); True once
    iamport holds no schedule for it."""
    marked = mark_to_withdraw(row)
    db.session.commit()
    if not marked:
        return True  # ran, failed or withdrawn meanwhile: nothing of ours is left to withdraw
    return withdraw(row)


def delete_retired_key(retired: RetiredKey) -> bool:
    """Withdraw every schedule of a retired key, then delete the key at iamport; False while
    either is still to do (reconcile tries again)."""
    customer_uid = retired.customer_uid
    withdrawn = all([revoke_schedule(row) if row.status == PaymentStatus.SCHEDULED else withdraw(row)
                     for row in db.session.execute(
                         db.select(Payment).where(
                             Payment.customer_uid == customer_uid,
                             Payment.status.in_([PaymentStatus.SCHEDULED, PaymentStatus.WITHDRAWING]),
                         )
                     ).scalars().all()])
    retired = db.session.get(RetiredKey, retired.id, populate_existing=True)
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
    retired.deleted_at = clock.now()
    retired.last_error = None
    db.session.commit()
    log.info("billing key %s deleted", customer_uid)
    return True


def owe_key_deletion(subscription_id: int | None, customer_uid: str,
                     reason: str = "subscription ended or card replaced") -> None:
    """Write that a billing key must be deleted at iamport with its schedules (in the caller's
    transaction; carried out after the commit, and by reconcile until it is done), so that no
    card stays with the PG after we gave it up."""
    exists = db.session.execute(
        db.select(RetiredKey.id).where(RetiredKey.customer_uid == customer_uid)
    ).first()
    if exists is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(RetiredKey(customer_uid=customer_uid, subscription_id=subscription_id,
                                      reason=reason[:255]))
    except IntegrityError:
        pass  # written at this moment by another caller
    log.info("billing key %s to be deleted: %s", customer_uid, reason)


def keys_to_delete(subscription_id: int | None = None) -> list[int]:
    """The retired keys not deleted yet (of one subscription, when given)."""
    query = db.select(RetiredKey.id).where(RetiredKey.deleted_at.is_(None)).order_by(RetiredKey.id)
    if subscription_id is not None:
        query = query.where(RetiredKey.subscription_id == subscription_id)
    return list(db.session.execute(query).scalars())
