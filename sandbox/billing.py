"""Billing keys (customers), charges of a stored key, and scheduled payments."""
from __future__ import annotations

import logging
from typing import Any

from . import cards, payments, texts, webhooks
from .money import parse_amount
from .state import REVIEW, State


log = logging.getLogger(__name__)

USAGE_ISSUE = "issue"
USAGE_PAYMENT = "payment"
USAGE_SCHEDULED = "payment.scheduled"


def customer_object(customer: dict) -> dict:
    """The CustomerAnnotation as the API returns it."""
    return dict(customer)


def activate_billing_key(sb: State, payment: dict, meta: dict) -> dict:
    """Paymentwall's pingback arrived: the key issued with this payment becomes chargeable.

    Reusing a customer_uid replaces the card behind it with the latest one, as iamport does.
    """
    now = sb.clock.timestamp()
    card = meta["card"]
    existing = sb.store.customer_get(payment["customer_uid"])
    customer = {
        "customer_uid": payment["customer_uid"],
        "pg_provider": payments.PG_PROVIDER,
        "pg_id": payment["pg_id"],
        "sandbox": payment["sandbox"],
        "customer_id": None,
        "card_name": card["brand"],
        "card_code": None,
        "card_issuer_code": None,
        "card_issuer_name": None,
        "card_publisher_code": None,
        "card_publisher_name": None,
        "card_number": card["masked"],
        "card_type": None,
        "customer_name": payment["buyer_name"],
        "customer_tel": payment["buyer_tel"],
        "customer_email": payment["buyer_email"],
        "customer_addr": payment["buyer_addr"],
        "customer_postcode": payment["buyer_postcode"],
        "inserted": existing[0]["inserted"] if existing else now,
        "updated": now,
    }
    customer_meta = {
        "renewals_decline": card["renewals_decline"],
        "renewals_review": card.get("renewals_review"),
        "issued_by": payment["imp_uid"],
        # Later charges of the key answer in the language its window was shown in.
        "language": meta.get("language"),
    }
    sb.store.customer_save(customer, customer_meta)
    log.info("billing key %s is chargeable (issued by %s)", payment["customer_uid"], payment["imp_uid"])
    return customer


def charge_billing_key(sb: State, customer: dict, customer_meta: dict, order: dict,
                       usage: str) -> tuple[dict, dict]:
    """Charge a stored key; returns the new Payment (paid or failed) and its meta."""
    payment = payments.create_payment(
        sb,
        merchant_uid=order["merchant_uid"],
        pay_method="card",
        channel="api",
        pg_id=customer["pg_id"],
        name=order.get("name"),
        amount=parse_amount(order["amount"]),
        currency=order.get("currency") or "KRW",
        buyer_name=order.get("buyer_name") or customer["customer_name"],
        buyer_email=order.get("buyer_email") or customer["customer_email"],
        buyer_tel=order.get("buyer_tel") or customer["customer_tel"],
        buyer_addr=order.get("buyer_addr") or customer["customer_addr"],
        buyer_postcode=order.get("buyer_postcode") or customer["customer_postcode"],
        custom_data=payments.custom_data_text(order.get("custom_data")),
        customer_uid=customer["customer_uid"],
        customer_uid_usage=usage,
    )
    payment["sandbox"] = customer["sandbox"]
    payments.apply_card(payment, customer["card_number"], customer["card_name"])
    language = texts.language_of(customer_meta.get("language"))
    meta: dict[str, Any] = {"notice_urls": order.get("notice_urls") or [], "language": language}
    outcome = cards.repeat_charge(customer_meta.get("renewals_decline", False),
                                  customer_meta.get("renewals_review"), language)
    if outcome.result == cards.PAID:
        payments.mark_paid(sb, payment)
    elif outcome.result == cards.HELD:
        # Answered as failed with the held reason; the review's end is reported by webhook.
        payment["pg_tid"] = payments.new_pg_tid()
        payments.mark_failed(sb, payment, outcome.reason)
        meta["review"] = "pending"
        sb.store.job_add(REVIEW, payment["imp_uid"],
                         sb.clock.now() + sb.knobs.review_delay, {"decision": outcome.review})
    else:
        payment["pg_tid"] = payments.new_pg_tid()
        payments.mark_failed(sb, payment, outcome.reason or "Card declined.")
    sb.store.payment_save(payment, meta)
    return payment, meta


def failed_without_key(sb: State, order: dict, customer_uid: str, usage: str,
                       reason: str) -> tuple[dict, dict]:
    """Record a charge that could not be tried because the billing key is gone."""
    payment = payments.create_payment(
        sb,
        merchant_uid=order["merchant_uid"],
        channel="api",
        pg_id=order.get("pg_id"),
        name=order.get("name"),
        amount=parse_amount(order["amount"]),
        currency=order.get("currency") or "KRW",
        buyer_name=order.get("buyer_name"),
        buyer_email=order.get("buyer_email"),
        buyer_tel=order.get("buyer_tel"),
        buyer_addr=order.get("buyer_addr"),
        buyer_postcode=order.get("buyer_postcode"),
        custom_data=payments.custom_data_text(order.get("custom_data")),
        customer_uid=customer_uid,
        customer_uid_usage=usage,
    )
    payments.mark_failed(sb, payment, reason)
    meta = {"notice_urls": order.get("notice_urls") or []}
    sb.store.payment_save(payment, meta)
    return payment, meta


def schedule_object(schedule: dict) -> dict:
    """The ScheduleResultAnnotation as the API returns it."""
    return {k: v for k, v in schedule.items() if k != "notice_urls"}


def new_schedule(customer: dict, item: dict) -> dict:
    """A ScheduleResultAnnotation for one requested schedule; buyer_* default to the key's."""
    return {
        "customer_uid": customer["customer_uid"],
        "merchant_uid": item["merchant_uid"],
        "imp_uid": None,
        "pg_provider": payments.PG_PROVIDER,
        "pg_id": customer["pg_id"],
        "customer_id": customer.get("customer_id"),
        "schedule_at": item["schedule_at"],
        "executed_at": 0,
        "revoked_at": 0,
        "amount": item["amount"],
        "currency": item.get("currency") or "KRW",
        "name": item["name"],
        "buyer_name": item.get("buyer_name") or customer["customer_name"],
        "buyer_email": item.get("buyer_email") or customer["customer_email"],
        "buyer_tel": item.get("buyer_tel") or customer["customer_tel"],
        "buyer_addr": item.get("buyer_addr") or customer["customer_addr"],
        "buyer_postcode": item.get("buyer_postcode") or customer["customer_postcode"],
        "custom_data": payments.custom_data_text(item.get("custom_data")),
        "schedule_status": "scheduled",
        "payment_status": None,
        "fail_reason": None,
        "promotion_id": None,
        "notice_urls": item.get("notice_urls") or [],
    }


def run_schedule(sb: State, schedule: dict) -> dict:
    """Charge one due schedule, record the result on it and send its webhook."""
    found = sb.store.customer_get(schedule["customer_uid"])
    order = dict(schedule)
    order["custom_data"] = schedule.get("custom_data")
    if found is None:
        # The key was deleted with the schedule still pending: the charge fails.
        payment, meta = failed_without_key(
            sb, order, schedule["customer_uid"], USAGE_SCHEDULED,
            "The billing key (customer_uid) no longer exists.",
        )
    else:
        customer, customer_meta = found
        payment, meta = charge_billing_key(sb, customer, customer_meta, order, USAGE_SCHEDULED)
    schedule = dict(schedule)
    schedule.update(
        imp_uid=payment["imp_uid"],
        executed_at=sb.clock.timestamp(),
        schedule_status="executed",
        payment_status=payment["status"],
        fail_reason=payment["fail_reason"],
    )
    sb.store.schedule_save(schedule)
    # Scheduled charges report through the webhook, paid or failed.
    webhooks.enqueue(sb, payment, meta, event="scheduled")
    log.info("schedule %s ran: %s", schedule["merchant_uid"], payment["status"])
    return schedule
