"""Rate limits (Flask-Limiter) on the routes that cost an iamport call or a password hash."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask, current_app, make_response, request
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded
from flask_login import current_user

from storefront.errors import error_response
from storefront.models import User
from storefront.throttle import client_address, known_device, seconds_to_wait, wait_text


def _address() -> str:
    # The address as the app sees it: the proxy's word when PROXY_HOPS trusts one (ProxyFix).
    return client_address(request.remote_addr)


def _shopper() -> str:
    return f"user:{current_user.get_id()}" if current_user.is_authenticated else _address()


def _webhook_sender_allowed() -> bool:
    """iamport's own addresses are never refused: a lost webhook is only found by reconcile."""
    return request.remote_addr in (current_app.config.get("WEBHOOK_ALLOWED_IPS") or [])


def _known_device_logging_in() -> bool:
    """A browser logging in to an account it has logged in to before is not counted with the
    rest of its address, so a neighbour's flood cannot lock it out (the throttle still slows
    its own failures)."""
    email = request.form.get("email")
    return isinstance(email, str) and known_device(User.normalize_email(email)) is not None


# Routes that cost an iamport lookup or a password hash:
# endpoint -> (setting, methods limited, counted per, exempt when).
RATE_LIMITED = {
    "auth.login": ("LOGIN_RATE_LIMIT", ["POST"], _address, _known_device_logging_in),
    "auth.register": ("REGISTER_RATE_LIMIT", ["POST"], _address, None),
    # Each sends a mail (the outbox also sends one per address and window: see self_service.mails).
    "self_service.forgot": ("ACCOUNT_MAIL_RATE_LIMIT", ["POST"], _address, None),
    "self_service.resend_confirmation": ("ACCOUNT_MAIL_RATE_LIMIT", ["POST"], _address, None),
    "self_service.change_email": ("ACCOUNT_MAIL_RATE_LIMIT", ["POST"], _address, None),
    # Each costs a password hash, as a log-in does.
    "self_service.reset": ("LOGIN_RATE_LIMIT", ["POST"], _address, None),
    "self_service.change_password": ("LOGIN_RATE_LIMIT", ["POST"], _address, None),
    "self_service.delete_account": ("LOGIN_RATE_LIMIT", ["POST"], _address, None),
    "checkout.complete": ("COMPLETION_RATE_LIMIT", None, _address, None),
    "checkout.return_from_window": ("COMPLETION_RATE_LIMIT", None, _address, None),
    # The result page of a pending order asks iamport on each of its reloads.
    "checkout.result": ("RESULT_RATE_LIMIT", None, _shopper, None),
    "webhooks.receive": ("WEBHOOK_RATE_LIMIT", None, _address, _webhook_sender_allowed),
}


def register(app: Flask) -> None:
    """Flask-Limiter on the routes of RATE_LIMITED, one limiter per app (the RATELIMIT_* settings
    are Flask-Limiter's own), and the readable 429 it answers with."""
    # A limiter of its own for each app, wrapping the app's views, rather than one decorating
    # the blueprints' functions: Flask-Limiter keeps its switch and counters on the instance,
    # and a process that builds several apps (the tests) would otherwise share them.
    limiter = Limiter(key_func=_address, app=app)
    app.extensions["storefront.limiter"] = limiter
    for endpoint, (setting, methods, counted_per, exempt) in RATE_LIMITED.items():
        limit = limiter.limit(app.config[setting], methods=methods, key_func=counted_per,
                              exempt_when=exempt)
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
    message = _("Too many requests from your address. Please wait %(wait)s and try again.",
                wait=wait_text(wait))
    response = make_response(error_response(429, message))
    response.headers["Retry-After"] = str(wait)
    return response
