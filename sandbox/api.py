"""The REST API (iamport V1): the token check, faults and refusals that all its endpoints share."""
from __future__ import annotations

from flask import Blueprint, Response, request

from . import api_payments, api_subscribe, auth, faults
from .envelope import CODE_FAILED, ApiError, envelope, read_body
from .state import current

bp = Blueprint("sandbox_api", __name__)
# The endpoints by area; the checks and error handler below hold for them too.
bp.register_blueprint(api_payments.bp)
bp.register_blueprint(api_subscribe.bp)

# The refusal statuses iamport's OpenAPI description declares per endpoint, besides 401. Any other
# refusal (a missing or malformed field, an unreadable body, an unknown id where no 404 is
# declared) is answered as iamport answers a declined request: HTTP 200, code -1 and a message.
DECLARED_STATUSES: dict[str, frozenset[int]] = {
    "sandbox_api.payments.get_payment": frozenset({404}),
    "sandbox_api.payments.find_payment": frozenset({404}),
    "sandbox_api.payments.payments_by_status": frozenset({400}),
    "sandbox_api.subscribe.list_schedules": frozenset({400}),
    "sandbox_api.subscribe.get_schedule": frozenset({404}),
    "sandbox_api.subscribe.get_customer": frozenset({404}),
    "sandbox_api.subscribe.delete_customer": frozenset({404}),
    "sandbox_api.subscribe.customer_payments": frozenset({404}),
}


@bp.before_request
def guard() -> Response | None:
    """Faults first, then the token check every endpoint but getToken makes."""
    sb = current()
    injected = faults.before_request(sb)
    if injected is not None:
        return injected
    if request.endpoint == "sandbox_api.get_token":
        return None
    if not auth.token_is_valid(sb, auth.token_from_request(request)):
        return envelope(None, code=CODE_FAILED, message="Unauthorized: a valid access token is required.",
                        status=401)
    return None


@bp.after_request
def maybe_hang(response: Response) -> Response:
    """The hang fault holds the finished answer back."""
    return faults.after_request(current(), response)


@bp.errorhandler(ApiError)
def api_error(exc: ApiError) -> Response:
    """Every refusal leaves in the envelope, with a status the endpoint's description declares."""
    status = exc.status
    if status not in (200, 401) and status not in DECLARED_STATUSES.get(request.endpoint or "", ()):
        status = 200
    return envelope(None, code=exc.code, message=exc.message, status=status)


@bp.post("/users/getToken")
def get_token() -> Response:
    """Issue (or reuse, or extend) the access token of the REST key pair."""
    sb = current()
    body = read_body()
    imp_key, imp_secret = body.get("imp_key"), body.get("imp_secret")
    if not auth.keys_match(sb, imp_key, imp_secret):
        return envelope(None, code=CODE_FAILED, message="Unauthorized: imp_key or imp_secret is wrong.",
                        status=401)
    return envelope(auth.issue_token(sb, str(imp_key)))
