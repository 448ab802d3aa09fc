"""Reconcile: settle what webhooks and answers left open (see settling), carry out what is owed to iamport, name what is stuck; safe on several hosts at once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from storefront import clock
from storefront.billing import price_changes
from storefront.billing.audit import audit_schedules
from storefront.billing.common import LIVE_STATUSES
from storefront.billing.events import caused_by
from storefront.billing.lifecycle import end_finished_periods
from storefront.billing.notices import queue_renewal_notices
from storefront.billing.payment_audit import audit_payments
from storefront.billing.plan_change_orders import purge_lapsed_offers
from storefront.billing.settling import ReconcileReport, settle_pending
from storefront.billing.obligations import delete_key, give_back_refund, owed_refunds, renewals_to_withdraw
from storefront.billing.refunds import OWED_TOO_LONG
from storefront.billing.renewals import OPEN_RENEWAL, confirm_billing_key, update_schedules
from storefront.billing.schedules import keys_to_delete, scheduled_renewals, withdraw
from storefront.extensions import db
from storefront.mail import failing_messages, send_due
from storefront.webhook_log import purge_webhook_log
from storefront.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    Refund,
    RetiredKey,
    Subscription,
)

log = logging.getLogger(__name__)

# How long a live subscription may stay past its paid-until date with no renewal open (a
# webhook or the next run usually settles it first) before reconcile counts it a failure.
STALL_AFTER = timedelta(hours=1)
def subscriptions_out_of_step() -> list[int]:
    """The live subscriptions not in the one settled shape — a confirmed key, a renewal wanted,
    and exactly one renewal scheduled, at the end of the paid period, on that key, which iamport
    took — for decide_renewals to decide what each needs (often nothing: an attempt iamport ran
    awaits its outcome). Every settled one is left alone, so a run costs what is unsettled, not
    the size of the shop."""
    renewal = sa.orm.aliased(Payment)
    scheduled = sa.and_(renewal.subscription_id == Subscription.id, renewal.kind == PaymentKind.RENEWAL,
                        renewal.status == PaymentStatus.SCHEDULED)
    scheduled_count = db.select(sa.func.count()).select_from(renewal).where(scheduled).scalar_subquery()
    settled = sa.and_(
        Subscription.billing_key_ready_at.is_not(None),
        Subscription.cancel_at_period_end.is_(False),
        scheduled_count == 1,
        sa.exists().where(scheduled, renewal.schedule_taken_at.is_not(None),
                          renewal.period_start == Subscription.current_period_end,
                          renewal.customer_uid == Subscription.customer_uid),
    )
    return list(db.session.execute(
        db.select(Subscription.id).where(Subscription.status.in_(LIVE_STATUSES), ~settled)
        .order_by(Subscription.id)
    ).scalars())


def taken_schedule(subscription_id: int) -> bool:
    """Whether iamport took a schedule of the subscription's that is scheduled now."""
    return db.session.execute(
        db.select(Payment.id).where(
            Payment.subscription_id == subscription_id,
            Payment.status == PaymentStatus.SCHEDULED,
            Payment.schedule_taken_at.is_not(None),
        ).limit(1)
    ).first() is not None


def bring_schedules_in_step(report: ReconcileReport) -> None:
    """For every subscription out of step: confirm a key not ready yet, send iamport the
    renewal it has not taken, and schedule one where none is; a key iamport did not answer
    for, or a renewal it did not take, is a failure."""
    for subscription_id in subscriptions_out_of_step():
        # Not locked: a second host doing the same meanwhile collides on the renewal's unique
        # attempt, and iamport holds one schedule per order id.
        subscription = db.session.get(Subscription, subscription_id, populate_existing=True)
        if subscription.billing_key_ready_at is None:
            confirmed = confirm_billing_key(subscription)
            if confirmed:
                report.keys_confirmed += 1
            elif confirmed is None:
                report.fail(f"billing key of subscription {subscription_id}: not checked")
            continue
        had_schedule = taken_schedule(subscription_id)
        update_schedules(subscription_id)
        if not had_schedule and taken_schedule(subscription_id):
            report.rescheduled += 1
        for row in scheduled_renewals(subscription_id):
            if row.schedule_taken_at is None:
                report.fail(f"schedule of renewal {row.merchant_uid}: not taken by iamport")


def give_back_owed_refunds(now: datetime, report: ReconcileReport) -> None:
    """Ask again for every refund still owed; one that iamport refuses, or that was asked for a
    day ago and is still not returned, is a failure the operator must hear of."""
    for refund_id in owed_refunds():
        if give_back_refund(refund_id):
            report.refunds_done += 1
            continue
        refund = db.session.get(Refund, refund_id)
        report.refunds_owed += 1
        if refund.last_error:
            report.fail(f"refund of {refund.imp_uid}: {refund.last_error}")
        elif refund.created_at <= now - OWED_TOO_LONG:
            report.fail(f"refund of {refund.imp_uid}: owed since {refund.created_at:%Y-%m-%d %H:%M} "
                        f"UTC and still not returned")
        log.warning("refund still owed: %s %s of %s on %s (%s), %d attempts, last: %s",
                    refund.amount, refund.currency, refund.imp_uid, refund.merchant_uid,
                    refund.reason, refund.attempts, refund.last_error)


def withdraw_unwanted_renewals(report: ReconcileReport) -> None:
    """Carry out every withdrawal of a renewal's schedule still owed."""
    for row in renewals_to_withdraw():
        merchant_uid = row.merchant_uid
        if not withdraw(row):
            report.fail(f"withdrawal of renewal {merchant_uid}: iamport may still hold it")


def delete_retired_keys(report: ReconcileReport) -> None:
    """Delete at iamport every billing key we gave up that is not deleted yet."""
    for key_id in keys_to_delete():
        if delete_key(key_id):
            report.keys_deleted += 1
        else:
            retired = db.session.get(RetiredKey, key_id)
            report.keys_to_delete += 1
            report.fail(f"deletion of key {retired.customer_uid}: {retired.last_error}")


def stalled_subscriptions(now: datetime) -> list[int]:
    """Live subscriptions past their paid-until date with no renewal attempt open: nothing will
    charge or end them, so the operator must hear of them."""
    renewal = sa.orm.aliased(Payment)
    open_attempt = sa.exists().where(renewal.subscription_id == Subscription.id,
                                     renewal.kind == PaymentKind.RENEWAL,
                                     renewal.status.in_(OPEN_RENEWAL))
    return list(db.session.execute(
        db.select(Subscription.id).where(
            Subscription.status.in_(LIVE_STATUSES),
            Subscription.current_period_end < now - STALL_AFTER,
            ~open_attempt,
        ).order_by(Subscription.id)
    ).scalars())


def reconcile(now: datetime | None = None, min_age: timedelta | None = None,
              audit: bool = False) -> ReconcileReport:
    """Settle what webhooks and answers left open, carry out what is owed to iamport; safe to
    run on several hosts at once. `report.failures` names every call that failed and every
    obligation stuck (cron's exit code).

    `audit` also pages through iamport's schedule listing, to find schedules it revoked or lost
    since it took them, and through its paid payments of the last 90 days, to record those of
    our orders we never heard of: worth a run a day, not every run.
    """
    with caused_by("reconcile"):
        return run(now or clock.now(), min_age, audit)


def run(now: datetime, min_age: timedelta | None, audit: bool) -> ReconcileReport:
    """One reconcile run at `now` (see reconcile)."""
    min_age = current_app.config["RECONCILE_MIN_AGE"] if min_age is None else min_age
    report = ReconcileReport()
    settle_pending(now, min_age, report)
    if audit:
        report.revoked_at_iamport, report.lost_at_iamport, failures = audit_schedules()
        report.paid_unrecorded, more = audit_payments(now)
        for failure in failures + more:
            report.fail(failure)
    withdraw_unwanted_renewals(report)
    bring_schedules_in_step(report)
    with caused_by("clock"):  # the period's end came
        report.ended = end_finished_periods(now)
    give_back_owed_refunds(now, report)
    delete_retired_keys(report)
    for subscription_id in stalled_subscriptions(now):
        report.fail(f"subscription {subscription_id}: past its paid-until date with no "
                    f"renewal open")
    price_changes.periodic(now)  # before the renewal notices: an increase asked ends instead
    report.notices_queued = queue_renewal_notices(now)
    send_mail(report)
    report.webhooks_purged = purge_webhook_log(now)
    purge_lapsed_offers(now)
    return report


def send_mail(report: ReconcileReport) -> None:
    """Send what the outbox holds that is due. A message failing again and again is a failure
    until it goes; one dropped unsent (past its expiry, refused for good, days late) is named
    once, in the run that drops it."""
    while True:
        sent = send_due()
        report.mails_sent += sent.sent
        for dropped in sent.dropped:
            report.fail(dropped)
        if sent.sent + sent.failed + len(sent.dropped) == 0:
            break
    for message in failing_messages():
        report.fail(f"mail {message.message_id}: {message.attempts} attempts, last: {message.last_error}")
