"""The new-card page: the card on file, what the new card pays now and for which period, the consent, and the window that saves it."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from storefront import billing
from storefront.account import subscription_or_404
from storefront.errors import json_error
from storefront.models import Plan
from storefront.payment_window import consent_refusal, page_params, sdk_params

log = logging.getLogger(__name__)

bp = Blueprint("card", __name__, url_prefix="/account")

# The version of the card change's consent text (templates/account/change_card.html): change it
# whenever that text changes, so that a page read before is refused rather than believed.
CARD_CONSENT_VERSION = "2026-12-07"


def card_consent_refusal(body: Any, plan: Plan) -> tuple[int, str] | None:
    """Why the card page's script may not open the order (status and message): the box must be
    ticked on the text as it is now, at the price the page showed."""
    return consent_refusal(
        body, plan, CARD_CONSENT_VERSION,
        missing=_("Please tick the box to agree to this payment and to renewals on the new card."),
        changed=_("The terms of this payment have changed. Please reload the page and read them again."))


@bp.get("/subscriptions/<int:subscription_id>/card")
@login_required
def change_card(subscription_id: int):
    """The new-card page: the card on file, what is charged now for which period and why, the
    consent box and the pay button.

    No order is opened here (a GET changes nothing): the page's script opens it (POST, below)
    when the shopper has ticked the box and presses pay, as the checkout does.
    """
    subscription = subscription_or_404(subscription_id)
    if subscription.status not in billing.LIVE_STATUSES:
        # What billing.open_card_change would refuse, said before the shopper presses pay.
        flash(_("Only an active subscription can change card."), "warning")
        return redirect(url_for("account.overview"))
    plan = subscription.plan
    params = page_params(url_for("card.open_card_change", subscription_id=subscription.id),
                         CARD_CONSENT_VERSION, plan)
    # The period the payment buys: from the paid-until date (when past due, the renewal that
    # went unpaid) to the next date on the anchor's calendar, as billing.extend counts it.
    return render_template("account/change_card.html", subscription=subscription, params=params,
                           period_start=subscription.current_period_end,
                           period_end=billing.period_end_after(subscription))


@bp.post("/subscriptions/<int:subscription_id>/card")
@login_required
def open_card_change(subscription_id: int):
    """Open the card change's payment (recorded, then registered with iamport) once the shopper
    consented, at the price the page showed; answers the SDK's parameters for the window."""
    subscription = subscription_or_404(subscription_id)
    refusal = card_consent_refusal(request.get_json(silent=True), subscription.plan)
    if refusal:
        return json_error(*refusal)
    try:
        payment = billing.open_card_change(subscription, CARD_CONSENT_VERSION)
    except billing.ActionRefused as exc:
        # Said again on the account page the script goes to.
        flash(str(exc), "warning")
        return jsonify(error={"status": 409, "message": str(exc)},
                       redirect=url_for("account.overview")), 409
    log.info("card change %s opened for subscription %s with consent %s",
             payment.merchant_uid, subscription.id, CARD_CONSENT_VERSION)
    return jsonify(sdk_params(payment))
