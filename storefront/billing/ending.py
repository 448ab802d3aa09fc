"""The one rule for ending a subscription now: what it refunds (withdrawal in full, else the unused whole days or nothing), and the refunds it writes."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_DOWN, Decimal

from flask import current_app
from flask_babel import gettext as _

from storefront import clock
from storefront.billing.common import ActionRefused, retried_on_conflict
from storefront.billing.lifecycle import write_cancel
from storefront.billing.plan_change import extra_span
from storefront.billing.staff_refunds import paid_payments_newest_first, refund_by_staff, refundable_balance
from storefront.extensions import db
from storefront.formatting import minor_unit, shop_zone
from storefront.mail import message_id
from storefront.models import OutboxMessage, Payment, PaymentKind, PaymentStatus, Refund, Subscription
from storefront.models.payments import full_refund_key
from storefront.periods import INTERVAL_MONTHS, add_interval

log = logging.getLogger(__name__)

# What an ending refunds by: REFUND_ON_CANCEL_NOW's values (config.py checks them at start-up),
# and the withdrawal, which comes before them.
UNUSED_DAYS = "unused_days"
NO_REFUND = "none"
WITHDRAWAL = "withdrawal"
# The key of an ending's refund of one payment: one per subscription and payment, so ending a
# subscription twice (a resubmitted form) never owes its refund twice.
ENDING_KEY = "ending:"
# The reasons written on the refunds (kept in English: the record's, not the shopper's, words).
WITHDRAWAL_REASON = "Withdrawal (청약철회) within the withdrawal period: refunded in full."
UNUSED_DAYS_REASON = "Cancelled now: the unused whole days refunded."


@dataclass(frozen=True)
class EndingRefund:
    """What ending the subscription now refunds: per payment, newest first. `basis` is
    "withdrawal" (all in full), "unused_days" or "none" (REFUND_ON_CANCEL_NOW after the window)."""

    basis: str
    currency: str
    parts: list[tuple[Payment, Decimal]] = field(default_factory=list)
    days: int = 0  # the unused whole days (after the window)
    withdrawal_until: datetime | None = None  # the window's end, while it lasts

    @property
    def total(self) -> Decimal:
        return sum((share for _, share in self.parts), Decimal(0))

    @property
    def withdrawal(self) -> bool:
        return self.basis == WITHDRAWAL


def _local_day(moment: datetime) -> date:
    return as_utc(moment).astimezone(shop_zone()).date()


def as_utc(moment: datetime) -> datetime:
    """A stored moment as an aware UTC datetime (SQLite hands back naive UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def contract_mail_sent(subscription: Subscription) -> datetime | None:
    """When the contract confirmation mail (전자상거래법 §13②, notices.contract_confirmed) was
    sent, or None while it is not (queued, failing, dropped)."""
    return db.session.execute(
        db.select(OutboxMessage.sent_at).where(
            OutboxMessage.message_id == message_id("contract", f"subscription-{subscription.id}"))
    ).scalar_one_or_none()


def contract_mail_to_send(subscription: Subscription) -> bool:
    """Whether the contract mail is queued and still to be sent (the mail server failing, say)."""
    return db.session.execute(
        db.select(OutboxMessage.id).where(
            OutboxMessage.message_id == message_id("contract", f"subscription-{subscription.id}"),
            OutboxMessage.sent_at.is_(None), OutboxMessage.dropped_at.is_(None))
    ).first() is not None


def periods_paid(subscription: Subscription) -> list[Payment]:
    """The payments that paid the subscription's periods, newest first: those paid, and those
    refunded since (by staff, or at iamport) which still paid theirs; not those the shop gave
    back by itself in full (a renewal whose period was paid already, say), which paid none."""
    given_back = db.select(Refund.id).where(
        Refund.imp_uid == Payment.imp_uid,
        Refund.request_key == sa.literal(full_refund_key(""), sa.String) + Payment.imp_uid).exists()
    return list(db.session.execute(
        db.select(Payment).where(
            Payment.subscription_id == subscription.id, Payment.imp_uid.is_not(None),
            Payment.paid_at.is_not(None), ~given_back,
            Payment.status.in_((PaymentStatus.PAID, PaymentStatus.CANCELLED)))
        .order_by(Payment.paid_at.desc(), Payment.id.desc())
    ).scalars())


def first_paid_at(subscription: Subscription) -> datetime | None:
    """When the subscription's first payment was paid (refunded since or not)."""
    return db.session.execute(
        db.select(Payment.paid_at).where(Payment.subscription_id == subscription.id,
                                         Payment.kind == PaymentKind.FIRST, Payment.paid_at.is_not(None))
        .order_by(Payment.paid_at).limit(1)
    ).scalar_one_or_none()


def withdrawal_ends(subscription: Subscription, now: datetime | None = None) -> datetime | None:
    """The end of the withdrawal window (청약철회, 전자상거래법 §17), or None when there is none
    (WITHDRAWAL_DAYS=0, or nothing paid yet).

    It runs WITHDRAWAL_DAYS from the later of the first payment and the contract mail's sending
    (the mail's sending time is the system clock's, which in sandbox demos runs behind the
    shop's, so the payment then wins). While the mail is still to be sent the window has not
    started, so it runs from `now`; a mail never queued or dropped leaves the payment's time.
    Counted as the Civil Act counts days (§157, §159): the starting day is not counted and the
    window ends at the end of its last day in SHOP_TIMEZONE, so a shopper is never cut short by
    the hour of day they paid at."""
    days = current_app.config["WITHDRAWAL_DAYS"]
    paid = first_paid_at(subscription)
    if days <= 0 or paid is None:
        return None
    sent = contract_mail_sent(subscription)
    if sent is None and contract_mail_to_send(subscription):
        sent = now or clock.now()
    start = max(as_utc(paid), as_utc(sent)) if sent else as_utc(paid)
    last_day = _local_day(start) + timedelta(days=days + 1)
    return datetime.combine(last_day, time(0), tzinfo=shop_zone()).astimezone(timezone.utc)


def withdrawal_open(subscription: Subscription, now: datetime | None = None) -> bool:
    """Whether the shopper may still withdraw (the account page's "Withdraw")."""
    now = now or clock.now()
    until = withdrawal_ends(subscription, now)
    return until is not None and (now or clock.now()) < until


def _period_before(subscription: Subscription, end: datetime) -> datetime:
    """The start of the period that ends at `end`: on the billing anchor's calendar (as
    periods.next_period_end counts them), else one interval before it."""
    zone, interval = shop_zone(), subscription.plan.interval
    anchor = subscription.billing_anchor or subscription.current_period_start
    if anchor is not None:
        anchor, local_end = as_utc(anchor).astimezone(zone), as_utc(end).astimezone(zone)
        step = INTERVAL_MONTHS[interval]
        elapsed = ((local_end.year - anchor.year) * 12 + local_end.month - anchor.month) // step
        for k in (elapsed, elapsed - 1):
            if k >= 1 and add_interval(anchor, interval, k, zone=zone) == as_utc(end):
                return add_interval(anchor, interval, k - 1, zone=zone)
    return add_interval(end, interval, -1, zone=zone)


def unused_value(payment: Payment, start: datetime, end: datetime, tomorrow: date) -> tuple[int, Decimal]:
    """The unused whole days of the period [start, end) a payment paid for, and their value.

    Days are calendar days in SHOP_TIMEZONE: today counts as used (the shopper had the service
    today), so the unused ones run from tomorrow to the paid-until date, which is itself only
    partly paid and not counted (a period from 7 Dec 10:00 to 7 Jan 10:00 has 31 days, 7 Dec to
    6 Jan). A calendar count, not hours, because a shopper reads days, and it never rounds up
    the refund by a part of today. Valued at the amount actually paid: paid ÷ the period's
    days × unused days, rounded down to the currency's minor unit."""
    first, last = _local_day(start), _local_day(end)
    days = max((last - first).days, 1)
    unused = min(max((last - max(tomorrow, first)).days, 0), days)
    value = (payment.amount * unused / days).quantize(minor_unit(payment.currency), rounding=ROUND_DOWN)
    return unused, value


def refund_on_ending_now(subscription: Subscription, now: datetime | None = None) -> EndingRefund:
    """What ending the subscription now refunds, per payment, newest first (iamport refunds per
    payment, and the newest paid for the time given up first); never more than a payment's
    refundable balance. Within the withdrawal window every payment paid in it is refunded in
    full; after it, per REFUND_ON_CANCEL_NOW, the unused whole days or nothing."""
    now = now or clock.now()
    currency = subscription.plan.currency
    paid = paid_payments_newest_first(subscription.id)
    until = withdrawal_ends(subscription, now)
    if until is not None and now < until:
        parts = [(p, refundable_balance(p)) for p in paid if p.paid_at and as_utc(p.paid_at) < until]
        return EndingRefund(WITHDRAWAL, currency, [(p, s) for p, s in parts if s > 0], withdrawal_until=until)
    if current_app.config["REFUND_ON_CANCEL_NOW"] == NO_REFUND:
        return EndingRefund(NO_REFUND, currency)
    end = subscription.current_period_end
    if end is None or as_utc(end) <= now:
        return EndingRefund(UNUSED_DAYS, currency)
    tomorrow = _local_day(now) + timedelta(days=1)
    parts, days, end = [], 0, as_utc(end)
    # Each payment that paid a period paid one: the newest the last one, back from the paid-until
    # date (one refunded in full since keeps its place, with nothing left to refund of it).
    for payment in periods_paid(subscription):
        extra = extra_span(payment)
        if extra is not None:
            # An upgrade's charge paid its own days on top of the period's payment: valued over
            # them, and the period stays for the payment before it.
            unused, value = unused_value(payment, extra[0], extra[1], tomorrow)
            if (share := min(value, refundable_balance(payment))) > 0:
                parts.append((payment, share))
            continue
        start = _period_before(subscription, end)
        if _local_day(end) <= tomorrow:
            break
        unused, value = unused_value(payment, start, end, tomorrow)
        balance = refundable_balance(payment)
        days += unused if balance > 0 else 0  # the days of a payment refunded already are not said
        share = min(value, balance)
        if share > 0:
            parts.append((payment, share))
        end = start
    return EndingRefund(UNUSED_DAYS, currency, parts, days=days)


def owe_ending_refunds(subscription: Subscription, refund: EndingRefund) -> list[Refund]:
    """Write the ending's refunds as owed, in the caller's transaction (with the cancel); after
    the commit obligations.carry_out asks iamport for them, and each is mailed when done."""
    reason = WITHDRAWAL_REASON if refund.withdrawal else UNUSED_DAYS_REASON
    return [refund_by_staff(payment, share, reason, request_key=f"{subscription.id}:{payment.id}",
                            prefix=ENDING_KEY) for payment, share in refund.parts]


def write_end_now(subscription: Subscription, withdrawal: bool = False) -> EndingRefund:
    """End the subscription now with what the rule refunds, in the caller's transaction: the
    cancel (or the withdrawal, refused once its window has closed) and its refunds owed."""
    if withdrawal and not withdrawal_open(subscription):
        raise ActionRefused(_("The withdrawal period has ended; you can still cancel."))
    refund = refund_on_ending_now(subscription)
    write_cancel(subscription, at_period_end=False, withdrawal=withdrawal)
    owe_ending_refunds(subscription, refund)
    log.info("subscription %s ended now (%s): %s %s refunded", subscription.id, refund.basis,
             refund.total, refund.currency)
    return refund


@retried_on_conflict
def end_now(subscription: Subscription, withdrawal: bool = False) -> EndingRefund:
    """`write_end_now`, committed; the caller then carries out what it owes iamport (the
    refunds, the schedule withdrawn, the key deleted: see obligations.carry_out)."""
    try:
        refund = write_end_now(subscription, withdrawal)
    except ActionRefused:
        db.session.rollback()  # nothing of a refused ending is kept: not the cancel, not a refund
        raise
    db.session.commit()
    return refund
