"""Reconcile: settle what webhooks and answers left open, send the schedules iamport has not taken, give back what is owed; safe on several hosts at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from storefront import clock
from storefront.billing.audit import audit_schedules, record_schedule_status
from storefront.billing.common import LIVE_STATUSES, client, move_payment
from storefront.billing.lifecycle import end_finished_periods
from storefront.billing.payment_audit import audit_payments
from storefront.billing.recording import record_payment
from storefront.billing.obligations import delete_key, give_back_refund, owed_refunds, renewals_to_withdraw
from storefront.billing.refunds import ASK_AGAIN_AFTER
from storefront.billing.renewals import OPEN_RENEWAL, confirm_billing_key, update_schedules
from storefront.billing.schedules import keys_to_delete, schedule_status, scheduled_renewals, withdraw
from storefront.extensions import db
from storefront.iamport import IamportError
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
# What an order closed at its last lookup is failed with (no money was taken).
NOT_COMPLETED = "Not completed: no payment was made."


@dataclass
class ReconcileReport:
    """What one reconcile run did."""

    settled: int = 0
    still_pending: int = 0
    abandoned: int = 0
    keys_confirmed: int = 0
    rescheduled: int = 0
    revoked_at_iamport: int = 0
    lost_at_iamport: int = 0
    paid_unrecorded: int = 0  # paid at iamport on our orders, never recorded: found by the audit
    ended: int = 0
    refunds_done: int = 0
    refunds_owed: int = 0
    keys_deleted: int = 0
    keys_to_delete: int = 0
    # What iamport did not answer (not "no such payment", which is an answer): cron must hear
    # of these, because the work they stand for waits for the next run.
    failures: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        """Name one failure (once, however many steps of the run meet it)."""
        if what not in self.failures:
            self.failures.append(what)


def check_unrun_schedule(merchant_uid: str, report: ReconcileReport) -> None:
    """A renewal due by now of which iamport has no payment: ask about its schedule, which
    iamport may have revoked or not hold at all (a withdrawal that went through unanswered)."""
    try:
        change = record_schedule_status(merchant_uid, schedule_status(merchant_uid))
    except IamportError as exc:
        report.failures.append(f"schedule {merchant_uid}: {exc}")
        return
    if change == "revoked":
        report.revoked_at_iamport += 1
    elif change == "lost":
        report.lost_at_iamport += 1
    else:
        report.still_pending += 1  # iamport is yet to run it


def close_order(merchant_uid: str, report: ReconcileReport) -> None:
    """Close an order nobody paid after its last lookup: from then on no run looks it up (a
    payment that still comes is recorded by its webhook: failed → paid is allowed)."""
    if move_payment(merchant_uid, PaymentStatus.PENDING, PaymentStatus.FAILED, fail_reason=NOT_COMPLETED):
        report.abandoned += 1
    db.session.commit()


def settle_pending(now: datetime, min_age: timedelta, report: ReconcileReport) -> None:
    """Look up every open payment old enough at iamport and record what it holds; close the
    orders nobody paid once they are ABANDON_AFTER old (that lookup is their last).

    No row is locked while iamport is asked: recording takes its own lock, and its
    compare-and-set keeps a payment that two hosts look up at once recorded once.
    """
    payments = db.session.execute(
        db.select(Payment).where(
            sa.or_(
                Payment.status.in_([PaymentStatus.PENDING, PaymentStatus.REVIEW]),
                # Renewals due by now, and every one being withdrawn (iamport may have run it
                # before the withdrawal reached it): did iamport run them?
                sa.and_(Payment.status == PaymentStatus.SCHEDULED, Payment.scheduled_at <= now),
                Payment.status == PaymentStatus.WITHDRAWING,
            ),
            Payment.created_at <= now - min_age,
        ).order_by(Payment.id)
    ).scalars().all()
    abandon_after = current_app.config["ABANDON_AFTER"]
    # Taken before the first commit expires them.
    open_orders = [(p.merchant_uid, p.imp_uid, p.status,
                    p.status == PaymentStatus.PENDING and p.created_at <= now - abandon_after[p.kind])
                   for p in payments]
    db.session.commit()
    for merchant_uid, imp_uid, status, last_lookup in open_orders:
        try:
            # By iamport's id when we have it: the order id finds only its newest attempt.
            info = client().get_payment(imp_uid) if imp_uid else client().find_payment(merchant_uid)
        except IamportError as exc:
            if not exc.not_found:
                report.failures.append(f"lookup of {merchant_uid}: {exc}")
                report.still_pending += 1
            elif last_lookup:
                close_order(merchant_uid, report)
            elif status == PaymentStatus.SCHEDULED:
                check_unrun_schedule(merchant_uid, report)
            elif status == PaymentStatus.WITHDRAWING:
                # Never run: withdrawn for good once iamport shows it holds no schedule.
                row = db.session.execute(db.select(Payment).where(Payment.merchant_uid == merchant_uid)).scalar_one()
                if not withdraw(row, looked_up=True):
                    report.fail(f"withdrawal of renewal {merchant_uid}: iamport may still hold it")
            else:
                report.still_pending += 1
            continue
        recorded = record_payment(info, now=now)
        if recorded.changed:
            report.settled += 1
        elif recorded.payment.status == PaymentStatus.PENDING and last_lookup:
            close_order(merchant_uid, report)
        elif recorded.payment.status in (PaymentStatus.PENDING, PaymentStatus.REVIEW):
            report.still_pending += 1


def subscriptions_out_of_step() -> list[int]:
    """The live subscriptions whose schedules at iamport may not match them: a key still to
    confirm, a renewal iamport has not taken, no renewal where one is wanted, or one that is
    no longer wanted, or two where one is (see ensure_schedule, which decides). Every other one
    is left alone, so a run costs what is unsettled, not the size of the shop."""
    renewal = sa.orm.aliased(Payment)
    of_the_subscription = sa.and_(renewal.subscription_id == Subscription.id,
                                  renewal.kind == PaymentKind.RENEWAL)
    scheduled = sa.and_(of_the_subscription, renewal.status == PaymentStatus.SCHEDULED)
    wanted = sa.and_(Subscription.customer_uid.is_not(None),
                     Subscription.billing_key_ready_at.is_not(None),
                     Subscription.current_period_end.is_not(None),
                     Subscription.cancel_at_period_end.is_(False))
    at_period = renewal.period_start == Subscription.current_period_end
    on_the_key = renewal.customer_uid == Subscription.customer_uid
    # The attempt ensure_schedule keeps: at the period, scheduled on the subscription's key or
    # already run by iamport.
    kept = sa.exists().where(of_the_subscription, renewal.status.in_(OPEN_RENEWAL), at_period,
                             sa.or_(renewal.status != PaymentStatus.SCHEDULED, on_the_key))
    # One ensure_schedule withdraws: no renewal wanted, or of another period or key (a NULL on
    # either side is a difference, not an unknown).
    unwanted = sa.or_(~wanted,
                      renewal.period_start.is_distinct_from(Subscription.current_period_end),
                      renewal.customer_uid.is_distinct_from(Subscription.customer_uid))
    scheduled_count = db.select(sa.func.count()).select_from(renewal).where(scheduled).scalar_subquery()
    return list(db.session.execute(
        db.select(Subscription.id).where(
            Subscription.status.in_(LIVE_STATUSES),
            sa.or_(
                sa.and_(Subscription.customer_uid.is_not(None),
                        Subscription.billing_key_ready_at.is_(None)),
                sa.exists().where(scheduled, renewal.schedule_taken_at.is_(None)),
                sa.and_(wanted, ~kept),
                sa.exists().where(scheduled, unwanted),
                scheduled_count > 1,  # iamport would run both
            ),
        ).order_by(Subscription.id)
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
                report.failures.append(f"billing key of subscription {subscription_id}: not checked")
            continue
        had_schedule = taken_schedule(subscription_id)
        update_schedules(subscription_id)
        if not had_schedule and taken_schedule(subscription_id):
            report.rescheduled += 1
        for row in scheduled_renewals(subscription_id):
            if row.schedule_taken_at is None:
                report.failures.append(f"schedule of renewal {row.merchant_uid}: not taken by iamport")


def give_back_owed_refunds(now: datetime, report: ReconcileReport) -> None:
    """Ask again for every refund still owed; one that iamport refuses, or that was asked for a
    day ago and is still not returned, is a failure the operator must hear of."""
    for refund_id in owed_refunds():
        if give_back_refund(refund_id, now):
            report.refunds_done += 1
            continue
        refund = db.session.get(Refund, refund_id)
        report.refunds_owed += 1
        if refund.last_error:
            report.failures.append(f"refund of {refund.imp_uid}: {refund.last_error}")
        elif refund.created_at <= now - ASK_AGAIN_AFTER:
            report.failures.append(f"refund of {refund.imp_uid}: owed since {refund.created_at:%Y-%m-%d %H:%M} "
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
            report.failures.append(f"deletion of key {retired.customer_uid}: {retired.last_error}")


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
    now = now or clock.now()
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
    report.ended = end_finished_periods(now)
    give_back_owed_refunds(now, report)
    delete_retired_keys(report)
    for subscription_id in stalled_subscriptions(now):
        report.failures.append(f"subscription {subscription_id}: past its paid-until date with no "
                               f"renewal open")
    return report
