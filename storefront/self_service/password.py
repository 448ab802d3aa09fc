"""Forgotten password (a mailed link valid one hour, once) and changing the password."""

from __future__ import annotations

import logging
from functools import partial

from flask import Flask, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from storefront.auth import find_user, start_session
from storefront.extensions import db
from storefront.i18n import page_language
from storefront.mail import queued_here, send_due
from storefront.models import User, utcnow
from storefront.self_service import bp
from storefront.self_service.common import link_unusable, refused, wrong_password
from storefront.self_service.forms import ChangePasswordForm, ForgotForm, NewPasswordForm
from storefront.self_service.mails import send_reset, tell_password_changed
from storefront.self_service.tokens import user_of_reset

log = logging.getLogger(__name__)


@bp.route("/auth/forgot", methods=["GET", "POST"])
def forgot():
    """Ask for a reset link. The answer is the same whether or not the address has an account,
    reached by the same work (see mails.send_reset); the mail goes out after the answer."""
    form = ForgotForm()
    if form.validate_on_submit():
        email = User.normalize_email(form.email.data)
        # The answer is made before the account is even looked up: nothing in it, nor in the
        # time it takes, can depend on whether the address has one.
        response = make_response(render_template("self_service/forgot_sent.html", email=email))
        response.call_on_close(partial(reset_after_answer, current_app._get_current_object(),
                                       email, page_language()))
        return response
    if request.method == "POST":
        return refused("self_service/forgot.html", form, 400)
    return render_template("self_service/forgot.html", form=form, error=None)


def reset_after_answer(app: Flask, email: str, language: str) -> None:
    """Look the address up and mail its reset link (see mails.send_reset), once the answer is out."""
    with app.app_context():
        try:
            user = find_user(email)
            send_reset(user if user is not None and user.erased_at is None else None, email, language)
            db.session.commit()
            if queued := queued_here():
                send_due(only=queued)
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("the reset link for a forgotten password could not be queued")


@bp.route("/auth/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    """Set a new password with a reset link: every other session ends, this one logs in, and the
    address counts as confirmed (the link reached it)."""
    user = user_of_reset(token)
    if user is None:
        return link_unusable()
    form = NewPasswordForm(email=user.email, first_name=user.first_name, last_name=user.last_name)
    if form.validate_on_submit():
        user.set_password(form.password.data)
        user.email_confirmed_at = user.email_confirmed_at or utcnow()
        tell_password_changed(user)
        start_session(user)  # new session token: every other session and remember cookie ends
        flash(_("Your password is changed and you are logged in."), "success")
        return redirect(url_for("account.overview"))
    if request.method == "POST":
        return refused("self_service/reset.html", form, 400)
    return render_template("self_service/reset.html", form=form, error=None)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change the password, given the current one; every other session ends."""
    user: User = current_user._get_current_object()
    form = ChangePasswordForm(email=user.email, first_name=user.first_name, last_name=user.last_name)
    if form.validate_on_submit():
        if not user.check_password(form.current.data):
            return refused("self_service/change_password.html", form, 400, wrong_password())
        user.set_password(form.password.data)
        tell_password_changed(user)
        start_session(user)
        flash(_("Your password is changed. Other devices are logged out."), "success")
        return redirect(url_for("account.overview"))
    if request.method == "POST":
        return refused("self_service/change_password.html", form, 400)
    return render_template("self_service/change_password.html", form=form, error=None)
