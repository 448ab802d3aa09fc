"""The webhook log for staff: every webhook received, newest first, by outcome; one entry's body; and "verify again"."""

from __future__ import annotations

import logging

from flask import abort, render_template, request, url_for
from flask_babel import gettext as _

from storefront import billing
from storefront.admin import bp
from storefront.admin.actions import confirmed_at_iamport
from storefront.admin.timeline import OUTCOME_LABELS
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import WebhookOutcome, WebhookReceipt

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


def verify_receipt(receipt_id: int) -> tuple[str, str]:
    """Look the webhook's payment up at iamport again and record what it says, as the webhook
    would: (outcome, detail) for the audit entry."""
    imp_uid = db.session.get(WebhookReceipt, receipt_id).imp_uid
    db.session.commit()  # no transaction stays open while iamport is asked
    try:
        recorded = billing.verify(imp_uid)
    except billing.UnknownPayment:
        return "refused", f"{imp_uid}: not an order of this shop"
    except IamportError as exc:
        if exc.not_found:
            return "not_found", f"{imp_uid}: iamport knows no such payment"
        log.warning("verify again of %s: %s", imp_uid, exc)
        return "failed", f"{imp_uid}: {exc}"
    payment = recorded.payment
    if recorded.not_ours:
        return "refused", f"{imp_uid} is not the payment of order {payment.merchant_uid}: {recorded.not_ours}"
    return ("changed" if recorded.changed else "unchanged"), f"{imp_uid} → {payment.merchant_uid}: {payment.status}"


@bp.route("/webhooks/<int:receipt_id>/verify", methods=["GET", "POST"])
def verify_webhook_again(receipt_id: int):
    """Verify a webhook's payment again (confirmed and audited as every action at iamport)."""
    receipt = receipt_or_404(receipt_id)
    if not receipt.imp_uid:
        abort(404)
    return confirmed_at_iamport(
        "verify", "webhook", receipt.id, verify_receipt,
        title=_("Verify the payment of webhook %(id)s again", id=receipt.id),
        question=_("Looks the payment up at iamport and records what it says, as the webhook does."),
        submit=_("Verify again"), back=url_for("admin.webhook_entry", receipt_id=receipt.id))
