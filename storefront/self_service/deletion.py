"""Deleting the account: what happens shown first, the password asked, money still open finished first."""

from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from storefront import billing
from storefront.auth import end_session
from storefront.ending_words import refund_said
from storefront.extensions import db
from storefront.models import Subscription, User
from storefront.self_service import bp
from storefront.self_service.common import refused, wrong_password
from storefront.self_service.erasure import erase
from storefront.self_service.forms import DeleteAccountForm

log = logging.getLogger(__name__)


def _page(form: DeleteAccountForm, user: User, status: int = 200, error: str | None = None):
    live = list(db.session.execute(
        db.select(Subscription).where(Subscription.user_id == user.id,
                                      Subscription.status.in_(billing.LIVE_STATUSES))
        .order_by(Subscription.id)).scalars())
    context = {"live": live, "refund": {sub.id: refund_said(billing.refund_on_ending_now(sub)) for sub in live},
               "money_open": billing.money_open(user)}
    if status == 200:
        return render_template("self_service/delete.html", form=form, error=error, **context)
    return refused("self_service/delete.html", form, status, error, **context)


@bp.route("/account/delete", methods=["GET", "POST"])
@login_required
def delete_account():
    """Show what deleting the account does; with the password, do it: subscriptions end now
    with what ending now refunds (billing.ending), billing keys are deleted at iamport (reconcile retries), personal data is erased."""
    user: User = current_user._get_current_object()
    form = DeleteAccountForm()
    if request.method == "GET":
        return _page(form, user)
    if not form.validate_on_submit():
        return _page(form, user, 400)
    if not user.check_password(form.current.data):
        return _page(form, user, 400, wrong_password())
    if billing.money_open(user):
        return _page(form, user, 409, _("A payment or refund of yours is still under way. Your "
                                        "account can be deleted once it has finished."))
    try:
        ended = billing.end_all_now(user)
    except billing.ActionRefused as exc:  # a refund that changed meanwhile: nothing of it is kept
        return _page(form, user, 409, str(exc))
    for subscription_id in ended:
        # Committed: what is left undone here (a key iamport did not delete) reconcile retries.
        billing.carry_out(subscription_id)
    erase(user)
    end_session()
    flash(_("Your account is deleted. Thank you for having been with us."), "info")
    return redirect(url_for("shop.catalog")), 303
