"""What iamport's record of a payment means for our order: its outcome and the allowed transitions (pure, no database)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from storefront.models import Payment, PaymentStatus

# iamport's customer_uid_usage of a payment it made by running a schedule.
USAGE_SCHEDULED = "payment.scheduled"
# PAYMENTWALL reports a payment held for risk review as a failure with words like these (in the
# window's language, English or Korean), and approves or declines it later with another webhook.
REVIEW_REASON = re.compile(r"held for (risk )?review|internal error|결제가 보류|결제 장애", re.IGNORECASE)
# How iamport words a payment window the shopper closed (English and Korean texts).
USER_CANCEL = re.compile(r"closed the payment window|cancel+ed by the (user|buyer)|사용자가 결제를 취소",
                         re.IGNORECASE)

CARD_DECLINED = "The card was declined."
# What an attempt held for review longer than REVIEW_DEADLINE is failed with.
REVIEW_EXPIRED = "Held for review by PAYMENTWALL too long; treated as declined."

# Which recorded states each verified outcome may replace; anything else is already settled.
# A late `paid` is honoured after a failure (PAYMENTWALL's review) and after a withdrawn schedule
# (iamport ran it before our unschedule reached it): money taken is always recorded. Every open
# state has a way out, so reconcile never looks one up forever.
OPEN = frozenset({PaymentStatus.PENDING, PaymentStatus.SCHEDULED, PaymentStatus.WITHDRAWING})
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PAID: OPEN | {PaymentStatus.REVOKED, PaymentStatus.REVIEW, PaymentStatus.FAILED},
    PaymentStatus.REVIEW: OPEN,
    PaymentStatus.FAILED: OPEN | {PaymentStatus.REVIEW},
    PaymentStatus.CANCELLED: OPEN | {PaymentStatus.REVIEW, PaymentStatus.PAID},
    # A withdrawal iamport confirmed (see schedules.withdraw).
    PaymentStatus.REVOKED: frozenset({PaymentStatus.WITHDRAWING}),
}


@dataclass(frozen=True)
class Outcome:
    """What iamport's record of a payment means for our order."""

    status: PaymentStatus
    reason: str | None = None


def may_move(current: str, outcome: Outcome) -> bool:
    """Whether a payment recorded as `current` may take the outcome (see TRANSITIONS)."""
    return current in TRANSITIONS.get(outcome.status, frozenset())


def to_decimal(value: Any) -> Decimal | None:
    """An API amount as Decimal, or None when it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def refusal_reason(info: dict[str, Any], mode: str | None, accepted_mids: list[str]) -> str | None:
    """Why a payment (or billing key) is not money for a live shop whatever order it names, or None.

    A shopper can change `pg` in the page to a test channel or another PG of the same merchant.
    In live mode (`mode`, the shop's IAMPORT_MODE) only PAYMENTWALL payments on a real channel
    (and on one of `accepted_mids`, the shop's IAMPORT_ACCEPTED_MIDS, when it names any) count;
    the sandbox's payments are all test payments.
    """
    if mode != "live":
        return None
    if info.get("sandbox"):
        return "made on a test channel, which this shop does not accept"
    if str(info.get("pg_provider") or "").lower() != "paymentwall":
        return f"made through {info.get('pg_provider') or 'an unknown PG'}, not PAYMENTWALL"
    if accepted_mids and info.get("pg_id") not in accepted_mids:
        return f"made on PAYMENTWALL project {info.get('pg_id')}, not {', '.join(accepted_mids)}"
    return None


def mismatch_reason(payment: Payment, info: dict[str, Any]) -> str | None:
    """Why iamport's payment is not the one our order asks for (amount, currency, billing
    key), or None when it matches. Anyone can pay on an order id; only a match is the order's."""
    amount = to_decimal(info.get("amount"))
    if amount is None or amount != payment.amount:
        return f"{info.get('amount')} instead of {payment.amount}"
    if str(info.get("currency") or "").upper() != payment.currency:
        return f"in {info.get('currency')} instead of {payment.currency}"
    if payment.customer_uid and info.get("customer_uid") != payment.customer_uid:
        return "with another billing key"
    return None


def not_the_orders_reason(payment: Payment, info: dict[str, Any], refusal: str | None) -> str | None:
    """Why iamport's payment on our order id must not change the order, or None.

    `refusal` is `refusal_reason` of the payment, which is never asked again of a payment
    already recorded on the order. Once an order is settled by one `imp_uid`,
    news about any other `imp_uid` (a second charge, its refund) is about another payment.
    Before that, a payment that matches the order (after a failure or during a review) may
    still settle it.
    """
    if payment.imp_uid is not None and info.get("imp_uid") == payment.imp_uid:
        # Accepted when it was recorded: a change of settings since (another PAYMENTWALL
        # project) never turns the order's own payment into someone else's.
        return None
    if refusal:
        return refusal
    other_charge = payment.imp_uid is not None and info.get("imp_uid") != payment.imp_uid
    if other_charge and (payment.is_settled or info.get("status") != "paid"):
        return "a second charge of an order that was already paid"
    return mismatch_reason(payment, info)


def judge(payment: Payment, info: dict[str, Any], now: datetime | None = None) -> Outcome:
    """What iamport's status of the order's own payment means for the order at `now`.

    `ready` is an order iamport knows and nobody paid yet (a window opened and left): it stays
    open. A hold for review lasts until the payment's `held_until`; after it the attempt is
    failed, and a `paid` that still comes is honoured (failed → paid is allowed).
    """
    status = info.get("status")
    if status == "paid":
        return Outcome(PaymentStatus.PAID)
    if status == "failed":
        reason = str(info.get("fail_reason") or CARD_DECLINED)[:255]
        if USER_CANCEL.search(reason) and payment.status == PaymentStatus.PENDING:
            # Closing the window charges nothing and ends nothing: the order stays open.
            return Outcome(PaymentStatus.PENDING)
        if REVIEW_REASON.search(reason) and payment.status in OPEN | {PaymentStatus.REVIEW}:
            if hold_expired(payment, now):
                return Outcome(PaymentStatus.FAILED, REVIEW_EXPIRED)
            return Outcome(PaymentStatus.REVIEW, reason)
        return Outcome(PaymentStatus.FAILED, reason)
    if status == "cancelled":
        return Outcome(PaymentStatus.CANCELLED, str(info.get("cancel_reason") or "")[:255] or None)
    if payment.status == PaymentStatus.REVIEW and hold_expired(payment, now):
        return Outcome(PaymentStatus.FAILED, REVIEW_EXPIRED)
    # `ready` (unpaid), or a status iamport may add: the order stays as it is.
    return Outcome(PaymentStatus(payment.status))


def hold_expired(payment: Payment, now: datetime | None) -> bool:
    """Whether the payment's hold for review has passed its deadline at `now`."""
    return (payment.status == PaymentStatus.REVIEW and payment.held_until is not None
            and now is not None and now >= payment.held_until)
