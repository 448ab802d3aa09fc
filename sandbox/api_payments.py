"""The REST API's payment endpoints: look a payment up, find it by merchant_uid, list by status, cancel, prepare."""
from __future__ import annotations

from flask import Blueprint, Response, request

from . import payments, scheduler
from .money import AmountError, check_minor_unit
from .envelope import (
    amount_field,
    bad_request,
    bool_field,
    envelope,
    int_field,
    not_found,
    paged,
    read_body,
    refused,
    text_field,
)
from .state import CANCEL, State, current

bp = Blueprint("payments", __name__)

SORTINGS = ("-started", "started", "-paid", "paid", "-updated", "updated")
# The listing by status searches at most 90 days at once, 20 payments a page unless asked.
MAX_LISTING_RANGE = 90 * 24 * 3600
LISTING_PAGE = 20
MAX_LISTING_PAGE = 1000


def _visible(payment: dict, include_sandbox: bool) -> bool:
    # Payments of a test channel are hidden unless the caller asks for them.
    return include_sandbox or not payment.get("sandbox")


@bp.get("/payments/<imp_uid>")
def get_payment(imp_uid: str) -> Response:
    """One payment by imp_uid."""
    found = current().store.payment_get(imp_uid)
    if found is None or not _visible(found[0], bool_field(request.args.get("include_sandbox"))):
        raise not_found("No payment exists with this imp_uid.")
    return envelope(found[0])


@bp.get("/payments/find/<merchant_uid>")
@bp.get("/payments/find/<merchant_uid>/<payment_status>")
def find_payment(merchant_uid: str, payment_status: str | None = None) -> Response:
    """The latest payment of a merchant_uid, optionally only in one status."""
    if payment_status is not None and payment_status not in payments.STATUSES:
        raise bad_request("payment_status must be one of ready, paid, failed, cancelled.")
    sorting = request.args.get("sorting") or "-started"
    if sorting not in SORTINGS:
        raise bad_request("sorting must be one of -started, started, -paid, paid, -updated, updated.")
    include = bool_field(request.args.get("include_sandbox"))
    found = [
        p for p in current().store.payments_for_merchant_uid(merchant_uid, sorting)
        if _visible(p, include) and (payment_status is None or p["status"] == payment_status)
    ]
    if not found:
        raise not_found("No payment exists with this merchant_uid.")
    return envelope(found[0])


@bp.get("/payments/status/<payment_status>")
def payments_by_status(payment_status: str) -> Response:
    """Payments in one status (or all) whose time of that status falls within at most 90 days
    (by default the 90 days up to now), paged; 400 for any search it cannot make."""
    if payment_status != "all" and payment_status not in payments.STATUSES:
        raise bad_request("payment_status must be one of all, ready, paid, cancelled, failed.")
    args = request.args.to_dict()
    end = int_field(args, "to")
    end = current().clock.timestamp() if end is None else end
    start = int_field(args, "from")
    start = end - MAX_LISTING_RANGE if start is None else start
    if end < start:
        raise bad_request("to must not be before from.")
    if end - start > MAX_LISTING_RANGE:
        raise bad_request("The range from from to to may span at most 90 days.")
    page = int_field(args, "page")
    page = 1 if page is None else page
    limit = int_field(args, "limit")
    limit = LISTING_PAGE if limit is None else limit
    if page < 1 or not 1 <= limit <= MAX_LISTING_PAGE:
        raise bad_request(f"page must be 1 or more and limit between 1 and {MAX_LISTING_PAGE}.")
    sorting = args.get("sorting") or "-started"
    if sorting not in SORTINGS:
        raise bad_request("sorting must be one of -started, started, -paid, paid, -updated, updated.")
    status = None if payment_status == "all" else payment_status
    total, rows = current().store.payments_by_status(
        status, start, end, sorting, bool_field(args.get("include_sandbox")), limit, (page - 1) * limit
    )
    if page > 1 and not rows:
        raise bad_request(f"page {page} is beyond the last page of {total} payments.")
    return envelope(paged(total, page, limit, rows))


@bp.post("/payments/cancel")
def cancel_payment() -> Response:
    """Cancel a payment in full or in part; Paymentwall confirms it asynchronously."""
    sb = current()
    body = read_body()
    imp_uid = text_field(body, "imp_uid")
    merchant_uid = text_field(body, "merchant_uid")
    if not imp_uid and not merchant_uid:
        raise bad_request("imp_uid or merchant_uid is required.")
    amount = amount_field(body, "amount", required=False, allow_zero=True)
    checksum = amount_field(body, "checksum", required=False, allow_zero=True)
    reason = text_field(body, "reason")
    enable_webhook = bool_field(body.get("enable_webhook"))
    with sb.store.tx():
        found = _payment_to_cancel(sb, imp_uid, merchant_uid)
        if found is None:
            raise refused("There is no payment to cancel.")
        payment, meta = found
        if payment["status"] == "cancelled":
            raise refused("This payment is already cancelled in full.")
        if payment["status"] != "paid":
            raise refused(f"Only paid payments can be cancelled (this one is {payment['status']}).")
        balance = payments.cancellable_balance(payment, meta)
        if balance <= 0:
            raise refused("Nothing is left to cancel (a cancel for the rest awaits the PG).")
        try:
            # A cancel is in the payment's currency: no fraction of a won.
            for value in (amount, checksum):
                if value is not None:
                    check_minor_unit(value, payment["currency"])
        except AmountError as exc:
            raise bad_request(f"amount and checksum {exc}.") from None
        if checksum is not None and checksum != balance:
            raise refused(f"checksum {checksum} does not match the cancellable amount {balance}.")
        # amount omitted or 0 means "cancel everything that is left".
        to_cancel = balance if not amount else amount
        if to_cancel > balance:
            raise refused(f"amount {to_cancel} exceeds the cancellable amount {balance}.")
        cancel = {
            "cancellation_id": payments.new_cancellation_id(),
            "amount": to_cancel,
            "reason": reason,
            "enable_webhook": enable_webhook,
            "requested_at": sb.clock.timestamp(),
        }
        delay = sb.knobs.cancel_delay
        if delay <= 0:
            scheduler.confirm_cancel(sb, payment, meta, cancel)
        else:
            meta["pending_cancels"] = list(meta.get("pending_cancels", [])) + [cancel]
            sb.store.payment_save(payment, meta)
            sb.store.job_add(CANCEL, payment["imp_uid"], sb.clock.now() + delay, cancel)
        payment = sb.store.payment_get(payment["imp_uid"])[0]
    return envelope(payment)


def _payment_to_cancel(sb: State, imp_uid: str | None, merchant_uid: str | None):
    if imp_uid:
        return sb.store.payment_get(imp_uid)
    candidates = sb.store.payments_for_merchant_uid(merchant_uid or "")
    # By merchant_uid, the payment that went through is the one to cancel.
    chosen = next((p for p in candidates if payments.was_paid(p)), candidates[0] if candidates else None)
    return None if chosen is None else sb.store.payment_get(chosen["imp_uid"])


@bp.post("/payments/prepare")
def prepare_payment() -> Response:
    """Register the amount a merchant_uid must be paid with."""
    sb = current()
    body = read_body()
    merchant_uid = text_field(body, "merchant_uid", required=True, max_length=40)
    # KRW when none is given, iamport's default currency everywhere else.
    currency = (text_field(body, "currency") or "KRW").upper()
    amount = amount_field(body, "amount", currency=currency)
    prepared = {"merchant_uid": merchant_uid, "amount": amount, "currency": currency}
    with sb.store.tx():
        if sb.store.prepared_get(merchant_uid) is not None:
            raise refused("This merchant_uid is already prepared.")
        sb.store.prepared_put(prepared)
    return envelope(prepared)


@bp.get("/payments/prepare/<merchant_uid>")
def get_prepared(merchant_uid: str) -> Response:
    """The amount (and currency) registered for a merchant_uid."""
    prepared = current().store.prepared_get(merchant_uid)
    if prepared is None:
        raise not_found("No amount is prepared for this merchant_uid.")
    return envelope({"merchant_uid": prepared["merchant_uid"], "amount": prepared["amount"],
                     "currency": prepared.get("currency") or "KRW"})
