"""The account's actions that end a subscription or keep it: cancel, withdraw (청약철회), resume, and agreeing to a new price."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from storefront import billing
from storefront.account import MAX_ID, bp, subscription_or_404
from storefront.billing import price_changes
from storefront.ending_words import refund_said
from storefront.errors import error_response
from storefront.formatting import date_long, money


@bp.route("/subscriptions/<int:subscription_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(subscription_id: int):
    """Confirm (the one "are you sure"), then cancel at the period's end or now; now refunds
    what billing.ending's rule says, which the page says first."""
    subscription = subscription_or_404(subscription_id)
    if request.method == "GET":
        refund = billing.refund_on_ending_now(subscription)
        return render_template("account/confirm_cancel.html", subscription=subscription,
                               refund=refund, refund_said=refund_said(refund))
    when = request.form.get("when")
    if when not in {"period_end", "now"}:
        return error_response(400, _("Choose whether to cancel now or at the end of the period."))
    try:
        if when == "now":
            refund = billing.end_now(subscription)
        else:
            billing.cancel(subscription, at_period_end=True)
    except billing.ActionRefused as exc:
        flash(str(exc), "warning")
    else:
        # Committed: the schedule is withdrawn, the key deleted and the refunds asked for now,
        # or by reconcile.
        billing.carry_out(subscription.id)
        if when == "period_end":
            end = date_long(subscription.current_period_end)
            flash(_("Your subscription ends on %(date)s. You keep access until then.", date=end), "info")
        else:
            flash(_("Your subscription is cancelled and your card removed.") + " " + refund_said(refund), "info")
    return redirect(url_for("account.overview")), 303


@bp.route("/subscriptions/<int:subscription_id>/withdraw", methods=["GET", "POST"])
@login_required
def withdraw(subscription_id: int):
    """Withdrawal (청약철회) within the withdrawal period: one confirmation, then the
    subscription ends at once and every payment of the period is refunded in full."""
    subscription = subscription_or_404(subscription_id)
    if current_app.config["WITHDRAWAL_DAYS"] <= 0:
        abort(404)
    if subscription.status not in billing.LIVE_STATUSES or not billing.withdrawal_open(subscription):
        return error_response(409, _("The withdrawal period of this subscription has ended; you can "
                                     "still cancel it from your account."))
    if request.method == "GET":
        refund = billing.refund_on_ending_now(subscription)
        return render_template("account/confirm_withdraw.html", subscription=subscription,
                               refund=refund, refund_said=refund_said(refund))
    try:
        refund = billing.end_now(subscription, withdrawal=True)
    except billing.ActionRefused as exc:
        flash(str(exc), "warning")
    else:
        billing.carry_out(subscription.id)
        flash(_("Your subscription is withdrawn and has ended; your card is removed.") + " "
              + refund_said(refund), "info")
    return redirect(url_for("account.overview")), 303


@bp.route("/subscriptions/<int:subscription_id>/resume", methods=["GET", "POST"])
@login_required
def resume(subscription_id: int):
    """Confirm, then resume a subscription that was ending."""
    subscription = subscription_or_404(subscription_id)
    if request.method == "GET":
        return render_template("account/confirm_resume.html", subscription=subscription)
    try:
        billing.resume(subscription)
    except billing.ActionRefused as exc:
        flash(str(exc), "warning")
    else:
        billing.carry_out(subscription.id)
        flash(_("Welcome back! Your subscription renews as before."), "success")
    return redirect(url_for("account.overview")), 303


@bp.route("/subscriptions/<int:subscription_id>/price-consent", methods=["POST"])
@login_required
def agree_to_price(subscription_id: int):
    """The subscriber's explicit consent to the new price asked for their next renewal (the
    notice's button; CSRF as every form): recorded with the text's version, then renewed at it."""
    subscription = subscription_or_404(subscription_id)
    change_id = request.form.get("change_id", "")
    if not change_id.isdigit() or int(change_id) > MAX_ID:
        return error_response(400, _("This form is not valid. Please reload the page."))
    try:
        price_changes.agree(subscription, int(change_id), request.form.get("text_version", ""))
    except billing.ActionRefused as exc:
        flash(str(exc), "warning")
    else:
        flash(_("Thank you: your subscription renews on %(date)s at %(price)s.",
                date=date_long(subscription.current_period_end),
                price=money(subscription.price, subscription.plan.currency)), "success")
    return redirect(url_for("account.overview")), 303
