"""Billing periods: where one ends and the next begins, on the shop's calendar."""

from __future__ import annotations

import calendar
from datetime import datetime, timezone, tzinfo

INTERVAL_MONTHS = {"month": 1, "year": 12}


def _months(interval: str) -> int:
    try:
        return INTERVAL_MONTHS[interval]
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}") from None


def _local(moment: datetime, zone: tzinfo) -> datetime:
    # A naive moment is UTC, as the database stores it, never the server's zone.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(zone)


def add_interval(start: datetime, interval: str, count: int = 1, *, zone: tzinfo) -> datetime:
    """`start` moved on by `count` months or years on the calendar of `zone` (the shop's), at
    the same wall-clock time, clamped to the month's last day; in UTC.

    A wall-clock time the clocks skip (02:30 as they go forward) is moved on by the gap
    (03:30); one they pass twice (as they go back) is the first of the two (PEP 495's fold=0).
    """
    local = _local(start, zone)
    month_index = local.month - 1 + count * _months(interval)
    year = local.year + month_index // 12
    month = month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day, fold=0).astimezone(timezone.utc)


def next_period_end(anchor: datetime, end: datetime, interval: str, *, zone: tzinfo) -> datetime:
    """The end of the period that follows the one ending at `end`, on the anchor's calendar in
    `zone` (the shop's time zone); in UTC.

    Every end is the anchor moved on by whole intervals (31 Jan → 28 Feb → 31 Mar → 30 Apr), as
    billing engines do: chaining from the previous end would stay on the 28th after February.
    An end off the anchor's calendar (chained before anchors existed, or counted in UTC months
    before periods followed the shop's zone) is followed by the calendar's date nearest to one
    interval after it: 28 Mar → 30 Apr, 1 Mar → 31 Mar for an anchor on the 31st.
    """
    step = _months(interval)
    local_anchor, local_end = _local(anchor, zone), _local(end, zone)
    elapsed = ((local_end.year - local_anchor.year) * 12 + local_end.month - local_anchor.month) // step
    one_on = add_interval(end, interval, zone=zone)
    # The calendar's dates around one interval after the end: the end's own (an end before it,
    # off the calendar) and the two after; the nearest later than the end wins.
    first = max(elapsed, 1)
    candidates = [add_interval(anchor, interval, k, zone=zone) for k in range(first, first + 3)]
    return min((c for c in candidates if c > local_end), key=lambda c: abs(c - one_on))
