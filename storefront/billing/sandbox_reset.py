"""Sandbox mode: after a reset of the sandbox, end the shop's subscriptions whose payments and keys it forgot."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from storefront import clock
from storefront.billing import mrr
from storefront.billing.common import LIVE_STATUSES, client, lock_unclaimed, retried_on_conflict
from storefront.billing.events import caused_by, record_event
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import (
    Payment, PaymentKind, PaymentStatus, ShopState, Subscription, SubscriptionStatus,
)

log = logging.getLogger(__name__)

GENERATION_KEY = "sandbox_generation"
# Renewals the shop holds open for iamport; after a reset iamport holds none of them.
OPEN_RENEWALS = (PaymentStatus.SCHEDULED, PaymentStatus.WITHDRAWING)


def seen_generation() -> str | None:
    """The sandbox generation the shop last acted on (None before the first)."""
    row = db.session.get(ShopState, GENERATION_KEY)
    return None if row is None else row.value


def _latest_paid(subscription_id: int) -> str | None:
    """iamport's id of the subscription's latest paid payment."""
    return db.session.execute(
        db.select(Payment.imp_uid).where(
            Payment.subscription_id == subscription_id,
            Payment.status == PaymentStatus.PAID,
            Payment.imp_uid.is_not(None),
        ).order_by(Payment.paid_at.desc(), Payment.id.desc()).limit(1)
    ).scalar_one_or_none()


def _forgotten(imp_uid: str | None) -> bool:
    """Whether iamport (the sandbox) no longer knows the payment (IamportError when it does not
    answer: the reset is looked at again by the next job)."""
    if imp_uid is None:
        return False
    try:
        client().get_payment(imp_uid)
    except IamportError as exc:
        if exc.not_found:
            return True
        raise
    return False


@retried_on_conflict
def end_forgotten(subscription_id: int) -> bool:
    """End one subscription the sandbox forgot: cancelled now, no charge, its open renewals
    revoked here (iamport holds none of them any more), its key not deleted (it is gone)."""
    subscription = lock_unclaimed(Subscription, subscription_id)
    if subscription is None or subscription.status not in LIVE_STATUSES:
        db.session.rollback()
        return False
    # Not the customer's choice: the sandbox forgot the payments (a demo's reset).
    mrr.ended(subscription, clock.now(), voluntary=False)
    subscription.status = SubscriptionStatus.CANCELED
    subscription.canceled_at = clock.now()
    subscription.cancel_at_period_end = False
    record_event(subscription, "ended", reason="sandbox_reset")
    db.session.execute(
        db.update(Payment)
        .where(Payment.subscription_id == subscription_id, Payment.kind == PaymentKind.RENEWAL,
               Payment.status.in_(OPEN_RENEWALS))
        .values(status=PaymentStatus.REVOKED, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    log.info("subscription %s ended: the sandbox was reset and forgot its payments and key",
             subscription_id)
    return True


def _record_generation(generation: int) -> None:
    """Remember the generation as seen, and commit. Another job may follow the same reset at
    the same time and write the row first: its key then exists, and this job updates it."""
    row = db.session.get(ShopState, GENERATION_KEY)
    if row is None:
        db.session.add(ShopState(key=GENERATION_KEY, value=str(generation)))
        try:
            db.session.commit()
            return
        except IntegrityError:
            db.session.rollback()
            row = db.session.get(ShopState, GENERATION_KEY)
    row.value = str(generation)
    db.session.commit()


def follow_reset(generation: int) -> int:
    """Once per new sandbox generation, end the live subscriptions whose latest payment the
    sandbox forgot (those started since the reset stay); returns how many ended. A sandbox that
    does not answer leaves the generation unseen, for the next job."""
    if seen_generation() == str(generation):
        return 0
    live = db.session.execute(
        db.select(Subscription.id).where(Subscription.status.in_(LIVE_STATUSES)).order_by(Subscription.id)
    ).scalars().all()
    ended = 0
    for subscription_id in live:
        try:
            forgotten = _forgotten(_latest_paid(subscription_id))
        except IamportError as exc:
            log.warning("sandbox generation %s: could not look at subscription %s yet (%s)",
                        generation, subscription_id, exc)
            return ended
        if forgotten:
            with caused_by("sandbox"):
                ended += end_forgotten(subscription_id)
    _record_generation(generation)
    if ended:
        log.warning("the sandbox was reset (generation %s): %s subscription(s) ended", generation, ended)
    return ended
