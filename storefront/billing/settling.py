"""Settling open payments by lookup: what iamport holds for each order still open is recorded, orders nobody paid are closed after their last lookup, and each run's report."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from storefront.billing.audit import record_schedule_status
from storefront.billing.common import client, move_payment, payment_by_merchant_uid
from storefront.billing.events import record_for_order
from storefront.billing.plan_change import change_failed
from storefront.billing.recording import record_payment
from storefront.billing.schedules import schedule_status, withdraw
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import Payment, PaymentKind, PaymentStatus

log = logging.getLogger(__name__)


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
    notices_queued: int = 0  # renewal notices that fell due
    mails_sent: int = 0
    webhooks_purged: int = 0  # webhook log entries older than WEBHOOK_LOG_DAYS
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
        report.fail(f"schedule {merchant_uid}: {exc}")
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
        record_for_order(merchant_uid, "payment_failed", reason=NOT_COMPLETED)
        payment = payment_by_merchant_uid(merchant_uid)
        if payment.kind == PaymentKind.PLAN_CHANGE:
            # Its plan change was waiting for this charge: it failed too (else no other change
            # could ever be made); a payment that still comes is refunded (plan_change.too_late).
            change_failed(payment)
        report.abandoned += 1
    db.session.commit()


def settle_pending(now: datetime, min_age: timedelta, report: ReconcileReport) -> None:
    """Look up every open payment old enough at iamport and record what it holds; close the
    orders nobody paid once they are ABANDON_AFTER old (that lookup is their last).

    No row is locked while iamport is asked: recording takes its own lock, and its
    compare-and-set keeps a payment that two hosts look up at once recorded once.
    """
    # Columns, not objects: no payment stays in the session for every commit below to expire.
    open_payments = db.session.execute(
        db.select(Payment.merchant_uid, Payment.imp_uid, Payment.status, Payment.kind,
                  Payment.created_at, Payment.scheduled_at).where(
            sa.or_(
                Payment.status.in_([PaymentStatus.PENDING, PaymentStatus.REVIEW]),
                # Renewals due by now, and every one being withdrawn (iamport may have run it
                # before the withdrawal reached it): did iamport run them?
                sa.and_(Payment.status == PaymentStatus.SCHEDULED, Payment.scheduled_at <= now),
                Payment.status == PaymentStatus.WITHDRAWING,
            ),
            Payment.created_at <= now - min_age,
        ).order_by(Payment.id)
    ).all()
    db.session.commit()
    abandon_after = current_app.config["ABANDON_AFTER"]
    for merchant_uid, imp_uid, status, kind, created_at, scheduled_at in open_payments:
        # Its last lookup: an order nobody paid is closed after it; a renewal iamport has not
        # run by then is named for the operator.
        last_lookup = (created_at if status == PaymentStatus.PENDING else scheduled_at or created_at) \
            <= now - abandon_after[kind]
        try:
            settle_one(merchant_uid, imp_uid, status, last_lookup, now, report)
        except SQLAlchemyError as exc:
            # One row that cannot be recorded must not stop the run's other work.
            db.session.rollback()
            log.exception("payment %s not settled", merchant_uid)
            report.fail(f"recording of {merchant_uid}: {type(exc).__name__}")


def settle_one(merchant_uid: str, imp_uid: str | None, status: PaymentStatus, last_lookup: bool,
               now: datetime, report: ReconcileReport) -> None:
    """Look one open payment up at iamport and record what it holds (see settle_pending)."""
    try:
        # By iamport's id when we have it: the order id finds only its newest attempt.
        info = client().get_payment(imp_uid) if imp_uid else client().find_payment(merchant_uid)
    except IamportError as exc:
        if not exc.not_found:
            report.fail(f"lookup of {merchant_uid}: {exc}")
            report.still_pending += 1
        elif status == PaymentStatus.PENDING and last_lookup:
            close_order(merchant_uid, report)
        elif status == PaymentStatus.SCHEDULED:
            check_unrun_schedule(merchant_uid, report)
            if last_lookup and payment_by_merchant_uid(merchant_uid).status == PaymentStatus.SCHEDULED:
                report.fail(f"renewal {merchant_uid}: due a day ago and not run by iamport")
        elif status == PaymentStatus.WITHDRAWING:
            # Never run: withdrawn for good once iamport shows it holds no schedule.
            if not withdraw(payment_by_merchant_uid(merchant_uid), looked_up=True):
                report.fail(f"withdrawal of renewal {merchant_uid}: iamport may still hold it")
        else:
            report.still_pending += 1
        return
    recorded = record_payment(info, now=now)
    if recorded.changed:
        report.settled += 1
    elif recorded.payment.status == PaymentStatus.PENDING and last_lookup:
        close_order(merchant_uid, report)
    elif recorded.payment.status in (PaymentStatus.PENDING, PaymentStatus.REVIEW):
        report.still_pending += 1
