"""Refunds: money to give back (in full, or part of a payment), recorded as owed first, asked of iamport once, done when iamport's record shows it returned."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from storefront import clock
from storefront.billing import notices
from storefront.billing.common import client, move_payment, refund_of
from storefront.billing.events import record_event, record_for_order
from storefront.billing.verification import to_decimal
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import Payment, PaymentStatus, Refund, RefundStatus
from storefront.models.payments import full_refund_key

log = logging.getLogger(__name__)

# What a shopper reads on a payment of theirs that we gave back.
ALREADY_SUBSCRIBED = "Refunded: you already subscribe to this plan, so this second payment was not needed."
ALREADY_CANCELED = "Refunded: the subscription had been cancelled before this payment went through."
PERIOD_PAID_ALREADY = "Refunded: this period had already been paid by another attempt."
ORDER_EXPIRED = ("Refunded: this order had expired and the plan is no longer sold at its price; "
                 "please subscribe again at today's price.")
# A refund still owed this long after it was written is named by reconcile for the operator
# (PAYMENTWALL usually confirms a cancel within minutes).
OWED_TOO_LONG = timedelta(days=1)
# The start of the reason of a payment that was not the order's; the rest names the mismatch.
NOT_THE_ORDERS = "Refunded: this payment was "


def refundable(info: dict[str, Any]) -> Decimal:
    """What is left to give back of iamport's payment: nothing unless it is paid."""
    if info.get("status") != "paid":
        return Decimal(0)
    return (to_decimal(info.get("amount")) or Decimal(0)) - (to_decimal(info.get("cancel_amount")) or Decimal(0))


def still_owed(refund: Refund, error: IamportError) -> bool:
    """Note why iamport did not give the refund back yet; it stays owed (reconcile asks again)."""
    refund.last_error = str(error)[:255]
    db.session.commit()
    log.error("refund of %s %s (%s) still owed: %s", refund.amount, refund.currency,
              refund.imp_uid, error)
    return False


def claim_request(refund: Refund) -> bool:
    """Claim the right to send this refund's cancel (a compare-and-set on `requested_at`, then
    commit): of the workers giving back one refund at once, exactly one sends it."""
    claimed = db.session.execute(
        db.update(Refund).where(
            Refund.id == refund.id, Refund.status == RefundStatus.OWED,
            Refund.requested_at.is_(None),
        ).values(requested_at=clock.now(), attempts=Refund.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    db.session.commit()
    return claimed


def release_request(refund: Refund) -> None:
    """iamport refused the cancel outright (nothing reached the PG): the next try asks again."""
    db.session.execute(db.update(Refund).where(Refund.id == refund.id).values(requested_at=None)
                       .execution_options(synchronize_session=False))


def asked_of(imp_uid: str, but: int | None = None) -> Decimal:
    """What our refunds of iamport's payment asked for or got back (all but refund `but`)."""
    query = db.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0)).where(
        Refund.imp_uid == imp_uid,
        sa.or_(Refund.requested_at.is_not(None), Refund.status == RefundStatus.DONE))
    if but is not None:
        query = query.where(Refund.id != but)
    return Decimal(db.session.execute(query).scalar_one())


def send_cancel(refund: Refund, info: dict[str, Any]) -> dict[str, Any]:
    """POST /payments/cancel for one claimed refund. A refund in full asks for whatever is left
    (no amount, iamport's balance as checksum), as it always has; any other carries its amount,
    the balance we expect (the amount paid less every refund already asked) and asks for the
    webhook, so that PAYMENTWALL's later confirmation reaches us."""
    if refund.in_full:
        return client().cancel_payment(refund.imp_uid, reason=refund.reason, checksum=refundable(info))
    paid = to_decimal(info.get("amount")) or Decimal(0)
    return client().cancel_payment(refund.imp_uid, reason=refund.reason, amount=refund.amount,
                                   checksum=paid - asked_of(refund.imp_uid, but=refund.id),
                                   enable_webhook=True)


def give_back(refund: Refund) -> bool:
    """Ask iamport to return an owed refund; done only when iamport's record says it is.

    The payment is looked up first (see record_returned), so a cancel whose answer was lost is
    not sent again; the cancel is claimed before it is sent (see claim_request), so two workers
    never both send it, and carries the balance we expect (`checksum`), which iamport refuses if
    it moved. A cancel that reached iamport, or may have (no answer), is never sent again:
    PAYMENTWALL confirms cancels later, and iamport's record shows the balance unchanged until
    then, so a second cancel could refund twice. The lookups of later runs (or the webhook of
    the confirmation) find it done; reconcile names one still owed after OWED_TOO_LONG for the
    operator. Only a cancel iamport refused outright is asked again.
    """
    try:
        info = client().get_payment(refund.imp_uid)
    except IamportError as exc:
        return still_owed(refund, exc)
    refund.last_error = None  # iamport answers; an earlier failure is in the log
    if refund.id in record_returned(refund.imp_uid, info):
        return True
    if refund.requested_at is not None:
        db.session.commit()
        log.info("refund %s of %s asked for on %s, awaiting the PG", refund.id, refund.imp_uid,
                 refund.requested_at)
        return False
    if not claim_request(refund):
        log.info("refund %s of %s is being asked for by another worker", refund.id, refund.imp_uid)
        return False
    try:
        answer = send_cancel(refund, info)
    except IamportError as exc:
        if not exc.unknown_outcome:
            release_request(refund)
        return still_owed(refund, exc)
    if refund.id in record_returned(refund.imp_uid, answer):
        return True
    db.session.commit()
    log.info("refund %s of %s accepted by iamport, awaiting the PG", refund.id, refund.imp_uid)
    return False


def entry_id(entry: dict[str, Any]) -> str:
    """One cancel in iamport's cancel_history: its cancellation_id (older records lack it)."""
    return str(entry.get("cancellation_id") or f"{entry.get('cancelled_at')}-{entry.get('amount')}")[:80]


def record_returned(imp_uid: str, info: dict[str, Any]) -> set[int]:
    """Record done every refund of iamport's payment `imp_uid` that its record `info` shows returned, and
    commit; the ids of those done now.

    Each entry of `cancel_history` settles at most one of our refunds asked for, of the same
    amount, oldest first (its cancellation_id is stored on the refund, unique per payment):
    two requests of equal amounts take one entry each, and a cancellation told again (a
    second webhook, a later lookup) finds its entry taken and counts nothing. When iamport's
    record shows nothing left to give back, every refund still open of it is done (a refund
    in full, as ever; a record without a history).
    """
    rows = list(db.session.execute(
        db.select(Refund).where(Refund.imp_uid == imp_uid)
        .order_by(Refund.requested_at.is_(None), Refund.requested_at, Refund.id)
        .execution_options(populate_existing=True)
    ).scalars())
    taken = {row.cancellation_id for row in rows if row.cancellation_id}
    entries = [entry for entry in info.get("cancel_history") or [] if entry_id(entry) not in taken]
    done: set[int] = set()
    for row in rows:
        if row.status != RefundStatus.OWED or row.requested_at is None:
            continue
        entry = next((e for e in entries if to_decimal(e.get("amount")) == row.amount), None)
        if entry is None:
            continue
        if not mark_given_back(row, entry_id(entry)):
            break  # another worker records this payment's cancels now
        entries.remove(entry)
        done.add(row.id)
    if refundable(info) <= 0:
        for row in rows:
            if row.status == RefundStatus.OWED and row.id not in done and mark_given_back(row, None):
                done.add(row.id)
    db.session.commit()
    return done


def mark_given_back(refund: Refund, cancellation_id: str | None) -> bool:
    """Record one refund done (a compare-and-set: of workers recording it, one does), add it to
    what its payment has had refunded, cancel the payment once nothing is left, and queue the
    customer's mail. The caller commits."""
    # A cancellation settles one refund: not when another refund of the payment holds it (the
    # unique constraint holds the rest, should two workers race past this check).
    free = sa.true() if cancellation_id is None else ~db.select(Refund.id).where(
        Refund.imp_uid == refund.imp_uid, Refund.cancellation_id == cancellation_id).exists()
    done = db.session.execute(
        db.update(Refund).where(Refund.id == refund.id, Refund.status == RefundStatus.OWED, free)
        .values(status=RefundStatus.DONE, refunded_at=clock.now(), last_error=None,
                cancellation_id=cancellation_id)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if not done:
        return False
    if refund.payment_id is not None:
        add_refunded(refund)
        record_for_order(refund.merchant_uid, "refund_done", refunded=refund.amount, imp_uid=refund.imp_uid)
    notices.refunded(refund)
    log.info("refund %s: %s %s of %s done", refund.id, refund.amount, refund.currency, refund.imp_uid)
    return True


def add_refunded(refund: Refund) -> None:
    """Add a refund done to its payment's refunded amount (never past the amount paid); the
    payment given back in full is cancelled, one given back in part stays paid."""
    total = Payment.refunded_amount + refund.amount
    db.session.execute(
        db.update(Payment).where(Payment.id == refund.payment_id)
        .values(refunded_amount=sa.case((total > Payment.amount, Payment.amount), else_=total))
        .execution_options(synchronize_session=False))
    payment = db.session.get(Payment, refund.payment_id, populate_existing=True)
    if payment.refunded_amount >= payment.amount:
        # The refund's merchant_uid is the payment's. A staff refund's reason is for the
        # record; the shopper's history reads the shop's own reasons only.
        reason = refund.reason if refund.in_full else None
        move_payment(payment.merchant_uid, PaymentStatus.PAID, PaymentStatus.CANCELLED,
                     **({"fail_reason": reason} if reason else {}))


def owe_refund(info: dict[str, Any], reason: str, payment_id: int | None = None,
               subscription_id: int | None = None) -> Refund:
    """Write that iamport's payment `info` must be given back in full, in the caller's
    transaction (it is carried out after the commit, see obligations.carry_out).

    One such row per `imp_uid` (its key is full_refund_key), so it is never owed twice: a
    delivery of the same news writing it at this moment makes this one's savepoint fail, and
    the row written is used.
    """
    imp_uid = str(info.get("imp_uid") or "")
    refund = refund_of(imp_uid)
    if refund is not None:
        return refund
    refund = Refund(request_key=full_refund_key(imp_uid), imp_uid=imp_uid,
                    merchant_uid=str(info.get("merchant_uid") or "")[:40],
                    payment_id=payment_id, amount=to_decimal(info.get("amount")) or Decimal(0),
                    currency=str(info.get("currency") or "")[:3], reason=reason[:255])
    try:
        with db.session.begin_nested():
            db.session.add(refund)
    except IntegrityError:
        return refund_of(imp_uid)
    if subscription_id is not None:
        record_event(subscription_id, "refund_owed", amount=refund.amount, currency=refund.currency,
                     reason=reason, imp_uid=imp_uid, merchant_uid=refund.merchant_uid)
    log.warning("refund owed: %s %s of %s (%s)", refund.amount, refund.currency, imp_uid, reason)
    return refund


def refund_payment(payment: Payment, info: dict[str, Any], reason: str) -> Refund:
    """Owe back one of our paid payments that nothing can use (in the caller's transaction); it
    becomes cancelled when iamport's record shows the money returned."""
    log.warning("refunding %s: %s", payment.merchant_uid, reason)
    return owe_refund(info, reason, payment_id=payment.id, subscription_id=payment.subscription_id)
