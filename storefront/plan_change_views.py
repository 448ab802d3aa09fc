"""The account's "Change plan" pages: each other plan's preview, the confirmation that charges an upgrade or sets a downgrade, and calling a waiting downgrade off."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from storefront import billing
from storefront.account import subscription_or_404
from storefront.billing.plan_change import Quote, change_refusal, charging_change, other_plans, quote
from storefront.billing.plan_change_orders import call_off, confirm, offer, offered, plan_refusal
from storefront.errors import error_response
from storefront.formatting import date_long, money
from storefront.i18n import page_language
from storefront.models import Payment, PaymentStatus, Plan
from storefront.payment_window import coming_price_change
from storefront.shop import get_active_plan
from storefront.wording import reason_shown

bp = Blueprint("plan_change", __name__, url_prefix="/account/subscriptions")

# The version of the consent to a new recurring amount (templates/account/_plan_change_consent.html):
# changing its words means a new version.
CONSENT_VERSION = "2026-12-07"


@bp.app_context_processor
def plan_change_helpers() -> dict:
    """For the account page: the upgrade of a subscription still being charged (or reviewed)."""
    return {"charging_change": charging_change}


def consent_version(plan: Plan) -> str:
    """The consent's version for a change to `plan` now: with a coming price change of that
    plan its text names it too, and the version says which ("2026-12-07+pc3"): agreed to here,
    it counts for that change (billing/price_changes.py), as at checkout."""
    coming = coming_price_change(plan)
    return f"{CONSENT_VERSION}+pc{coming.id}" if coming is not None else CONSENT_VERSION


def consent_text_id(plan: Plan) -> str:
    """The consent text's version and the language it is read in, as recorded."""
    return f"{consent_version(plan)}/{page_language()}"


@bp.get("/<int:subscription_id>/plans")
@login_required
def plans(subscription_id: int):
    """Each plan the subscription may change to, with what it charges now and from when."""
    subscription = subscription_or_404(subscription_id)
    refusal = change_refusal(subscription)
    same, other_currency = other_plans(subscription)
    quotes = [] if refusal else [quote(subscription, plan) for plan in same]
    return render_template("account/change_plan.html", subscription=subscription, quotes=quotes,
                           renewal_prices={q.plan.id: next_renewal_price(q) for q in quotes},
                           refusal=refusal, other_currency=other_currency)


def next_renewal_price(shown: Quote) -> Decimal:
    """What the renewal after a change to the quoted plan charges: the plan's coming price when
    it applies by then (the change's consent names it, and counts for it), else its price now."""
    coming = coming_price_change(shown.plan)
    if coming is not None and coming.effective_at <= shown.next_renewal_at:
        return coming.new_price
    return shown.new_price


@bp.route("/<int:subscription_id>/plans/<slug>", methods=["GET", "POST"])
@login_required
def change(subscription_id: int, slug: str):
    """Confirm a change of plan: the amount shown is the amount charged, once, within ten minutes."""
    subscription = subscription_or_404(subscription_id)
    plan = get_active_plan(slug)
    if request.method == "GET":
        try:
            change = offer(subscription, plan)
        except billing.ActionRefused as exc:
            flash(str(exc), "warning")
            return redirect(url_for("plan_change.plans", subscription_id=subscription.id))
        return render_template("account/confirm_plan_change.html", subscription=subscription,
                               change=change, shown=quote(subscription, plan),
                               coming=coming_price_change(plan),
                               consent_version=consent_text_id(plan))
    refusal = plan_refusal(subscription, plan)
    if refusal:
        flash(refusal, "warning")
        return redirect(url_for("account.overview")), 303
    change = offered(subscription, request.form.get("change_token", ""))
    if change is None or change.to_plan_id != plan.id:
        return error_response(400, _("This confirmation is not valid any more. Please open the "
                                     "plan change again and confirm; nothing was charged."))
    if request.form.get("consent") != "yes":
        return error_response(400, _("Please agree to the new recurring amount to change plan; "
                                     "nothing was charged."))
    version = request.form.get("consent_version", "")
    if version.split("/")[0] != consent_version(plan):
        return error_response(400, _("This confirmation is not valid any more. Please open the "
                                     "plan change again and confirm; nothing was charged."))
    try:
        payment = confirm(subscription, change, version[:20])
    except billing.ActionRefused as exc:
        flash(str(exc), "warning")
        return redirect(url_for("account.overview")), 303
    billing.carry_out(subscription.id)
    _flash_outcome(change, payment)
    return redirect(url_for("account.overview")), 303


def _flash_outcome(change, payment: Payment | None) -> None:
    """Tell the shopper what their confirmation did."""
    name = change.to_plan.shown_name
    if change.takes_effect == "period_end":
        flash(_("Your plan changes to %(plan)s on %(date)s. Until then nothing changes, and you can "
                "call the change off on this page.", plan=name, date=date_long(change.period_end)),
              "info")
    elif payment is None:
        flash(_("Your plan is now %(plan)s. Nothing was charged.", plan=name), "success")
    elif payment.status == PaymentStatus.PAID:
        flash(_("Your plan is now %(plan)s. Charged %(amount)s.", plan=name,
                amount=money(payment.amount, payment.currency)), "success")
    elif payment.status == PaymentStatus.FAILED:
        flash(_("The charge was declined: %(reason)s Your plan has not changed.",
                reason=reason_shown(payment.fail_reason)), "error")
    elif payment.status == PaymentStatus.REVIEW:
        flash(_("The charge is held for review by PAYMENTWALL; your plan changes to %(plan)s once it "
                "is approved.", plan=name), "warning")
    else:
        flash(_("We have not heard back from the payment provider yet. Your plan changes to "
                "%(plan)s once the charge is confirmed; you will not be charged twice.", plan=name),
              "warning")


@bp.post("/<int:subscription_id>/plan-change/cancel")
@login_required
def call_off_change(subscription_id: int):
    """Call off the plan change waiting for the period's end."""
    subscription = subscription_or_404(subscription_id)
    try:
        call_off(subscription)
    except billing.ActionRefused as exc:
        flash(str(exc), "warning")
    else:
        billing.carry_out(subscription.id)
        flash(_("The plan change is called off: your subscription renews on %(plan)s as before.",
                plan=subscription.plan.shown_name), "info")
    return redirect(url_for("account.overview")), 303
