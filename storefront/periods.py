"""Billing periods: where one ends and the next begins."""

from __future__ import annotations

import calendar
from datetime import datetime


def add_interval(start: datetime, interval: str, count: int = 1) -> datetime:
    """`start` moved on by `count` months or years, clamped to the month's last day."""
    months = count * (12 if interval == "year" else 1)
    if interval not in {"month", "year"}:
        raise ValueError(f"unknown interval {interval!r}")
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def next_period_end(anchor: datetime, end: datetime, interval: str) -> datetime:
    """The end of the period that follows the one ending at `end`, on the anchor's calendar.

    Every end is the anchor moved on by whole intervals (31 Jan → 28 Feb → 31 Mar → 30 Apr), as
    billing engines do: chaining from the previous end would stay on the 28th after February.
    An end off the anchor's calendar (chained before anchors existed) is followed by the
    anchor's date in the next month or year, so the calendar is found again.
    """
    if interval not in {"month", "year"}:
        raise ValueError(f"unknown interval {interval!r}")
    months = (end.year - anchor.year) * 12 + end.month - anchor.month
    return add_interval(anchor, interval, months // (12 if interval == "year" else 1) + 1)
