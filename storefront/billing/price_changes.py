"""A plan's new price reaching its subscribers: an increase only with each one's consent, asked within the 30 days before the renewal it applies at (전자상거래법 §13⑥, 시행령 §20조의2); a decrease at the next renewal with a notice.

Without consent a subscriber is never charged the higher price, nor renewed at the old one for
that renewal: asking sets the subscription to end when its paid period ends (EndedReason
PRICE_NOT_AGREED), and `renewal_blocked` keeps iamport from holding any schedule for that
renewal until they agree. Agreeing sets their price, undoes the end, and schedules at the new
price (renewals.ensure_schedule). See docs/price-changes.md.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from storefront import clock
from storefront.billing import mrr
from storefront.billing.common import ActionRefused, retried_on_conflict
from storefront.billing.events import record_event
from storefront.billing.notices import drop_renewal_notices, price_notice
from storefront.billing.renewals import ensure_schedule
from storefront.extensions import db
from storefront.i18n import page_language
from storefront.mail import language_of
from storefront.models import (
    ChangeStatus, EndedReason, MrrKind, PlanChange, PlanPriceChange, PriceConsent, Subscription,
    SubscriptionStatus,
)

log = logging.getLogger(__name__)

# How far ahead of a renewal its subscriber is asked (told, for a decrease), and reminded.
ASK_DAYS = 30
REMIND_DAYS = 7
# The version of the consent's text (mail and account notice): change it whenever that text does.
TEXT_VERSION = "2026-12-07"


def text_id(language: str) -> str:
    """Which consent text, in which language ("price-2026-12-07/ko")."""
    return f"price-{TEXT_VERSION}/{language}"


def pending_change(plan_id: int) -> PlanPriceChange | None:
    """The plan's change not yet in effect for new shoppers (at most one), if any."""
    return db.session.execute(db.select(PlanPriceChange).where(
        PlanPriceChange.plan_id == plan_id, PlanPriceChange.withdrawn_at.is_(None),
        PlanPriceChange.applied_at.is_(None))).scalar_one_or_none()


def pending_by_plan() -> dict[int, PlanPriceChange]:
    """Every plan's pending change, by plan id (one query, for the plans page)."""
    return {change.plan_id: change for change in db.session.execute(db.select(PlanPriceChange).where(
        PlanPriceChange.withdrawn_at.is_(None), PlanPriceChange.applied_at.is_(None))).scalars()}


def _newest_changes():
    """The newest change of each plan that was not withdrawn: the one subscribers move to."""
    newest = (db.select(sa.func.max(PlanPriceChange.id))
              .where(PlanPriceChange.withdrawn_at.is_(None)).group_by(PlanPriceChange.plan_id))
    return db.select(PlanPriceChange).where(PlanPriceChange.id.in_(newest))


def renewal_blocked(subscription: Subscription) -> bool:
    """Whether the subscription's next renewal falls on or after an increase it has not agreed
    to: iamport must hold no schedule for it (neither the old amount nor the new). A downgrade
    waiting for that renewal renews on the other plan, at the price agreed to when it was asked
    for: the increase of the plan being left does not apply to it."""
    if (subscription.price is None or subscription.current_period_end is None
            or subscription.next_plan_id is not None):
        return False
    newest = (db.select(sa.func.max(PlanPriceChange.id))
              .where(PlanPriceChange.withdrawn_at.is_(None),
                     PlanPriceChange.plan_id == subscription.plan_id).scalar_subquery())
    return db.session.execute(db.select(PlanPriceChange.id).where(
        PlanPriceChange.id == newest, PlanPriceChange.new_price > subscription.price,
        PlanPriceChange.effective_at <= subscription.current_period_end)).first() is not None


def open_consent(subscription: Subscription) -> PriceConsent | None:
    """The consent asked for the subscription's next renewal and not given yet, if any."""
    if subscription.status != SubscriptionStatus.ACTIVE or subscription.current_period_end is None:
        return None
    return db.session.execute(db.select(PriceConsent).join(PriceConsent.change).where(
        PriceConsent.subscription_id == subscription.id, PriceConsent.agreed_at.is_(None),
        PlanPriceChange.withdrawn_at.is_(None),
        PriceConsent.renewal_at == subscription.current_period_end,
        PriceConsent.new_price > PriceConsent.old_price)
        .order_by(PriceConsent.id.desc()).limit(1)).scalar_one_or_none()


def ending_reason(subscription: Subscription) -> EndedReason:
    """Why a subscription set to end at its period's end ends: no consent to an increase (when
    asking set the end), else the subscriber's cancel."""
    row = open_consent(subscription)
    return EndedReason.PRICE_NOT_AGREED if row is not None and row.set_to_end else EndedReason.CANCELLED


def apply_due_changes(now: datetime) -> int:
    """Write each change whose date came on its plan: new shoppers pay it from now on."""
    due = list(db.session.execute(db.select(PlanPriceChange).where(
        PlanPriceChange.withdrawn_at.is_(None), PlanPriceChange.applied_at.is_(None),
        PlanPriceChange.effective_at <= now)).scalars())
    for change in due:
        change.plan.price = change.new_price
        change.applied_at = now
        log.info("plan %s now costs %s", change.plan_id, change.new_price)
    db.session.commit()
    return len(due)


def _set_price(subscription: Subscription, price) -> None:
    """The subscriber's own price changes (their next renewal charges it): snapshot and ledger."""
    before = subscription.mrr_amount
    after = mrr.monthly_amount(price, subscription.plan.currency, subscription.plan.interval)
    subscription.price = price
    subscription.mrr_amount = after
    mrr.record_mrr(subscription, before, after, MrrKind.CHANGE)


def _mail(kind: str, row: PriceConsent, subscription: Subscription, cause: str) -> None:
    price_notice(kind, f"price-{cause}-{row.change_id}-{subscription.id}", subscription,
           expires_at=row.renewal_at, renews_at=row.renewal_at, old_price=row.old_price,
           new_price=row.new_price, currency=subscription.plan.currency,
           reminder=cause == "remind", change_id=row.change_id)


def _agreed_before(subscription: Subscription, change: PlanPriceChange) -> tuple | None:
    """When and to which text the shopper agreed to this coming increase beforehand: at checkout,
    or at the confirmation of their change to this plan, whose consents named it; else None."""
    if f"+pc{change.id}/" in (subscription.consent_version or ""):
        return subscription.consent_at, subscription.consent_version
    return db.session.execute(db.select(PlanChange.consent_at, PlanChange.consent_version).where(
        PlanChange.subscription_id == subscription.id, PlanChange.to_plan_id == change.plan_id,
        PlanChange.status == ChangeStatus.APPLIED,
        PlanChange.consent_version.like(f"%+pc{change.id}/%"))
        .order_by(PlanChange.id.desc()).limit(1)).first()


@retried_on_conflict
def _tell(subscription_id: int, change_id: int, now: datetime) -> bool:
    """Ask one subscriber's consent to an increase (setting the end meanwhile), or lower their
    price; False when already done."""
    subscription = db.session.get(Subscription, subscription_id, populate_existing=True)
    change = db.session.get(PlanPriceChange, change_id)
    language = language_of(subscription.user)
    row = PriceConsent(subscription_id=subscription.id, change_id=change.id, asked_at=now,
                       renewal_at=subscription.current_period_end, old_price=subscription.price,
                       new_price=change.new_price, asked_text=text_id(language))
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except sa.exc.IntegrityError:
        db.session.rollback()
        return False
    if not change.increase or subscription.price > change.new_price:
        _set_price(subscription, change.new_price)
        record_event(subscription, "price_lowered", old=row.old_price, new=row.new_price,
                     renewal_at=row.renewal_at)
        drop_renewal_notices(subscription)
        _mail("price_lowered", row, subscription, "lower")
    elif (before := _agreed_before(subscription, change)) is not None:
        row.agreed_at, row.agreed_text = before
        _set_price(subscription, change.new_price)
        record_event(subscription, "price_agreed", old=row.old_price, new=row.new_price,
                     version=row.agreed_text, beforehand=True)
    else:
        row.set_to_end = not subscription.cancel_at_period_end
        subscription.cancel_at_period_end = True
        record_event(subscription, "price_consent_asked", old=row.old_price, new=row.new_price,
                     renewal_at=row.renewal_at, version=row.asked_text)
        drop_renewal_notices(subscription)
        _mail("price_consent", row, subscription, "ask")
    db.session.commit()
    ensure_schedule(subscription.id)
    return True


def tell_subscribers(now: datetime) -> int:
    """The job's step: every live subscriber whose first renewal on or after a change's date is
    ASK_DAYS away or less, and who was not told of it yet, is asked (an increase) or told (a
    decrease), each in its own transaction; how many. A subscriber whose downgrade waits for
    that renewal is left out: it renews on the other plan (asked once it is called off); so is
    one whose upgrade is being charged (asked, if still on the plan, once that is decided)."""
    changes = _newest_changes().subquery()
    asked = sa.exists().where(PriceConsent.subscription_id == Subscription.id,
                              PriceConsent.change_id == changes.c.id)
    # An upgrade being charged (or reviewed) may move it off the plan: asked once it is decided.
    charging = sa.exists().where(PlanChange.subscription_id == Subscription.id,
                                 PlanChange.status == ChangeStatus.CHARGING)
    due = db.session.execute(
        db.select(Subscription.id, changes.c.id)
        .join(changes, changes.c.plan_id == Subscription.plan_id)
        .where(Subscription.status == SubscriptionStatus.ACTIVE,
               Subscription.price.is_not(None), Subscription.price != changes.c.new_price,
               Subscription.next_plan_id.is_(None), ~charging,
               Subscription.current_period_end >= changes.c.effective_at,
               Subscription.current_period_end > now,
               Subscription.current_period_end <= now + timedelta(days=ASK_DAYS), ~asked)
        .order_by(Subscription.id)).all()
    return sum(1 for subscription_id, change_id in due if _tell(subscription_id, change_id, now))


def remind(now: datetime) -> int:
    """The job's step: remind, once, each subscriber who has not agreed REMIND_DAYS before."""
    rows = list(db.session.execute(
        db.select(PriceConsent).join(Subscription, Subscription.id == PriceConsent.subscription_id)
        .join(PriceConsent.change)
        .where(PriceConsent.agreed_at.is_(None), PriceConsent.reminded_at.is_(None),
               PlanPriceChange.withdrawn_at.is_(None),
               PriceConsent.new_price > PriceConsent.old_price,
               PriceConsent.renewal_at == Subscription.current_period_end,
               Subscription.status == SubscriptionStatus.ACTIVE,
               PriceConsent.renewal_at > now,
               PriceConsent.renewal_at <= now + timedelta(days=REMIND_DAYS))
        .order_by(PriceConsent.id)).scalars())
    for row in rows:
        row.reminded_at = now
        record_event(row.subscription_id, "price_consent_reminded", new=row.new_price)
        _mail("price_consent", row, row.subscription, "remind")
        db.session.commit()
    return len(rows)


def periodic(now: datetime) -> None:
    """The price changes' part of the periodic job."""
    apply_due_changes(now)
    tell_subscribers(now)
    remind(now)


@retried_on_conflict
def agree(subscription: Subscription, change_id: int, version: str) -> None:
    """The subscriber agreed, on the account page, to the increase asked for their next
    renewal: their price is the new one from it, the end set meanwhile is undone; the caller's
    commit is made here, then iamport is given the renewal at the new price."""
    row = open_consent(subscription)
    if row is None or row.change_id != change_id:
        raise ActionRefused(_("There is no price change waiting for your consent."))
    if version != TEXT_VERSION:
        raise ActionRefused(_("The text of this notice has changed. Please read it again."))
    if row.renewal_at <= clock.now():
        raise ActionRefused(_("The period has ended; please subscribe again."))
    row.agreed_at, row.agreed_text = clock.now(), text_id(page_language())
    _set_price(subscription, row.new_price)
    if row.set_to_end:
        subscription.cancel_at_period_end = False
    record_event(subscription, "price_agreed", old=row.old_price, new=row.new_price,
                 version=row.agreed_text)
    db.session.commit()
    ensure_schedule(subscription.id)


def withdraw_change(change: PlanPriceChange) -> list[int]:
    """Withdraw a change not in effect yet, in the caller's transaction: those asked and not
    agreed keep their subscription, those who agreed go back to the old price (a decrease
    already given is kept). The caller commits, then calls ensure_schedule on each id returned."""
    change.withdrawn_at = clock.now()
    touched = []
    for row in db.session.execute(db.select(PriceConsent).where(
            PriceConsent.change_id == change.id)).scalars():
        subscription = row.subscription
        if subscription.status != SubscriptionStatus.ACTIVE or row.new_price < row.old_price:
            continue
        if row.agreed_at is not None and subscription.price == row.new_price:
            _set_price(subscription, row.old_price)
        elif row.agreed_at is None and row.set_to_end:
            subscription.cancel_at_period_end = False
        record_event(subscription, "resumed", price_change_withdrawn=change.id)
        touched.append(subscription.id)
    return touched
