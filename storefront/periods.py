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
