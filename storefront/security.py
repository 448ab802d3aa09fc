"""Security headers, request size limits, rate limits and the throttle on failed log-ins."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import IO
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, Response, current_app
from flask import Request as FlaskRequest
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from storefront.extensions import db
from storefront.models import LoginThrottle, utcnow

# Failed log-ins allowed per e-mail address and per client address inside the window.
MAX_FAILURES = {"email": 5, "ip": 20}
WINDOW = timedelta(minutes=15)
QUOTED_NONE = "'none'"


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
    return response


def register(app: Flask) -> None:
    """Compute the policy once and add the headers to every response."""
    app.request_class = Request
    app.config["_CSP"] = content_security_policy(app)
    app.after_request(_add_headers)


def _address(ip: str | None) -> str:
    """The client address in canonical form, or "-" when it is not an IP address."""
    # Behind a misconfigured proxy X-Forwarded-For can be any text, too long for the key column.
    try:
        return ipaddress.ip_address(ip or "").compressed[:64]
    except ValueError:
        return "-"


def _keys(email: str, ip: str | None) -> list[tuple[str, str]]:
    return [("email", f"email:{email}"), ("ip", f"ip:{_address(ip)}")]


def login_blocked(email: str, ip: str | None) -> bool:
    """True while this e-mail or client address has failed too often recently."""
    since = utcnow() - WINDOW
    for kind, key in _keys(email, ip):
        row = db.session.execute(
            db.select(LoginThrottle).where(LoginThrottle.key == key)
        ).scalar_one_or_none()
        if row and row.window_start > since and row.failures >= MAX_FAILURES[kind]:
            return True
    return False


def record_failure(email: str, ip: str | None) -> None:
    """Count one failed log-in for the e-mail and the client address."""
    now = utcnow()
    for _, key in _keys(email, ip):
        # One UPDATE per key, so concurrent failures are all counted.
        result = db.session.execute(
            sa.update(LoginThrottle)
            .where(LoginThrottle.key == key, LoginThrottle.window_start > now - WINDOW)
            .values(failures=LoginThrottle.failures + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            continue
        row = db.session.execute(
            db.select(LoginThrottle).where(LoginThrottle.key == key)
        ).scalar_one_or_none()
        if row is None:
            db.session.add(LoginThrottle(key=key, failures=1, window_start=now))
        else:
            row.failures, row.window_start = 1, now
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
    db.session.commit()


def clear_failures(email: str) -> None:
    """Forget failures of an e-mail address after a successful log-in."""
    db.session.execute(sa.delete(LoginThrottle).where(LoginThrottle.key == f"email:{email}"))
    db.session.commit()
