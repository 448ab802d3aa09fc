"""The one result the ways back from the payment window (callback, mobile return, result page) get from verifying a payment."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from storefront.billing.common import UnknownPayment, client, refund_of
from storefront.billing.recording import record_payment
from storefront.iamport import IamportError
from storefront.models import Payment, Refund

log = logging.getLogger(__name__)


class ReturnKind(enum.StrEnum):
    """What one lookup at iamport came to."""

    RECORDED = "recorded"  # iamport's record was recorded on our order (`payment`)
    NOT_THE_ORDERS = "not the order's"  # iamport's payment is of no order of this shop
    UNKNOWN_AT_IAMPORT = "unknown at iamport"  # iamport has no such payment (a window closed early)
    NO_ANSWER = "no answer"  # iamport did not answer: the webhook or reconcile settles it


@dataclass(frozen=True)
class ReturnResult:
    """A way back's lookup: its kind; for RECORDED our order, and the refund of iamport's payment
    when that payment was refused on the order (or recorded and owed back)."""

    kind: ReturnKind
    payment: Payment | None = None
    given_back: Refund | None = None


def verify_return(imp_uid: str | None = None, merchant_uid: str | None = None) -> ReturnResult:
    """Look iamport's payment up (by its `imp_uid` when the window gave one, else by our order's
    `merchant_uid`), record it on our order once, and say what that came to.

    Never raises for what iamport answers: a page that comes back from the window answers
    whatever iamport says, and maps the kind to its own answer.
    """
    if imp_uid is None and merchant_uid is None:
        raise ValueError("verify_return needs an imp_uid or a merchant_uid")
    what = f"payment {imp_uid}" if imp_uid is not None else f"order {merchant_uid}"
    try:
        info = client().get_payment(imp_uid) if imp_uid is not None else client().find_payment(merchant_uid)
        payment = record_payment(info).payment
    except UnknownPayment:
        log.warning("%s is of no order of this shop", what)
        return ReturnResult(ReturnKind.NOT_THE_ORDERS)
    except IamportError as exc:
        # "No such payment" is an answer (a window closed before paying, say), not a failure.
        log.log(logging.INFO if exc.not_found else logging.WARNING, "%s not verified: %s", what, exc)
        return ReturnResult(ReturnKind.UNKNOWN_AT_IAMPORT if exc.not_found else ReturnKind.NO_ANSWER)
    given_back = refund_of(str(info.get("imp_uid") or ""))
    if given_back is not None and given_back.merchant_uid != payment.merchant_uid:
        given_back = None  # a refund of iamport's payment on another order id: not this order's
    return ReturnResult(ReturnKind.RECORDED, payment, given_back)
