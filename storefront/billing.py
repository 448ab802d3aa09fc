"""The money logic: open a checkout, verify a payment with iamport and record its outcome once."""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask import current_app

from storefront.extensions import db
from storefront.iamport import IamportClient, IamportError
from storefront.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
    User,
    utcnow,
)
from storefront.periods import add_interval

log = logging.getLogger(__name__)

P = PaymentStatus
LIVE_STATUSES = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.PAST_DUE.value)
# A pending first payment is offered again on a page reload for this long, then a new one is made.
CHECKOUT_REUSE = timedelta(hours=1)
# PAYMENTWALL reports a payment held for risk review as a failure with words like these,
# and approves or declines it later with another webhook.
REVIEW_REASON = re.compile(r"review|internal error", re.IGNORECASE)

# Which recorded states each verified outcome may replace; anything else is already settled.
TRANSITIONS: dict[str, frozenset[str]] = {
    P.PAID.value: frozenset({P.PENDING.value, P.REVIEW.value, P.FAILED.value}),
    P.REVIEW.value: frozenset({P.PENDING.value}),
    P.FAILED.value: frozenset({P.PENDING.value, P.REVIEW.value}),
    P.TAMPERED.value: frozenset({P.PENDING.value, P.REVIEW.value, P.FAILED.value}),
    P.CANCELLED.value: frozenset({P.PAID.value}),
}


class UnknownPayment(LookupError):
    """iamport, or our own records, do not know this payment."""


def client() -> IamportClient:
    """The app's iamport client."""
    return current_app.extensions["iamport"]


def new_merchant_uid(prefix: str) -> str:
    """A fresh order id: readable prefix, UTC date, random part (well under 40 characters)."""
    return f"{prefix}_{utcnow():%Y%m%d}_{secrets.token_hex(8)}"


def new_customer_uid(user: User) -> str:
    """A billing-key alias for one user and one card; a new card always gets a new one."""
    return f"cu_{user.id}_{secrets.token_hex(8)}"


def to_decimal(value: Any) -> Decimal | None:
    """An API amount as Decimal, or None when it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def jsonable(value: Any) -> Any:
    """A copy of an API answer that the JSON column can store (Decimals become strings)."""
    return json.loads(json.dumps(value, default=str))


def from_unix(value: Any) -> datetime | None:
    """A UNIX timestamp from the API as aware UTC; 0 and missing mean none."""
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds > 0 else None


# --------------------------------------------------------------------------- checkout


def live_subscription(user: User, plan: Plan) -> Subscription | None:
    """The user's active or past-due subscription to the plan, if any."""
    return db.session.execute(
        db.select(Subscription).where(
            Subscription.user_id == user.id,
            Subscription.plan_id == plan.id,
            Subscription.status.in_(LIVE_STATUSES),
        )
    ).scalars().first()


def open_checkout(user: User, plan: Plan) -> Payment:
    """A pending first payment for the plan, registered with iamport by `payments/prepare`.

    A reload of the checkout page gets the same pending payment back; a payment that failed
    or was settled never does, so a retry always has a new `merchant_uid`.
    """
    subscription = db.session.execute(
        db.select(Subscription).where(
            Subscription.user_id == user.id,
            Subscription.plan_id == plan.id,
            Subscription.status == SubscriptionStatus.INCOMPLETE.value,
        )
    ).scalars().first()
    payment = None
    if subscription is None:
        subscription = Subscription(user=user, plan=plan, status=SubscriptionStatus.INCOMPLETE.value)
        db.session.add(subscription)
    else:
        payment = db.session.execute(
            db.select(Payment)
            .where(
                Payment.subscription_id == subscription.id,
                Payment.kind == PaymentKind.FIRST.value,
                Payment.status == P.PENDING.value,
                Payment.created_at > utcnow() - CHECKOUT_REUSE,
                Payment.amount == plan.price,
                Payment.currency == plan.currency,
            )
            .order_by(Payment.created_at.desc())
        ).scalars().first()
    if payment is None:
        payment = Payment(
            merchant_uid=new_merchant_uid("sub"),
            user=user,
            subscription=subscription,
            amount=plan.price,
            currency=plan.currency,
            kind=PaymentKind.FIRST.value,
            customer_uid=new_customer_uid(user),
        )
        db.session.add(payment)
    # Recorded before iamport hears of it, so no answer from iamport can be about an order we lack.
    db.session.commit()
    if payment.prepared_at is None:
        client().prepare_payment(payment.merchant_uid, payment.amount, payment.currency)
        payment.prepared_at = utcnow()
        db.session.commit()
    return payment


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Outcome:
    """What iamport's record of a payment means for our order."""

    status: str
    reason: str | None = None


def judge(payment: Payment, info: dict[str, Any]) -> Outcome:
    """Compare iamport's payment with our order; iamport's record is the only evidence."""
    status = info.get("status")
    if status == "paid":
        amount = to_decimal(info.get("amount"))
        if amount is None or amount != payment.amount:
            return Outcome(P.TAMPERED.value, f"paid {info.get('amount')} instead of {payment.amount}")
        if str(info.get("currency") or "").upper() != payment.currency:
            return Outcome(
                P.TAMPERED.value, f"paid in {info.get('currency')} instead of {payment.currency}"
            )
        if payment.customer_uid and info.get("customer_uid") != payment.customer_uid:
            return Outcome(P.TAMPERED.value, "paid with another billing key")
        return Outcome(P.PAID.value)
    if status == "ready":
        # A card payment still "ready" after the window closed is waiting on PAYMENTWALL.
        return Outcome(P.REVIEW.value)
    if status == "failed":
        reason = str(info.get("fail_reason") or "The card was declined.")[:255]
        if REVIEW_REASON.search(reason) and payment.status in (P.PENDING.value, P.REVIEW.value):
            return Outcome(P.REVIEW.value, reason)
        return Outcome(P.FAILED.value, reason)
    if status == "cancelled":
        return Outcome(P.CANCELLED.value, str(info.get("cancel_reason") or "")[:255] or None)
    return Outcome(payment.status)


def _claim(payment: Payment, outcome: Outcome, info: dict[str, Any]) -> bool:
    """Move the payment to the outcome if no one else did first (compare-and-set on status)."""
    allowed = TRANSITIONS.get(outcome.status, frozenset())
    if payment.status not in allowed:
        return False
    values: dict[str, Any] = {
        "status": outcome.status,
        "fail_reason": outcome.reason,
        "imp_uid": info.get("imp_uid"),
        "provider_response": jsonable(info),
        "updated_at": utcnow(),
    }
    if outcome.status == P.PAID.value:
        values["paid_at"] = from_unix(info.get("paid_at")) or utcnow()
    result = db.session.execute(
        sa.update(Payment)
        .where(Payment.id == payment.id, Payment.status == payment.status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    db.session.refresh(payment)
    return True


def _lock_payment(merchant_uid: str) -> Payment | None:
    """Our payment by `merchant_uid`, row-locked where the database can (PostgreSQL)."""
    return db.session.execute(
        db.select(Payment).where(Payment.merchant_uid == merchant_uid).with_for_update()
    ).scalar_one_or_none()


def _lock_subscription(subscription_id: int) -> Subscription:
    return db.session.execute(
        db.select(Subscription).where(Subscription.id == subscription_id).with_for_update()
    ).scalar_one()


def _activate(payment: Payment) -> None:
    """A paid first payment starts the subscription's first period on its billing key."""
    subscription = _lock_subscription(payment.subscription_id)
    start = payment.paid_at or utcnow()
    subscription.status = SubscriptionStatus.ACTIVE.value
    subscription.customer_uid = payment.customer_uid
    subscription.buyer_email = payment.user.email
    subscription.buyer_name = payment.user.full_name
    subscription.current_period_start = start
    subscription.current_period_end = add_interval(start, subscription.plan.interval)


def sync_payment(imp_uid: str) -> Payment:
    """Verify one iamport payment by REST lookup and apply its outcome to our order once.

    The callback, the mobile redirect and the webhook all end here, in any order, any number
    of times, also at the same moment: the status compare-and-set (plus a row lock on
    PostgreSQL) lets exactly one of them apply each change.
    """
    info = client().get_payment(imp_uid)
    return apply_payment_info(info)


def sync_merchant_uid(merchant_uid: str) -> Payment:
    """Verify our order by `merchant_uid` (for when no `imp_uid` reached us)."""
    info = client().find_payment(merchant_uid)
    return apply_payment_info(info)


def apply_payment_info(info: dict[str, Any]) -> Payment:
    """Record what iamport says about a payment; see `sync_payment`."""
    merchant_uid = str(info.get("merchant_uid") or "")
    payment = _lock_payment(merchant_uid)
    if payment is None:
        db.session.rollback()
        raise UnknownPayment(f"no order with merchant_uid {merchant_uid!r}")

    if (
        payment.status == P.PAID.value
        and info.get("status") == "paid"
        and payment.imp_uid
        and info.get("imp_uid") != payment.imp_uid
    ):
        # A second successful charge on one order: keep the first, refund this one.
        db.session.commit()
        _refund(info, "duplicate payment for an order that was already paid")
        return payment

    outcome = judge(payment, info)
    changed = _claim(payment, outcome, info)
    if changed and outcome.status == P.PAID.value and payment.kind == PaymentKind.FIRST.value:
        _activate(payment)
    db.session.commit()

    if changed:
        log.info("payment %s (%s) is now %s", payment.merchant_uid, info.get("imp_uid"),
                 payment.status)
    if changed and outcome.status == P.TAMPERED.value:
        log.warning("payment %s tampered: %s; cancelling %s", payment.merchant_uid,
                    outcome.reason, info.get("imp_uid"))
        _refund(info, f"amount check failed: {outcome.reason}")
    if payment.status == P.PAID.value and payment.kind == PaymentKind.FIRST.value:
        confirm_billing_key(payment.subscription)
    return payment


def _refund(info: dict[str, Any], reason: str) -> None:
    """Cancel a payment we must not keep; a failure is logged for the operator."""
    try:
        client().cancel_payment(str(info.get("imp_uid")), reason=reason)
    except IamportError as exc:
        log.error("could not cancel %s (%s): %s", info.get("imp_uid"), reason, exc)


def confirm_billing_key(subscription: Subscription | None) -> bool:
    """Mark the billing key ready once iamport knows it (PAYMENTWALL confirms it later)."""
    if subscription is None or not subscription.customer_uid:
        return False
    if subscription.billing_key_ready_at is not None:
        return True
    try:
        client().get_billing_key(subscription.customer_uid)
    except IamportError as exc:
        if not exc.not_found:
            log.warning("billing key %s not checked: %s", subscription.customer_uid, exc)
        return False
    result = db.session.execute(
        sa.update(Subscription)
        .where(
            Subscription.id == subscription.id,
            Subscription.customer_uid == subscription.customer_uid,
            Subscription.billing_key_ready_at.is_(None),
        )
        .values(billing_key_ready_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(subscription)
    if result.rowcount:
        log.info("billing key %s is ready", subscription.customer_uid)
    return True


def find_payment(merchant_uid: str) -> Payment | None:
    """Our payment with this `merchant_uid`."""
    return db.session.execute(
        db.select(Payment).where(Payment.merchant_uid == merchant_uid)
    ).scalar_one_or_none()


def payment_for_owner(merchant_uid: str, user: User) -> Payment | None:
    """The payment with this `merchant_uid` if it belongs to the user."""
    return db.session.execute(
        db.select(Payment).where(Payment.merchant_uid == merchant_uid, Payment.user_id == user.id)
    ).scalar_one_or_none()
