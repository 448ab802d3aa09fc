"""The merchant's back office under /admin: for staff only, and invisible (404) to everyone else."""

from __future__ import annotations

from flask import Blueprint, abort, request
from flask_login import current_user
from werkzeug.exceptions import MethodNotAllowed

from storefront.account import MAX_ID
from storefront.errors import error_response

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _staff_only() -> None:
    """Answer as if nothing were here unless the visitor is logged in as staff: a 403 or a
    log-in page would tell a stranger that a back office exists, and where."""
    if not is_staff():
        abort(404)


def is_staff() -> bool:
    """Whether the visitor is logged in as staff."""
    return bool(current_user.is_authenticated and current_user.is_staff)


@bp.app_errorhandler(MethodNotAllowed)
def _wrong_method(exc: MethodNotAllowed):
    """A wrong method under /admin is answered before the blueprint's own check runs: to anyone
    but staff it must look like any unknown address, not a 405 that says a route is there."""
    if (request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/")) and not is_staff():
        return error_response(404)
    return error_response(405)


@bp.url_value_preprocessor
def _ids_in_range(_endpoint: str | None, values: dict | None) -> None:
    """A record id past what the database holds (ids are 32-bit in PostgreSQL) is a page that
    does not exist, not a query that fails."""
    if any(isinstance(value, int) and value > MAX_ID for value in (values or {}).values()):
        abort(404)


@bp.after_request
def _never_cached(response):
    """Back-office pages carry customers' data: no shared or browser cache keeps them."""
    response.headers["Cache-Control"] = "no-store"
    return response


# The views register themselves on `bp`; imported last, as they import it.
from storefront.admin import dashboard  # noqa: E402,F401
from storefront.admin import payment_page, subscription_page  # noqa: E402,F401
from storefront.admin import payments_list, plans, subscriptions_list  # noqa: E402,F401
from storefront.admin import actions, audit_log, confirm, sessions  # noqa: E402,F401
from storefront.admin import money_actions, plan_prices  # noqa: E402,F401
from storefront.admin import webhook_log  # noqa: E402,F401
