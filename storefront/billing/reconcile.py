"""Reconcile: settle what webhooks and answers left open, send schedules iamport lacks, give back what is owed; safe on several hosts at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from storefront.billing.common import CHECKOUT_REUSE, LIVE_STATUSES, client, lock_unclaimed, set_payment_status
from storefront.billing.lifecycle import end_finished_periods
from storefront.billing.recording import record_payment
from storefront.billing.refunds import give_back
from storefront.billing.renewals import confirm_billing_key, ensure_schedule
from storefront.billing.schedules import delete_retired_key, register_schedule, scheduled_renewals
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    Refund,
    RefundStatus,
    RetiredKey,
    Subscription,
    utcnow,
)

log = logging.getLogger(__name__)

# A window left open this long, or a charge iamport never received, did not happen. A checkout
# page is offered again for CHECKOUT_REUSE, so its order is given up a while after that.
ABANDON_AFTER = {
    PaymentKind.FIRST: CHECKOUT_REUSE + timedelta(minutes=30),
    PaymentKind.REPEAT: timedelta(minutes=10),
    PaymentKind.RENEWAL: timedelta(days=1),
}


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


def settle_pending(now: datetime, min_age: timedelta, report: ReconcileReport) -> None:
    """Look up every open payment old enough at iamport and record what it holds; give up
    orders iamport never heard of once they are old."""
    ids = db.session.execute(
        db.select(Payment.id).where(
            sa.or_(
                Payment.status.in_([PaymentStatus.PENDING, PaymentStatus.REVIEW]),
                sa.and_(Payment.status == PaymentStatus.SCHEDULED, Payment.scheduled_at <= now),
            ),
            Payment.created_at <= now - min_age,
        ).order_by(Payment.id)
    ).scalars().all()
    for payment_id in ids:
        payment = lock_unclaimed(Payment, payment_id)
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
            if exc.not_found and payment.status == PaymentStatus.PENDING and payment.created_at <= abandoned:
                set_payment_status(payment.merchant_uid, PaymentStatus.PENDING, PaymentStatus.FAILED,
                                   fail_reason="Not completed: no payment was made.")
                report.abandoned += 1
            else:
                db.session.rollback()
                report.still_pending += 1
            continue
        recorded = record_payment(info)
        if recorded.changed:
            report.settled += 1
        elif recorded.payment.status in (PaymentStatus.PENDING, PaymentStatus.REVIEW):
            report.still_pending += 1


def check_keys_and_schedules(report: ReconcileReport) -> None:
    """For every live subscription: confirm a key not ready yet, send iamport the scheduled
    renewals it does not hold, record those it revoked, and schedule one where none is."""
    ids = db.session.execute(
        db.select(Subscription.id).where(Subscription.status.in_(LIVE_STATUSES))
        .order_by(Subscription.id)
    ).scalars().all()
    for subscription_id in ids:
        subscription = lock_unclaimed(Subscription, subscription_id)
        if subscription is None:
            db.session.rollback()
            continue
        db.session.commit()
        if subscription.billing_key_ready_at is None:
            if confirm_billing_key(subscription):
                report.keys_confirmed += 1
            continue
        for row in scheduled_renewals(subscription_id):
            try:
                schedule = client().get_schedule(row.merchant_uid)
            except IamportError as exc:
                if not exc.not_found:
                    report.failures.append(f"schedule {row.merchant_uid}: {exc}")
                elif register_schedule(row):
                    report.rescheduled += 1
                continue
            if schedule.get("schedule_status") == "revoked":
                set_payment_status(row.merchant_uid, PaymentStatus.SCHEDULED, PaymentStatus.REVOKED)
        had_schedule = bool(scheduled_renewals(subscription_id))
        if ensure_schedule(subscription_id) is not None and not had_schedule:
            report.rescheduled += 1


def give_back_owed_refunds(report: ReconcileReport) -> None:
    """Ask again for every refund still owed; log each one that stays owed for the operator."""
    ids = db.session.execute(
        db.select(Refund.id).where(Refund.status == RefundStatus.OWED).order_by(Refund.id)
    ).scalars().all()
    for refund_id in ids:
        refund = lock_unclaimed(Refund, refund_id)
        if refund is None or refund.status != RefundStatus.OWED:
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


def delete_retired_keys(report: ReconcileReport) -> None:
    """Delete at iamport every billing key we gave up that is not deleted yet."""
    ids = db.session.execute(
        db.select(RetiredKey.id).where(RetiredKey.deleted_at.is_(None)).order_by(RetiredKey.id)
    ).scalars().all()
    for key_id in ids:
        retired = lock_unclaimed(RetiredKey, key_id)
        if retired is None or retired.deleted_at is not None:
            db.session.rollback()
            continue
        if delete_retired_key(retired):
            report.keys_deleted += 1
        else:
            report.keys_to_delete += 1
            report.failures.append(f"deletion of key {retired.customer_uid}: {retired.last_error}")


def reconcile(now: datetime | None = None, min_age: timedelta | None = None) -> ReconcileReport:
    """Settle what webhooks and answers left open; safe to run on several hosts at once."""
    now = now or utcnow()
    min_age = current_app.config["RECONCILE_MIN_AGE"] if min_age is None else min_age
    report = ReconcileReport()
    settle_pending(now, min_age, report)
    check_keys_and_schedules(report)
    report.ended = end_finished_periods(now)
    give_back_owed_refunds(report)
    delete_retired_keys(report)
    return report
