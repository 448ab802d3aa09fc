"""Polling helper for tests that wait on background work (webhooks, pingbacks, schedules)."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.05,
               message: str = "condition", error: type[Exception] = AssertionError) -> T:
    """Call `predicate` until it returns something truthy, and return that; raise `error`
    (a test failure unless told otherwise) after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise error(f"timed out after {timeout:.1f}s waiting for {message}")
        time.sleep(interval)
