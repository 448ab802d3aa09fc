"""Billing periods and money formatting."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from storefront.formatting import date_long, money
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


def test_date_long():
    assert date_long(datetime(2026, 3, 4, tzinfo=UTC)) == "4 March 2026"
    assert date_long(None) == ""
