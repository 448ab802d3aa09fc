"""Billing periods and money formatting."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from storefront.formatting import date_long, datetime_long, money
from tests.conftest import make_app
from storefront.periods import add_interval

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


def test_add_interval_refuses_unknown_interval():
    with pytest.raises(ValueError):
        add_interval(datetime(2026, 1, 1, tzinfo=UTC), "week")


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(Decimal("9"), "USD", "$9.00"), (Decimal("1234.5"), "USD", "$1,234.50"),
     (Decimal("9900"), "KRW", "₩9,900"), (Decimal("5"), "CHF", "5.00 CHF"), (None, "USD", "")],
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
def test_dates_and_times_are_in_the_shops_zone(tmp_path, zone, moment, date, time):
    app = make_app(tmp_path, SHOP_TIMEZONE=zone)
    with app.app_context():
        assert date_long(moment) == date
        assert datetime_long(moment) == time
        assert datetime_long(None) == ""
