"""The webhook log for staff: every webhook received, newest first, by outcome; one entry's body; and "verify again"."""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from storefront import billing
from storefront.admin import bp
from storefront.admin.audit_log import record_action
from storefront.admin.timeline import OUTCOME_LABELS
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import WebhookOutcome, WebhookReceipt
from storefront.wording import payment_status_label

log = logging.getLogger(__name__)

PAGE_SIZE = 50


def page_number() -> int:
    """The page asked for (1 when none); a clear 400 for anything else."""
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1 or int(raw) > 100_000:
        abort(400, _("The page number must be a whole number from 1."))
    return int(raw)


@bp.route("/webhooks")
def webhook_log():
    """The log, newest first, PAGE_SIZE a page, paged in SQL (one row more tells whether a
    next page exists), filtered by outcome."""
    outcome = request.args.get("outcome") or None
    if outcome is not None and outcome not in set(WebhookOutcome):
        abort(400, _("Unknown outcome."))
    page = page_number()
    query = db.select(WebhookReceipt.id, WebhookReceipt.received_at, WebhookReceipt.remote_addr,
                      WebhookReceipt.imp_uid, WebhookReceipt.merchant_uid, WebhookReceipt.outcome,
                      WebhookReceipt.subscription_id)
    if outcome is not None:
        query = query.where(WebhookReceipt.outcome == outcome)
    rows = db.session.execute(
        query.order_by(WebhookReceipt.received_at.desc(), WebhookReceipt.id.desc())
        .limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)
    ).all()
    return render_template("admin/webhooks.html", rows=rows[:PAGE_SIZE], page=page,
                           has_next=len(rows) > PAGE_SIZE, outcome=outcome,
                           outcomes=OUTCOME_LABELS)


def receipt_or_404(receipt_id: int) -> WebhookReceipt:
    receipt = db.session.get(WebhookReceipt, receipt_id)
    if receipt is None:
        abort(404)
    return receipt


@bp.route("/webhooks/<int:receipt_id>")
def webhook_entry(receipt_id: int):
    """One webhook as received: its fields, its outcome, and the button to verify it again."""
    return render_template("admin/webhook.html", receipt=receipt_or_404(receipt_id),
                           outcomes=OUTCOME_LABELS)


@bp.post("/webhooks/<int:receipt_id>/verify")
def verify_webhook_again(receipt_id: int):
    """Look the webhook's payment up at iamport again and record what it says (as the webhook
    would); the result is shown on the entry's page."""
    receipt = receipt_or_404(receipt_id)
    imp_uid = receipt.imp_uid
    if not imp_uid:
        flash(_("This webhook named no payment to verify."), "warning")
        return redirect(url_for("admin.webhook_entry", receipt_id=receipt_id))
    payment_id, outcome = None, "failed"
    try:
        recorded = billing.verify(imp_uid)
    except billing.UnknownPayment:
        outcome = "refused"
        flash(_("iamport's payment %(imp_uid)s is not an order of this shop.", imp_uid=imp_uid), "warning")
    except IamportError as exc:
        if exc.not_found:
            outcome = "not_found"
            flash(_("iamport knows no payment %(imp_uid)s.", imp_uid=imp_uid), "warning")
        else:
            log.warning("verify again of %s: %s", imp_uid, exc)
            flash(_("iamport did not answer; nothing changed. Try again later."), "error")
    else:
        payment = recorded.payment
        payment_id = payment.id
        if recorded.not_ours:
            outcome = "refused"
            flash(_("%(imp_uid)s is not the payment of order %(order)s: %(reason)s",
                    imp_uid=imp_uid, order=payment.merchant_uid, reason=recorded.not_ours), "warning")
        elif recorded.changed:
            outcome = "changed"
            flash(_("Verified: order %(order)s is now %(status)s.", order=payment.merchant_uid,
                    status=payment_status_label(payment.status)), "success")
        else:
            outcome = "unchanged"
            flash(_("Verified: order %(order)s stays %(status)s.", order=payment.merchant_uid,
                    status=payment_status_label(payment.status)), "info")
    db.session.rollback()  # whatever the lookup left open; the entry is a transaction of its own
    record_action("verify", target_type="payment" if payment_id else None, target_id=payment_id,
                  outcome=outcome, detail=f"{imp_uid} (webhook log #{receipt_id})")
    db.session.commit()
    return redirect(url_for("admin.webhook_entry", receipt_id=receipt_id))
