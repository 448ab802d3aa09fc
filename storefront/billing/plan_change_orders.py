"""A shopper's plan change from offer to outcome: the offer a confirmation page fixes, its confirmation (an upgrade charged with POST /subscribe/payments/again), and a waiting downgrade called off."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy.exc import IntegrityError
from flask_babel import gettext as _

from storefront import clock
from storefront.billing.common import (
    ActionRefused, charge_card_on_file, move_payment, new_charge, new_merchant_uid,
    retried_on_conflict,
)
from storefront.billing.events import record_event
from storefront.billing.plan_change import (
    apply_change, change_refusal, price_paid, queue_mail, quote, waiting_change,
)
from storefront.billing.recording import record_payment
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import (
    ChangeStatus, ChangeWhen, Payment, PaymentKind, PaymentStatus, Plan, PlanChange, Subscription,
)

log = logging.getLogger(__name__)

# How long a confirmation page's amount holds: past it the page must be shown again.
OFFER_VALID_FOR = timedelta(minutes=10)


def plan_refusal(subscription: Subscription, plan: Plan) -> str | None:
    """Why the subscription cannot change to this plan now, or None."""
    refusal = change_refusal(subscription)
    if refusal:
        return refusal
    if plan.id == subscription.plan_id:
        return _("You already subscribe to %(plan)s.", plan=plan.shown_name)
    if not plan.active:
        return _("We could not find that plan.")
    if plan.currency != subscription.plan.currency:
        return _("%(plan)s is priced in another currency, so you cannot change to it. Cancel your "
                 "subscription, then subscribe to %(plan)s once it has ended.", plan=plan.shown_name)
    return None


def offer(subscription: Subscription, plan: Plan) -> PlanChange:
    """Fix what changing to `plan` charges now, bound to a new one-time token (committed)."""
    refusal = plan_refusal(subscription, plan)
    if refusal:
        raise ActionRefused(refusal)
    now = clock.now()
    shown = quote(subscription, plan, now)
    change = PlanChange(
        subscription_id=subscription.id, token=secrets.token_urlsafe(24),
        from_plan_id=subscription.plan_id, to_plan_id=plan.id,
        old_price=price_paid(subscription),
        new_price=shown.new_price, amount=shown.amount, currency=plan.currency,
        takes_effect=shown.takes_effect, status=ChangeStatus.OFFERED,
        period_end=subscription.current_period_end, deadline=now + OFFER_VALID_FOR,
    )
    db.session.add(change)
    db.session.commit()
    return change


def offered(subscription: Subscription, token: str) -> PlanChange | None:
    """The subscription's offer with this token, still open and within its time; None otherwise."""
    if not token or len(token) > 64:
        return None
    change = db.session.execute(
        db.select(PlanChange).where(PlanChange.token == token,
                                    PlanChange.subscription_id == subscription.id)
    ).scalar_one_or_none()
    if change is None or change.status != ChangeStatus.OFFERED or change.deadline <= clock.now():
        return None
    if change.period_end != subscription.current_period_end or change.from_plan_id != subscription.plan_id:
        return None  # the subscription moved on since the page was shown: its amount is stale
    return change


def claim(change: PlanChange, status: ChangeStatus, **values) -> bool:
    """Move an offer on once (compare-and-set on its status): a second submission of its page
    finds it taken."""
    return db.session.execute(
        db.update(PlanChange).where(PlanChange.id == change.id,
                                    PlanChange.status == ChangeStatus.OFFERED)
        .values(status=status, **values).execution_options(synchronize_session=False)
    ).rowcount == 1


@retried_on_conflict
def confirm(subscription: Subscription, change: PlanChange, consent_version: str) -> Payment | None:
    """Carry out a confirmed offer: a downgrade waits for the period's end, an upgrade that
    charges nothing applies now, any other upgrade is charged exactly its amount (and applies
    once paid). Returns the charge, if one was made. The caller carries out the schedule."""
    refusal = change_refusal(subscription)
    if refusal:
        raise ActionRefused(refusal)
    now = clock.now()
    consent = {"consent_at": now, "consent_version": consent_version}
    if change.takes_effect == ChangeWhen.PERIOD_END:
        if not claim(change, ChangeStatus.WAITING, **consent):
            raise ActionRefused(_("This plan change was already confirmed."))
        db.session.refresh(change)
        # A second change replaces the first.
        db.session.execute(
            db.update(PlanChange).where(PlanChange.subscription_id == subscription.id,
                                        PlanChange.status == ChangeStatus.WAITING,
                                        PlanChange.id != change.id)
            .values(status=ChangeStatus.CANCELLED, settled_at=now)
            .execution_options(synchronize_session=False))
        subscription.next_plan_id = change.to_plan_id
        subscription.next_price = change.new_price
        record_event(subscription, "consent_given", version=consent_version)
        record_event(subscription, "plan_change_scheduled", to_plan=change.to_plan.slug,
                     price=str(change.new_price), at=change.period_end)
        queue_mail(change, subscription)
        db.session.commit()
        return None
    if not change.amount:
        try:
            claimed = claim(change, ChangeStatus.CHARGING, **consent)
        except IntegrityError:  # another page's change is being charged (see charge)
            db.session.rollback()
            raise ActionRefused(_("A plan change is being charged; please wait until it is decided.")) from None
        if not claimed:
            raise ActionRefused(_("This plan change was already confirmed."))
        db.session.refresh(change)
        record_event(subscription, "consent_given", version=consent_version)
        apply_change(change, subscription, now)
        db.session.commit()
        return None
    return charge(subscription, change, consent)


def charge(subscription: Subscription, change: PlanChange, consent: dict) -> Payment:
    """Charge an upgrade's amount on the card on file, once (the offer's token is the payment's
    idempotency key). The payment is written first, so an answer that never comes leaves a
    record that reconcile settles by lookup."""
    payment = new_charge(subscription, PaymentKind.PLAN_CHANGE, new_merchant_uid("chg"),
                         idempotency_key=change.token)
    payment.amount = change.amount
    # Paid later than this (a long review, a lost answer) it is refunded and changes nothing.
    deadline = clock.now() + current_app.config["REVIEW_DEADLINE"]
    try:
        db.session.add(payment)
        db.session.flush()
        claimed = claim(change, ChangeStatus.CHARGING, payment_id=payment.id, deadline=deadline,
                        **consent)
    except IntegrityError:
        # This page (its token is the charge's key) or another page of this subscription was
        # confirmed a moment earlier and is being charged.
        db.session.rollback()
        raise ActionRefused(_("A plan change is being charged; please wait until it is decided.")) from None
    if not claimed:
        db.session.rollback()
        raise ActionRefused(_("This plan change was already confirmed."))
    record_event(subscription, "consent_given", version=consent["consent_version"])
    record_event(subscription, "payment_attempt", payment=payment, to_plan=change.to_plan.slug)
    db.session.commit()
    try:
        info = charge_card_on_file(payment, subscription)
    except IamportError as exc:
        if exc.unknown_outcome:
            log.warning("plan change %s outcome unknown, left pending: %s", payment.merchant_uid, exc)
            return payment
        reason = ("The payment provider refused the charge." if exc.status
                  else "We could not reach the payment provider; nothing was charged.")
        move_payment(payment.merchant_uid, PaymentStatus.PENDING, PaymentStatus.FAILED,
                     fail_reason=reason)
        db.session.execute(db.update(PlanChange).where(PlanChange.id == change.id)
                           .values(status=ChangeStatus.FAILED, settled_at=clock.now()))
        db.session.commit()
        db.session.refresh(payment)
        return payment
    return record_payment(info).payment


@retried_on_conflict
def call_off(subscription: Subscription) -> PlanChange:
    """Call off the downgrade waiting for the period's end (the caller carries out the schedule)."""
    change = waiting_change(subscription.id)
    if change is None:
        raise ActionRefused(_("No plan change is waiting."))
    change.status = ChangeStatus.CANCELLED
    change.settled_at = clock.now()
    subscription.next_plan_id = None
    subscription.next_price = None
    record_event(subscription, "plan_change_cancelled", to_plan=change.to_plan.slug)
    db.session.commit()
    return change


def purge_lapsed_offers(now: datetime) -> int:
    """Delete the offers never confirmed, a day after their ten minutes ran out (every opening
    of a confirmation page writes one, so they would pile up); returns how many."""
    deleted = db.session.execute(
        db.delete(PlanChange).where(PlanChange.status == ChangeStatus.OFFERED,
                                    PlanChange.deadline < now - timedelta(days=1))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if deleted:
        log.info("plan changes: %s offers never confirmed deleted", deleted)
    return deleted
