"""The shapes iamport documents for its objects, as field -> allowed JSON types, and a checker."""
from __future__ import annotations

NUMBER = (int, float)
STR = (str,)
OPT_STR = (str, type(None))
INT = (int,)
BOOL = (bool,)
LIST = (list,)

PAYMENT = {
    "imp_uid": STR, "merchant_uid": STR, "pay_method": STR, "channel": STR, "pg_provider": STR,
    "emb_pg_provider": OPT_STR, "pg_tid": OPT_STR, "pg_id": STR, "sandbox": BOOL, "escrow": BOOL,
    "apply_num": OPT_STR, "bank_code": OPT_STR, "bank_name": OPT_STR, "card_code": OPT_STR,
    "card_name": OPT_STR, "card_issuer_code": OPT_STR, "card_issuer_name": OPT_STR,
    "card_publisher_code": OPT_STR, "card_publisher_name": OPT_STR, "card_quota": INT,
    "card_number": OPT_STR, "card_type": (int, type(None)), "vbank_code": OPT_STR, "vbank_name": OPT_STR,
    "vbank_num": OPT_STR, "vbank_holder": OPT_STR, "vbank_date": INT, "vbank_issued_at": INT,
    "name": OPT_STR, "amount": NUMBER, "cancel_amount": NUMBER, "currency": STR, "buyer_name": OPT_STR,
    "buyer_email": OPT_STR, "buyer_tel": OPT_STR, "buyer_addr": OPT_STR, "buyer_postcode": OPT_STR,
    "custom_data": OPT_STR, "user_agent": OPT_STR, "status": STR, "started_at": INT, "paid_at": INT,
    "failed_at": INT, "cancelled_at": INT, "fail_reason": OPT_STR, "cancel_reason": OPT_STR,
    "receipt_url": OPT_STR, "cancel_history": LIST, "deposit_history": LIST, "cancel_receipt_urls": LIST,
    "cash_receipt_issued": BOOL, "customer_uid": OPT_STR, "customer_uid_usage": OPT_STR,
    "promotion": (dict, type(None)),
}

CANCEL_HISTORY = {
    "pg_tid": STR, "amount": NUMBER, "cancelled_at": INT, "reason": OPT_STR, "cancellation_id": STR,
    "receipt_url": OPT_STR,
}

CUSTOMER = {
    "customer_uid": STR, "pg_provider": STR, "pg_id": STR, "sandbox": BOOL, "card_name": STR,
    "customer_id": OPT_STR, "card_code": OPT_STR, "card_issuer_code": OPT_STR, "card_issuer_name": OPT_STR,
    "card_publisher_code": OPT_STR, "card_publisher_name": OPT_STR, "card_number": STR,
    "card_type": (int, type(None)), "customer_name": OPT_STR, "customer_tel": OPT_STR,
    "customer_email": OPT_STR, "customer_addr": OPT_STR, "customer_postcode": OPT_STR,
    "inserted": INT, "updated": INT,
}

SCHEDULE = {
    "customer_uid": STR, "merchant_uid": STR, "imp_uid": OPT_STR, "pg_provider": STR, "pg_id": STR,
    "customer_id": OPT_STR, "schedule_at": INT, "executed_at": INT, "revoked_at": INT, "amount": NUMBER,
    "currency": STR, "name": STR, "buyer_name": OPT_STR, "buyer_email": OPT_STR, "buyer_tel": OPT_STR,
    "buyer_addr": OPT_STR, "buyer_postcode": OPT_STR, "custom_data": OPT_STR, "schedule_status": STR,
    "payment_status": OPT_STR, "fail_reason": OPT_STR, "promotion_id": OPT_STR,
}

PAGE = {"total": INT, "previous": INT, "next": INT, "list": LIST}


def check_shape(obj: dict, shape: dict) -> None:
    """Every documented field present with an allowed type (bool is not accepted as a number)."""
    assert isinstance(obj, dict), obj
    missing = set(shape) - set(obj)
    assert not missing, f"missing fields: {sorted(missing)}"
    for name, types in shape.items():
        value = obj[name]
        if isinstance(value, bool) and bool not in types:
            raise AssertionError(f"{name} is a bool, expected {types}")
        assert isinstance(value, types), f"{name}={value!r} is not one of {types}"


def check_envelope(body: dict, *, ok: bool = True) -> None:
    """The {code, message, response} envelope."""
    assert set(body) == {"code", "message", "response"}, body
    assert isinstance(body["code"], int)
    if ok:
        assert body["code"] == 0, body
    else:
        assert body["code"] != 0, body
        assert body["response"] is None
        assert isinstance(body["message"], str) and body["message"]
