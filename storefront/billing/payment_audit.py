"""The payment audit: page through iamport's paid payments of the last 90 days and record those of our orders we never heard of."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from storefront.billing.common import client
from storefront.billing.recording import record_payment
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import Payment, PaymentStatus, Refund

log = logging.getLogger(__name__)

# iamport lists the payments of at most 90 days at once. 100 a page holds under the smallest
# limit its documentation has given (100; its OpenAPI description says 1,000).
LISTING_SPAN = timedelta(days=90)
LISTING_PAGE = 100
# Statuses in which our order holds the outcome of the payment it names.
RECORDED = (PaymentStatus.PAID, PaymentStatus.CANCELLED)


def unrecorded(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The payments of a page that name one of our orders and that we have recorded neither
    on it (as its paid or cancelled payment) nor as a refund; iamport is not asked."""
    named = {str(p.get("merchant_uid") or "") for p in listed} - {""}
    imp_uids = {str(p.get("imp_uid") or "") for p in listed} - {""}
    if not named:
        return []
    orders = {merchant_uid: (imp_uid, status) for merchant_uid, imp_uid, status in db.session.execute(
        db.select(Payment.merchant_uid, Payment.imp_uid, Payment.status)
        .where(Payment.merchant_uid.in_(named))
    ).all()}
    refunded = set(db.session.execute(
        db.select(Refund.imp_uid).where(Refund.imp_uid.in_(imp_uids))
    ).scalars())
    db.session.commit()
    found = []
    for payment in listed:
        order = orders.get(str(payment.get("merchant_uid") or ""))
        imp_uid = payment.get("imp_uid")
        if order is None or not imp_uid or imp_uid in refunded:
            continue
        if order[0] == imp_uid and order[1] in RECORDED:
            continue
        found.append(payment)
    return found


def audit_payments(now: datetime) -> tuple[int, list[str]]:
    """Record every payment iamport holds as paid in the 90 days up to `now` on one of our
    orders that we never recorded (a late `paid` whose webhook was lost: on an order closed as
    abandoned, or after a hold for review ran out). record_payment honours it, and refunds it
    when nothing can use it. Returns (recorded, failures): a page that does not come is a
    failure, and nothing is concluded from it."""
    end = now.replace(microsecond=0)
    recorded, page = 0, 1
    while page:
        try:
            # Oldest paid first: a payment paid while the pages are read comes last instead of
            # shifting the pages still to read.
            listing = client().list_payments("paid", end - LISTING_SPAN, end, page=page,
                                             limit=LISTING_PAGE, sorting="paid")
        except IamportError as exc:
            return recorded, [f"payment listing, page {page}: {exc}"]
        for info in unrecorded(listing.get("list") or []):
            log.warning("iamport holds payment %s on order %s as paid; recording it",
                        info.get("imp_uid"), info.get("merchant_uid"))
            record_payment(info, now=now)
            recorded += 1
        following = int(listing.get("next") or 0)
        page = following if following > page else 0  # never the same page twice
    return recorded, []
