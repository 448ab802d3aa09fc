"""Register, log in and log out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint, current_app, flash, g, jsonify, make_response, redirect, render_template, request,
    session, url_for,
)
from flask_babel import gettext as _, lazy_gettext
from flask_login import current_user, login_required, login_url, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError

from storefront import consents
from storefront.errors import error_response, wants_json
from storefront.extensions import db, login_manager
from storefront.forms import LoginForm, RegisterForm
from storefront.i18n import page_language, visitor_language
from storefront.models import User
from storefront.throttle import (
    clear_failures, known_device, login_wait, record_failure, remember_device, wait_text,
)

bp = Blueprint("auth", __name__, url_prefix="/auth")

login_manager.login_view = "auth.login"
LOG_IN_FIRST = lazy_gettext("Please log in to continue.")

TAKEN = lazy_gettext("An account with this e-mail already exists. Please log in.")


@login_manager.unauthorized_handler
def log_in_first():
    """A page of a logged-in shopper asked for without a log-in: a page goes to the log-in page
    and comes back; a script (the checkout's) gets a 401 saying where to log in."""
    target = login_url(login_manager.login_view, next_url=request.url)
    if wants_json():
        return jsonify(error={"status": 401, "message": str(LOG_IN_FIRST)}, redirect=target), 401
    # Flashed as a plain string: a lazy one would come back from the session as markup.
    flash(str(LOG_IN_FIRST), "info")
    return redirect(target)


@login_manager.user_loader
def load_user(session_token: str) -> User | None:
    """Find the logged-in user by the session token kept in the session or remember cookie."""
    return db.session.execute(
        db.select(User).where(User.session_token == session_token)
    ).scalar_one_or_none()


def _new_session() -> None:
    """Forget everything the session held, the CSRF token with it (a new one is made on use)."""
    session.clear()
    # Flask-WTF keeps this request's token in g as well; a page rendered after this needs a new one.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


def start_session(user: User, remember: bool = False) -> None:
    """Log the user in on a new session and a new session token: every earlier session and
    remember cookie of the user, on any device, stops working. Staff get no remember cookie,
    and their log-in is audited (storefront/admin/sessions.py)."""
    from storefront.admin import sessions as staff_sessions  # here: admin's views import billing

    _new_session()
    user.end_all_sessions()
    # The language picked on this browser's switch is the latest choice: the account keeps it.
    user.locale = visitor_language() or user.locale
    if user.is_staff:
        staff_sessions.logged_in(user)
    db.session.commit()
    login_user(user, remember=remember and not user.is_staff)
    if user.is_staff:
        staff_sessions.mark_session()


def end_session() -> None:
    """Log out and rotate the session token, so no copy of this session or its remember
    cookie logs in again."""
    user = current_user._get_current_object()
    _new_session()
    logout_user()  # after the clear: it marks the remember cookie for deletion in the session
    if isinstance(user, User):
        user.end_all_sessions()
        db.session.commit()


def safe_next(target: str | None, default: str = "shop.catalog") -> str:
    """The `next` target when it stays on this site, else the default page."""
    # A control character would end up in the Location header (and browsers drop tabs in URLs).
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target or ""):
        return url_for(default)
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for(default)


def find_user(email: str) -> User | None:
    """The user with this e-mail, whatever its letter case."""
    return db.session.execute(
        db.select(User).where(User.email == User.normalize_email(email))
    ).scalar_one_or_none()


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create an account and log it in."""
    if current_user.is_authenticated:
        return redirect(url_for("account.overview"))
    from storefront.self_service.mails import send_confirmation  # here: self_service imports auth

    form = RegisterForm()
    taken = False  # the e-mail has an account: 409, not 400
    if form.validate_on_submit():
        email = User.normalize_email(form.email.data)
        if find_user(email) is not None:
            form.email.errors.append(str(TAKEN))
            taken = True
        else:
            # The page's language is the account's from the start: its mail is written in it.
            user = User(email=email, first_name=form.first_name.data, last_name=form.last_name.data,
                        locale=page_language())
            consents.record(user, consents.ALL)  # the form refuses a sign-up without each one
            user.set_password(form.password.data)
            db.session.add(user)
            try:
                db.session.flush()
                send_confirmation(user)  # written with the account; sent after the answer
                db.session.commit()
            except IntegrityError:
                # Two sign-ups with one address at the same moment: the unique index decides.
                db.session.rollback()
                form.email.errors.append(str(TAKEN))
                taken = True
            else:
                start_session(user)
                flash(_("Welcome! Your account is ready."), "success")
                response = redirect(safe_next(request.args.get("next"), "account.overview"))
                remember_device(response, email)
                return response
    if request.method == "POST":
        return _refused("auth/register.html", form, 409 if taken else 400)
    return render_template("auth/register.html", form=form)


def _refused(template: str, form: FlaskForm, status: int, error: str | None = None):
    """The form again with what is wrong, or the first problem as JSON for a client that asked."""
    if wants_json():
        problems = [problem for errors in form.errors.values() for problem in errors]
        return error_response(status, error or next(iter(problems), None))
    return render_template(template, form=form, error=error), status


def _throttled(form: FlaskForm, wait: int):
    """The log-in form again, saying how long this e-mail must wait from this address."""
    error = _("Too many failed attempts. Please wait %(wait)s and try again.", wait=wait_text(wait))
    response = make_response(_refused("auth/login.html", form, 429, error))
    response.headers["Retry-After"] = str(wait)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with e-mail and password, then go to a safe `next`."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next"), "account.overview"))
    form = LoginForm()
    if form.validate_on_submit():
        email = User.normalize_email(form.email.data)
        device = known_device(email)
        wait = login_wait(email, request.remote_addr, device)
        if wait:
            return _throttled(form, wait)
        user = find_user(email)
        if not User.log_in_check(user, form.password.data):
            record_failure(email, request.remote_addr, device)
            if user is not None and user.is_staff:
                from storefront.admin import sessions as staff_sessions

                staff_sessions.log_in_failed(user)
            return _refused("auth/login.html", form, 401, _("Wrong e-mail or password."))
        clear_failures(email, request.remote_addr, device)
        start_session(user, remember=form.remember.data)
        # "Ada" in English; a Korean shop greets by the whole name, family name first (홍길동님).
        name = user.full_name if page_language() == "ko" else user.first_name
        flash(_("Welcome back, %(name)s.", name=name), "success")
        target = safe_next(request.args.get("next"), "account.overview")
        if consents.missing(user):
            # An account made before sign-up asked each consent gives the missing ones first.
            target = consents.ask_url(request.args.get("next") and target)
        response = redirect(target)
        remember_device(response, email)
        return response
    if request.method == "POST":
        return _refused("auth/login.html", form, 400)
    return render_template("auth/login.html", form=form, error=None)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (POST only, so a link on another site cannot log a shopper out)."""
    end_session()
    flash(_("You are logged out."), "info")
    return redirect(url_for("shop.catalog"))
