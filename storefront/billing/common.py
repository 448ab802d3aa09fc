"""What every billing module shares: the iamport client, order ids, lookups of our records and the status compare-and-set."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime, timezone
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from storefront import clock
from storefront.billing.verification import refusal_reason
from storefront.extensions import db
from storefront.iamport import IamportClient
from storefront.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    Plan,
    Refund,
    Subscription,
    SubscriptionStatus,
    User,
)
from storefront.models.payments import full_refund_key
from storefront.payment_window import external_url

log = logging.getLogger(__name__)

LIVE_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
# How often a change of a subscription is made again from a fresh read when it changed meanwhile.
# Each round of conflicting changes lets at least one through, so this many at once all get in
# (ten "Charge now" clicks on SQLite, where no row lock holds the others back, needed more than 5).
CONFLICT_RETRIES = 12


class UnknownPayment(LookupError):
    """iamport, or our own records, do not know this payment."""


class ActionRefused(ValueError):
    """The action does not fit the subscription's state; the message says why."""


def client() -> IamportClient:
    """The app's iamport client."""
    return current_app.extensions["iamport"]


def new_merchant_uid(prefix: str) -> str:
    """A fresh order id: readable prefix, UTC date, random part (well under 40 characters)."""
    return f"{prefix}_{clock.now():%Y%m%d}_{secrets.token_hex(8)}"


def new_customer_uid(user: User) -> str:
    """A billing-key alias for one user and one card; a new card always gets a new one."""
    return f"cu_{user.id}_{secrets.token_hex(8)}"


def jsonable(value: Any) -> Any:
    """A copy of an API answer that the JSON column can store (Decimals become strings)."""
    return json.loads(json.dumps(value, default=str))


# Fields of iamport's payment object that name the buyer: an erased account's are never kept.
BUYER_FIELDS = ("buyer_name", "buyer_email", "buyer_tel", "buyer_addr", "buyer_postcode",
                "customer_name", "customer_email", "customer_tel", "customer_addr",
                "customer_postcode", "custom_data")


def without_buyer(answer: Any) -> Any:
    """iamport's stored answer without the fields that name the buyer."""
    if not isinstance(answer, dict):
        return answer
    return {key: value for key, value in answer.items() if key not in BUYER_FIELDS}


def from_unix(value: Any) -> datetime | None:
    """A UNIX timestamp from the API as aware UTC; 0 and missing mean none."""
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds > 0 else None


def refusal_of(info: dict[str, Any]) -> str | None:
    """`verification.refusal_reason` under this shop's IAMPORT_MODE and IAMPORT_ACCEPTED_MIDS."""
    config = current_app.config
    return refusal_reason(info, config.get("IAMPORT_MODE"), config.get("IAMPORT_ACCEPTED_MIDS") or [])


def notice_url() -> str:
    """Our webhook's URL for iamport, at PUBLIC_URL (never at the Host a request came in by)."""
    return external_url("webhooks.receive")


def charge_card_on_file(payment: Payment, subscription: Subscription) -> dict[str, Any]:
    """Charge a pending payment on its billing key now (`POST /subscribe/payments/again`), with
    the buyer the key was issued with, as PAYMENTWALL wants; iamport's record of the charge.
    Raises IamportError (its `unknown_outcome` when the answer was lost: leave it pending)."""
    return client().charge_again(
        customer_uid=payment.customer_uid, merchant_uid=payment.merchant_uid,
        amount=payment.amount, name=subscription.name_for_orders, currency=payment.currency,
        buyer_email=subscription.buyer_email, buyer_name=subscription.buyer_name,
        notice_url=notice_url(),
    )


# PostgreSQL's codes for a transaction it aborted so that another could go on: a deadlock
# (two changes locking the same rows in another order) and a serialization failure.
RETRYABLE_SQLSTATES = {"40P01", "40001"}


def _aborted_for_another(exc: OperationalError) -> bool:
    """Whether the database aborted the transaction for a concurrent one (try it again)."""
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def retried_on_conflict(action):
    """Run a change of a subscription again from a fresh read when another change got in first
    (the subscription's version column makes a write from a stale read raise StaleDataError), or
    when PostgreSQL aborted it for a concurrent one (a deadlock: nothing of it was written)."""
    @wraps(action)
    def run(*args: Any, **kwargs: Any):
        for attempt in range(CONFLICT_RETRIES):
            try:
                return action(*args, **kwargs)
            except (StaleDataError, OperationalError) as exc:
                if isinstance(exc, OperationalError) and not _aborted_for_another(exc):
                    raise
                db.session.rollback()  # expires every object, so the next try reads them anew
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                log.info("%s: the subscription changed meanwhile; trying again", action.__name__)
    return run


def move_payment(merchant_uid: str, expected: PaymentStatus, new: PaymentStatus,
                 **values: Any) -> bool:
    """Move a payment from `expected` to `new` (setting `values` too) unless someone moved it
    first; False when it was not in `expected`. The caller commits.

    A compare-and-set in the database (UPDATE … WHERE status = expected), so that of callers
    racing on one payment exactly one moves it, on SQLite as on PostgreSQL.
    """
    return db.session.execute(
        db.update(Payment)
        .where(Payment.merchant_uid == merchant_uid, Payment.status == expected)
        .values(status=new, updated_at=clock.now(), **values)
        # The caller's commit expires every object, so none is brought up to date here.
        .execution_options(synchronize_session=False)
    ).rowcount == 1


def new_charge(subscription: Subscription, kind: PaymentKind, merchant_uid: str,
               **fields: Any) -> Payment:
    """A new payment of one period of the subscription, on its billing key unless told another."""
    fields.setdefault("customer_uid", subscription.customer_uid)
    return Payment(
        merchant_uid=merchant_uid,
        user_id=subscription.user_id,
        subscription_id=subscription.id,
        amount=subscription.renewal_price,
        currency=subscription.plan.currency,
        kind=kind,
        **fields,
    )


def payment_by_merchant_uid(merchant_uid: str) -> Payment | None:
    """Our payment with this `merchant_uid` (a database lookup; iamport is not asked)."""
    return db.session.execute(
        db.select(Payment).where(Payment.merchant_uid == merchant_uid)
    ).scalar_one_or_none()


def payment_for_owner(merchant_uid: str, user: User) -> Payment | None:
    """The payment with this `merchant_uid` if it belongs to the user."""
    return db.session.execute(
        db.select(Payment).where(Payment.merchant_uid == merchant_uid, Payment.user_id == user.id)
    ).scalar_one_or_none()


def owned_subscription(subscription_id: int, user: User) -> Subscription | None:
    """The subscription if it belongs to the user."""
    return db.session.execute(
        db.select(Subscription).where(
            Subscription.id == subscription_id, Subscription.user_id == user.id
        )
    ).scalar_one_or_none()


def live_subscription(user: User, plan: Plan) -> Subscription | None:
    """The user's active or past-due subscription to the plan, if any."""
    return db.session.execute(
        db.select(Subscription).where(
            Subscription.user_id == user.id,
            Subscription.plan_id == plan.id,
            Subscription.status.in_(LIVE_STATUSES),
        )
    ).scalars().first()


def any_live_subscription(user: User) -> Subscription | None:
    """The user's live subscription to any plan (the newest, for shoppers who held two before
    one live subscription per shopper was the rule), if any."""
    return db.session.execute(
        db.select(Subscription).where(
            Subscription.user_id == user.id,
            Subscription.status.in_(LIVE_STATUSES),
        ).order_by(Subscription.id.desc())
    ).scalars().first()


def first_payment_in_review(user: User, plan: Plan) -> Payment | None:
    """The user's first payment for the plan that PAYMENTWALL holds for review, if any: while
    it is held, the shopper has paid and must not be offered a second checkout."""
    return db.session.execute(
        db.select(Payment).join(Payment.subscription).where(
            Subscription.user_id == user.id,
            Subscription.plan_id == plan.id,
            Subscription.status == SubscriptionStatus.INCOMPLETE,
            Payment.kind == PaymentKind.FIRST,
            Payment.status == PaymentStatus.REVIEW,
            # Past its deadline a hold is a decline (reconcile records it so).
            sa.or_(Payment.held_until.is_(None), Payment.held_until > clock.now()),
        )
    ).scalars().first()


def refund_of(imp_uid: str) -> Refund | None:
    """The refund in full the shop owes or gave by itself for iamport's payment `imp_uid`, if
    any (keyed by it: see full_refund_key); staff's refunds are rows of their own."""
    return db.session.execute(
        db.select(Refund).where(Refund.request_key == full_refund_key(imp_uid))
    ).scalar_one_or_none()


def refunds_of_order(merchant_uid: str) -> list[Refund]:
    """Every payment made on our order id that the shop gives back by itself (in full: one not
    the order's, one nothing can use), oldest first; not staff's refunds of the order's own."""
    refunds = db.session.execute(
        db.select(Refund).where(Refund.merchant_uid == merchant_uid).order_by(Refund.id)
    ).scalars()
    return [refund for refund in refunds if refund.in_full]


def lock_unclaimed(model: type, row_id: int) -> Any:
    """Lock one row for this worker, fresh from the database; None when another worker holds it
    (SKIP LOCKED on PostgreSQL; SQLite has no row locks, its writers take turns)."""
    query = db.select(model).where(model.id == row_id).execution_options(populate_existing=True)
    return db.session.execute(query.with_for_update(skip_locked=True)).scalar_one_or_none()
