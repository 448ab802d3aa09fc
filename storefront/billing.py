"""The money logic: open a checkout, verify a payment with iamport and record its outcome once."""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import partial, wraps
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_request_context, url_for
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from storefront.extensions import db
from storefront.followups import later
from storefront.iamport import IamportClient, IamportError
from storefront.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    Plan,
    Refund,
    RefundStatus,
    RetiredKey,
    Subscription,
    SubscriptionStatus,
    User,
    utcnow,
)
from storefront.periods import next_period_end

log = logging.getLogger(__name__)

P = PaymentStatus
# iamport's customer_uid_usage of a payment it made by running a schedule.
USAGE_SCHEDULED = "payment.scheduled"
LIVE_STATUSES = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.PAST_DUE.value)
# The least time ahead a schedule is placed, so that iamport still sees it in the future.
SCHEDULE_MARGIN = timedelta(minutes=5)
# A pending first payment is offered again on a page reload for this long, then a new one is made.
CHECKOUT_REUSE = timedelta(hours=1)
# PAYMENTWALL reports a payment held for risk review as a failure with words like these,
# and approves or declines it later with another webhook.
REVIEW_REASON = re.compile(r"held for (risk )?review|internal error", re.IGNORECASE)

# How iamport words a payment window the shopper closed (English and Korean texts).
USER_CANCEL = re.compile(r"closed the payment window|cancel+ed by the (user|buyer)|사용자가 결제를 취소",
                         re.IGNORECASE)

# Which recorded states each verified outcome may replace; anything else is already settled.
# A late `paid` is honoured after a failure (PAYMENTWALL's review) and after a withdrawn schedule
# (iamport ran it before our unschedule reached it): money taken is always recorded. Every open
# state has a way out, so reconcile never looks one up forever.
_OPEN = {P.PENDING.value, P.SCHEDULED.value}
TRANSITIONS: dict[str, frozenset[str]] = {
    P.PAID.value: frozenset(_OPEN | {P.REVOKED.value, P.REVIEW.value, P.FAILED.value}),
    P.REVIEW.value: frozenset(_OPEN),
    P.FAILED.value: frozenset(_OPEN | {P.REVIEW.value}),
    P.CANCELLED.value: frozenset(_OPEN | {P.REVIEW.value, P.PAID.value}),
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


def first_payment_in_review(user: User, plan: Plan) -> Payment | None:
    """The user's first payment for the plan that PAYMENTWALL holds for review, if any: while
    it is held, the shopper has paid and must not be offered a second checkout."""
    return db.session.execute(
        db.select(Payment).join(Payment.subscription).where(
            Subscription.user_id == user.id,
            Subscription.plan_id == plan.id,
            Subscription.status == SubscriptionStatus.INCOMPLETE.value,
            Payment.kind == PaymentKind.FIRST.value,
            Payment.status == P.REVIEW.value,
        )
    ).scalars().first()


def open_checkout(user: User, plan: Plan) -> Payment:
    """A pending first payment for the plan, registered with iamport by `payments/prepare`.

    A reload of the checkout page gets the same pending payment back; a payment that failed
    or was settled never does, so a retry always has a new `merchant_uid`. Two pages opened at
    once share one subscription: the database holds one per user and plan being bought or live.
    """
    try:
        payment = _pending_first_payment(user, plan)
    except IntegrityError:
        db.session.rollback()
        if live_subscription(user, plan) is not None:
            raise ActionRefused(f"You already subscribe to {plan.name}.") from None
        payment = _pending_first_payment(user, plan)  # the one opened at this moment
    prepare(payment)
    return payment


def _pending_first_payment(user: User, plan: Plan) -> Payment:
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
    return payment


def prepare(payment: Payment) -> None:
    """Register the order's amount with iamport (`payments/prepare`) once.

    An earlier attempt may have reached iamport without its answer reaching us; then iamport
    refuses a second prepare, and the amount it holds decides whether we are done.
    """
    if payment.prepared_at is not None:
        return
    try:
        client().prepare_payment(payment.merchant_uid, payment.amount, payment.currency)
    except IamportError as exc:
        if exc.unknown_outcome:
            raise
        prepared = client().get_prepared_payment(payment.merchant_uid)
        if to_decimal(prepared.get("amount")) != payment.amount:
            raise
    payment.prepared_at = utcnow()
    db.session.commit()


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Outcome:
    """What iamport's record of a payment means for our order."""

    status: str
    reason: str | None = None


def refusal_reason(info: dict[str, Any]) -> str | None:
    """Why a payment is not money for a live shop whatever order it names, or None.

    A shopper can change `pg` in the page to a test channel or another PG of the same merchant.
    In live mode only PAYMENTWALL payments on a real channel (and on our MID, when IAMPORT_PG
    names one) count; the sandbox's payments are all test payments.
    """
    if current_app.config.get("IAMPORT_MODE") != "live":
        return None
    if info.get("sandbox"):
        return "made on a test channel, which this shop does not accept"
    if str(info.get("pg_provider") or "").lower() != "paymentwall":
        return f"made through {info.get('pg_provider') or 'an unknown PG'}, not PAYMENTWALL"
    _, _, mid = str(current_app.config.get("IAMPORT_PG") or "").partition(".")
    if mid and info.get("pg_id") != mid:
        return f"made on PAYMENTWALL project {info.get('pg_id')}, not {mid}"
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


def not_the_orders_reason(payment: Payment, info: dict[str, Any]) -> str | None:
    """Why iamport's payment on our order id must not change the order, or None.

    Once an order is settled by one `imp_uid`, news about any other `imp_uid` (a second charge,
    its refund) is about another payment. Before that, a payment that matches the order (after
    a failure or during a review) may still settle it.
    """
    refusal = refusal_reason(info)
    if refusal:
        return refusal
    other_charge = payment.imp_uid is not None and info.get("imp_uid") != payment.imp_uid
    if other_charge and (payment.is_settled or info.get("status") != "paid"):
        return "a second charge of an order that was already paid"
    return mismatch_reason(payment, info)


def judge(payment: Payment, info: dict[str, Any]) -> Outcome:
    """What iamport's status of the order's own payment means for the order."""
    status = info.get("status")
    if status == "paid":
        return Outcome(P.PAID.value)
    if status == "ready":
        # A card payment still "ready" after the window closed is waiting on PAYMENTWALL.
        return Outcome(P.REVIEW.value)
    if status == "failed":
        reason = str(info.get("fail_reason") or "The card was declined.")[:255]
        if USER_CANCEL.search(reason) and payment.status == P.PENDING.value:
            # Closing the window charges nothing and ends nothing: the order stays open.
            return Outcome(P.PENDING.value)
        if REVIEW_REASON.search(reason) and payment.status in _OPEN | {P.REVIEW.value}:
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
    result = db.session.connection().execute(
        _CLAIM, {"payment_id": payment.id, "old_status": payment.status, **values}
    )
    if result.rowcount != 1:
        return False
    # The row now holds exactly these values; reading it back would cost a round trip.
    for key, value in values.items():
        set_committed_value(payment, key, value)
    return True


# Statements every webhook runs, built once with placeholders: building a statement and its
# cache key takes about as long as SQLAlchemy then takes to run it (70 of 140 µs for the
# payment's lock). The updates and the insert are Core statements on the table, whose SET or
# VALUES columns are the keys of the parameters they are run with; for one row the ORM's flush
# adds only cost (0.7 ms of CPU for the subscription's update on a 2-core machine).
_PAYMENTS = Payment.__table__
_CLAIM = sa.update(_PAYMENTS).where(
    _PAYMENTS.c.id == sa.bindparam("payment_id"), _PAYMENTS.c.status == sa.bindparam("old_status")
)
_SUBSCRIPTIONS = Subscription.__table__
_UPDATE_SUBSCRIPTION = sa.update(_SUBSCRIPTIONS).where(
    _SUBSCRIPTIONS.c.id == sa.bindparam("subscription_id"),
    _SUBSCRIPTIONS.c.version == sa.bindparam("read_version"),
)
# Skipped rather than failed on a clash, which must not undo the payment recorded with it.
_INSERT_RENEWAL = {
    dialect: insert(_PAYMENTS).on_conflict_do_nothing().returning(_PAYMENTS.c.id)
    for dialect, insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}
# A change to a payment may change its subscription, so both rows are locked by one statement,
# with the plan loaded alongside: a round trip and an ORM query fewer than locking them in turn.
# populate_existing: a row already in the session is read again now that it is locked.
_PAYMENT_AND_SUBSCRIPTION_TO_LOCK = (
    db.select(Payment).join(Payment.subscription).join(Subscription.plan)
    .options(contains_eager(Payment.subscription).contains_eager(Subscription.plan))
    .where(Payment.merchant_uid == sa.bindparam("merchant_uid"))
    .with_for_update(of=(Payment, Subscription)).execution_options(populate_existing=True)
)
_PAYMENT_TO_LOCK = (
    db.select(Payment).where(Payment.merchant_uid == sa.bindparam("merchant_uid"))
    .with_for_update().execution_options(populate_existing=True)
)


def _lock_payment(merchant_uid: str) -> Payment | None:
    """Our payment and its subscription, both row-locked where the database can (PostgreSQL)."""
    uid = {"merchant_uid": merchant_uid}
    payment = db.session.execute(_PAYMENT_AND_SUBSCRIPTION_TO_LOCK, uid).scalar_one_or_none()
    if payment is None:
        # Not ours, or (the schema allows it, though no flow makes one) a payment of no subscription.
        payment = db.session.execute(_PAYMENT_TO_LOCK, uid).scalar_one_or_none()
    return payment


def _write(subscription: Subscription, **values: Any) -> None:
    """Write columns of the locked subscription now and keep them on the object as committed.

    Only if no one changed the row since it was read (its version): otherwise StaleDataError,
    and the caller records again from a fresh read.
    """
    values["updated_at"] = utcnow()
    values["version"] = subscription.version + 1
    written = db.session.connection().execute(
        _UPDATE_SUBSCRIPTION,
        {"subscription_id": subscription.id, "read_version": subscription.version, **values},
    )
    if written.rowcount != 1:
        raise StaleDataError(f"subscription {subscription.id} changed since it was read")
    for key, value in values.items():
        set_committed_value(subscription, key, value)


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
    return record_payment_info(info)[0]


# How often a recording is made again from a fresh read when its subscription changed meanwhile.
CONFLICT_RETRIES = 5


def retried_on_conflict(action):
    """Run a change of a subscription again from a fresh read when another change got in first."""
    @wraps(action)
    def run(*args: Any, **kwargs: Any):
        for attempt in range(CONFLICT_RETRIES):
            try:
                return action(*args, **kwargs)
            except StaleDataError:
                db.session.rollback()  # expires every object, so the next try reads them anew
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                log.info("%s: the subscription changed meanwhile; trying again", action.__name__)
    return run


@retried_on_conflict
def record_payment_info(info: dict[str, Any]) -> tuple[Payment, bool]:
    """Like `apply_payment_info`, also saying whether this call changed the record."""
    merchant_uid = str(info.get("merchant_uid") or "")
    payment = _lock_payment(merchant_uid)
    if payment is None:
        db.session.rollback()
        raise UnknownPayment(f"no order with merchant_uid {merchant_uid!r}")

    not_ours = not_the_orders_reason(payment, info)
    if not_ours:
        # Someone else's payment on our order id (or a second charge of it): it never changes
        # the order, and money it took is given back.
        db.session.commit()
        log.warning("payment %s on order %s is not the order's: %s", info.get("imp_uid"),
                    merchant_uid, not_ours)
        if info.get("status") == "paid":
            owe_refund(info, f"Refunded: this payment was {not_ours}.")
        return payment, False

    outcome = judge(payment, info)
    ran_schedule = payment.status == P.SCHEDULED.value
    changed = _claim(payment, outcome, info)
    after: list[partial] = []
    if changed:
        after = _apply_to_subscription(payment, info, ran_schedule)
    if payment.status == P.PAID.value and payment.subscription_id is not None:
        subscription = payment.subscription
        if (subscription.status in LIVE_STATUSES and subscription.customer_uid
                and subscription.billing_key_ready_at is None):
            after.append(partial(confirm_billing_key_of, subscription.id))
    if changed:
        log.info("payment %s (%s, %s) is now %s", merchant_uid, payment.kind, info.get("imp_uid"),
                 payment.status)
    status = payment.status
    db.session.commit()
    # What callers read first is what was just committed; loading it again would cost a query.
    set_committed_value(payment, "status", status)

    # Calls to iamport come after the commit, so no row stays locked while the network is slow.
    for action in after:
        _follow_up(action)
    return payment, changed


def _follow_up(action: partial) -> None:
    """Make a call that follows a recorded change: refunds and key deletions at once; what
    reconcile would repeat may wait until a webhook has been answered."""
    if action.func in CAN_WAIT:
        later(action)
    else:
        action()


# What a shopper reads on a payment of theirs that we gave back.
ALREADY_SUBSCRIBED = "Refunded: you already subscribe to this plan, so this second payment was not needed."
ALREADY_CANCELED = "Refunded: the subscription had been cancelled before this payment went through."
PERIOD_PAID_ALREADY = "Refunded: this period had already been paid by another attempt."


def _apply_to_subscription(payment: Payment, info: dict[str, Any], ran_schedule: bool) -> list[partial]:
    """Change the subscription for a payment that just changed; return iamport calls to make.

    `ran_schedule`: the payment was one of the subscription's scheduled renewals.
    """
    after: list[partial] = []
    by_schedule = info.get("customer_uid_usage") == USAGE_SCHEDULED
    if ran_schedule and not by_schedule:
        # The renewal left "scheduled" by a payment made otherwise on its order id: iamport
        # still holds its schedule, which must not charge the period as well.
        log.warning("renewal %s settled by a payment iamport did not schedule; withdrawing it",
                    payment.merchant_uid)
        after.append(partial(_withdraw, payment.customer_uid, payment.merchant_uid))
        ran_schedule = False
    if payment.subscription_id is None:
        return after
    return after + _change_subscription(payment, info, ran_schedule, by_schedule)


def _change_subscription(payment: Payment, info: dict[str, Any], ran_schedule: bool,
                         by_schedule: bool) -> list[partial]:
    """The subscription's side of `_apply_to_subscription`."""
    subscription = payment.subscription  # locked with the payment
    paid = payment.status == P.PAID.value
    if paid and payment.kind == PaymentKind.FIRST.value:
        if subscription.status in LIVE_STATUSES:
            # Two checkouts for one plan were both paid: the second is refunded.
            after = [partial(refund_payment, payment.id, ALREADY_SUBSCRIBED)]
            if payment.customer_uid and payment.customer_uid != subscription.customer_uid:
                # The key this payment issued would stay with the PG, used by nothing.
                after.append(partial(_retire_key, subscription.id, payment.customer_uid))
            return after
        _activate(payment, subscription)
        return []
    if paid:
        if subscription.status == SubscriptionStatus.CANCELED.value:
            return [partial(refund_payment, payment.id, ALREADY_CANCELED)]
        if payment.kind == PaymentKind.RENEWAL.value and _period_paid_already(payment, subscription):
            return [partial(refund_payment, payment.id, PERIOD_PAID_ALREADY)]
        return _extend(payment, subscription, ran_schedule)
    if payment.status == P.FAILED.value and payment.kind == PaymentKind.RENEWAL.value:
        if not by_schedule or not _decides_its_period(payment, subscription):
            # Not the card declining the period's renewal (a payment made otherwise on its
            # order id, or an older attempt declined late): the subscription stays as it is.
            return [partial(ensure_schedule, subscription.id)]
        return _renewal_failed(payment, subscription, info, ran_schedule)
    return []


def _decides_its_period(payment: Payment, subscription: Subscription) -> bool:
    """Whether a renewal attempt's failure may change the subscription: only the latest attempt
    at the period still due may (an older one declined late, after a later one paid, may not)."""
    if payment.period_start is None:
        return True  # made before renewals recorded their period
    if payment.period_start != subscription.current_period_end:
        return False
    later = db.session.execute(
        db.select(Payment.id).where(
            Payment.subscription_id == subscription.id,
            Payment.kind == PaymentKind.RENEWAL.value,
            Payment.period_start == payment.period_start,
            Payment.attempt > (payment.attempt or 0),
        ).limit(1)
    ).first()
    return later is None


def _period_paid_already(payment: Payment, subscription: Subscription) -> bool:
    """Whether another attempt at this paid renewal's period was paid first.

    Only asked when the period is no longer the one due (in the common case it is, and no query
    is made): charged otherwise meanwhile ("charge now"), this payment still buys a period.
    """
    if payment.period_start is None or payment.period_start == subscription.current_period_end:
        return False
    other = db.session.execute(
        db.select(Payment.id).where(
            Payment.subscription_id == subscription.id,
            Payment.kind == PaymentKind.RENEWAL.value,
            Payment.period_start == payment.period_start,
            Payment.status == P.PAID.value,
            Payment.id != payment.id,
        ).limit(1)
    ).first()
    return other is not None


def _activate(payment: Payment, subscription: Subscription) -> None:
    """A paid first payment starts the subscription's first period on its billing key."""
    start = payment.paid_at or utcnow()
    _write(
        subscription,
        status=SubscriptionStatus.ACTIVE.value,
        customer_uid=payment.customer_uid,
        buyer_email=payment.user.email,
        buyer_name=payment.user.buyer_name,
        billing_key_ready_at=None,
        billing_anchor=start,
        current_period_start=start,
        current_period_end=next_period_end(start, start, subscription.plan.interval),
    )


def _anchor_of(subscription: Subscription, end: datetime) -> datetime:
    """The date the subscription's periods are counted from (see Subscription.billing_anchor)."""
    return subscription.billing_anchor or subscription.current_period_start or end


def period_end_after(subscription: Subscription) -> datetime:
    """The paid-until date once one more period is charged (for the charge's confirmation)."""
    end = subscription.current_period_end or utcnow()
    return next_period_end(_anchor_of(subscription, end), end, subscription.plan.interval)


def _extend(payment: Payment, subscription: Subscription, ran_schedule: bool) -> list[partial]:
    """A paid repeat charge, card change or renewal pays one more period, from the end of the
    paid one to the anchor's next date."""
    after: list[partial] = []
    old_end = subscription.current_period_end or payment.paid_at or utcnow()
    anchor = _anchor_of(subscription, old_end)
    values: dict[str, Any] = {
        "billing_anchor": anchor,
        "current_period_end": next_period_end(anchor, old_end, subscription.plan.interval),
        "status": SubscriptionStatus.ACTIVE.value,
        "retry_count": 0,
        "past_due_since": None,
    }
    if payment.kind == PaymentKind.RENEWAL.value:
        values["current_period_start"] = old_end
    if payment.customer_uid and payment.customer_uid != subscription.customer_uid:
        # Paid with a new card: its key replaces the old one, which is deleted at iamport.
        old_key = subscription.customer_uid
        values.update(customer_uid=payment.customer_uid, buyer_email=payment.user.email,
                      buyer_name=payment.user.buyer_name, billing_key_ready_at=None)
        if old_key:
            after.append(partial(_retire_key, subscription.id, old_key))
    _write(subscription, **values)
    return after + _schedule_next_renewal(subscription, ran_schedule)


def _renewal_failed(
    payment: Payment, subscription: Subscription, info: dict[str, Any], ran_schedule: bool
) -> list[partial]:
    """A declined renewal: past due and retried later, canceled after the last retry."""
    if subscription.status not in LIVE_STATUSES:
        return []
    failed_at = from_unix(info.get("failed_at")) or utcnow()
    retry_count = subscription.retry_count + 1
    values: dict[str, Any] = {"retry_count": retry_count}
    if retry_count == 1:
        values["past_due_since"] = failed_at
    if retry_count > len(current_app.config["RENEWAL_RETRY_DAYS"]):
        _write(subscription, status=SubscriptionStatus.CANCELED.value, canceled_at=failed_at, **values)
        key = subscription.customer_uid
        return [partial(_retire_key, subscription.id, key)] if key else []
    _write(subscription, status=SubscriptionStatus.PAST_DUE.value, **values)
    if payment.period_start != subscription.current_period_end:
        return [partial(ensure_schedule, subscription.id)]
    return _schedule_next_renewal(subscription, ran_schedule, attempt=(payment.attempt or 0) + 1)


def refund_payment(payment_id: int, reason: str) -> None:
    """Give back one of our paid payments that nothing can use; it becomes cancelled when
    iamport's record shows the money returned."""
    payment = db.session.get(Payment, payment_id)
    log.warning("refunding %s: %s", payment.merchant_uid, reason)
    owe_refund(payment.provider_response or {}, reason, payment_id=payment.id)


def owe_refund(info: dict[str, Any], reason: str, payment_id: int | None = None) -> None:
    """Record that iamport's payment `info` must be given back in full, then ask for it.

    Recorded first, so that a refund iamport does not carry out (down, refused, no answer) stays
    owed and reconcile asks again; one row per `imp_uid`, so it is never owed twice.
    """
    imp_uid = str(info.get("imp_uid") or "")
    refund = refund_of(imp_uid)
    if refund is None:
        refund = Refund(imp_uid=imp_uid, merchant_uid=str(info.get("merchant_uid") or "")[:40],
                        payment_id=payment_id, amount=to_decimal(info.get("amount")) or Decimal(0),
                        currency=str(info.get("currency") or "")[:3], reason=reason[:255])
        db.session.add(refund)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # recorded at this moment by another delivery of the same news
            refund = refund_of(imp_uid)
        else:
            log.warning("refund owed: %s %s of %s (%s)", refund.amount, refund.currency, imp_uid, reason)
    if refund.status == RefundStatus.OWED.value:
        give_back(refund)


def _refundable(info: dict[str, Any]) -> Decimal:
    """What is left to give back of iamport's payment: nothing unless it is paid."""
    if info.get("status") != "paid":
        return Decimal(0)
    return (to_decimal(info.get("amount")) or Decimal(0)) - (to_decimal(info.get("cancel_amount")) or Decimal(0))


def give_back(refund: Refund) -> bool:
    """Ask iamport to return an owed refund; done only when iamport's record says it is.

    The payment is looked up first, so a cancel whose answer was lost is not sent again; the
    cancel carries the balance we expect (`checksum`), which iamport refuses if it moved, so
    no two requests can both refund. A cancel iamport accepted but PAYMENTWALL confirms later
    is not sent again: the lookup of a later reconcile finds it done.
    """
    refund.attempts += 1
    try:
        balance = _refundable(client().get_payment(refund.imp_uid))
        refund.last_error = None
        if balance > 0 and refund.requested_at is None:
            answer = client().cancel_payment(refund.imp_uid, reason=refund.reason, checksum=balance)
            refund.requested_at = utcnow()
            balance = _refundable(answer)
    except IamportError as exc:
        refund.last_error = str(exc)[:255]
        db.session.commit()
        log.error("refund of %s %s (%s) still owed: %s", refund.amount, refund.currency,
                  refund.imp_uid, exc)
        return False
    if balance > 0:
        db.session.commit()
        log.info("refund of %s accepted by iamport, awaiting the PG", refund.imp_uid)
        return False
    refund.status = RefundStatus.DONE.value
    refund.refunded_at = utcnow()
    db.session.commit()
    if refund.payment_id is not None:
        # Our own payment: the refund's merchant_uid is the payment's.
        _move(refund.merchant_uid, P.PAID, P.CANCELLED, fail_reason=refund.reason)
    log.info("refund of %s %s (%s) done", refund.amount, refund.currency, refund.imp_uid)
    return True


def confirm_billing_key(subscription: Subscription | None) -> bool:
    """Mark the billing key ready once iamport knows it (PAYMENTWALL confirms it later)."""
    if subscription is None or not subscription.customer_uid:
        return False
    if subscription.billing_key_ready_at is not None:
        return True
    try:
        key = client().get_billing_key(subscription.customer_uid)
    except IamportError as exc:
        if not exc.not_found:
            log.warning("billing key %s not checked: %s", subscription.customer_uid, exc)
        return False
    refusal = refusal_reason(key)
    if refusal:
        # Never charged: a key on a test channel or another PG is no card of a live shop.
        log.error("billing key %s refused: %s", subscription.customer_uid, refusal)
        return False
    # The card is kept as iamport described it, so the account page never waits on iamport.
    result = db.session.execute(
        sa.update(Subscription)
        .where(
            Subscription.id == subscription.id,
            Subscription.customer_uid == subscription.customer_uid,
            Subscription.billing_key_ready_at.is_(None),
        )
        .values(
            version=Subscription.version + 1,
            billing_key_ready_at=utcnow(),
            card_name=str(key.get("card_name") or "")[:60] or None,
            card_number=str(key.get("card_number") or "")[:30] or None,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(subscription)
    if result.rowcount:
        log.info("billing key %s is ready", subscription.customer_uid)
        # Only the caller that marked the key ready schedules, so the key is scheduled once.
        ensure_schedule(subscription.id)
    return True


def confirm_billing_key_of(subscription_id: int) -> bool:
    """`confirm_billing_key` for a subscription named by id (for calls made after a response)."""
    return confirm_billing_key(db.session.get(Subscription, subscription_id))


def find_payment(merchant_uid: str) -> Payment | None:
    """Our payment with this `merchant_uid`."""
    return db.session.execute(
        db.select(Payment).where(Payment.merchant_uid == merchant_uid)
    ).scalar_one_or_none()


def refund_of(imp_uid: str) -> Refund | None:
    """The refund we owe or gave for iamport's payment `imp_uid`, if any."""
    return db.session.execute(db.select(Refund).where(Refund.imp_uid == imp_uid)).scalar_one_or_none()


def refunds_of_order(merchant_uid: str) -> list[Refund]:
    """Every payment made on our order id that we give back, oldest first."""
    return list(db.session.execute(
        db.select(Refund).where(Refund.merchant_uid == merchant_uid).order_by(Refund.id)
    ).scalars())


def payment_for_owner(merchant_uid: str, user: User) -> Payment | None:
    """The payment with this `merchant_uid` if it belongs to the user."""
    return db.session.execute(
        db.select(Payment).where(Payment.merchant_uid == merchant_uid, Payment.user_id == user.id)
    ).scalar_one_or_none()


def notice_url() -> str | None:
    """Our webhook URL for iamport, or None to let iamport use the console's URL."""
    public = current_app.config.get("PUBLIC_URL")
    if public:
        return f"{public}/iamport/webhook"
    if has_request_context():
        return url_for("webhooks.receive", _external=True)
    return None


# --------------------------------------------------------------------------- schedules


def _charge_for(subscription: Subscription, kind: PaymentKind, merchant_uid: str,
                **fields: Any) -> Payment:
    """A new payment of one period of the subscription, on its billing key unless told another."""
    fields.setdefault("customer_uid", subscription.customer_uid)
    return Payment(
        merchant_uid=merchant_uid,
        user_id=subscription.user_id,
        subscription_id=subscription.id,
        amount=subscription.plan.price,
        currency=subscription.plan.currency,
        kind=kind.value,
        **fields,
    )


# A renewal attempt in one of these states holds its period: iamport holds its schedule, or ran
# it and its outcome (PAYMENTWALL's review included) is still to come. No other attempt is made
# for the period meanwhile, or one period could be charged twice.
OPEN_RENEWAL = (P.SCHEDULED.value, P.PENDING.value, P.REVIEW.value)


def _scheduled_renewals(subscription_id: int) -> list[Payment]:
    """The subscription's renewals scheduled now."""
    return list(db.session.execute(
        db.select(Payment).where(
            Payment.subscription_id == subscription_id,
            Payment.kind == PaymentKind.RENEWAL.value,
            Payment.status == P.SCHEDULED.value,
        )
    ).scalars())


def _renewal_attempts(subscription_id: int, period: datetime | None) -> list[Payment]:
    """The subscription's open renewal attempts and, in the same query, every attempt at
    `period` whatever its status, oldest first."""
    is_open = Payment.status.in_(OPEN_RENEWAL)
    return list(db.session.execute(
        db.select(Payment).where(
            Payment.subscription_id == subscription_id,
            Payment.kind == PaymentKind.RENEWAL.value,
            sa.or_(is_open, Payment.period_start == period) if period else is_open,
        ).order_by(Payment.id)
    ).scalars())


def next_charge_at(subscription: Subscription) -> datetime | None:
    """When the subscription is charged next, by iamport's schedule or a pending retry."""
    due = [p.scheduled_at for p in _scheduled_renewals(subscription.id) if p.scheduled_at]
    return min(due) if due else None


def _renewal_due(subscription: Subscription) -> datetime:
    """When a new renewal attempt should run: the period's end, or the next retry.

    Only ever used for a new attempt: an attempt already scheduled keeps its time.
    """
    if subscription.retry_count:
        days = current_app.config["RENEWAL_RETRY_DAYS"][subscription.retry_count - 1]
        due = (subscription.past_due_since or utcnow()) + timedelta(days=days)
    else:
        due = subscription.current_period_end or utcnow()
    # iamport refuses a schedule in the past: a late webhook or reconcile run charges soon instead.
    # Whole seconds, as iamport keeps it.
    return max(due, utcnow() + SCHEDULE_MARGIN).replace(microsecond=0)


def ensure_schedule(subscription_id: int) -> Payment | None:
    """Make sure iamport holds one schedule for the subscription's next period; return it.

    Decided by the period a renewal pays, never by a time computed again: an open attempt at
    the period (see OPEN_RENEWAL) is kept and no other is made, so calls near the due date never
    revoke a schedule iamport may be running. None when nothing is scheduled (no renewal is
    wanted, or an attempt that iamport ran awaits its outcome). Two callers racing to make the
    same attempt collide on the unique (subscription, period, attempt) instead of scheduling twice.
    """
    subscription = db.session.get(Subscription, subscription_id, populate_existing=True,
                                  options=[joinedload(Subscription.plan)])
    period = _wanted_period(subscription)
    rows = _renewal_attempts(subscription_id, period)
    keep = held = None
    for row in rows:
        if row.status not in OPEN_RENEWAL:
            continue
        at_period = period is not None and row.period_start == period
        if at_period and row.status != P.SCHEDULED.value:
            held = row  # iamport ran it: its outcome is on its way
        elif at_period and row.customer_uid == subscription.customer_uid and keep is None:
            keep = row
        elif row.status == P.SCHEDULED.value:
            # Another period (charged meanwhile), another key, or no renewal wanted.
            revoke_schedule(row)
        # An attempt of another period that iamport ran already cannot be withdrawn: its
        # outcome is applied when it comes.
    if keep is not None or held is not None or period is None:
        return keep
    attempt = 1 + max((row.attempt or 0 for row in rows if row.period_start == period), default=-1)
    due = _renewal_due(subscription)
    row = _charge_for(subscription, PaymentKind.RENEWAL, _renewal_uid(),
                      status=P.SCHEDULED.value, scheduled_at=due, period_start=period,
                      attempt=attempt)
    db.session.add(row)
    # Taken before the commit expires the rows it is made from.
    customer_uid, schedule = row.customer_uid, _schedule_of(row, subscription)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        log.info("schedule for subscription %s already being made", subscription_id)
        return None
    _send_schedule(customer_uid, schedule)
    return row


def _wanted_period(subscription: Subscription) -> datetime | None:
    """The period the subscription's next renewal pays (named by its start, the paid-until
    date), or None if it should not be renewed on its key."""
    wanted = (
        subscription.status in LIVE_STATUSES
        and not subscription.cancel_at_period_end
        and subscription.billing_key_ready_at is not None
        and subscription.customer_uid
    )
    return subscription.current_period_end if wanted else None


def _renewal_uid() -> str:
    """A new renewal's `merchant_uid`: unguessable, like every order id, so that no one can
    pay on it first (racing callers are kept apart by the attempt's unique key instead)."""
    return new_merchant_uid("ren")


def _schedule_next_renewal(subscription: Subscription, ran_schedule: bool,
                           attempt: int = 0) -> list[partial]:
    """Write the next renewal (attempt `attempt` at the subscription's period) in the caller's
    transaction (the subscription row is locked); return the call that sends it to iamport
    after the commit.

    This is the common case: iamport just ran the subscription's one schedule, so nothing is
    left to withdraw first. Anything else, and a clash with an existing attempt at the period
    (reconcile scheduling it at this moment, say), is left to `ensure_schedule` after the commit.
    """
    period = _wanted_period(subscription)
    if period is None or not ran_schedule:
        return [partial(ensure_schedule, subscription.id)]
    due = _renewal_due(subscription)
    row = _charge_for(subscription, PaymentKind.RENEWAL, _renewal_uid(),
                      status=P.SCHEDULED.value, scheduled_at=due, period_start=period,
                      attempt=attempt)
    values = {column.key: getattr(row, column.key) for column in _PAYMENTS.columns
              if getattr(row, column.key) is not None}
    inserted = db.session.connection().execute(
        _INSERT_RENEWAL[db.engine.dialect.name], values
    ).scalar_one_or_none()
    if inserted is None:
        return [partial(ensure_schedule, subscription.id)]
    return [partial(_send_schedule, row.customer_uid, _schedule_of(row, subscription))]


def _schedule_of(row: Payment, subscription: Subscription) -> dict[str, Any]:
    """The schedule iamport is sent for a scheduled renewal."""
    return {
        "merchant_uid": row.merchant_uid,
        "schedule_at": row.scheduled_at,
        "amount": row.amount,
        "currency": row.currency,
        "name": subscription.plan.name[:40],
        "buyer_email": subscription.buyer_email,
        "buyer_name": subscription.buyer_name,
        **({"notice_url": url} if (url := notice_url()) else {}),
    }


def register_schedule(row: Payment) -> bool:
    """Send one scheduled renewal that iamport does not hold (again); on failure reconcile
    sends it again.

    A time gone by meanwhile is moved a little ahead, as iamport refuses a schedule in the past:
    no one holds the schedule yet, so only here may its time change (the attempt stays the same).
    """
    soonest = (utcnow() + SCHEDULE_MARGIN).replace(microsecond=0)
    if row.scheduled_at is None or row.scheduled_at < soonest:
        if not _move(row.merchant_uid, P.SCHEDULED, P.SCHEDULED, scheduled_at=soonest):
            return False  # ran, failed or revoked meanwhile
        db.session.refresh(row)
    return _send_schedule(row.customer_uid, _schedule_of(row, row.subscription))


# Once per renewal too: a Core select of one column, built once (see _PAYMENT_TO_LOCK).
_STATUS_OF = sa.select(Payment.__table__.c.status).where(
    Payment.__table__.c.merchant_uid == sa.bindparam("merchant_uid")
)


def _send_schedule(customer_uid: str, schedule: dict[str, Any]) -> bool:
    merchant_uid = schedule["merchant_uid"]
    try:
        client().schedule_payments(customer_uid, [schedule])
    except IamportError as exc:
        log.warning("renewal %s not scheduled yet: %s", merchant_uid, exc)
        return False
    # Read only now that iamport holds it: a revoke that came while the schedule was on its
    # way found nothing to withdraw, so the schedule is withdrawn here (see revoke_schedule).
    status = _read_status(merchant_uid)
    if status == P.SCHEDULED.value:
        log.info("renewal %s scheduled for %s", merchant_uid, schedule["schedule_at"])
        return True
    log.info("renewal %s was revoked while being scheduled; withdrawing it", merchant_uid)
    if not _withdraw(customer_uid, merchant_uid):
        _move(merchant_uid, P.REVOKED, P.SCHEDULED)
    return False


def _read_status(merchant_uid: str) -> str | None:
    """A payment's committed status, read outside any transaction."""
    # Once per renewal: in the session this read would also cost a BEGIN and a ROLLBACK.
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        return connection.execute(_STATUS_OF, {"merchant_uid": merchant_uid}).scalar_one_or_none()


def revoke_schedule(row: Payment) -> bool:
    """Withdraw a scheduled renewal at iamport and record it as revoked.

    Recorded before the call, so that a registration of the same renewal still on its way to
    iamport reads it once iamport holds the schedule, and withdraws it itself. A revoke and a
    registration that overlap thus never leave iamport a schedule that is revoked here.
    """
    if not _move(row.merchant_uid, P.SCHEDULED, P.REVOKED):
        return True  # ran, failed or revoked meanwhile: nothing of ours is left to withdraw
    if _withdraw(row.customer_uid, row.merchant_uid):
        return True
    _move(row.merchant_uid, P.REVOKED, P.SCHEDULED)
    return False


def _withdraw(customer_uid: str, merchant_uid: str) -> bool:
    """Ask iamport to drop one schedule; False if it may still hold it (outcome unknown)."""
    try:
        client().unschedule_payments(customer_uid, [merchant_uid])
    except IamportError as exc:
        if exc.unknown_outcome:
            log.warning("renewal %s not unscheduled: %s", merchant_uid, exc)
            return False
        # Nothing to withdraw: never registered, or already run (its webhook will tell which).
        log.info("renewal %s had no schedule to withdraw: %s", merchant_uid, exc)
    return True


def _move(merchant_uid: str, old: P, new: P, **values: Any) -> bool:
    """Move a payment from one status to another (setting `values` too) unless someone moved
    it first; commit.

    A revoked renewal moved back to scheduled, because iamport may still hold it, is looked
    at again by reconcile.
    """
    moved = db.session.execute(
        sa.update(Payment)
        .where(Payment.merchant_uid == merchant_uid, Payment.status == old.value)
        .values(status=new.value, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    db.session.commit()
    return moved


def _retire_key(subscription_id: int | None, customer_uid: str,
                reason: str = "subscription ended or card replaced") -> bool:
    """Withdraw every schedule of a billing key and delete it at iamport.

    Recorded first as a key to delete, so that a deletion iamport does not carry out is tried
    again by reconcile: no card stays with the PG after we gave it up.
    """
    retired = db.session.execute(
        db.select(RetiredKey).where(RetiredKey.customer_uid == customer_uid)
    ).scalar_one_or_none()
    if retired is None:
        retired = RetiredKey(customer_uid=customer_uid, subscription_id=subscription_id,
                             reason=reason[:255])
        db.session.add(retired)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # retired at this moment by another caller, who deletes it
            return False
    if retired.deleted_at is not None:
        return True
    return _delete_retired_key(retired)


def _delete_retired_key(retired: RetiredKey) -> bool:
    customer_uid = retired.customer_uid
    withdrawn = all([revoke_schedule(row) for row in db.session.execute(
        db.select(Payment).where(
            Payment.customer_uid == customer_uid,
            Payment.status == P.SCHEDULED.value,
        )
    ).scalars().all()])
    retired.attempts += 1
    try:
        client().delete_billing_key(customer_uid, reason=retired.reason)
    except IamportError as exc:
        if not exc.not_found:
            retired.last_error = str(exc)[:255]
            db.session.commit()
            log.warning("billing key %s not deleted yet: %s", customer_uid, exc)
            return False
    if not withdrawn:
        # A schedule iamport may still hold is withdrawn on the next try.
        retired.last_error = "a schedule of this key could not be withdrawn yet"
        db.session.commit()
        return False
    retired.deleted_at = utcnow()
    retired.last_error = None
    db.session.commit()
    log.info("billing key %s deleted", customer_uid)
    return True


# --------------------------------------------------------------------------- account actions


class ActionRefused(ValueError):
    """The action does not fit the subscription's state; the message says why."""


class DuplicateSubmission(Exception):
    """The form's one-time token was used already; carries the payment it made."""

    def __init__(self, payment: Payment) -> None:
        super().__init__(payment.merchant_uid)
        self.payment = payment


def owned_subscription(subscription_id: int, user: User) -> Subscription | None:
    """The subscription if it belongs to the user."""
    return db.session.execute(
        db.select(Subscription).where(
            Subscription.id == subscription_id, Subscription.user_id == user.id
        )
    ).scalar_one_or_none()


def charge_refusal(subscription: Subscription) -> str | None:
    """Why "Charge now" is not possible right now, or None when it is."""
    if subscription.status not in LIVE_STATUSES:
        return "Only an active subscription can be charged."
    if subscription.cancel_at_period_end:
        return "This subscription ends at the end of the period; resume it first."
    if subscription.billing_key_ready_at is None:
        return "Your card is still being activated by PAYMENTWALL. This takes a few seconds."
    return None


def charge_now(subscription: Subscription, token: str) -> Payment:
    """Charge the stored card for the next period (POST /subscribe/payments/again), once per token.

    The pending payment is written first, so an answer that never comes leaves a record that
    reconcile settles by lookup; a timeout is never followed by a second charge.
    """
    refusal = charge_refusal(subscription)
    if refusal:
        raise ActionRefused(refusal)
    payment = _charge_for(subscription, PaymentKind.REPEAT, new_merchant_uid("rep"),
                          idempotency_key=token)
    db.session.add(payment)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        earlier = db.session.execute(
            db.select(Payment).where(
                Payment.idempotency_key == token, Payment.subscription_id == subscription.id
            )
        ).scalar_one_or_none()
        if earlier is None:
            raise
        raise DuplicateSubmission(earlier) from None
    try:
        info = client().charge_again(
            customer_uid=payment.customer_uid,
            merchant_uid=payment.merchant_uid,
            amount=payment.amount,
            name=subscription.plan.name[:40],
            currency=payment.currency,
            buyer_email=subscription.buyer_email,
            buyer_name=subscription.buyer_name,
            notice_url=notice_url(),
        )
    except IamportError as exc:
        if exc.unknown_outcome:
            log.warning("charge %s outcome unknown, left pending: %s", payment.merchant_uid, exc)
            return payment
        # The request was refused (code != 0) or never sent (no token): nothing was charged.
        reason = ("The payment provider refused the charge." if exc.status
                  else "We could not reach the payment provider; nothing was charged.")
        _claim(payment, Outcome(P.FAILED.value, reason), {"imp_uid": None})
        db.session.commit()
        log.info("charge %s refused by iamport: %s", payment.merchant_uid, exc)
        return payment
    return apply_payment_info(info)


@retried_on_conflict
def cancel(subscription: Subscription, at_period_end: bool) -> None:
    """Stop renewals: at the period's end (access until then) or now (the key is deleted)."""
    if subscription.status not in LIVE_STATUSES:
        raise ActionRefused("This subscription is not active.")
    if at_period_end:
        if subscription.status != SubscriptionStatus.ACTIVE.value:
            raise ActionRefused("A past-due subscription can only be cancelled now.")
        subscription.cancel_at_period_end = True
        db.session.commit()
        ensure_schedule(subscription.id)
        return
    subscription.status = SubscriptionStatus.CANCELED.value
    subscription.canceled_at = utcnow()
    subscription.cancel_at_period_end = False
    key = subscription.customer_uid
    db.session.commit()
    if key:
        _retire_key(subscription.id, key)


@retried_on_conflict
def resume(subscription: Subscription) -> None:
    """Undo a cancel at period end while the period lasts."""
    if not subscription.cancel_at_period_end or subscription.status != SubscriptionStatus.ACTIVE.value:
        raise ActionRefused("Only a subscription that is ending can be resumed.")
    if subscription.current_period_end and subscription.current_period_end <= utcnow():
        raise ActionRefused("The period has ended; please subscribe again.")
    subscription.cancel_at_period_end = False
    db.session.commit()
    ensure_schedule(subscription.id)


def open_card_change(subscription: Subscription) -> Payment:
    """A window payment for the next period under a new `customer_uid` (PAYMENTWALL issues a
    key only with a charge); once paid, its key replaces the old one."""
    if subscription.status not in LIVE_STATUSES:
        raise ActionRefused("Only an active subscription can change card.")
    # A reload of the page gets the order it opened back, as the checkout page does, so the
    # history does not fill with pending card changes nobody paid.
    payment = _open_card_change_of(subscription)
    if payment is None:
        payment = _charge_for(subscription, PaymentKind.REPEAT, new_merchant_uid("card"),
                              customer_uid=new_customer_uid(subscription.user))
        db.session.add(payment)
        db.session.commit()
    prepare(payment)
    return payment


def _open_card_change_of(subscription: Subscription) -> Payment | None:
    """The card change opened for this subscription lately and not paid, at today's price."""
    return db.session.execute(
        db.select(Payment)
        .where(
            Payment.subscription_id == subscription.id,
            Payment.kind == PaymentKind.REPEAT.value,
            Payment.status == P.PENDING.value,
            # A card change is the repeat payment made on a key of its own.
            Payment.customer_uid != subscription.customer_uid,
            Payment.idempotency_key.is_(None),
            Payment.created_at > utcnow() - CHECKOUT_REUSE,
            Payment.amount == subscription.plan.price,
            Payment.currency == subscription.plan.currency,
        )
        .order_by(Payment.created_at.desc())
    ).scalars().first()


def end_finished_periods(now: datetime | None = None) -> int:
    """Cancel subscriptions whose cancel-at-period-end has come, deleting their keys."""
    now = now or utcnow()
    ended = 0
    ids = db.session.execute(
        db.select(Subscription.id).where(
            Subscription.cancel_at_period_end.is_(True),
            Subscription.status == SubscriptionStatus.ACTIVE.value,
            Subscription.current_period_end <= now,
        )
    ).scalars().all()
    for subscription_id in ids:
        if _end_period(subscription_id, now):
            ended += 1
    return ended


@retried_on_conflict
def _end_period(subscription_id: int, now: datetime) -> bool:
    subscription = _lock_for_work(Subscription, subscription_id)
    if (subscription is None or not subscription.cancel_at_period_end
            or subscription.status != SubscriptionStatus.ACTIVE.value
            or subscription.current_period_end > now):
        db.session.rollback()
        return False
    subscription.status = SubscriptionStatus.CANCELED.value
    subscription.canceled_at = subscription.current_period_end
    key = subscription.customer_uid
    db.session.commit()
    if key:
        _retire_key(subscription_id, key)
    return True


# --------------------------------------------------------------------------- reconcile


# Follow-ups whose loss reconcile repairs (it schedules a live subscription that has no renewal,
# sends iamport a scheduled renewal it does not hold and checks keys not yet ready), so an answer
# to iamport need not wait for them.
CAN_WAIT = frozenset({ensure_schedule, _send_schedule, confirm_billing_key_of})


def _lock_for_work(model: type, row_id: int):
    """Lock one row for this worker; other workers skip it (SKIP LOCKED on PostgreSQL)."""
    query = db.select(model).where(model.id == row_id).execution_options(populate_existing=True)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return db.session.execute(query).scalar_one_or_none()


@dataclass
class ReconcileReport:
    """What one reconcile run did."""

    settled: int = 0
    still_pending: int = 0
    abandoned: int = 0
    keys_confirmed: int = 0
    rescheduled: int = 0
    ended: int = 0
    refunds_done: int = 0
    refunds_owed: int = 0
    keys_deleted: int = 0
    keys_to_delete: int = 0
    # What iamport did not answer (not "no such payment", which is an answer): cron must hear
    # of these, because the work they stand for waits for the next run.
    failures: list[str] = field(default_factory=list)


def reconcile(now: datetime | None = None, min_age: timedelta | None = None) -> ReconcileReport:
    """Settle what webhooks and answers left open; safe to run on several hosts at once."""
    now = now or utcnow()
    min_age = current_app.config["RECONCILE_MIN_AGE"] if min_age is None else min_age
    report = ReconcileReport()
    _settle_pending(now, min_age, report)
    _check_keys_and_schedules(report)
    report.ended = end_finished_periods(now)
    _give_back_owed_refunds(report)
    _delete_retired_keys(report)
    return report


def _give_back_owed_refunds(report: ReconcileReport) -> None:
    """Ask again for every refund still owed; log each one that stays owed for the operator."""
    ids = db.session.execute(
        db.select(Refund.id).where(Refund.status == RefundStatus.OWED.value).order_by(Refund.id)
    ).scalars().all()
    for refund_id in ids:
        refund = _lock_for_work(Refund, refund_id)
        if refund is None or refund.status != RefundStatus.OWED.value:
            db.session.rollback()
            continue
        if give_back(refund):
            report.refunds_done += 1
        else:
            report.refunds_owed += 1
            if refund.last_error:
                report.failures.append(f"refund of {refund.imp_uid}: {refund.last_error}")
            log.warning("refund still owed: %s %s of %s on %s (%s), %d attempts, last: %s",
                        refund.amount, refund.currency, refund.imp_uid, refund.merchant_uid,
                        refund.reason, refund.attempts, refund.last_error)


def _delete_retired_keys(report: ReconcileReport) -> None:
    """Delete at iamport every billing key we gave up that is not deleted yet."""
    ids = db.session.execute(
        db.select(RetiredKey.id).where(RetiredKey.deleted_at.is_(None)).order_by(RetiredKey.id)
    ).scalars().all()
    for key_id in ids:
        retired = _lock_for_work(RetiredKey, key_id)
        if retired is None or retired.deleted_at is not None:
            db.session.rollback()
            continue
        if _delete_retired_key(retired):
            report.keys_deleted += 1
        else:
            report.keys_to_delete += 1
            report.failures.append(f"deletion of key {retired.customer_uid}: {retired.last_error}")


def _settle_pending(now: datetime, min_age: timedelta, report: ReconcileReport) -> None:
    ids = db.session.execute(
        db.select(Payment.id).where(
            sa.or_(
                Payment.status.in_([P.PENDING.value, P.REVIEW.value]),
                sa.and_(Payment.status == P.SCHEDULED.value, Payment.scheduled_at <= now),
            ),
            Payment.created_at <= now - min_age,
        ).order_by(Payment.id)
    ).scalars().all()
    for payment_id in ids:
        payment = _lock_for_work(Payment, payment_id)
        if payment is None or payment.is_settled:
            db.session.rollback()
            continue
        # The row stays locked through the lookup so that other reconcile workers skip it; a
        # webhook for this payment waits at most the client's timeout for it.
        try:
            info = client().find_payment(payment.merchant_uid)
        except IamportError as exc:
            if not exc.not_found:
                report.failures.append(f"lookup of {payment.merchant_uid}: {exc}")
            abandoned = now - ABANDON_AFTER[payment.kind]
            if exc.not_found and payment.status == P.PENDING.value and payment.created_at <= abandoned:
                _move(payment.merchant_uid, P.PENDING, P.FAILED,
                      fail_reason="Not completed: no payment was made.")
                report.abandoned += 1
            else:
                db.session.rollback()
                report.still_pending += 1
            continue
        settled, changed = record_payment_info(info)
        if changed:
            report.settled += 1
        elif settled.status in (P.PENDING.value, P.REVIEW.value):
            report.still_pending += 1


# A window left open this long, or a charge iamport never received, did not happen. A checkout
# page is offered again for CHECKOUT_REUSE, so its order is given up a while after that.
ABANDON_AFTER = {
    PaymentKind.FIRST.value: CHECKOUT_REUSE + timedelta(minutes=30),
    PaymentKind.REPEAT.value: timedelta(minutes=10),
    PaymentKind.RENEWAL.value: timedelta(days=1),
}


def _check_keys_and_schedules(report: ReconcileReport) -> None:
    ids = db.session.execute(
        db.select(Subscription.id).where(Subscription.status.in_(LIVE_STATUSES))
        .order_by(Subscription.id)
    ).scalars().all()
    for subscription_id in ids:
        subscription = _lock_for_work(Subscription, subscription_id)
        if subscription is None:
            db.session.rollback()
            continue
        db.session.commit()
        if subscription.billing_key_ready_at is None:
            if confirm_billing_key(subscription):
                report.keys_confirmed += 1
            continue
        for row in _scheduled_renewals(subscription_id):
            try:
                schedule = client().get_schedule(row.merchant_uid)
            except IamportError as exc:
                if not exc.not_found:
                    report.failures.append(f"schedule {row.merchant_uid}: {exc}")
                elif register_schedule(row):
                    report.rescheduled += 1
                continue
            if schedule.get("schedule_status") == "revoked":
                _move(row.merchant_uid, P.SCHEDULED, P.REVOKED)
        had_schedule = bool(_scheduled_renewals(subscription_id))
        if ensure_schedule(subscription_id) is not None and not had_schedule:
            report.rescheduled += 1

