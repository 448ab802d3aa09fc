"""Staff's first money actions (issue 26, item 12): verify a payment again, every open payment of a subscription, and send a renewal's schedule again."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import redirect, url_for
from flask_babel import gettext as _

from storefront import clock
from storefront.admin import bp
from storefront.admin.confirm import ConfirmForm, confirmation_page, confirmed_action
from storefront.billing.audit import record_schedule_status
from storefront.billing.common import UnknownPayment, client
from storefront.billing.recording import record_payment
from storefront.billing.renewals import update_schedules
from storefront.billing.schedules import schedule_status, scheduled_renewals
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import Payment, PaymentStatus, Subscription

log = logging.getLogger(__name__)

# The payments "verify again" of a subscription looks up: those whose outcome we still wait for.
STILL_OPEN = (PaymentStatus.PENDING, PaymentStatus.REVIEW, PaymentStatus.WITHDRAWING)


def verify_one(payment_id: int) -> tuple[str, str]:
    """Look one payment up at iamport (by imp_uid, else by order id) and record what it holds,
    as a webhook would: (outcome, detail)."""
    payment = db.session.get(Payment, payment_id)
    before, merchant_uid, imp_uid = str(payment.status), payment.merchant_uid, payment.imp_uid
    db.session.commit()  # no transaction stays open while iamport is asked
    try:
        info = client().get_payment(imp_uid) if imp_uid else client().find_payment(merchant_uid)
    except IamportError as exc:
        if exc.not_found:
            return "not_found", f"{merchant_uid}: iamport holds no payment for it"
        return "failed", f"{merchant_uid}: {exc}"
    try:
        recorded = record_payment(info)
    except UnknownPayment as exc:
        return "not_found", f"{merchant_uid}: {exc}"
    after = str(recorded.payment.status)
    return ("changed" if recorded.changed else "unchanged"), f"{merchant_uid}: {before} → {after}"


def open_payments(subscription_id: int) -> list[int]:
    """The subscription's payments still open: pending, held for review, being withdrawn, and
    renewals due by now that iamport should have run."""
    return list(db.session.execute(
        db.select(Payment.id).where(
            Payment.subscription_id == subscription_id,
            sa.or_(Payment.status.in_(STILL_OPEN),
                   sa.and_(Payment.status == PaymentStatus.SCHEDULED, Payment.scheduled_at <= clock.now())),
        ).order_by(Payment.id)
    ).scalars())


def verify_all(subscription_id: int) -> tuple[str, str]:
    """Verify every open payment of the subscription: (outcome, one line per payment)."""
    results = [verify_one(payment_id) for payment_id in open_payments(subscription_id)]
    if not results:
        return "nothing_open", "no open payment"
    outcomes = {outcome for outcome, _ in results}
    outcome = next((o for o in ("failed", "changed") if o in outcomes), "unchanged")
    return outcome, "\n".join(detail for _, detail in results)


def resend_schedule(subscription_id: int) -> tuple[str, str]:
    """Ask iamport about each scheduled renewal; one it does not hold goes back to the outbox
    (or is recorded revoked, and another made), and is sent as reconcile would."""
    rows = [(row.merchant_uid, row.schedule_taken_at) for row in scheduled_renewals(subscription_id)]
    db.session.commit()
    held = []
    for merchant_uid, taken_at in rows:
        try:
            status = schedule_status(merchant_uid)
        except IamportError as exc:
            return "failed", f"{merchant_uid}: {exc}"
        if status == "scheduled" and taken_at is not None:
            held.append(merchant_uid)
        else:
            record_schedule_status(merchant_uid, status)
    if rows and len(held) == len(rows):
        return "held", ", ".join(held)
    update_schedules(subscription_id)
    now_scheduled = scheduled_renewals(subscription_id)
    taken = [row for row in now_scheduled if row.schedule_taken_at is not None]
    if taken:
        return "scheduled", ", ".join(f"{row.merchant_uid} at {row.scheduled_at:%Y-%m-%d %H:%M} UTC"
                                      for row in taken)
    if now_scheduled:
        return "not_scheduled", ", ".join(f"{row.merchant_uid}: not taken by iamport; reconcile "
                                          f"sends it again" for row in now_scheduled)
    return "not_scheduled", "no renewal is wanted (ended, ending at period end, or no card ready)"


def confirmed_at_iamport(action: str, target_type: str, target_id: int, carry_out, **page):
    """The confirmation page of an action carried out at iamport, then the action once, then
    its outcome's page."""
    form = ConfirmForm()
    check = confirmed_action(form, action, target_type=target_type, target_id=target_id,
                             page=lambda: confirmation_page(form, **page))
    if check.answer is not None:
        return check.answer
    if (answer := check.claim()) is not None:
        return answer
    outcome, detail = carry_out(target_id)
    entry = check.finish(outcome, detail)
    log.info("%s of %s %s by staff %s: %s", action, target_type, target_id, entry.actor_id, outcome)
    return redirect(url_for("admin.audit_entry", entry_id=entry.id))


@bp.route("/payments/<int:payment_id>/verify", methods=["GET", "POST"])
def verify_payment(payment_id: int):
    """Verify one payment again."""
    payment = db.get_or_404(Payment, payment_id)
    return confirmed_at_iamport(
        "verify", "payment", payment.id, verify_one,
        title=_("Verify payment %(order)s again", order=payment.merchant_uid),
        question=_("iamport's record of this payment is looked up now and recorded on our order, "
                   "as when its webhook arrives."),
        submit=_("Verify again"))


@bp.route("/subscriptions/<int:subscription_id>/verify", methods=["GET", "POST"])
def verify_subscription(subscription_id: int):
    """Verify every open payment of a subscription again."""
    subscription = db.get_or_404(Subscription, subscription_id)
    return confirmed_at_iamport(
        "verify", "subscription", subscription.id, verify_all,
        title=_("Verify the open payments of subscription %(id)s again", id=subscription.id),
        question=_("Every payment of this subscription still waiting for its outcome is looked up "
                   "at iamport now and recorded."),
        submit=_("Verify again"))


@bp.route("/subscriptions/<int:subscription_id>/schedule", methods=["GET", "POST"])
def send_schedule(subscription_id: int):
    """Send the next renewal's schedule to iamport again, when it does not hold it."""
    subscription = db.get_or_404(Subscription, subscription_id)
    return confirmed_at_iamport(
        "resend_schedule", "subscription", subscription.id, resend_schedule,
        title=_("Send the schedule of subscription %(id)s again", id=subscription.id),
        question=_("iamport is asked whether it holds the next renewal's schedule; if it does not, "
                   "the schedule is sent again."),
        submit=_("Send the schedule again"))
