"""The next renewal: which period it pays, when it runs, that iamport holds exactly one schedule for it, and a billing key made ready for it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from storefront import clock
from storefront.billing.common import (
    LIVE_STATUSES,
    client,
    new_charge,
    new_merchant_uid,
    refusal_of,
    retried_on_conflict,
)
from storefront.billing.events import record_event
from storefront.billing.schedules import (
    SCHEDULE_MARGIN,
    mark_to_withdraw,
    scheduled_renewals,
    send_schedule,
    withdraw,
)
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import Payment, PaymentKind, PaymentStatus, Subscription

log = logging.getLogger(__name__)

# A renewal attempt in one of these states holds its period: iamport holds its schedule (or may,
# while it is withdrawn), or ran it and its outcome (PAYMENTWALL's review included) is still to
# come. No other attempt is made for the period meanwhile, or one period could be charged twice.
OPEN_RENEWAL = (PaymentStatus.SCHEDULED, PaymentStatus.WITHDRAWING, PaymentStatus.PENDING,
                PaymentStatus.REVIEW)


def next_charge_at(subscription: Subscription) -> datetime | None:
    """When the subscription is charged next, by iamport's schedule or a pending retry."""
    due = [p.scheduled_at for p in scheduled_renewals(subscription.id) if p.scheduled_at]
    return min(due) if due else None


def wanted_period(subscription: Subscription) -> datetime | None:
    """The period the subscription's next renewal pays (named by its start, the paid-until
    date), or None if it should not be renewed on its key."""
    from storefront.billing.price_changes import renewal_blocked  # it schedules through this module

    wanted = (
        subscription.status in LIVE_STATUSES
        and not subscription.cancel_at_period_end
        and subscription.billing_key_ready_at is not None
        and subscription.customer_uid
        # An increase not agreed to: no schedule at the old amount, nor at the new.
        and not renewal_blocked(subscription)
    )
    return subscription.current_period_end if wanted else None


def renewal_due(subscription: Subscription) -> datetime:
    """When a new renewal attempt should run: the period's end, or the next retry.

    Only ever used for a new attempt: an attempt already scheduled keeps its time.
    """
    if subscription.retry_count:
        days = current_app.config["RENEWAL_RETRY_DAYS"][subscription.retry_count - 1]
        due = (subscription.past_due_since or clock.now()) + timedelta(days=days)
    else:
        due = subscription.current_period_end or clock.now()
    # iamport refuses a schedule in the past: a late webhook or reconcile run charges soon instead.
    # Whole seconds, as iamport keeps it.
    return max(due, clock.now() + SCHEDULE_MARGIN).replace(microsecond=0)


def new_renewal(subscription: Subscription, period: datetime, attempt: int) -> Payment:
    """A scheduled renewal row for attempt `attempt` at `period`, with an unguessable order id
    like every order, so that no one can pay on it first (racing callers are kept apart by the
    attempt's unique key instead)."""
    return new_charge(subscription, PaymentKind.RENEWAL, new_merchant_uid("ren"),
                      status=PaymentStatus.SCHEDULED, scheduled_at=renewal_due(subscription),
                      period_start=period, attempt=attempt)


def renewal_attempts(subscription_id: int, period: datetime | None) -> list[Payment]:
    """The subscription's open renewal attempts and, in the same query, every attempt at
    `period` whatever its status, oldest first."""
    is_open = Payment.status.in_(OPEN_RENEWAL)
    return list(db.session.execute(
        db.select(Payment).where(
            Payment.subscription_id == subscription_id,
            Payment.kind == PaymentKind.RENEWAL,
            sa.or_(is_open, Payment.period_start == period) if period else is_open,
        ).order_by(Payment.id)
    ).scalars())


@dataclass(frozen=True)
class RenewalDecision:
    """What a subscription's renewals need: the attempt kept, those to withdraw, and the attempt
    number of a new renewal to create at the wanted period (None: none)."""

    keep: Payment | None
    withdraw: tuple[Payment, ...]
    create: int | None


def decide_renewals(period: datetime | None, customer_uid: str | None, amount: Decimal,
                    rows: list[Payment]) -> RenewalDecision:
    """The one rule for a subscription's renewals (pure): `period` is the one its next renewal
    pays (wanted_period), `customer_uid` its key, `amount` what it charges (the subscription's
    renewal_price), `rows` its renewal attempts (open ones, and every attempt at the period; see
    renewal_attempts).

    Decided by the period a renewal pays, never by a time computed again: an open attempt at the
    period (see OPEN_RENEWAL) is kept and no other is made, so calls near the due date never
    withdraw a schedule iamport may be running. A scheduled attempt of another period (charged
    meanwhile), another key, another amount (iamport cannot change a schedule's amount: a new
    price is a new schedule), or when no renewal is wanted, is withdrawn; one iamport ran
    already cannot be, and its outcome is applied when it comes.
    """
    keep = held = None
    withdraw: list[Payment] = []
    for row in rows:
        if row.status not in OPEN_RENEWAL:
            continue
        at_period = period is not None and row.period_start == period
        if at_period and row.status != PaymentStatus.SCHEDULED:
            held = row  # iamport ran it, or is dropping it: its outcome is on its way
        elif (at_period and row.customer_uid == customer_uid and row.amount == amount
              and keep is None):
            keep = row
        elif row.status == PaymentStatus.SCHEDULED:
            withdraw.append(row)
    create = None
    if keep is None and held is None and period is not None:
        create = 1 + max((row.attempt or 0 for row in rows if row.period_start == period), default=-1)
    return RenewalDecision(keep, tuple(withdraw), create)


def ensure_schedule(subscription_id: int) -> Payment | None:
    """Make sure iamport holds one schedule for the subscription's next period (see
    decide_renewals); return its row, or None when nothing is scheduled (no renewal is wanted, or
    an attempt iamport ran awaits its outcome).

    The withdrawals and the new renewal are written in one transaction, then carried out. Two
    callers racing to make the same attempt collide on the unique (subscription, period,
    attempt) instead of scheduling twice; only the one that made it sends it (a kept one iamport
    has not taken yet is sent by update_schedules).
    """
    # Read fresh: every caller comes after a commit (which expires what the session holds) or
    # has just read the subscription in this transaction.
    subscription = db.session.get(Subscription, subscription_id)
    period = wanted_period(subscription)
    decision = decide_renewals(period, subscription.customer_uid, subscription.renewal_price,
                               renewal_attempts(subscription_id, period))
    marked = [row for row in decision.withdraw if mark_to_withdraw(row)]
    created = None
    if decision.create is not None:
        created = new_renewal(subscription, period, decision.create)
        try:
            # A savepoint: a clash undoes this row only, never the withdrawals written with it.
            with db.session.begin_nested():
                db.session.add(created)
        except IntegrityError:
            log.info("schedule for subscription %s already being made", subscription_id)
            created = None
        else:
            record_event(subscription, "renewal_scheduled", payment=created, due=created.scheduled_at)
    db.session.commit()
    for row in marked:
        withdraw(row)
    if created is not None:
        send_schedule(created)
    return decision.keep or created


def schedule_next_renewal(subscription: Subscription, ran_schedule: bool, attempt: int = 0) -> None:
    """Write the next renewal (attempt `attempt` at the subscription's period) in the caller's
    transaction (the subscription row is locked), for `update_schedules` to send after the commit.

    This is the common case: iamport just ran the subscription's one schedule, so nothing is
    left to withdraw first. Anything else, and a clash with an existing attempt at the period
    (reconcile scheduling it at this moment, say), is left to `ensure_schedule` after the commit.
    """
    period = wanted_period(subscription)
    if period is None or not ran_schedule:
        return
    row = new_renewal(subscription, period, attempt)
    try:
        # A savepoint: a clash undoes this row only, never the payment recorded with it.
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # Made meanwhile: ensure_schedule, run by update_schedules after the commit, keeps it.
        log.info("next renewal of subscription %s already being made", subscription.id)
    else:
        record_event(subscription, "renewal_scheduled", payment=row, due=row.scheduled_at)


@retried_on_conflict
def mark_key_ready(subscription_id: int, customer_uid: str, key: dict) -> bool:
    """Record that iamport knows the subscription's key `customer_uid` (described by `key`);
    False when another caller did first or the key was replaced meanwhile."""
    # Locked after iamport answered, so no row stays locked while the network is slow.
    subscription = db.session.get(Subscription, subscription_id, with_for_update=True,
                                  populate_existing=True)
    if subscription.customer_uid != customer_uid or subscription.billing_key_ready_at is not None:
        db.session.commit()
        return False
    # The card is kept as iamport described it, so the account page never waits on iamport.
    subscription.billing_key_ready_at = clock.now()
    subscription.card_name = str(key.get("card_name") or "")[:60] or None
    subscription.card_number = str(key.get("card_number") or "")[:30] or None
    db.session.commit()
    return True


def confirm_billing_key(subscription: Subscription | None) -> bool | None:
    """Mark the billing key ready once iamport knows it (PAYMENTWALL confirms it later); None
    when iamport did not answer."""
    if subscription is None or not subscription.customer_uid:
        return False
    if subscription.billing_key_ready_at is not None:
        return True
    customer_uid = subscription.customer_uid
    try:
        key = client().get_billing_key(customer_uid)
    except IamportError as exc:
        if exc.not_found:
            return False
        log.warning("billing key %s not checked: %s", customer_uid, exc)
        return None
    refusal = refusal_of(key)
    if refusal:
        # Never charged: a key on a test channel or another PG is no card of a live shop.
        log.error("billing key %s refused: %s", customer_uid, refusal)
        return False
    if mark_key_ready(subscription.id, customer_uid, key):
        log.info("billing key %s is ready", customer_uid)
        # Only the caller that marked the key ready schedules, so the key is scheduled once.
        ensure_schedule(subscription.id)
    return True


def update_schedules(subscription_id: int) -> None:
    """Bring what iamport holds in line with a live subscription: its new billing key
    confirmed, one renewal scheduled and its schedule sent. Safe to repeat (reconcile does), so
    it may run after an answer: work it leaves undone stays in the database as an unconfirmed
    key or a renewal iamport has not taken."""
    subscription = db.session.get(Subscription, subscription_id, populate_existing=True)
    if subscription is None or subscription.status not in LIVE_STATUSES:
        return  # an ended subscription's schedules go with its key (see retire_key)
    if subscription.customer_uid and subscription.billing_key_ready_at is None:
        confirm_billing_key(subscription)  # which schedules once the key is ready
        return
    # The outbox: the renewal kept is sent if iamport has not taken it (one written with its
    # payment, or one whose sending failed before); ensure_schedule withdrew any other.
    kept = ensure_schedule(subscription_id)
    if kept is not None and kept.schedule_taken_at is None:
        send_schedule(kept)
