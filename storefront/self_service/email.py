"""The account's address: confirming it after sign-up, and moving the account to another one."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from storefront.auth import TAKEN, find_user
from storefront.extensions import db
from storefront.models import User, utcnow
from storefront.self_service import bp
from storefront.self_service.common import link_unusable, refused, wrong_password
from storefront.self_service.forms import ChangeEmailForm
from storefront.self_service.mails import send_confirmation, send_email_change, tell_old_address
from storefront.self_service.tokens import email_change_of, user_of_confirmation


@bp.route("/account/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """Confirm the address with the sign-up mail's link (a page with a button: a mail scanner
    that opens links confirms nothing)."""
    user = user_of_confirmation(token)
    if user is None:
        return link_unusable()
    if user.email_confirmed_at is not None:
        flash(_("Your e-mail address is confirmed."), "success")
        return redirect(url_for("account.overview" if current_user.is_authenticated else "auth.login"))
    if request.method == "POST":
        user.email_confirmed_at = user.email_confirmed_at or utcnow()
        db.session.commit()
        flash(_("Your e-mail address is confirmed."), "success")
        return redirect(url_for("account.overview" if current_user.is_authenticated else "auth.login"))
    return render_template("self_service/confirm.html", email=user.email,
                           heading=_("Confirm your e-mail address"),
                           button=_("Confirm %(email)s", email=user.email))


@bp.post("/account/confirm/resend")
@login_required
def resend_confirmation():
    """Mail the confirmation link again (one mail per address in each window)."""
    user: User = current_user._get_current_object()
    if user.email_confirmed_at is None:
        send_confirmation(user)
        db.session.commit()
    flash(_("We sent a confirmation link to %(email)s (at most one every 10 minutes: if it has "
            "not arrived, look in your spam folder).", email=user.email), "info")
    return redirect(url_for("account.overview"))


@bp.route("/account/email", methods=["GET", "POST"])
@login_required
def change_email():
    """Ask to move the account to another address: a link mailed there confirms it."""
    user: User = current_user._get_current_object()
    form = ChangeEmailForm()
    if form.validate_on_submit():
        new_email = User.normalize_email(form.email.data)
        if not user.check_password(form.current.data):
            return refused("self_service/change_email.html", form, 400, wrong_password())
        if new_email == user.email:
            return refused("self_service/change_email.html", form, 400,
                           _("This is already your e-mail address."))
        if find_user(new_email) is not None:
            form.email.errors.append(str(TAKEN))
            return refused("self_service/change_email.html", form, 409)
        send_email_change(user, new_email)
        db.session.commit()
        return render_template("self_service/change_email_sent.html", email=new_email)
    if request.method == "POST":
        return refused("self_service/change_email.html", form, 400)
    return render_template("self_service/change_email.html", form=form, error=None)


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str):
    """Move the account to the new address with the link mailed there; the old address is told.
    The subscriptions keep charging their keys with the address each key was issued with."""
    change = email_change_of(token)
    if change is None:
        return link_unusable()
    user, new_email = change
    if request.method == "GET":
        return render_template("self_service/confirm.html", email=new_email,
                               heading=_("Change your e-mail address"),
                               button=_("Use %(email)s", email=new_email))
    if find_user(new_email) is not None:
        return link_unusable(str(TAKEN))
    old_email = user.email
    user.email = new_email
    user.email_confirmed_at = utcnow()
    tell_old_address(user, old_email)
    try:
        db.session.commit()
    except IntegrityError:
        # Taken at this moment by a sign-up: the unique index decides.
        db.session.rollback()
        return link_unusable(str(TAKEN))
    flash(_("Your e-mail address is now %(email)s.", email=new_email), "success")
    return redirect(url_for("account.overview" if current_user.is_authenticated else "auth.login"))
