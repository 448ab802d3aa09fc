"""A payment's page in the back office: our record beside iamport's live one, its receipt and its refunds."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from flask import abort, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy.orm import joinedload

from storefront.admin import bp
from storefront.billing.staff_refunds import refundable_balance
from storefront.billing.common import client
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import Payment, PaymentStatus, Refund, RefundStatus

log = logging.getLogger(__name__)

# The page waits at most this long for iamport per attempt (connect, read seconds), however long
# the configured timeouts are: staff open it to look, and our record is shown either way.
LIVE_TIMEOUT = (2.0, 3.0)
# iamport's statuses that agree with ours; a status not listed here is not compared (a payment
# still pending or held for review may stand anywhere at iamport).
AGREEING_STATUSES = {
    PaymentStatus.PAID: {"paid"},
    PaymentStatus.CANCELLED: {"cancelled"},
    # A window closed before paying stays "ready" at iamport.
    PaymentStatus.FAILED: {"failed", "ready"},
}

# Where a refund stands, in words (a status not listed is shown as stored).
REFUND_STATUS_LABELS = {RefundStatus.OWED: lazy_gettext("owed"), RefundStatus.DONE: lazy_gettext("done")}


def refund_status_label(status: str) -> str:
    return str(REFUND_STATUS_LABELS.get(status, status))


@dataclass
class LiveRecord:
    """iamport's record of a payment as the page shows it, or why there is none."""

    record: dict[str, Any] | None = None
    problem: str | None = None  # why there is no record to show
    differs: set[str] = field(default_factory=set)  # the fields on which ours and iamport's differ

    def amount(self, key: str) -> Decimal | None:
        """An amount of iamport's record as a Decimal (None when absent or unreadable)."""
        return decimal_or_none((self.record or {}).get(key))

    def moment(self, key: str) -> datetime | None:
        """A time of iamport's record (UNIX seconds; 0 means never) as an aware datetime."""
        return moment_or_none((self.record or {}).get(key))

    @property
    def receipt_url(self) -> str | None:
        return safe_link((self.record or {}).get("receipt_url"))

    @property
    def cancellations(self) -> list[dict[str, Any]]:
        """iamport's cancel_history, each with its amount and time read."""
        history = (self.record or {}).get("cancel_history") or []
        return [{"amount": decimal_or_none(entry.get("amount")),
                 "when": moment_or_none(entry.get("cancelled_at")),
                 "reason": entry.get("reason") or "",
                 "receipt_url": safe_link(entry.get("receipt_url"))}
                for entry in history if isinstance(entry, dict)]

    @property
    def card_last_four(self) -> str | None:
        digits = "".join(ch for ch in str((self.record or {}).get("card_number") or "") if ch.isdigit())
        return digits[-4:] if len(digits) >= 4 else None


def decimal_or_none(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def moment_or_none(value: Any) -> datetime | None:
    try:
        seconds = int(value or 0)
        return datetime.fromtimestamp(seconds, timezone.utc) if seconds > 0 else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def safe_link(url: Any) -> str | None:
    """A URL iamport gave, when it is a web address a link may point to (never javascript:)."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def payment_or_404(payment_id: int) -> Payment:
    """The payment with this id, its buyer and subscription loaded, or a 404 page."""
    found = db.session.get(
        Payment, payment_id, options=[joinedload(Payment.user), joinedload(Payment.subscription)],
    )
    if found is None:
        abort(404, _("We could not find that payment."))
    return found


def refunds_of(payment_id: int) -> list[Refund]:
    """The refunds recorded against the payment, newest first."""
    return list(db.session.execute(
        db.select(Refund).where(Refund.payment_id == payment_id)
        .order_by(Refund.created_at.desc(), Refund.id.desc())
    ).scalars())


def refunded_by_us(payment: Payment) -> Decimal:
    """What our records say iamport has given back of this payment (refunds done)."""
    total = db.session.execute(
        db.select(db.func.coalesce(db.func.sum(Refund.amount), 0))
        .where(Refund.imp_uid == payment.imp_uid, Refund.status == RefundStatus.DONE)
    ).scalar_one()
    return Decimal(total)


def live_record(payment: Payment) -> LiveRecord:
    """iamport's record of the payment, fetched now with a short timeout; never raises."""
    if not payment.imp_uid:
        return LiveRecord(problem=_("This payment has no imp_uid yet: iamport has not reported "
                                    "it, so there is no record of it to show."))
    imp_uid = payment.imp_uid
    db.session.commit()  # no transaction stays open while iamport is asked
    try:
        record = client().get_payment(imp_uid, timeout=LIVE_TIMEOUT)
    except IamportError as exc:
        if exc.not_found:
            return LiveRecord(problem=_("iamport has no payment with this imp_uid."))
        log.warning("back office: payment %s not looked up: %s", imp_uid, exc)
        return LiveRecord(problem=_("iamport did not answer, so its record cannot be shown now. "
                                    "Reload the page to try again."))
    return LiveRecord(record=record)


def differences(payment: Payment, live: LiveRecord, refunded: Decimal) -> set[str]:
    """The fields on which our record and iamport's disagree."""
    record = live.record
    if record is None:
        return set()
    found = set()
    if record.get("merchant_uid") != payment.merchant_uid:
        found.add("merchant_uid")
    if live.amount("amount") != payment.amount:
        found.add("amount")
    if str(record.get("currency") or "").upper() != payment.currency.upper():
        found.add("currency")
    agreeing = AGREEING_STATUSES.get(payment.status)
    if agreeing is not None and record.get("status") not in agreeing:
        found.add("status")
    if (live.amount("cancel_amount") or Decimal(0)) != refunded:
        found.add("cancel_amount")
    return found


@bp.route("/payments/<int:payment_id>")
def payment(payment_id: int):
    """One payment: our record beside iamport's, the receipt, the refunds."""
    row = payment_or_404(payment_id)
    refunded = refunded_by_us(row)
    live = live_record(row)
    # Read again after the commit that preceded the lookup: shown as it is now.
    row = payment_or_404(payment_id)
    live.differs = differences(row, live, refunded)
    # The buyer the order was opened with, else the account's (renewals carry none).
    return render_template(
        "admin/payment.html", row=row, live=live, refunded=refunded, refunds=refunds_of(row.id),
        buyer_name=row.buyer_name or row.user.full_name, buyer_email=row.buyer_email or row.user.email,
        refund_status_label=refund_status_label, refundable=refundable_balance(row),
    )
