"""The shop's one clock for money, calendars and deadlines (sessions, tokens, CSRF and rate limits keep the system clock)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import requests
from flask import Flask, current_app, g, has_app_context, request

log = logging.getLogger(__name__)

# How long a request or a job waits for the sandbox's clock before going on in real time.
SANDBOX_CLOCK_TIMEOUT = (1.0, 2.0)
# Whether the last reading failed: the warning is logged once per outage, not at every request.
_unreachable = {"now": False}


@dataclass(frozen=True)
class SandboxClock:
    """What the sandbox's GET /_sandbox/clock says: how far it is ahead of real time, and how
    many times it was reset (its `generation`)."""

    offset: float
    generation: int | None


def now() -> datetime:
    """The shop's time now, aware UTC: what periods, renewals, order expiry, review deadlines and
    reconcile are reckoned by. The system clock, plus in sandbox mode the sandbox clock's offset
    as `refresh` last read it for this request or job (never read here: this runs in flushes)."""
    offset = g.get("clock_offset", 0.0) if has_app_context() else 0.0
    return datetime.now(timezone.utc) + timedelta(seconds=offset)


def follows_sandbox(app: Flask) -> bool:
    """Whether the app's clock follows the sandbox's (sandbox mode with SANDBOX_CLOCK on)."""
    return (app.config["IAMPORT_MODE"] == "sandbox" and bool(app.config.get("SANDBOX_URL"))
            and bool(app.config.get("SANDBOX_CLOCK", True)))


def read_sandbox(url: str) -> SandboxClock | None:
    """The sandbox's clock over HTTP; None (logged) when the sandbox does not answer with one."""
    try:
        response = requests.get(f"{url.rstrip('/')}/_sandbox/clock", timeout=SANDBOX_CLOCK_TIMEOUT)
        response.raise_for_status()
        body = response.json()
        generation = body.get("generation")
        reading = SandboxClock(offset=float(body["offset"]),
                               generation=None if generation is None else int(generation))
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        (log.debug if _unreachable["now"] else log.warning)("the sandbox's clock at %s could not be read (%s); the shop uses real time "
                    "(offset 0) until it can", url, exc)
        _unreachable["now"] = True
        return None
    if _unreachable["now"]:
        log.warning("the sandbox's clock at %s answers again; the shop follows it", url)
        _unreachable["now"] = False
    return reading


def use(offset: float) -> None:
    """Reckon this app context's time with `offset` seconds added (what `refresh` read)."""
    g.clock_offset = offset


def offset() -> float:
    """The seconds this app context's time is ahead of the system clock."""
    return g.get("clock_offset", 0.0)


def refresh() -> SandboxClock | None:
    """Read the sandbox's clock once for this request or job (in sandbox mode), so that now()
    follows it; None, and real time, in live mode or when the sandbox does not answer."""
    app = current_app._get_current_object()
    reading = read_sandbox(app.config["SANDBOX_URL"]) if follows_sandbox(app) else None
    use(reading.offset if reading else 0.0)
    return reading


def register(app: Flask) -> None:
    """Read the sandbox's clock at the start of each request (static files need no time)."""
    if not follows_sandbox(app):
        return

    @app.before_request
    def _follow_sandbox() -> None:
        if request.endpoint != "static":
            refresh()
