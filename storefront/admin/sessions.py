"""Staff sessions held tighter than shoppers': no remember cookie, an idle timeout, the log-in's age for re-authentication, log-ins audited."""

from __future__ import annotations

import logging
import time

from flask import current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from storefront.admin import bp
from storefront.admin.audit_log import record_action
from storefront.errors import error_response, wants_json
from storefront.extensions import db
from storefront.models import User

log = logging.getLogger(__name__)

# Kept in the session, in seconds of the system clock (sessions never follow the shop's clock,
# which the sandbox moves by days): when the staff member last logged in (or gave the password
# again), and when they last asked for a page.
LOGIN_AT = "staff_login_at"
SEEN_AT = "staff_seen_at"
WRONG_PASSWORDS = "staff_wrong_passwords"
# A money action asks for the password again when the last log-in is older than this.
REAUTH_AFTER_SECONDS = 15 * 60
# Wrong passwords given again after which the session ends (a session left open on a shared
# computer must not become a way to guess the password without the log-in's throttle).
WRONG_PASSWORDS_ALLOWED = 5


def logged_in(user: User) -> None:
    """Write a staff log-in to the audit log (the caller commits, with the log-in; the
    session's clocks are started by mark_session)."""
    record_action("staff_login", target_type="user", target_id=user.id, outcome="ok", actor=user)


def mark_session() -> None:
    """Stamp the new session of a staff member who just logged in (after it was cleared)."""
    now = time.time()
    session[LOGIN_AT] = now
    session[SEEN_AT] = now


def log_in_failed(user: User) -> None:
    """Write a failed log-in of a staff account to the audit log, and commit it."""
    record_action("staff_login_failed", target_type="user", target_id=user.id, outcome="refused",
                  detail="wrong password", actor=user)
    db.session.commit()


def needs_password() -> bool:
    """Whether this staff session's last log-in is too old for a money action."""
    login_at = session.get(LOGIN_AT)
    return not isinstance(login_at, (int, float)) or time.time() - login_at > REAUTH_AFTER_SECONDS


def password_given() -> None:
    """The password was given again: the log-in counts as fresh from now."""
    session[LOGIN_AT] = time.time()
    session.pop(WRONG_PASSWORDS, None)


def wrong_password() -> bool:
    """Count a wrong password given again; True when that was one too many (the caller then
    ends the session with `log_out`)."""
    count = int(session.get(WRONG_PASSWORDS) or 0) + 1
    session[WRONG_PASSWORDS] = count
    return count >= WRONG_PASSWORDS_ALLOWED


def log_out(message: str):
    """End this staff session now and send the browser to the log-in page (a script gets 401)."""
    session.clear()
    logout_user()  # after the clear: it marks any remember cookie for deletion
    if wants_json():
        return error_response(401, message)
    flash(message, "info")
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target))


@bp.before_app_request
def _end_idle_staff_session():
    """Log a staff member out after STAFF_SESSION_MINUTES without a request, on any page, and
    send them to the log-in page; a session that began before the account was staff (so never
    stamped) ends too."""
    if request.endpoint == "static" or not current_user.is_authenticated or not current_user.is_staff:
        return None
    now = time.time()
    minutes = current_app.config["STAFF_SESSION_MINUTES"]
    seen = session.get(SEEN_AT)
    if isinstance(seen, (int, float)) and isinstance(session.get(LOGIN_AT), (int, float)) \
            and now - seen <= minutes * 60:
        session[SEEN_AT] = now
        return None
    log.info("staff session of user %s ended (idle since %s)", current_user.id, seen)
    if isinstance(seen, (int, float)):
        return log_out(_("Your back-office session ended after %(minutes)d minutes without "
                         "activity. Please log in again.", minutes=minutes))
    return log_out(_("Please log in again."))
