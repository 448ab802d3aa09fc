"""Security headers, request size limits, rate limits and the throttle on failed log-ins."""

from __future__ import annotations

import ipaddress
import math
import time
from datetime import datetime, timedelta
from typing import IO
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, Response, current_app, make_response, request
from flask import Request as FlaskRequest
from flask_limiter import Limiter, RateLimitExceeded
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from storefront.errors import error_response
from storefront.extensions import db
from storefront.models import LoginThrottle, utcnow

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
    """Compute the policy once and add the headers to every response; install the limits."""
    app.request_class = Request
    app.config["_CSP"] = content_security_policy(app)
    app.after_request(_add_headers)
    register_rate_limits(app)


# Routes that cost an iamport lookup or a password hash: endpoint -> (setting, methods limited).
RATE_LIMITED = {
    "auth.login": ("LOGIN_RATE_LIMIT", ["POST"]),
    "auth.register": ("REGISTER_RATE_LIMIT", ["POST"]),
    "checkout.complete": ("COMPLETION_RATE_LIMIT", None),
    "checkout.return_from_window": ("COMPLETION_RATE_LIMIT", None),
    "webhooks.receive": ("WEBHOOK_RATE_LIMIT", None),
}


def _limit_key() -> str:
    # The address as the app sees it: the proxy's word when PROXY_HOPS trusts one (ProxyFix).
    return client_address(request.remote_addr)


def _webhook_sender_allowed() -> bool:
    """iamport's own addresses are never refused: a lost webhook is only found by reconcile."""
    return request.remote_addr in (current_app.config.get("WEBHOOK_ALLOWED_IPS") or [])


def register_rate_limits(app: Flask) -> None:
    """Flask-Limiter on the routes of RATE_LIMITED, one limiter per app (the RATELIMIT_* settings
    are Flask-Limiter's own), and the readable 429 it answers with."""
    # A limiter of its own for each app, wrapping the app's views, rather than one decorating
    # the blueprints' functions: Flask-Limiter keeps its switch and counters on the instance,
    # and a process that builds several apps (the tests) would otherwise share them.
    limiter = Limiter(key_func=_limit_key, app=app)
    app.extensions["storefront.limiter"] = limiter
    for endpoint, (setting, methods) in RATE_LIMITED.items():
        exempt = _webhook_sender_allowed if endpoint == "webhooks.receive" else None
        limit = limiter.limit(app.config[setting], methods=methods, exempt_when=exempt)
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])
    app.register_error_handler(RateLimitExceeded, _too_many_requests)


def _too_many_requests(exc: RateLimitExceeded):
    limiter: Limiter = current_app.extensions["storefront.limiter"]
    breached = limiter.current_limit
    wait = 60
    if breached is not None:
        # The window's reset time, never more than the window itself (reset_at rounds up).
        left = min(breached.window.reset_time - time.time(), breached.limit.get_expiry())
        wait = _seconds(timedelta(seconds=left))
    message = f"Too many requests from your address. Please wait {wait_text(wait)} and try again."
    response = make_response(error_response(429, message))
    response.headers["Retry-After"] = str(wait)
    return response


def client_address(ip: str | None) -> str:
    """The client address the throttle and the rate limits count: an IPv4 address, an IPv6
    /64 network (one subscriber's whole range, which a client can hop around in), or "-"."""
    # Behind a misconfigured proxy X-Forwarded-For can be any text, too long for the key column.
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return "-"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped.compressed
        return ipaddress.IPv6Network((address, 64), strict=False).compressed
    return address.compressed


def _pair_key(email: str, ip: str | None) -> str:
    return f"pair:{client_address(ip)}|{email}"


def _address_key(ip: str | None) -> str:
    return f"addr:{client_address(ip)}"


def _row(key: str) -> LoginThrottle | None:
    return db.session.execute(
        db.select(LoginThrottle).where(LoginThrottle.key == key)
    ).scalar_one_or_none()


def _seconds(left: timedelta) -> int:
    """Whole seconds to wait, at least 1 (Retry-After has no fractions)."""
    return max(1, math.ceil(left.total_seconds()))


def wait_text(seconds: int) -> str:
    """A wait for people: "1 second", "40 seconds", "15 minutes" (minutes rounded up)."""
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def pair_delay(failures: int) -> timedelta:
    """How long a pair waits after its `failures`-th failure: nothing for the first few, then
    1, 2, 4 … seconds, up to the cap."""
    config = current_app.config
    free = config["LOGIN_FREE_FAILURES"]
    if failures < free:
        return timedelta(0)
    cap = config["LOGIN_MAX_DELAY"].total_seconds()
    return timedelta(seconds=min(cap, 2.0 ** min(failures - free, 32)))


def login_wait(email: str, ip: str | None) -> int:
    """Seconds before this e-mail may be tried from this address (0: now, and the attempt is
    taken, so that of several at once only one is checked)."""
    config = current_app.config
    now = utcnow()
    # The ceiling for credential stuffing: too many accounts failed from this address.
    ceiling = _row(_address_key(ip))
    if ceiling is not None:
        ends = ceiling.window_start + config["LOGIN_ADDRESS_WINDOW"]
        if ends > now and ceiling.failures >= config["LOGIN_ACCOUNTS_PER_ADDRESS"]:
            return _seconds(ends - now)
    pair = _row(_pair_key(email, ip))
    if pair is None or pair.last_failure is None:
        return 0
    last = pair.last_failure
    if last <= now - config["LOGIN_FAILURE_MEMORY"]:
        return 0
    delay = pair_delay(pair.failures)
    if not delay:
        return 0
    if last + delay > now:
        return _seconds(last + delay - now)
    # Take the attempt: a compare-and-set on the last failure lets one of concurrent guesses
    # through; the others wait, as they would after it failed.
    taken = db.session.execute(
        sa.update(LoginThrottle)
        .where(LoginThrottle.key == pair.key, LoginThrottle.last_failure == last)
        .values(last_failure=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return 0 if taken else _seconds(delay)


def _count(key: str, going_on: sa.ColumnElement[bool], now: datetime) -> bool:
    """Add one to the row's count while `going_on` holds for it, else start it again at one.

    True when the count started afresh."""
    # One UPDATE, so that concurrent failures are all counted.
    counted = db.session.execute(
        sa.update(LoginThrottle)
        .where(LoginThrottle.key == key, going_on)
        .values(failures=LoginThrottle.failures + 1, last_failure=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if counted:
        return False
    row = _row(key)
    if row is None:
        db.session.add(LoginThrottle(key=key, failures=1, window_start=now, last_failure=now))
    else:
        row.failures, row.window_start, row.last_failure = 1, now, now
    try:
        db.session.commit()
    except IntegrityError:
        # Another failure of the same key made the row at the same moment: count on that one.
        db.session.rollback()
        return _count(key, going_on, now)
    return True


def record_failure(email: str, ip: str | None) -> None:
    """Count one failed log-in of the e-mail from the client address."""
    config = current_app.config
    now = utcnow()
    # A pair goes on until a day after its last failure.
    remembered = LoginThrottle.last_failure > now - config["LOGIN_FAILURE_MEMORY"]
    if _count(_pair_key(email, ip), remembered, now):
        # The address counts accounts, not failures, so that one shopper's typos count once;
        # its window is fixed from its first account, so that the ceiling ends.
        in_window = LoginThrottle.window_start > now - config["LOGIN_ADDRESS_WINDOW"]
        _count(_address_key(ip), in_window, now)
    db.session.commit()


def clear_failures(email: str, ip: str | None) -> None:
    """Forget the failures of this e-mail from this address after a successful log-in."""
    db.session.execute(sa.delete(LoginThrottle).where(LoginThrottle.key == _pair_key(email, ip)))
    db.session.commit()
