"""The shop's one clock for money, calendars and deadlines (sessions, tokens, CSRF and rate limits keep the system clock)."""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    """The shop's time now, aware UTC: what periods, renewals, order expiry, review deadlines and
    reconcile are reckoned by. It is the system clock; one place to point elsewhere (a test
    clock shared with the sandbox, say) moves all of them together."""
    return datetime.now(timezone.utc)
