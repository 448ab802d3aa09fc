"""Sign-up's consents on the account, and the page that asks an older account for those it lacks."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for,
)
from flask_babel import gettext as _, lazy_gettext
from flask_login import current_user, login_required

from storefront.errors import wants_json
from storefront.extensions import db
from storefront.forms import ConsentsForm
from storefront.legal import PRIVACY_VERSION, TERMS_VERSION
from storefront.models import User, utcnow

bp = Blueprint("consents", __name__, url_prefix="/auth")

# The consents, as the forms name them: the terms of use (이용약관), the collection and use of
# personal information (개인정보 수집·이용, 개인정보 보호법 §15, §22) and "14 or older" (§22-2).
ALL = ("terms", "privacy", "age")

# Pages that use the account as a customer: an account lacking a consent is sent to give it
# first. What stays open: the catalog, the legal pages, log-in and log-out, the payment window's
# answers (a payment already made is recorded whatever happens), the webhooks, e-mail and
# password changes, and deleting the account, a way out that needs no consent. The back office
# is staff work, not the use of the service, and stays open too.
GATED_BLUEPRINTS = {"account", "card", "checkout"}
OPEN_ENDPOINTS = {
    "checkout.complete", "checkout.complete_opened", "checkout.return_from_window",
    "checkout.result_status", "account.status",
}

ASK_FIRST = lazy_gettext("Please give the consents below to continue.")


def missing(user: User) -> list[str]:
    """The consents the account has not given, or gave to an older version of the text."""
    lacking = []
    if user.terms_consent_at is None or user.terms_version != TERMS_VERSION:
        lacking.append("terms")
    if user.privacy_consent_at is None or user.privacy_version != PRIVACY_VERSION:
        lacking.append("privacy")
    if user.age_confirmed_at is None:
        lacking.append("age")
    return lacking


def record(user: User, names: tuple[str, ...] | list[str] = ALL,
           when: datetime | None = None) -> None:
    """Record the named consents as given now, to the texts in force; the caller commits."""
    when = when or utcnow()
    if "terms" in names:
        user.terms_consent_at, user.terms_version = when, TERMS_VERSION
    if "privacy" in names:
        user.privacy_consent_at, user.privacy_version = when, PRIVACY_VERSION
    if "age" in names:
        user.age_confirmed_at = when


def ask_url(next_url: str | None = None) -> str:
    """The consents page, coming back to `next_url` once they are given."""
    return url_for("consents.ask", next=next_url or None)


@bp.route("/consents", methods=["GET", "POST"])
@login_required
def ask():
    """Ask for the consents this account lacks, only those, and record them."""
    from storefront.auth import safe_next  # here: auth sends its log-ins to this page

    lacking = missing(current_user)
    target = safe_next(request.args.get("next"), "account.overview")
    if not lacking:
        return redirect(target)
    form = ConsentsForm()
    for name in ALL:
        if name not in lacking:
            delattr(form, name)
    if form.validate_on_submit():
        record(current_user, lacking)
        db.session.commit()
        flash(_("Thank you. Your consents are recorded."), "success")
        return redirect(target)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/consents.html", form=form), status


def _gate():
    """Send an account lacking a consent from a customer's page to the consents page."""
    if request.blueprint not in GATED_BLUEPRINTS or request.endpoint in OPEN_ENDPOINTS:
        return None
    if not current_user.is_authenticated or not missing(current_user):
        return None
    back = request.full_path.rstrip("?") if request.method == "GET" else None
    target = ask_url(back)
    if wants_json():
        return jsonify(error={"status": 403, "message": str(ASK_FIRST)}, redirect=target), 403
    flash(str(ASK_FIRST), "info")
    return redirect(target)


def register(app: Flask) -> None:
    """Add the consents page and the check in front of the customer's pages."""
    app.register_blueprint(bp)
    app.before_request(_gate)
