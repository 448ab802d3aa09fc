"""The iamport webhook: a hint that a payment changed, verified by looking it up."""

from __future__ import annotations

import logging
from functools import partial

from flask import Blueprint, Flask, abort, current_app, jsonify, request

from storefront import billing, clock, mail
from storefront.checkout import clean_uid
from storefront.extensions import csrf
from storefront.billing.events import caused_by
from storefront.iamport import IamportError
from storefront.models import WebhookOutcome
from storefront.webhook_log import log_webhook

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/iamport")


@bp.before_request
def _small_bodies_only() -> None:
    """Hold the webhook to its own, much smaller body limit (registered first: before any read)."""
    request.max_content_length = current_app.config["WEBHOOK_MAX_CONTENT_LENGTH"]


def carry_out_after_answer(app: Flask, url_root: str, subscription_id: int,
                           clock_offset: float = 0.0) -> None:
    """Carry out what the recording owes iamport (a refund, the next schedule, a key to check or
    delete) once iamport has its answer. If this fails or the process dies first, it stays owed
    in the database, and reconcile carries it out."""
    # A request context at the webhook's own address, as the answered request had (the
    # schedule's notice_url is PUBLIC_URL's all the same: never made from a request).
    with app.test_request_context(base_url=url_root):
        clock.use(clock_offset)  # the answered request's time, not read again
        try:
            with caused_by("webhook"):
                billing.carry_out(subscription_id)
            # A refund made now owes the customer its mail: sent now too, not at the next run.
            if queued := mail.queued_here():
                mail.send_due(only=queued)
        except Exception:  # the server would log it without saying what it leaves undone
            log.exception("what subscription %s owes iamport is left to reconcile", subscription_id)


@bp.route("/webhook", methods=["POST"])
@csrf.exempt
def receive():
    """Accept a webhook (JSON or form), look the payment up and record it once; every webhook,
    whatever it leads to, is written to the webhook log."""
    body = request.get_json(silent=True) if request.is_json else request.form
    fields = body if hasattr(body, "get") else {}
    imp_uid, merchant_uid = fields.get("imp_uid"), fields.get("merchant_uid")
    allowed = current_app.config.get("WEBHOOK_ALLOWED_IPS") or []
    if allowed and request.remote_addr not in allowed:
        log.warning("webhook from %s refused (not in the allow-list)", request.remote_addr)
        log_webhook(body, WebhookOutcome.REFUSED, imp_uid, merchant_uid)
        abort(403, "This address may not call the webhook.")
    if not hasattr(body, "get"):
        log_webhook(body, WebhookOutcome.BAD_REQUEST, detail="not JSON or form fields")
        abort(400, "Send imp_uid and merchant_uid as JSON or form fields.")
    if clean_uid(imp_uid) is None:
        log_webhook(body, WebhookOutcome.BAD_REQUEST, imp_uid, merchant_uid, detail="imp_uid missing or malformed")
        abort(400, "imp_uid is missing or malformed.")
    imp_uid = clean_uid(imp_uid)
    try:
        # iamport waits for the record only; what it owes is carried out after the answer.
        recorded = billing.verify(imp_uid, carry_out_now=False)
    except billing.UnknownPayment:
        log.warning("webhook for a payment that is not ours: %s", imp_uid)
        log_webhook(body, WebhookOutcome.NOT_OURS, imp_uid, merchant_uid, detail="not an order of this shop")
        return jsonify(result="ignored", message="not an order of this shop"), 200
    except IamportError as exc:
        outcome = WebhookOutcome.UNKNOWN_ORDER if exc.not_found else WebhookOutcome.ERROR
        log_webhook(body, outcome, imp_uid, merchant_uid, detail=str(exc))
        raise
    except Exception as exc:  # logged as an error, then answered 500 as before
        log_webhook(body, WebhookOutcome.ERROR, imp_uid, merchant_uid, detail=type(exc).__name__)
        raise
    payment = recorded.payment
    log_webhook(body, WebhookOutcome.NOT_OURS if recorded.not_ours else WebhookOutcome.RECORDED,
                imp_uid, payment.merchant_uid, payment.subscription_id,
                detail=recorded.not_ours or str(payment.status))
    response = jsonify(result="ok", status=payment.status)
    if payment.subscription_id is not None:
        # Run by the WSGI server once the answer is sent (gunicorn and Werkzeug both do).
        response.call_on_close(partial(carry_out_after_answer, current_app._get_current_object(),
                                       request.url_root, payment.subscription_id, clock.offset()))
    return response


@bp.errorhandler(IamportError)
def _not_verified(exc: IamportError):
    """What iamport is told when its API could not confirm the payment the webhook names."""
    if exc.not_found:
        log.warning("webhook for a payment iamport does not know: %s", exc)
        return jsonify(result="ignored", message="unknown imp_uid"), 200
    # Asking to be called again is all we can do while iamport does not answer.
    log.warning("webhook not verified: %s", exc)
    message = "We could not verify the payment with iamport yet; please try again."
    return jsonify(result="retry", error={"status": 503, "message": message}), 503
