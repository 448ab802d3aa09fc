"""Error pages: HTML for browsers, JSON for clients that ask for it."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import format_number, gettext as _, lazy_gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

from storefront.iamport import IamportError

log = logging.getLogger(__name__)

# Our text for each status we answer; werkzeug's own descriptions are English only.
MESSAGES = {
    400: lazy_gettext("The request could not be understood."),
    401: lazy_gettext("Please log in to do that."),
    403: lazy_gettext("You are not allowed to do that."),
    404: lazy_gettext("We could not find that page."),
    405: lazy_gettext("That method is not allowed here."),
    409: lazy_gettext("That conflicts with what is already there."),
    410: lazy_gettext("That page is gone."),
    413: lazy_gettext("The request is too large."),
    415: lazy_gettext("That kind of content is not accepted here."),
    422: lazy_gettext("The request could not be processed."),
    429: lazy_gettext("Too many attempts. Please wait a moment and try again."),
    500: lazy_gettext("Something went wrong on our side. Please try again in a moment."),
    503: lazy_gettext("The service is not available right now. Please try again in a moment."),
}
SOMETHING_WRONG = lazy_gettext("Something went wrong.")
# What a page that needed iamport says when iamport did not answer (or refused our keys).
IAMPORT_SILENT = lazy_gettext("The payment service is not answering. Please try again in a minute.")


# Blueprints only scripts call: answered in JSON whatever they send (iamport posts forms too).
JSON_BLUEPRINTS = {"webhooks"}


def wants_json() -> bool:
    """True when the client asked for JSON (by Accept or by sending JSON), or is a script."""
    if request.is_json or request.blueprint in JSON_BLUEPRINTS:
        return True
    accept = request.accept_mimetypes
    return accept.accept_json and not accept.accept_html


def json_error(status: int, message: str):
    """An error as JSON, for routes only scripts call."""
    return jsonify(error={"status": status, "message": str(message)}), status


def error_response(status: int, message: str | None = None):
    """Render an error in the form the client asked for, in the request's language."""
    message = str(message or MESSAGES.get(status, SOMETHING_WRONG))
    if wants_json():
        return json_error(status, message)
    return render_template("errors/error.html", status=status, message=message), status


def _handle_http(exc: HTTPException):
    status = exc.code or 500
    # Our own aborts carry a readable description; werkzeug's defaults are replaced by ours.
    custom = exc.description if exc.description != type(exc).description else None
    return error_response(status, custom)


def _handle_too_large(exc: RequestEntityTooLarge):
    limit = request.max_content_length
    if (request.mimetype == "multipart/form-data" and request.max_form_memory_size
            and request.content_length is not None and request.content_length <= (limit or 0)):
        # The body fits: one field of the form is over the limit each field has.
        limit = request.max_form_memory_size
    if not limit:
        return error_response(413, _("The request is too large for this address."))
    return error_response(413, _(
        "The request is too large (at most %(limit)s bytes) for this address.",
        limit=format_number(limit)))


def _handle_csrf(exc: CSRFError):
    return error_response(400, _(
        "Your form expired or was sent twice. Please reload the page and try again."))


def _handle_iamport(exc: IamportError):
    # Nothing was settled: a 503 asks to try again, never "no such payment".
    log.warning("%s %s not served: %s", request.method, request.path, exc)
    return error_response(503, IAMPORT_SILENT)


def _handle_unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, where a body nested too deeply to decode is malformed input like any other."""

    def loads(self, s, **kwargs):
        """Decode JSON; RecursionError becomes the ValueError that `get_json` turns into a 400."""
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


def register(app: Flask) -> None:
    """Install the error handlers on the app, and JSON decoding that fails as bad input."""
    app.json = JSONProvider(app)
    app.register_error_handler(CSRFError, _handle_csrf)
    app.register_error_handler(RequestEntityTooLarge, _handle_too_large)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(IamportError, _handle_iamport)
    app.register_error_handler(InternalServerError, _handle_unexpected)
    app.register_error_handler(Exception, _handle_unexpected)
