"""The throttle on failed log-ins: growing delays per e-mail and client, a ceiling per address.

A client is its address, or, for a browser that has logged in to the account before, that
browser (a signed "known device" cookie): what others do from its address never holds it back.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Response, current_app, request
from flask_babel import ngettext
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from storefront.extensions import db
from storefront.models import LoginThrottle, utcnow


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


# How long a browser stays known to an account after its last log-in there.
KNOWN_DEVICE_FOR = timedelta(days=365)
# Longer than any cookie we sign; a longer one is not read at all.
MAX_DEVICE_COOKIE = 300


def _device_cookie_name() -> str:
    # Like the session cookie: secure-only with the __Host- prefix in live mode.
    return "__Host-device" if current_app.config["SESSION_COOKIE_SECURE"] else "device"


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="known-device")


def _account_of(email: str) -> str:
    # The cookie names the account without showing its e-mail to whoever reads the cookie.
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def known_device(email: str) -> str | None:
    """This browser's device id when it has logged in as this e-mail before, else None."""
    cookie = request.cookies.get(_device_cookie_name(), "")
    if not cookie or len(cookie) > MAX_DEVICE_COOKIE:
        return None
    try:
        account, device = _devices().loads(cookie, max_age=int(KNOWN_DEVICE_FOR.total_seconds()))
    except (BadData, ValueError, TypeError):
        return None
    return device if account == _account_of(email) and isinstance(device, str) else None


def remember_device(response: Response, email: str) -> None:
    """Mark this browser as known to the account it has just logged in to (or signed up for)."""
    device = known_device(email) or secrets.token_urlsafe(12)
    config = current_app.config
    response.set_cookie(
        _device_cookie_name(), _devices().dumps([_account_of(email), device]),
        max_age=int(KNOWN_DEVICE_FOR.total_seconds()), path="/",
        secure=config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Lax",
    )


def _pair_key(email: str, ip: str | None, device: str | None) -> str:
    if device:
        return f"pair:device:{device}|{email}"
    return f"pair:{client_address(ip)}|{email}"


def _address_key(ip: str | None) -> str:
    return f"addr:{client_address(ip)}"


def _row(key: str) -> LoginThrottle | None:
    return db.session.execute(
        db.select(LoginThrottle).where(LoginThrottle.key == key)
    ).scalar_one_or_none()


def seconds_to_wait(left: timedelta) -> int:
    """Whole seconds to wait, at least 1 (Retry-After has no fractions)."""
    return max(1, math.ceil(left.total_seconds()))


def wait_text(seconds: int) -> str:
    """A wait for people, in the page's language: "1 second", "40 seconds", "15 minutes"
    (minutes rounded up); "40초", "15분"."""
    if seconds < 120:
        return ngettext("%(num)d second", "%(num)d seconds", seconds)
    minutes = math.ceil(seconds / 60)
    return ngettext("%(num)d minute", "%(num)d minutes", minutes)


def pair_delay(failures: int) -> timedelta:
    """How long a pair waits after its `failures`-th failure: nothing for the first few, then
    1, 2, 4 … seconds, up to the cap."""
    config = current_app.config
    free = config["LOGIN_FREE_FAILURES"]
    if failures < free:
        return timedelta(0)
    cap = config["LOGIN_MAX_DELAY"].total_seconds()
    return timedelta(seconds=min(cap, 2.0 ** min(failures - free, 32)))


def login_wait(email: str, ip: str | None, device: str | None = None) -> int:
    """Seconds before this e-mail may be tried from this client (0: now, and the attempt is
    taken, so that of several at once only one is checked)."""
    config = current_app.config
    now = utcnow()
    # The ceiling for credential stuffing: too many accounts failed from this address. A known
    # device is not stuffing, and a neighbour filling the ceiling must not lock it out.
    ceiling = None if device else _row(_address_key(ip))
    if ceiling is not None:
        ends = ceiling.window_start + config["LOGIN_ADDRESS_WINDOW"]
        if ends > now and ceiling.failures >= config["LOGIN_ACCOUNTS_PER_ADDRESS"]:
            return seconds_to_wait(ends - now)
    pair = _row(_pair_key(email, ip, device))
    if pair is None or pair.last_failure is None:
        return 0
    last = pair.last_failure
    if last <= now - config["LOGIN_FAILURE_MEMORY"]:
        return 0
    delay = pair_delay(pair.failures)
    if not delay:
        return 0
    if last + delay > now:
        return seconds_to_wait(last + delay - now)
    # Take the attempt: a compare-and-set on the last failure lets one of concurrent guesses
    # through; the others wait, as they would after it failed.
    taken = db.session.execute(
        sa.update(LoginThrottle)
        .where(LoginThrottle.key == pair.key, LoginThrottle.last_failure == last)
        .values(last_failure=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return 0 if taken else seconds_to_wait(delay)


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


def record_failure(email: str, ip: str | None, device: str | None = None) -> None:
    """Count one failed log-in of the e-mail from the client."""
    config = current_app.config
    now = utcnow()
    # A pair goes on until a day after its last failure.
    remembered = LoginThrottle.last_failure > now - config["LOGIN_FAILURE_MEMORY"]
    if _count(_pair_key(email, ip, device), remembered, now) and not device:
        # The address counts accounts, not failures, so that one shopper's typos count once;
        # its window is fixed from its first account, so that the ceiling ends.
        in_window = LoginThrottle.window_start > now - config["LOGIN_ADDRESS_WINDOW"]
        _count(_address_key(ip), in_window, now)
    db.session.commit()


def clear_failures(email: str, ip: str | None, device: str | None = None) -> None:
    """Forget the failures of this e-mail from this client after a successful log-in."""
    db.session.execute(
        sa.delete(LoginThrottle).where(LoginThrottle.key == _pair_key(email, ip, device))
    )
    db.session.commit()
