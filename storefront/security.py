"""Security headers on every response, and request bodies refused (413) past their limit."""

from __future__ import annotations

from typing import IO
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from flask import Request as FlaskRequest
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

QUOTED_NONE = "'none'"
# Their pages show a shopper's account, orders and card: never kept by a browser or proxy cache.
NO_STORE_BLUEPRINTS = frozenset({"auth", "account", "checkout"})


class _CappedStream(LimitedStream):
    """A body without Content-Length, read up to the limit and refused (413) if it goes on."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        # One byte more than allowed, so that a body that runs past the limit is told from
        # one that ends exactly at it (werkzeug's own stream silently stops at the limit).
        super().__init__(stream, limit + 1, is_max=True)
        self._allowed = limit

    def readinto(self, b: bytearray) -> int | None:  # type: ignore[override]
        read = super().readinto(b)
        if self._pos > self._allowed:
            raise RequestEntityTooLarge()
        return read


class Request(FlaskRequest):
    """Flask's request, where a chunked body over the limit is refused rather than cut short."""

    @cached_property
    def stream(self) -> IO[bytes]:
        """The body, as werkzeug gives it; a body of unknown length is capped at the limit."""
        limit = self.max_content_length
        if (self.content_length is None and limit is not None and not self.shallow
                and self.environ.get("wsgi.input_terminated")):
            return _CappedStream(self.environ["wsgi.input"], limit)  # type: ignore[return-value]
        return super().stream


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(app: Flask) -> str:
    """Scripts only from us and the SDK's origin; the payment window is the only frame."""
    sdk = _origin(app.config["IAMPORT_SDK_URL"])
    # The SDK talks to its own servers and frames the payment window from them.
    provider = " ".join(dict.fromkeys(filter(None, [
        sdk, _origin(app.config.get("SANDBOX_URL") or ""), *app.config["IAMPORT_CSP_ORIGINS"],
    ])))
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' {sdk}".strip(),
        "style-src 'self'",
        "img-src 'self' data:",
        f"connect-src 'self' {provider}".strip(),
        f"frame-src {provider or QUOTED_NONE}",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "object-src 'none'",
        f"form-action 'self' {provider}".strip(),
    ])


def _add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", current_app.config["_CSP"])
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    hsts = current_app.config.get("STRICT_TRANSPORT_SECURITY")
    if hsts:
        headers.setdefault("Strict-Transport-Security", hsts)
    if request.blueprint in NO_STORE_BLUEPRINTS or _shows_a_shopper(response):
        # The back button after log-out, or the next user of a shared computer, finds nothing.
        headers["Cache-Control"] = "no-store"
    return response


def _shows_a_shopper(response: Response) -> bool:
    # Any page of a logged-in shopper carries their name and the log-out form's CSRF token.
    return response.mimetype == "text/html" and current_user.is_authenticated


def register(app: Flask) -> None:
    """Compute the policy once, add the headers to every response, cap request bodies."""
    app.request_class = Request
    app.config["_CSP"] = content_security_policy(app)
    app.after_request(_add_headers)
