"""Closing an account's billing: what money is still open, and ending every subscription now."""

from __future__ import annotations

import logging

from storefront import clock
from storefront.billing.common import LIVE_STATUSES
from storefront.billing.events import record_event
from storefront.billing.ending import end_now
from storefront.extensions import db
from storefront.models import (
    Payment, PaymentKind, PaymentStatus, Refund, RefundStatus, Subscription, SubscriptionStatus,
    User,
)

log = logging.getLogger(__name__)


def money_open(user: User) -> bool:
    """Whether money of the user's is still moving: a payment under review, a charge whose
    outcome is not known yet, a renewal still being withdrawn, or a refund owed. An account is
    not deleted until these finish, so that their outcome reaches a shopper we can still name."""
    moving = (
        Payment.status.in_((PaymentStatus.REVIEW, PaymentStatus.WITHDRAWING))
        | ((Payment.status == PaymentStatus.PENDING) & (Payment.kind.in_(
            (PaymentKind.REPEAT, PaymentKind.RENEWAL, PaymentKind.PLAN_CHANGE))))
    )
    if db.session.execute(db.select(Payment.id).where(Payment.user_id == user.id, moving)
                          .limit(1)).first():
        return True
    orders = db.select(Payment.merchant_uid).where(Payment.user_id == user.id)
    return db.session.execute(
        db.select(Refund.id).where(Refund.status == RefundStatus.OWED,
                                   Refund.merchant_uid.in_(orders)).limit(1)
    ).first() is not None


def end_all_now(user: User) -> list[int]:
    """End every subscription of the user now, with no further charge, each key written to be
    deleted at iamport, with what ending now refunds (billing.ending's rule, as the shopper's
    and staff's "cancel now"); one being bought is given up, so that a window still open cannot
    start it (a late payment is refunded). Returns the subscriptions whose obligations (the
    refunds among them) the caller carries out."""
    ended = []
    subscriptions = db.session.execute(
        db.select(Subscription.id, Subscription.status).where(Subscription.user_id == user.id)
    ).all()
    for subscription_id, status in subscriptions:
        subscription = db.session.get(Subscription, subscription_id)
        if status in LIVE_STATUSES:
            end_now(subscription)
            ended.append(subscription_id)
        elif status == SubscriptionStatus.INCOMPLETE:
            subscription.status = SubscriptionStatus.CANCELED
            subscription.canceled_at = clock.now()
            record_event(subscription, "ended", reason="given_up")
            db.session.commit()
            ended.append(subscription_id)
    log.info("user %s: %d subscriptions ended for the account's deletion", user.id, len(ended))
    return ended
