"""The log-in throttle as the tests drive it: its defaults, a clock moved by hand, failed log-ins."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.support.accounts import AuthActions
from tests.support.addresses import from_address

# The defaults: a pair's free failures, and the accounts that may fail from one address an hour.
FREE_FAILURES = 5
ACCOUNTS_PER_ADDRESS = 50


class Clock:
    """The throttle's time, moved by the test instead of by sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def fail_from(auth: AuthActions, clock: Clock, address: str, failures: int,
              email: str = "ada@example.com") -> list[int]:
    """Wrong passwords from one address until `failures` were checked; waits out each 429."""
    waits, checked = [], 0
    while checked < failures:
        response = auth.login(email=email, password="wrong password", **from_address(address))
        if response.status_code == 429:
            waits.append(int(response.headers["Retry-After"]))
            clock.advance(waits[-1])
            continue
        assert response.status_code == 401, response.status_code
        checked += 1
        assert len(waits) <= checked, "more than one wait per failure"
    return waits
