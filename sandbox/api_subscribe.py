"""The REST API's billing-key endpoints: charge a key, schedule and unschedule its charges, look keys up."""
from __future__ import annotations

from flask import Blueprint, Response, request

from . import billing, payments, webhooks
from .envelope import (
    CODE_FAILED,
    amount_field,
    bad_request,
    envelope,
    int_field,
    not_found,
    paged,
    read_body,
    refused,
    text_field,
)
from .sdk import BUYER_NAME_RE, notice_urls_of
from .state import current

bp = Blueprint("subscribe", __name__, url_prefix="/subscribe")

MAX_SCHEDULE_RANGE = 92 * 24 * 3600  # "at most 3 months"
PAGE_SIZE = 20


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


@bp.post("/payments/again")
def pay_again() -> Response:
    """Charge a billing key; code 0 with status paid or failed, as iamport answers."""
    sb = current()
    body = read_body()
    customer_uid = text_field(body, "customer_uid", required=True)
    merchant_uid = text_field(body, "merchant_uid", required=True, max_length=40)
    fields = _order_fields(body)
    amount = amount_field(body, "amount", currency=fields["currency"])
    name = text_field(body, "name", required=True)
    order = {"merchant_uid": merchant_uid, "amount": amount, "name": name, **fields}
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


@bp.post("/payments/onetime")
def pay_onetime() -> Response:
    """Key-in payments need a separate Paymentwall (Brick) contract, which this channel lacks."""
    read_body()
    raise refused("Key-in payments are not enabled on this Paymentwall channel; use the payment window.",
                  CODE_FAILED)


@bp.post("/payments/schedule")
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
        fields = _order_fields(item, where=where)
        amount = amount_field(item, "amount", currency=fields["currency"])
        name = text_field(item, "name", required=True, max_length=40)
        wanted.append({"merchant_uid": merchant_uid, "schedule_at": schedule_at, "amount": amount,
                       "name": name, **fields})
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


@bp.post("/payments/unschedule")
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


@bp.get("/payments/schedule/<merchant_uid>")
def get_schedule(merchant_uid: str) -> Response:
    """One scheduled payment."""
    schedule = current().store.schedule_get(merchant_uid)
    if schedule is None:
        raise not_found("No scheduled payment exists with this merchant_uid.")
    return envelope(billing.schedule_object(schedule))


@bp.get("/payments/schedule")
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
    return envelope(paged(total, page, limit, [billing.schedule_object(s) for s in rows]))


@bp.get("/customers/<customer_uid>")
def get_customer(customer_uid: str) -> Response:
    """A chargeable billing key (404 until Paymentwall's pingback made it one)."""
    found = current().store.customer_get(customer_uid)
    if found is None:
        raise not_found("No billing key is registered for this customer_uid.")
    return envelope(billing.customer_object(found[0]))


@bp.delete("/customers/<customer_uid>")
def delete_customer(customer_uid: str) -> Response:
    """Delete a billing key for good; its pending schedules will fail when due."""
    sb = current()
    with sb.store.tx():
        found = sb.store.customer_get(customer_uid)
        if found is None:
            raise not_found("No billing key is registered for this customer_uid.")
        sb.store.customer_delete(customer_uid)
    return envelope(billing.customer_object(found[0]))


@bp.post("/customers/<customer_uid>")
def create_customer(customer_uid: str) -> Response:
    """Paymentwall cannot issue a billing key without a payment."""
    read_body()
    raise refused("Paymentwall cannot issue a billing key without a payment; use the payment window "
                  "with customer_uid.", CODE_FAILED)


@bp.get("/customers/<customer_uid>/payments")
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
    return envelope(paged(len(rows), page, PAGE_SIZE, chunk))
