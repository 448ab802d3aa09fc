"""Billing periods and money formatting."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from storefront.formatting import date_long, datetime_long, money
from storefront.periods import add_interval, next_period_end

UTC = timezone.utc


@pytest.mark.parametrize(
    ("start", "interval", "count", "end"),
    [
        (datetime(2026, 1, 15, 10, tzinfo=UTC), "month", 1, datetime(2026, 2, 15, 10, tzinfo=UTC)),
        (datetime(2026, 1, 31, tzinfo=UTC), "month", 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), "month", 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 12, 5, tzinfo=UTC), "month", 1, datetime(2027, 1, 5, tzinfo=UTC)),
        (datetime(2026, 11, 26, tzinfo=UTC), "month", 14, datetime(2028, 1, 26, tzinfo=UTC)),
        (datetime(2028, 2, 29, tzinfo=UTC), "year", 1, datetime(2029, 2, 28, tzinfo=UTC)),
    ],
)
def test_add_interval(start, interval, count, end):
    assert add_interval(start, interval, count) == end


@pytest.mark.parametrize(
    ("anchor", "interval", "ends"),
    [
        # Each end follows from the anchor, never from the end before it (no drift to the 28th).
        (datetime(2026, 1, 31, 9, 30, tzinfo=UTC), "month",
         [datetime(2026, m, d, 9, 30, tzinfo=UTC) for m, d in [(2, 28), (3, 31), (4, 30), (5, 31)]]),
        # A leap year's 29 February is kept once it comes round again.
        (datetime(2028, 1, 29, tzinfo=UTC), "month",
         [datetime(2028, 2, 29, tzinfo=UTC), datetime(2028, 3, 29, tzinfo=UTC)]),
        (datetime(2027, 12, 31, tzinfo=UTC), "month",
         [datetime(2028, 1, 31, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC),
          datetime(2028, 3, 31, tzinfo=UTC)]),
        (datetime(2028, 2, 29, tzinfo=UTC), "month",
         [datetime(2028, 3, 29, tzinfo=UTC), datetime(2028, 4, 29, tzinfo=UTC)]),
        # Yearly on 29 February: 28 February in common years, 29 February again in 2032.
        (datetime(2028, 2, 29, tzinfo=UTC), "year",
         [datetime(y, 2, d, tzinfo=UTC) for y, d in [(2029, 28), (2030, 28), (2031, 28), (2032, 29)]]),
    ],
)
def test_next_period_end_follows_the_anchor(anchor, interval, ends):
    end, seen = anchor, []
    for _ in ends:
        end = next_period_end(anchor, end, interval)
        seen.append(end)
    assert seen == ends


def test_next_period_end_of_an_end_off_the_anchors_calendar_is_on_it():
    # A period chained from the previous end before anchors existed (28 March) is followed by
    # the anchor's next date in the following month, so the calendar is found again.
    anchor = datetime(2026, 1, 31, tzinfo=UTC)
    assert next_period_end(anchor, datetime(2026, 3, 28, tzinfo=UTC), "month") == \
        datetime(2026, 4, 30, tzinfo=UTC)


def test_next_period_end_refuses_unknown_interval():
    with pytest.raises(ValueError):
        next_period_end(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "week")


def test_add_interval_refuses_unknown_interval():
    with pytest.raises(ValueError):
        add_interval(datetime(2026, 1, 1, tzinfo=UTC), "week")


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(Decimal("9"), "USD", "$9.00"), (Decimal("1234.5"), "USD", "$1,234.50"),
     (Decimal("9900"), "KRW", "₩9,900"), (Decimal("5"), "CHF", "CHF\u00a05.00"), (None, "USD", "")],
)
def test_money(amount, currency, text):
    assert money(amount, currency) == text


def test_date_long(app):
    with app.app_context():
        assert date_long(datetime(2026, 3, 4, tzinfo=UTC)) == "4 March 2026"
        assert date_long(None) == ""


@pytest.mark.parametrize(("zone", "moment", "date", "time"), [
    ("Asia/Seoul", datetime(2026, 1, 31, 20, 0, tzinfo=UTC), "1 February 2026", "1 February 2026, 05:00 KST"),
    ("UTC", datetime(2026, 1, 31, 20, 0, tzinfo=UTC), "31 January 2026", "31 January 2026, 20:00 UTC"),
    ("America/New_York", datetime(2026, 7, 1, 2, 30, tzinfo=UTC), "30 June 2026", "30 June 2026, 22:30 EDT"),
])
def test_dates_and_times_are_in_the_shops_zone(app_factory, zone, moment, date, time):
    app = app_factory(SHOP_TIMEZONE=zone)
    with app.app_context():
        assert date_long(moment) == date
        assert datetime_long(moment) == time
        assert datetime_long(None) == ""
