"""Refunds owed: money iamport took that nothing can use, recorded as owed first and given back until iamport's record shows it returned."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from storefront import clock
from storefront.billing import notices
from storefront.billing.common import client, move_payment, refund_of
from storefront.billing.events import record_event, record_for_order
from storefront.billing.verification import to_decimal
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import Payment, PaymentStatus, Refund, RefundStatus

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


def give_back(refund: Refund) -> bool:
    """Ask iamport to return an owed refund; done only when iamport's record says it is.

    The payment is looked up first, so a cancel whose answer was lost is not sent again; the
    cancel is claimed before it is sent (see claim_request), so two workers never both send it,
    and carries the balance we expect (`checksum`), which iamport refuses if it moved. A cancel
    that reached iamport, or may have (no answer), is never sent again: PAYMENTWALL confirms
    cancels later, and iamport's record shows the balance unchanged until then, so a second
    cancel could refund twice. The lookups of later runs find it done; reconcile names one
    still owed after OWED_TOO_LONG for the operator. Only a cancel iamport refused outright is
    asked again.
    """
    try:
        balance = refundable(client().get_payment(refund.imp_uid))
    except IamportError as exc:
        return still_owed(refund, exc)
    refund.last_error = None  # iamport answers; an earlier failure is in the log
    if balance > 0:
        if refund.requested_at is not None:
            db.session.commit()
            log.info("refund of %s asked for on %s, awaiting the PG", refund.imp_uid, refund.requested_at)
            return False
        if not claim_request(refund):
            log.info("refund of %s is being asked for by another worker", refund.imp_uid)
            return False
        try:
            answer = client().cancel_payment(refund.imp_uid, reason=refund.reason, checksum=balance)
        except IamportError as exc:
            if not exc.unknown_outcome:
                release_request(refund)
            return still_owed(refund, exc)
        if refundable(answer) > 0:
            db.session.commit()
            log.info("refund of %s accepted by iamport, awaiting the PG", refund.imp_uid)
            return False
    return mark_given_back(refund)


def mark_given_back(refund: Refund) -> bool:
    """Record a refund iamport's record shows returned, and our payment it was as cancelled."""
    done = db.session.execute(
        db.update(Refund).where(Refund.id == refund.id, Refund.status == RefundStatus.OWED)
        .values(status=RefundStatus.DONE, refunded_at=clock.now(), last_error=None)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if done and refund.payment_id is not None:
        # Our own payment: the refund's merchant_uid is the payment's.
        move_payment(refund.merchant_uid, PaymentStatus.PAID, PaymentStatus.CANCELLED,
                     fail_reason=refund.reason)
        record_for_order(refund.merchant_uid, "refund_done", refunded=refund.amount, imp_uid=refund.imp_uid)
    if done:
        notices.refunded(refund)
    db.session.commit()
    if done:
        log.info("refund of %s %s (%s) done", refund.amount, refund.currency, refund.imp_uid)
    return True


def owe_refund(info: dict[str, Any], reason: str, payment_id: int | None = None,
               subscription_id: int | None = None) -> Refund:
    """Write that iamport's payment `info` must be given back in full, in the caller's
    transaction (it is carried out after the commit, see obligations.carry_out).

    One row per `imp_uid`, so it is never owed twice: a delivery of the same news writing it at
    this moment makes this one's savepoint fail, and the row written is used.
    """
    imp_uid = str(info.get("imp_uid") or "")
    refund = refund_of(imp_uid)
    if refund is not None:
        return refund
    refund = Refund(imp_uid=imp_uid, merchant_uid=str(info.get("merchant_uid") or "")[:40],
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
