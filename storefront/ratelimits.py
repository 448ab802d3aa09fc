"""Rate limits (Flask-Limiter) on the routes that cost an iamport call or a password hash."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask, current_app, make_response, request
from flask_limiter import Limiter, RateLimitExceeded

from storefront.errors import error_response
from storefront.throttle import client_address, seconds_to_wait, wait_text


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


def register(app: Flask) -> None:
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
        wait = seconds_to_wait(timedelta(seconds=left))
    message = f"Too many requests from your address. Please wait {wait_text(wait)} and try again."
    response = make_response(error_response(429, message))
    response.headers["Retry-After"] = str(wait)
    return response
