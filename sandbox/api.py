"""The REST API: the iamport V1 endpoints a Paymentwall subscription merchant uses."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from . import auth, billing, faults, payments, scheduler, webhooks
from .envelope import (
    CODE_FAILED,
    ApiError,
    bad_request,
    bool_field,
    envelope,
    int_field,
    not_found,
    read_body,
    refused,
    text_field,
)
from .money import AmountError, parse_amount
from .sdk import BUYER_NAME_RE, notice_urls_of
from .state import CANCEL, State, current

bp = Blueprint("sandbox_api", __name__)

MAX_SCHEDULE_RANGE = 92 * 24 * 3600  # "at most 3 months"
PAGE_SIZE = 20

# The refusal statuses iamport's OpenAPI description declares per endpoint, besides 401. Any other
# refusal (a missing or malformed field, an unreadable body, an unknown id where no 404 is
# declared) is answered as iamport answers a declined request: HTTP 200, code -1 and a message.
DECLARED_STATUSES: dict[str, frozenset[int]] = {
    "sandbox_api.get_payment": frozenset({404}),
    "sandbox_api.find_payment": frozenset({404}),
    "sandbox_api.list_schedules": frozenset({400}),
    "sandbox_api.get_schedule": frozenset({404}),
    "sandbox_api.get_customer": frozenset({404}),
    "sandbox_api.delete_customer": frozenset({404}),
    "sandbox_api.customer_payments": frozenset({404}),
}


@bp.before_request
def guard() -> Response | None:
    """Faults first, then the token check every endpoint but getToken makes."""
    sb = current()
    injected = faults.before_request(sb)
    if injected is not None:
        return injected
    if request.endpoint == "sandbox_api.get_token":
        return None
    if not auth.token_is_valid(sb, auth.token_from_request(request)):
        return envelope(None, code=CODE_FAILED, message="Unauthorized: a valid access token is required.",
                        status=401)
    return None


@bp.after_request
def maybe_hang(response: Response) -> Response:
    """The hang fault holds the finished answer back."""
    return faults.after_request(current(), response)


@bp.errorhandler(ApiError)
def api_error(exc: ApiError) -> Response:
    """Every refusal leaves in the envelope, with a status the endpoint's description declares."""
    status = exc.status
    if status not in (200, 401) and status not in DECLARED_STATUSES.get(request.endpoint or "", ()):
        status = 200
    return envelope(None, code=exc.code, message=exc.message, status=status)


def _amount(body: dict, name: str, *, required: bool = True, allow_zero: bool = False) -> Any:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is required.")
        return None
    try:
        return parse_amount(value, allow_zero=allow_zero)
    except AmountError as exc:
        raise bad_request(f"{name} {exc}.") from None


# -- authentication -----------------------------------------------------------------------------

@bp.post("/users/getToken")
def get_token() -> Response:
    """Issue (or reuse, or extend) the access token of the REST key pair."""
    sb = current()
    body = read_body()
    imp_key, imp_secret = body.get("imp_key"), body.get("imp_secret")
    if not auth.keys_match(sb, imp_key, imp_secret):
        return envelope(None, code=CODE_FAILED, message="Unauthorized: imp_key or imp_secret is wrong.",
                        status=401)
    return envelope(auth.issue_token(sb, str(imp_key)))


# -- payments -----------------------------------------------------------------------------------

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
    if sorting not in ("-started", "started", "-paid", "paid", "-updated", "updated"):
        raise bad_request("sorting must be one of -started, started, -paid, paid, -updated, updated.")
    include = bool_field(request.args.get("include_sandbox"))
    found = [
        p for p in current().store.payments_for_merchant_uid(merchant_uid, sorting)
        if _visible(p, include) and (payment_status is None or p["status"] == payment_status)
    ]
    if not found:
        raise not_found("No payment exists with this merchant_uid.")
    return envelope(found[0])


@bp.post("/payments/cancel")
def cancel_payment() -> Response:
    """Cancel a payment in full or in part; Paymentwall confirms it asynchronously."""
    sb = current()
    body = read_body()
    imp_uid = text_field(body, "imp_uid")
    merchant_uid = text_field(body, "merchant_uid")
    if not imp_uid and not merchant_uid:
        raise bad_request("imp_uid or merchant_uid is required.")
    amount = _amount(body, "amount", required=False, allow_zero=True)
    checksum = _amount(body, "checksum", required=False, allow_zero=True)
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
    amount = _amount(body, "amount")
    # KRW when none is given, iamport's default currency everywhere else.
    currency = (text_field(body, "currency") or "KRW").upper()
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


# -- billing keys ------------------------------------------------------------------------------

def _order_fields(body: dict, *, where: str = "") -> dict:
    """The order fields common to `again` and each schedule."""
    buyer_name = text_field(body, "buyer_name")
    if buyer_name is not None and not BUYER_NAME_RE.match(buyer_name):
        raise refused(f"{where}buyer_name must be 'First Last' (one space) for Paymentwall.", CODE_FAILED)
    custom_data = body.get("custom_data")
    return {
        "currency": (text_field(body, "currency") or "KRW").upper(),
        "buyer_name": buyer_name,
        "buyer_email": text_field(body, "buyer_email"),
        "buyer_tel": text_field(body, "buyer_tel"),
        "buyer_addr": text_field(body, "buyer_addr"),
        "buyer_postcode": text_field(body, "buyer_postcode"),
        "custom_data": payments.custom_data_text(custom_data),
        "notice_urls": _notice_urls(body),
    }


def _notice_urls(body: dict) -> list[str]:
    try:
        return notice_urls_of(body.get("notice_url"))
    except ValueError as exc:
        raise bad_request(str(exc)) from None


@bp.post("/subscribe/payments/again")
def pay_again() -> Response:
    """Charge a billing key; code 0 with status paid or failed, as iamport answers."""
    sb = current()
    body = read_body()
    customer_uid = text_field(body, "customer_uid", required=True)
    merchant_uid = text_field(body, "merchant_uid", required=True, max_length=40)
    amount = _amount(body, "amount")
    name = text_field(body, "name", required=True)
    order = {"merchant_uid": merchant_uid, "amount": amount, "name": name, **_order_fields(body)}
    if not order["buyer_email"]:
        raise refused("buyer_email is required for Paymentwall (the one used at issuance).", CODE_FAILED)
    with sb.store.tx():
        found = sb.store.customer_get(customer_uid)
        # A key whose pingback has not arrived yet is unknown here, as it is to iamport.
        if found is None:
            raise refused("No billing key is registered for this customer_uid.", CODE_FAILED)
        customer, customer_meta = found
        if order["buyer_email"] != customer["customer_email"]:
            raise refused("buyer_email must be the e-mail used when the billing key was issued.",
                          CODE_FAILED)
        if payments.merchant_uid_paid(sb, merchant_uid):
            raise refused("This merchant_uid is already paid.", CODE_FAILED)
        payment, meta = billing.charge_billing_key(sb, customer, customer_meta, order,
                                                   billing.USAGE_PAYMENT)
        if payment["status"] == "paid":
            webhooks.enqueue(sb, payment, meta, event="again")
    return envelope(payment)


@bp.post("/subscribe/payments/onetime")
def pay_onetime() -> Response:
    """Key-in payments need a separate Paymentwall (Brick) contract, which this channel lacks."""
    read_body()
    raise refused("Key-in payments are not enabled on this Paymentwall channel; use the payment window.",
                  CODE_FAILED)


@bp.post("/subscribe/payments/schedule")
def schedule_payments() -> Response:
    """Schedule charges of a billing key; results arrive only by webhook."""
    sb = current()
    body = read_body()
    customer_uid = text_field(body, "customer_uid", required=True)
    items = body.get("schedules")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise bad_request("schedules must be a non-empty list of objects.")
    wanted = []
    for index, item in enumerate(items):
        where = f"schedules[{index}]."
        merchant_uid = text_field(item, "merchant_uid", required=True, max_length=40)
        schedule_at = int_field(item, "schedule_at", required=True)
        amount = _amount(item, "amount")
        name = text_field(item, "name", required=True, max_length=40)
        wanted.append({"merchant_uid": merchant_uid, "schedule_at": schedule_at, "amount": amount,
                       "name": name, **_order_fields(item, where=where)})
    uids = [w["merchant_uid"] for w in wanted]
    if len(set(uids)) != len(uids):
        raise refused("The same merchant_uid appears twice in schedules.")
    with sb.store.tx():
        found = sb.store.customer_get(customer_uid)
        if found is None:
            raise refused("No billing key is registered for this customer_uid.")
        customer, _ = found
        now = sb.clock.timestamp()
        for w in wanted:
            if w["schedule_at"] <= now:
                raise refused(f"schedule_at of {w['merchant_uid']} is not in the future.")
            if sb.store.schedule_get(w["merchant_uid"]) is not None:
                raise refused(f"merchant_uid {w['merchant_uid']} is already scheduled.")
            if payments.merchant_uid_paid(sb, w["merchant_uid"]):
                raise refused(f"merchant_uid {w['merchant_uid']} is already paid.")
        created = [billing.new_schedule(customer, w) for w in wanted]
        for schedule in created:
            sb.store.schedule_save(schedule)
    return envelope([billing.schedule_object(s) for s in created])


@bp.post("/subscribe/payments/unschedule")
def unschedule_payments() -> Response:
    """Revoke scheduled charges: by merchant_uid, or all of a customer_uid."""
    sb = current()
    body = read_body()
    customer_uid = text_field(body, "customer_uid")
    raw = body.get("merchant_uid")
    merchant_uids = [raw] if isinstance(raw, str) and raw else list(raw or [])
    if not all(isinstance(m, str) for m in merchant_uids):
        raise bad_request("merchant_uid must be a string or a list of strings.")
    if not customer_uid and not merchant_uids:
        raise bad_request("customer_uid or merchant_uid is required.")
    with sb.store.tx():
        if merchant_uids:
            candidates = [s for s in (sb.store.schedule_get(m) for m in merchant_uids) if s]
            if customer_uid:
                candidates = [s for s in candidates if s["customer_uid"] == customer_uid]
        else:
            candidates = sb.store.schedules_for_customer(customer_uid, "scheduled")
        revoked = [s for s in candidates if s["schedule_status"] == "scheduled"]
        if not revoked:
            raise refused("There is no scheduled payment to revoke.")
        now = sb.clock.timestamp()
        for schedule in revoked:
            schedule.update(schedule_status="revoked", revoked_at=now)
            sb.store.schedule_save(schedule)
    return envelope([billing.schedule_object(s) for s in revoked])


@bp.get("/subscribe/payments/schedule/<merchant_uid>")
def get_schedule(merchant_uid: str) -> Response:
    """One scheduled payment."""
    schedule = current().store.schedule_get(merchant_uid)
    if schedule is None:
        raise not_found("No scheduled payment exists with this merchant_uid.")
    return envelope(billing.schedule_object(schedule))


@bp.get("/subscribe/payments/schedule")
def list_schedules() -> Response:
    """Scheduled payments due within a time range (at most 3 months), paged."""
    args = request.args.to_dict()
    start = int_field(args, "schedule_from", required=True)
    end = int_field(args, "schedule_to", required=True)
    if end < start:
        raise bad_request("schedule_to must not be before schedule_from.")
    if end - start > MAX_SCHEDULE_RANGE:
        raise bad_request("The range may span at most 3 months.")
    status = args.get("schedule_status") or None
    if status is not None and status not in ("scheduled", "executed", "revoked"):
        raise bad_request("schedule_status must be scheduled, executed or revoked.")
    page = int_field(args, "page") or 1
    limit = int_field(args, "limit") or PAGE_SIZE
    if page < 1 or not 1 <= limit <= 1000:
        raise bad_request("page must be 1 or more and limit between 1 and 1000.")
    sorting = args.get("sorting") or "-schedule_at"
    if sorting not in ("schedule_at", "-schedule_at"):
        raise bad_request("sorting must be schedule_at or -schedule_at.")
    total, rows = current().store.schedules_between(
        start, end, status, sorting.startswith("-"), limit, (page - 1) * limit
    )
    return envelope(_page(total, page, limit, [billing.schedule_object(s) for s in rows]))


def _page(total: int, page: int, limit: int, rows: list) -> dict:
    return {
        "total": total,
        "previous": page - 1 if page > 1 else 0,
        "next": page + 1 if page * limit < total else 0,
        "list": rows,
    }


@bp.get("/subscribe/customers/<customer_uid>")
def get_customer(customer_uid: str) -> Response:
    """A chargeable billing key (404 until Paymentwall's pingback made it one)."""
    found = current().store.customer_get(customer_uid)
    if found is None:
        raise not_found("No billing key is registered for this customer_uid.")
    return envelope(billing.customer_object(found[0]))


@bp.delete("/subscribe/customers/<customer_uid>")
def delete_customer(customer_uid: str) -> Response:
    """Delete a billing key for good; its pending schedules will fail when due."""
    sb = current()
    with sb.store.tx():
        found = sb.store.customer_get(customer_uid)
        if found is None:
            raise not_found("No billing key is registered for this customer_uid.")
        sb.store.customer_delete(customer_uid)
    return envelope(billing.customer_object(found[0]))


@bp.post("/subscribe/customers/<customer_uid>")
def create_customer(customer_uid: str) -> Response:
    """Paymentwall cannot issue a billing key without a payment."""
    read_body()
    raise refused("Paymentwall cannot issue a billing key without a payment; use the payment window "
                  "with customer_uid.", CODE_FAILED)


@bp.get("/subscribe/customers/<customer_uid>/payments")
def customer_payments(customer_uid: str) -> Response:
    """The payments made with a billing key, newest first, 20 per page."""
    sb = current()
    if sb.store.customer_get(customer_uid) is None:
        raise not_found("No billing key is registered for this customer_uid.")
    page = int_field(request.args.to_dict(), "page") or 1
    if page < 1:
        raise bad_request("page must be 1 or more.")
    rows = sb.store.payments_for_customer(customer_uid)
    chunk = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    return envelope(_page(len(rows), page, PAGE_SIZE, chunk))
