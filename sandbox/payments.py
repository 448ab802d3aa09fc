"""Payment records: ids, the Payment object, its state changes, cancels and the SDK's rsp."""
from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import Any

from . import cards
from .money import parse_amount
from .state import State


PG_PROVIDER = "paymentwall"
STATUSES = ("ready", "paid", "failed", "cancelled")


def payment_template() -> dict[str, Any]:
    """Every field of iamport's Payment object, null or 0 where it does not apply."""
    return {
        "imp_uid": None,
        "merchant_uid": None,
        "pay_method": "card",
        "channel": None,
        "pg_provider": PG_PROVIDER,
        "emb_pg_provider": None,
        "pg_tid": None,
        "pg_id": None,
        "sandbox": False,
        "escrow": False,
        "apply_num": None,
        "bank_code": None,
        "bank_name": None,
        "card_code": None,
        "card_name": None,
        "card_issuer_code": None,
        "card_issuer_name": None,
        "card_publisher_code": None,
        "card_publisher_name": None,
        "card_quota": 0,
        "card_number": None,
        "card_type": None,
        "vbank_code": None,
        "vbank_name": None,
        "vbank_num": None,
        "vbank_holder": None,
        "vbank_date": 0,
        "vbank_issued_at": 0,
        "name": None,
        "amount": 0,
        "cancel_amount": 0,
        "currency": "KRW",
        "buyer_name": None,
        "buyer_email": None,
        "buyer_tel": None,
        "buyer_addr": None,
        "buyer_postcode": None,
        "custom_data": None,
        "user_agent": None,
        "status": "ready",
        "started_at": 0,
        "paid_at": 0,
        "failed_at": 0,
        "cancelled_at": 0,
        "fail_reason": None,
        "cancel_reason": None,
        "receipt_url": None,
        "cancel_history": [],
        "deposit_history": [],
        "cancel_receipt_urls": [],
        "cash_receipt_issued": False,
        "customer_uid": None,
        "customer_uid_usage": None,
        "promotion": None,
    }


def new_imp_uid(sb: State) -> str:
    """A fresh imp_uid in iamport's shape (imp_ and 12 digits)."""
    while True:
        imp_uid = "imp_" + "".join(secrets.choice("0123456789") for _ in range(12))
        if not sb.store.imp_uid_exists(imp_uid):
            return imp_uid


def new_pg_tid() -> str:
    """A Paymentwall-looking transaction id."""
    return "pw_" + secrets.token_hex(8)


def new_apply_num() -> str:
    """A card approval number."""
    return "".join(secrets.choice("0123456789") for _ in range(8))


def custom_data_text(value: Any) -> str | None:
    """custom_data as the API returns it: a JSON string (objects are serialised)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def receipt_url(sb: State, imp_uid: str) -> str:
    """Where the sandbox shows a payment's receipt."""
    return f"{sb.public_url()}/_sandbox/receipts/{imp_uid}"


def create_payment(sb: State, **fields: Any) -> dict:
    """A new Payment with a fresh imp_uid, started now."""
    payment = payment_template()
    payment.update(fields)
    payment["imp_uid"] = new_imp_uid(sb)
    payment["started_at"] = sb.clock.timestamp()
    payment["sandbox"] = sb.settings.test_channel
    payment["pg_provider"] = PG_PROVIDER
    return payment


def apply_card(payment: dict, masked: str, brand: str) -> None:
    """Copy the card facts a Payment shows."""
    payment["card_name"] = brand
    payment["card_number"] = masked
    payment["card_quota"] = 0


def mark_paid(sb: State, payment: dict) -> None:
    """The PG approved the charge."""
    payment["status"] = "paid"
    payment["paid_at"] = sb.clock.timestamp()
    payment["fail_reason"] = None
    payment["pg_tid"] = payment["pg_tid"] or new_pg_tid()
    payment["apply_num"] = new_apply_num()
    payment["receipt_url"] = receipt_url(sb, payment["imp_uid"])


def mark_failed(sb: State, payment: dict, reason: str) -> None:
    """The charge failed (declined, held, or abandoned)."""
    payment["status"] = "failed"
    payment["failed_at"] = sb.clock.timestamp()
    payment["fail_reason"] = reason


def was_paid(payment: dict) -> bool:
    """Paid now or paid before being cancelled: the merchant_uid is used up."""
    return payment["status"] in ("paid", "cancelled")


def merchant_uid_paid(sb: State, merchant_uid: str) -> bool:
    """Whether a merchant_uid already carries a payment that went through."""
    return any(was_paid(p) for p in sb.store.payments_for_merchant_uid(merchant_uid))


def cancellable_balance(payment: dict, meta: dict) -> Decimal:
    """What can still be cancelled: paid minus cancelled minus cancels awaiting the PG."""
    pending = sum(
        (parse_amount(c["amount"]) for c in meta.get("pending_cancels", [])), Decimal(0)
    )
    return (
        parse_amount(payment["amount"], allow_zero=True)
        - parse_amount(payment["cancel_amount"], allow_zero=True)
        - pending
    )


def apply_cancel(sb: State, payment: dict, cancel: dict) -> None:
    """Paymentwall confirmed a cancel: add it to the history and update the totals."""
    amount = parse_amount(cancel["amount"])
    # The official cancel entry requires a reason string: none given is an empty one.
    reason = cancel.get("reason") or ""
    now = sb.clock.timestamp()
    payment["cancel_amount"] = parse_amount(payment["cancel_amount"], allow_zero=True) + amount
    payment["cancel_history"] = list(payment.get("cancel_history") or []) + [
        {
            "pg_tid": payment["pg_tid"],
            "amount": amount,
            "cancelled_at": now,
            "reason": reason,
            "cancellation_id": cancel["cancellation_id"],
            "receipt_url": payment.get("receipt_url"),
        }
    ]
    payment["cancel_receipt_urls"] = [h["receipt_url"] for h in payment["cancel_history"]]
    payment["cancel_reason"] = reason
    payment["cancelled_at"] = now
    if payment["cancel_amount"] >= parse_amount(payment["amount"]):
        payment["status"] = "cancelled"


def new_cancellation_id() -> str:
    """Id of one (partial) cancel."""
    return "cancel_" + secrets.token_hex(6)


def callback_rsp(payment: dict, meta: dict, error_code: str | None = None,
                 error_msg: str | None = None) -> dict:
    """The object the SDK hands to the request_pay callback."""
    paid = payment["status"] == "paid" and error_code is None
    param = meta.get("param", {})
    return {
        "success": paid,
        "imp_success": paid,
        "error_code": error_code,
        "error_msg": error_msg,
        "imp_uid": payment["imp_uid"],
        "merchant_uid": payment["merchant_uid"],
        "pay_method": payment["pay_method"],
        "paid_amount": payment["amount"] if paid else 0,
        "status": payment["status"],
        "name": payment["name"],
        "pg_provider": payment["pg_provider"],
        "emb_pg_provider": None,
        "pg_tid": payment["pg_tid"],
        "pg_type": "payment",
        "buyer_name": payment["buyer_name"],
        "buyer_email": payment["buyer_email"],
        "buyer_tel": payment["buyer_tel"],
        "buyer_addr": payment["buyer_addr"],
        "buyer_postcode": payment["buyer_postcode"],
        # The SDK echoes custom_data back as the merchant passed it.
        "custom_data": param.get("custom_data"),
        "paid_at": payment["paid_at"],
        "receipt_url": payment["receipt_url"],
        "apply_num": payment["apply_num"],
        "vbank_num": None,
        "vbank_name": None,
        "vbank_holder": None,
        "vbank_date": 0,
        "bank_name": None,
        "card_name": payment["card_name"],
        "card_number": payment["card_number"],
        "card_quota": payment["card_quota"],
        "currency": payment["currency"],
        "customer_uid": payment["customer_uid"],
    }


def card_outcome_meta(card: cards.CardDetails) -> dict:
    """What the sandbox keeps about a card: never the number, only what later charges need."""
    return {"masked": card.masked, "brand": card.brand, "renewals_decline": card.renewals_decline,
            "renewals_review": card.renewals_review}
