"""The checkout's result page: the verified state of one order, for its owner, and the poll its script follows."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, jsonify, make_response, render_template
from flask_login import current_user, login_required

from storefront import billing, clock
from storefront.auth import LOG_IN_FIRST
from storefront.checkout import NOT_YOURS, bp, owners_order
from storefront.errors import error_response
from storefront.models import PaymentStatus
from storefront.wording import failure_shown

# How long after the order the page reloads itself while the payment is on its way.
RESULT_REFRESH_FOR = timedelta(minutes=10)


@bp.route("/result/<merchant_uid>")
@login_required
def result(merchant_uid: str):
    """The verified state of one checkout, for its owner only."""
    payment = owners_order(merchant_uid)
    if payment is None:
        abort(404, str(NOT_YOURS))
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.REVIEW):
        # Whatever iamport answers (or not), the page shows what our records then hold.
        billing.verify_return(merchant_uid=payment.merchant_uid)
    # A fresh order may still be on its way from iamport; an old one is not worth a reload loop.
    refresh = payment.created_at > clock.now() - RESULT_REFRESH_FOR
    return render_template("checkout/result.html", payment=payment,
                           subscription=payment.subscription, refresh=refresh,
                           refunds=billing.refunds_of_order(payment.merchant_uid))


@bp.get("/result/<merchant_uid>/status")
def result_status(merchant_uid: str):
    """The order's state, for the result page's script to follow a review and the checkout's to
    read a decline's reason: our records only (the webhook and reconcile ask iamport, no poll does)."""
    # Errors in the form asked for (the page's script asks for JSON), never the log-in page.
    if not current_user.is_authenticated:
        response = make_response(error_response(401, str(LOG_IN_FIRST)))
    else:
        payment = owners_order(merchant_uid)
        if payment is None:
            response = make_response(error_response(404, str(NOT_YOURS)))
        else:
            failed = payment.status == PaymentStatus.FAILED
            response = jsonify(status=str(payment.status),
                               reason=failure_shown(payment.fail_reason) if failed else None)
    # A poll must see the change, never a cached answer (and no one else's).
    response.headers["Cache-Control"] = "no-store"
    return response
