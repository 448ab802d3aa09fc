"""Background work by the sandbox clock: Paymentwall pingbacks, risk reviews, cancels, schedules."""
from __future__ import annotations

import logging
from . import billing, payments, texts, webhooks
from .state import CANCEL, PINGBACK, REVIEW, State


log = logging.getLogger(__name__)


class NotHeld(LookupError):
    """The payment is not waiting for a risk review."""


def run_due(sb: State) -> list[str]:
    """Run every job and schedule whose time has come; returns a line per thing done."""
    done: list[str] = []
    with sb.work_lock:
        for job in sb.store.jobs_due(sb.clock.now()):
            line = run_job(sb, job)
            if line:
                done.append(line)
        for schedule in sb.store.schedules_due(sb.clock.now()):
            with sb.store.tx():
                current = sb.store.schedule_get(schedule["merchant_uid"])
                # Unscheduled between the query and now: leave it alone.
                if current is None or current["schedule_status"] != "scheduled":
                    continue
                result = billing.run_schedule(sb, current)
            done.append(f"schedule {result['merchant_uid']}: {result['payment_status']}")
    return done


def run_job(sb: State, job: dict) -> str | None:
    """Run one queued job once (a job already run by someone else is skipped)."""
    with sb.store.tx():
        if not sb.store.job_done(job["id"], sb.clock.now()):
            return None
        found = sb.store.payment_get(job["ref"])
        if found is None:
            log.warning("job %s: payment %s is gone", job["id"], job["ref"])
            return None
        payment, meta = found
        if job["kind"] == PINGBACK:
            return _pingback(sb, payment, meta)
        if job["kind"] == REVIEW:
            return _decide_review(sb, payment, meta, job["payload"]["decision"])
        if job["kind"] == CANCEL:
            return confirm_cancel(sb, payment, meta, job["payload"])
    log.warning("job %s has unknown kind %s", job["id"], job["kind"])
    return None


def decide_review_now(sb: State, imp_uid: str, decision: str) -> dict:
    """The operator approves or declines a held payment before the review delay is over."""
    with sb.work_lock, sb.store.tx():
        found = sb.store.payment_get(imp_uid)
        if found is None:
            raise LookupError(imp_uid)
        payment, meta = found
        if meta.get("review") != "pending":
            raise NotHeld(imp_uid)
        for job in sb.store.jobs_pending(REVIEW, imp_uid):
            sb.store.job_done(job["id"], sb.clock.now())
        _decide_review(sb, payment, meta, decision)
        return sb.store.payment_get(imp_uid)[0]


def _pingback(sb: State, payment: dict, meta: dict) -> str:
    """Paymentwall confirms the first charge: the billing key becomes usable, the webhook goes out."""
    meta["pingback_at"] = sb.clock.timestamp()
    if payment["status"] == "paid" and payment.get("customer_uid") and meta.get("card"):
        billing.activate_billing_key(sb, payment, meta)
    sb.store.payment_save(payment, meta)
    if payment["status"] == "paid":
        webhooks.enqueue(sb, payment, meta, event="issue")
    return f"pingback {payment['imp_uid']}"


def _decide_review(sb: State, payment: dict, meta: dict, decision: str) -> str:
    if decision == "approve":
        payments.mark_paid(sb, payment)
        meta["review"] = "approved"
        meta["pingback_at"] = sb.clock.timestamp()
        if payment.get("customer_uid") and meta.get("card"):
            billing.activate_billing_key(sb, payment, meta)
        sb.store.payment_save(payment, meta)
        # The late approval is reported like any approval: a `paid` webhook.
        webhooks.enqueue(sb, payment, meta, event="review_approved")
    else:
        payments.mark_failed(sb, payment, texts.text(texts.language_of(meta.get("language")), "review_declined"))
        meta["review"] = "declined"
        sb.store.payment_save(payment, meta)
        if payment.get("customer_uid_usage") in (billing.USAGE_PAYMENT, billing.USAGE_SCHEDULED):
            # A held charge of a stored key (cards 0259 and 0267) reports its end either way,
            # as its scheduled run did; a declined window payment stays an ordinary failure.
            webhooks.enqueue(sb, payment, meta, event="review_declined")
    log.info("review of %s: %s", payment["imp_uid"], decision)
    return f"review {payment['imp_uid']}: {decision}"


def confirm_cancel(sb: State, payment: dict, meta: dict, cancel: dict) -> str:
    """Paymentwall's cancel callback: only now does the payment show the cancel."""
    meta["pending_cancels"] = [
        c for c in meta.get("pending_cancels", [])
        if c["cancellation_id"] != cancel["cancellation_id"]
    ]
    payments.apply_cancel(sb, payment, cancel)
    sb.store.payment_save(payment, meta)
    if cancel.get("enable_webhook"):
        webhooks.enqueue(sb, payment, meta, event="cancel", status="cancelled",
                            extra={"cancellation_id": cancel["cancellation_id"]})
    return f"cancel {payment['imp_uid']}: {cancel['amount']}"
