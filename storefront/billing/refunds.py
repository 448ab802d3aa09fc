"""Refunds owed: money iamport took that nothing can use, recorded as owed first and given back until iamport's record shows it returned."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from storefront.billing.common import client, refund_of, set_payment_status
from storefront.billing.verification import to_decimal
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import Payment, PaymentStatus, Refund, RefundStatus, utcnow

log = logging.getLogger(__name__)

# What a shopper reads on a payment of theirs that we gave back.
ALREADY_SUBSCRIBED = "Refunded: you already subscribe to this plan, so this second payment was not needed."
ALREADY_CANCELED = "Refunded: the subscription had been cancelled before this payment went through."
PERIOD_PAID_ALREADY = "Refunded: this period had already been paid by another attempt."
# The start of the reason of a payment that was not the order's; the rest names the mismatch.
NOT_THE_ORDERS = "Refunded: this payment was "


def refundable(info: dict[str, Any]) -> Decimal:
    """What is left to give back of iamport's payment: nothing unless it is paid."""
    if info.get("status") != "paid":
        return Decimal(0)
    return (to_decimal(info.get("amount")) or Decimal(0)) - (to_decimal(info.get("cancel_amount")) or Decimal(0))


def give_back(refund: Refund) -> bool:
    """Ask iamport to return an owed refund; done only when iamport's record says it is.

    The payment is looked up first, so a cancel whose answer was lost is not sent again; the
    cancel carries the balance we expect (`checksum`), which iamport refuses if it moved, so
    no two requests can both refund. A cancel iamport accepted but PAYMENTWALL confirms later
    is not sent again: the lookup of a later reconcile finds it done.
    """
    refund.attempts += 1
    try:
        balance = refundable(client().get_payment(refund.imp_uid))
        refund.last_error = None
        if balance > 0 and refund.requested_at is None:
            answer = client().cancel_payment(refund.imp_uid, reason=refund.reason, checksum=balance)
            refund.requested_at = utcnow()
            balance = refundable(answer)
    except IamportError as exc:
        refund.last_error = str(exc)[:255]
        db.session.commit()
        log.error("refund of %s %s (%s) still owed: %s", refund.amount, refund.currency,
                  refund.imp_uid, exc)
        return False
    if balance > 0:
        db.session.commit()
        log.info("refund of %s accepted by iamport, awaiting the PG", refund.imp_uid)
        return False
    refund.status = RefundStatus.DONE
    refund.refunded_at = utcnow()
    db.session.commit()
    if refund.payment_id is not None:
        # Our own payment: the refund's merchant_uid is the payment's.
        set_payment_status(refund.merchant_uid, PaymentStatus.PAID, PaymentStatus.CANCELLED,
                           fail_reason=refund.reason)
    log.info("refund of %s %s (%s) done", refund.amount, refund.currency, refund.imp_uid)
    return True


def owe_refund(info: dict[str, Any], reason: str, payment_id: int | None = None) -> None:
    """Record that iamport's payment `info` must be given back in full, then ask for it.

    Recorded first, so that a refund iamport does not carry out (down, refused, no answer) stays
    owed and reconcile asks again; one row per `imp_uid`, so it is never owed twice.
    """
    imp_uid = str(info.get("imp_uid") or "")
    refund = refund_of(imp_uid)
    if refund is None:
        refund = Refund(imp_uid=imp_uid, merchant_uid=str(info.get("merchant_uid") or "")[:40],
                        payment_id=payment_id, amount=to_decimal(info.get("amount")) or Decimal(0),
                        currency=str(info.get("currency") or "")[:3], reason=reason[:255])
        db.session.add(refund)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # recorded at this moment by another delivery of the same news
            refund = refund_of(imp_uid)
        else:
            log.warning("refund owed: %s %s of %s (%s)", refund.amount, refund.currency, imp_uid, reason)
    if refund.status == RefundStatus.OWED:
        give_back(refund)


def refund_payment(payment_id: int, reason: str) -> None:
    """Give back one of our paid payments that nothing can use; it becomes cancelled when
    iamport's record shows the money returned."""
    payment = db.session.get(Payment, payment_id)
    log.warning("refunding %s: %s", payment.merchant_uid, reason)
    owe_refund(payment.provider_response or {}, reason, payment_id=payment.id)
