"""The subscription lifecycle the shopper drives: its periods' ends, cancel (at the period's end or now; what ending now refunds is billing.ending's), resume, and periods that end."""

from __future__ import annotations

import logging
from datetime import datetime

from flask_babel import gettext as _

from storefront import clock
from storefront.billing.common import (
    LIVE_STATUSES,
    ActionRefused,
    lock_unclaimed,
    retried_on_conflict,
)
from storefront.billing import mrr, notices, price_changes
from storefront.billing.events import record_event
from storefront.billing.schedules import owe_key_deletion
from storefront.extensions import db
from storefront.formatting import shop_zone
from storefront.models import EndedReason, Subscription, SubscriptionStatus
from storefront.periods import next_period_end

log = logging.getLogger(__name__)


def anchor_of(subscription: Subscription, end: datetime) -> datetime:
    """The date the subscription's periods are counted from (see Subscription.billing_anchor)."""
    return subscription.billing_anchor or subscription.current_period_start or end


def period_end_after(subscription: Subscription) -> datetime:
    """The paid-until date once one more period is charged (for the charge's confirmation)."""
    end = subscription.current_period_end or clock.now()
    return next_period_end(anchor_of(subscription, end), end, subscription.plan.interval, zone=shop_zone())


@retried_on_conflict
def cancel(subscription: Subscription, at_period_end: bool) -> None:
    """Stop renewals: at the period's end (access until then) or now (the key is written to be
    deleted), and commit. The caller carries out what that owes iamport (see obligations.carry_out)."""
    write_cancel(subscription, at_period_end)
    db.session.commit()


def write_cancel(subscription: Subscription, at_period_end: bool, withdrawal: bool = False) -> None:
    """The change `cancel` makes, in the caller's transaction (staff's cancel commits it with
    its refunds and audit entry); ActionRefused when the subscription cannot be cancelled so.
    `withdrawal` ends it now as withdrawn (청약철회, see billing.ending) rather than cancelled."""
    if subscription.status not in LIVE_STATUSES:
        raise ActionRefused(_("This subscription is not active."))
    if at_period_end:
        if subscription.status != SubscriptionStatus.ACTIVE:
            raise ActionRefused(_("A past-due subscription can only be cancelled now."))
        if subscription.current_period_end and subscription.current_period_end <= clock.now():
            # Its renewal is under way (held for review, say): there is no period end to wait for.
            raise ActionRefused(_("The period has ended and its renewal is under way; cancel now instead."))
        if subscription.cancel_at_period_end:
            return  # already ending: a second click changes nothing and mails nothing
        subscription.cancel_at_period_end = True
        record_event(subscription, "cancel_requested", period_end=subscription.current_period_end)
    else:
        # The customer's choice, whoever clicks (they, or staff at their request; an account's
        # deletion ends its subscriptions here too).
        now = clock.now()
        mrr.ended(subscription, now, voluntary=True)
        subscription.status = SubscriptionStatus.CANCELED
        subscription.canceled_at = now
        subscription.ended_reason = EndedReason.WITHDRAWN if withdrawal else EndedReason.CANCELLED
        subscription.cancel_at_period_end = False
        record_event(subscription, "ended", reason="withdrawal" if withdrawal else EndedReason.CANCELLED)
        if subscription.customer_uid:
            owe_key_deletion(subscription.id, subscription.customer_uid)
    notices.drop_renewal_notices(subscription)
    notices.cancelled(subscription, at_period_end)


@retried_on_conflict
def resume(subscription: Subscription) -> None:
    """Undo a cancel at period end while the period lasts (the caller carries out the schedule)."""
    if not subscription.cancel_at_period_end or subscription.status != SubscriptionStatus.ACTIVE:
        raise ActionRefused(_("Only a subscription that is ending can be resumed."))
    if subscription.current_period_end and subscription.current_period_end <= clock.now():
        raise ActionRefused(_("The period has ended; please subscribe again."))
    if price_changes.open_consent(subscription) is not None:
        # It ends for want of consent to a new price: renewing at the old one is not offered.
        raise ActionRefused(_("To keep your subscription, please agree to the new price; it "
                              "cannot renew at the old one."))
    subscription.cancel_at_period_end = False
    record_event(subscription, "resumed")
    notices.resumed(subscription)
    db.session.commit()


@retried_on_conflict
def end_period(subscription_id: int, now: datetime) -> bool:
    """Cancel one subscription whose cancel-at-period-end has come, writing its key to be deleted."""
    subscription = lock_unclaimed(Subscription, subscription_id)
    if (subscription is None or not subscription.cancel_at_period_end
            or subscription.status != SubscriptionStatus.ACTIVE
            or subscription.current_period_end > now):
        db.session.rollback()
        return False
    reason = price_changes.ending_reason(subscription)
    mrr.ended(subscription, subscription.current_period_end, voluntary=True)
    subscription.status = SubscriptionStatus.CANCELED
    subscription.canceled_at = subscription.current_period_end
    subscription.ended_reason = reason
    record_event(subscription, "ended", reason=reason)
    if subscription.customer_uid:
        owe_key_deletion(subscription_id, subscription.customer_uid)
    db.session.commit()
    return True


def end_finished_periods(now: datetime | None = None) -> int:
    """Cancel subscriptions whose cancel-at-period-end has come (their keys written to be
    deleted, which reconcile then does); returns how many."""
    now = now or clock.now()
    ids = db.session.execute(
        db.select(Subscription.id).where(
            Subscription.cancel_at_period_end.is_(True),
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscription.current_period_end <= now,
        )
    ).scalars().all()
    return sum(1 for subscription_id in ids if end_period(subscription_id, now))
