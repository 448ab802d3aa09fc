"""Checkout: the payment window page and the two ways back from it (callback and redirect); the result page is storefront.checkout_result."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user, login_required

from storefront import clock
from storefront import billing
from storefront.billing import ReturnKind, ReturnResult
from storefront.errors import error_response, json_error
from storefront.extensions import db
from storefront.formatting import shop_zone
from storefront.models import Payment, PaymentKind, PaymentStatus, Plan
from storefront.payment_window import (
    CONSENT_VERSION, checkout_consent_version, coming_price_change, consent_refusal, consent_text_id,
    page_params, sdk_params,
)
from storefront.periods import add_interval
from storefront.shop import get_active_plan
from storefront.wording import failure_shown, in_review_text, refused_text

log = logging.getLogger(__name__)

bp = Blueprint("checkout", __name__, url_prefix="/checkout")

# What a shopper reads when iamport has no record of the payment they made (in live mode, a
# payment on a test channel is never looked up, so it reads like this too).
NOT_AT_IAMPORT = lazy_gettext(
    "iamport has no record of this payment as one this shop can accept (payments on a test channel "
    "are not accepted). Nothing was activated; please pay again with a card.")
# At least one letter or digit: an id of dots alone would be a path's "." or ".." at iamport.
UID = re.compile(r"(?=.*[A-Za-z0-9])[A-Za-z0-9_.:\-]{1,64}")


def clean_uid(value: Any) -> str | None:
    """An imp_uid or merchant_uid from outside, or None when it is not one."""
    # fullmatch: `$` alone would let a trailing newline through to iamport and the logs.
    return value if isinstance(value, str) and UID.fullmatch(value) else None


def _cannot_buy(plan) -> str | None:
    """Why the user cannot open a checkout for the plan now (they have it, or one is in review)."""
    if billing.live_subscription(current_user, plan) is not None:
        return _("You already subscribe to %(plan)s.", plan=plan.shown_name)
    if billing.first_payment_in_review(current_user, plan) is not None:
        return in_review_text(plan)
    if billing.any_live_subscription(current_user) is not None:
        # One live subscription per shopper: another plan is a plan change, not a second checkout.
        return _("You already have a subscription: change it to %(plan)s from your account.",
                 plan=plan.shown_name)
    return None


@bp.get("/<slug>")
@login_required
def start(slug: str):
    """The checkout page: what is charged, the consent to the recurring payment and the pay button.

    No order is opened here: the page's script opens it (POST, below) once the shopper consented.
    """
    plan = get_active_plan(slug)
    refusal = _cannot_buy(plan)
    if refusal:
        flash(refusal, "info")
        live = billing.any_live_subscription(current_user)
        if live is not None and live.plan_id != plan.id:
            return redirect(url_for("plan_change.plans", subscription_id=live.id))
        return redirect(url_for("account.overview"))
    params = page_params(url_for("checkout.open_order", slug=plan.slug), checkout_consent_version(plan), plan)
    return render_template("checkout/checkout.html", plan=plan, params=params, coming=coming_price_change(plan),
                           next_charge=add_interval(clock.now(), plan.interval, zone=shop_zone()),
                           **_after_decline(request.args.get("declined", ""), plan))


def _after_decline(marker: str, plan: Plan) -> dict[str, Any]:
    """What the checkout keeps of the shopper's first payment for the plan that a phone's window
    declined lately, named by the mobile return's marker: why, the consent given on it (if to
    this text at this price) and the details iamport's record of it holds; nothing otherwise."""
    payment = owners_order(marker)
    if (payment is None or payment.kind != PaymentKind.FIRST
            or payment.status != PaymentStatus.FAILED or payment.subscription.plan_id != plan.id
            or payment.created_at <= clock.now() - current_app.config["ORDER_EXPIRES"]):
        return {"declined_reason": None, "consent_kept": False, "details": {}}
    consent = payment.subscription.consent_version or ""
    return {"declined_reason": failure_shown(payment.fail_reason),
            "consent_kept": (consent.startswith(f"{CONSENT_VERSION}/") and payment.amount == plan.price
                             and payment.currency == plan.currency),
            "details": payment.provider_response or {}}


@bp.post("/<slug>")
@login_required
def open_order(slug: str):
    """Open the plan's first payment (recorded, then registered with iamport) once the shopper
    consented to the recurring payment; answers the SDK's parameters for the payment window.

    Without the consent nothing is written and iamport hears nothing.
    """
    plan = get_active_plan(slug)
    version = checkout_consent_version(plan)
    refusal = consent_refusal(request.get_json(silent=True), plan, version)
    if refusal:
        return json_error(*refusal)
    refusal = _cannot_buy(plan)
    if refusal is None:
        try:
            payment = billing.open_checkout(current_user, plan, consent_text_id(version))
            return jsonify(sdk_params(payment))
        except billing.ActionRefused as exc:
            refusal = str(exc)
    # Said again on the account page the script goes to.
    flash(refusal, "info")
    return jsonify(error={"status": 409, "message": refusal},
                   redirect=url_for("account.overview")), 409


def _result_url(payment: Payment) -> str:
    return url_for("checkout.result", merchant_uid=payment.merchant_uid)


# What anyone but the order's owner is told, whether or not the order exists.
NO_RECORD = lazy_gettext("We have no record of that payment.")
# What a logged-in shopper is told of an order that is not theirs (or does not exist): true in
# both cases, so it says nothing of which orders are real.
NOT_YOURS = lazy_gettext("This payment is not on your account. If you paid it while logged in to "
                         "another account, log in to that account to see it.")


def _recorded_with(imp_uid: str) -> Payment | None:
    """Our payment that iamport's `imp_uid` was already recorded on, if any."""
    return db.session.execute(
        db.select(Payment).where(Payment.imp_uid == imp_uid)
    ).scalar_one_or_none()


def _log_in_first(merchant_uid: str) -> str:
    """The log-in page, then the order's result (which answers 404 to anyone but its owner)."""
    return url_for("auth.login", next=url_for("checkout.result", merchant_uid=merchant_uid))


@bp.get("/complete")
def complete_opened():
    """The callback's address opened in a browser: say what it is for, rather than letting
    `/checkout/<slug>` look for a plan called "complete"."""
    message = _("This address only takes the payment window's answer. Your payments and "
                "subscriptions are on your account page.")
    body, status = error_response(405, message)
    return body, status, {"Allow": "POST"}


@bp.route("/complete", methods=["POST"])
def complete():
    """The desktop callback: verify `imp_uid` with iamport and tell the order's owner where to go.

    Our order is looked up first: anyone but its owner is answered the same whether or not it
    exists, and costs no lookup at iamport.
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return json_error(400, _("Send a JSON object."))
    imp_uid = clean_uid(body.get("imp_uid"))
    merchant_uid = clean_uid(body.get("merchant_uid"))
    if imp_uid is None or merchant_uid is None:
        return json_error(400, _("imp_uid and merchant_uid are required."))
    if not current_user.is_authenticated:
        # Logged out meanwhile: after logging in, the result page verifies the order.
        message = _("Please log in to see the result of your payment.")
        return jsonify(error={"status": 401, "message": message},
                       redirect=_log_in_first(merchant_uid)), 401
    order = billing.payment_for_owner(merchant_uid, current_user)
    recorded = _recorded_with(imp_uid)
    if order is None or (recorded is not None and recorded.id != order.id):
        return json_error(404, str(NO_RECORD))
    found = billing.verify_return(imp_uid=imp_uid)
    match found.kind:
        case ReturnKind.RECORDED:
            return _recorded_answer(order, imp_uid, found)
        case ReturnKind.NOT_THE_ORDERS:
            return json_error(404, str(NO_RECORD))
        case ReturnKind.UNKNOWN_AT_IAMPORT:
            return json_error(404, str(NOT_AT_IAMPORT))
        case ReturnKind.NO_ANSWER:
            # The result page and the webhook settle it.
            return jsonify(status=PaymentStatus.PENDING, redirect=_result_url(order)), 202


def _recorded_answer(order: Payment, imp_uid: str, found: ReturnResult):
    """The callback's answer once iamport's payment was recorded on one of our orders."""
    payment = found.payment
    if payment.id != order.id:
        # iamport's payment is another order's (recorded now, as a webhook would); not told here.
        log.warning("callback for %s with %s, a payment of order %s", order.merchant_uid, imp_uid,
                    payment.merchant_uid)
        return json_error(404, str(NO_RECORD))
    if found.given_back is not None:
        # Not the order's payment (another amount or card, a test channel): given back. The
        # stored reason may name our MID or amounts: the logs keep it, the shopper reads theirs.
        log.info("callback for %s: %s refused (%s)", order.merchant_uid, imp_uid, found.given_back.reason)
        return jsonify(status="refused", message=refused_text(found.given_back.reason),
                       redirect=_result_url(payment))
    return jsonify(status=payment.status, redirect=_result_url(payment))


@bp.route("/return")
def return_from_window():
    """The mobile `m_redirect_url`: verify first, then send the owner to the result.

    A visitor who is not the order's owner is answered the same whether or not the order
    exists, so that this route tells no one which order ids are real.
    """
    imp_uid = clean_uid(request.args.get("imp_uid"))
    merchant_uid = clean_uid(request.args.get("merchant_uid"))
    if merchant_uid is None and imp_uid is None:
        abort(400, _("The payment window sent us back without an order number."))
    found = billing.verify_return(imp_uid=imp_uid) if imp_uid is not None else None
    payment = found.payment if found is not None else None
    if payment is None and merchant_uid is not None:
        payment = billing.payment_by_merchant_uid(merchant_uid)
    owner = payment is not None and current_user.is_authenticated and current_user.id == payment.user_id
    if not owner:
        if current_user.is_authenticated:
            abort(404, str(NOT_YOURS))
        # Back here after logging in, with only what the visitor sent: nothing in the answer
        # says whether the order or the payment exists, nor which order a payment is of.
        flash(_("Please log in to see the result of your payment."), "info")
        return redirect(url_for("auth.login", next=request.full_path))
    return redirect(_way_back(found, payment))


def _way_back(found: ReturnResult | None, payment: Payment) -> str:
    """Where the mobile return sends the order's owner, with what it flashes (`found` is None
    when the window sent no imp_uid: nothing was looked up)."""
    match found.kind if found is not None else None:
        case ReturnKind.UNKNOWN_AT_IAMPORT:
            flash(str(NOT_AT_IAMPORT), "error")
        case ReturnKind.RECORDED if found.given_back is not None:
            log.info("redirect for %s: %s refused (%s)", payment.merchant_uid,
                     found.given_back.imp_uid, found.given_back.reason)
            flash(refused_text(found.given_back.reason), "error")
        case ReturnKind.RECORDED | None if payment.status == PaymentStatus.PENDING:
            # No payment was made (the window was closed, or never got that far).
            flash(_("The payment was not completed. You can try again whenever you are ready."), "warning")
            return url_for("shop.plan", slug=payment.subscription.plan.slug)
        case _ if _declined_first_payment(payment):
            # Back to the checkout, which says why and opens a new order, as the desktop's
            # stays (a failed order is never offered again).
            return url_for("checkout.start", slug=payment.subscription.plan.slug,
                           declined=payment.merchant_uid)
    return _result_url(payment)


def _declined_first_payment(payment: Payment) -> bool:
    """A first payment the window declined, for a plan the shopper may still buy now."""
    if payment.kind != PaymentKind.FIRST or payment.status != PaymentStatus.FAILED:
        return False
    plan = payment.subscription.plan
    return plan.active and _cannot_buy(plan) is None


def owners_order(merchant_uid: str) -> Payment | None:
    """The logged-in shopper's order with this id, or None (whether or not it exists)."""
    if clean_uid(merchant_uid) is None:
        return None
    return billing.payment_for_owner(merchant_uid, current_user)


# The result page and its status poll live beside this module, on the same blueprint.
from storefront import checkout_result  # noqa: E402,F401
