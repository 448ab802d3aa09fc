"""Error pages: HTML for browsers, JSON for clients that ask for it."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

from storefront.iamport import IamportError

log = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to do that.",
    404: "We could not find that page.",
    405: "That method is not allowed here.",
    413: "The request is too large.",
    429: "Too many attempts. Please wait a moment and try again.",
    500: "Something went wrong on our side. Please try again in a moment.",
}
# What a page that needed iamport says when iamport did not answer (or refused our keys).
IAMPORT_SILENT = "The payment service is not answering. Please try again in a minute."


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
    return jsonify(error={"status": status, "message": message}), status


def error_response(status: int, message: str | None = None):
    """Render an error in the form the client asked for."""
    message = message or MESSAGES.get(status, "Something went wrong.")
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
    size = f" (at most {limit:,} bytes)" if limit else ""
    return error_response(413, f"The request is too large{size} for this address.")


def _handle_csrf(exc: CSRFError):
    return error_response(400, "Your form expired or was sent twice. Please reload the page and try again.")


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
