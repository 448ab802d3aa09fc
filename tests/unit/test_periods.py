"""Billing periods and money formatting."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from storefront.formatting import date_long, datetime_long, money, shop_zone
from storefront.periods import add_interval, next_period_end

UTC = timezone.utc
SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


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
    assert add_interval(start, interval, count, zone=UTC) == end


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
        end = next_period_end(anchor, end, interval, zone=UTC)
        seen.append(end)
    assert seen == ends


def test_next_period_end_of_an_end_off_the_anchors_calendar_is_on_it():
    # A period chained from the previous end before anchors existed (28 March) is followed by
    # the anchor's next date in the following month, so the calendar is found again.
    anchor = datetime(2026, 1, 31, tzinfo=UTC)
    assert next_period_end(anchor, datetime(2026, 3, 28, tzinfo=UTC), "month", zone=UTC) == \
        datetime(2026, 4, 30, tzinfo=UTC)


def test_next_period_end_refuses_unknown_interval():
    with pytest.raises(ValueError):
        next_period_end(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "week",
                        zone=UTC)


def test_add_interval_refuses_unknown_interval():
    with pytest.raises(ValueError):
        add_interval(datetime(2026, 1, 1, tzinfo=UTC), "week", zone=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "anchor", "interval", "ends"),
    [
        # Bought at 00:30 on 31 January in Seoul (15:30 UTC on 30 January): the month's last day
        # in Seoul, 00:30 KST (28 Feb, 31 Mar, 30 Apr, 31 May), never the 1st of the next month.
        (SEOUL, utc(2027, 1, 30, 15, 30), "month",
         [utc(2027, 2, 27, 15, 30), utc(2027, 3, 30, 15, 30), utc(2027, 4, 29, 15, 30),
          utc(2027, 5, 30, 15, 30)]),
        # Bought at 05:00 on 1 March in Seoul (20:00 UTC on 28 February): the 1st in Seoul.
        (SEOUL, utc(2027, 2, 28, 20), "month",
         [utc(2027, 3, 31, 20), utc(2027, 4, 30, 20), utc(2027, 5, 31, 20)]),
        # Yearly from 29 February 2028, 00:30 KST: 28 February 00:30 KST in common years.
        (SEOUL, utc(2028, 2, 28, 15, 30), "year",
         [utc(2029, 2, 27, 15, 30), utc(2030, 2, 27, 15, 30), utc(2031, 2, 27, 15, 30),
          utc(2032, 2, 28, 15, 30)]),
        # Bought at 20:00 on 30 January in New York (01:00 UTC on 31 January): 28 Feb 20:00 EST,
        # 30 Mar 20:00 EDT, 30 Apr 20:00 EDT.
        (NEW_YORK, utc(2027, 1, 31, 1), "month",
         [utc(2027, 3, 1, 1), utc(2027, 3, 31, 0), utc(2027, 5, 1, 0)]),
        # 10:00 in Berlin on the 15th, kept across both changes of the clocks: 09:00 UTC in
        # winter (CET), 08:00 UTC in summer (CEST, 28 March to 31 October 2027).
        (BERLIN, utc(2027, 1, 15, 9), "month",
         [utc(2027, 2, 15, 9), utc(2027, 3, 15, 9), utc(2027, 4, 15, 8), utc(2027, 5, 15, 8),
          utc(2027, 6, 15, 8), utc(2027, 7, 15, 8), utc(2027, 8, 15, 8), utc(2027, 9, 15, 8),
          utc(2027, 10, 15, 8), utc(2027, 11, 15, 9), utc(2027, 12, 15, 9)]),
        # 02:30 on 28 March 2027 does not exist in Berlin (02:00 CET → 03:00 CEST): that end is
        # moved on by the gap, to 03:30 CEST (01:30 UTC); the next is 02:30 CEST again.
        (BERLIN, utc(2027, 2, 28, 1, 30), "month",
         [utc(2027, 3, 28, 1, 30), utc(2027, 4, 28, 0, 30), utc(2027, 5, 28, 0, 30)]),
        # 02:30 on 31 October 2027 happens twice in Berlin (03:00 CEST → 02:00 CET): the first,
        # 02:30 CEST (00:30 UTC); 30 November is 02:30 CET (01:30 UTC).
        (BERLIN, utc(2027, 8, 31, 0, 30), "month",
         [utc(2027, 9, 30, 0, 30), utc(2027, 10, 31, 0, 30), utc(2027, 11, 30, 1, 30)]),
    ],
)
def test_periods_follow_the_shops_calendar(zone, anchor, interval, ends):
    end, seen = anchor, []
    for _ in ends:
        end = next_period_end(anchor, end, interval, zone=zone)
        seen.append(end)
    assert seen == ends
    # Stored as UTC.
    assert {end.utcoffset() for end in seen} == {timedelta(0)}


@pytest.mark.parametrize(
    ("zone", "start", "interval", "count", "end"),
    [
        (SEOUL, utc(2027, 1, 30, 15, 30), "month", 1, utc(2027, 2, 27, 15, 30)),
        (SEOUL, utc(2028, 2, 28, 15, 30), "year", 1, utc(2029, 2, 27, 15, 30)),
        (BERLIN, utc(2027, 1, 15, 9), "month", 3, utc(2027, 4, 15, 8)),
        # A naive moment is UTC (as the database stores it), never the server's zone.
        (SEOUL, datetime(2027, 1, 30, 15, 30), "month", 1, utc(2027, 2, 27, 15, 30)),
    ],
)
def test_add_interval_in_the_shops_zone(zone, start, interval, count, end):
    moved = add_interval(start, interval, count, zone=zone)
    assert moved == end
    assert moved.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("zone", "anchor", "stored_end", "next_ends"),
    [
        # Ends stored before periods followed the shop's calendar were counted in UTC months.
        # Seoul, anchor 31 Jan 00:30 KST: the UTC rule ended the period on 1 March 00:30 KST;
        # the next end is 31 March 00:30 KST (not 30 April), then 30 April.
        (SEOUL, utc(2027, 1, 30, 15, 30), utc(2027, 2, 28, 15, 30),
         [utc(2027, 3, 30, 15, 30), utc(2027, 4, 29, 15, 30)]),
        # Seoul, anchor 1 March 05:00 KST: the UTC rule ended on 29 March 05:00 KST; the next end
        # is 1 May (one period of 33 days), then 1 June.
        (SEOUL, utc(2027, 2, 28, 20), utc(2027, 3, 28, 20),
         [utc(2027, 4, 30, 20), utc(2027, 5, 31, 20)]),
        # New York, anchor 30 Jan 20:00 EST: the UTC rule ended on 27 February 20:00 EST.
        (NEW_YORK, utc(2027, 1, 31, 1), utc(2027, 2, 28, 1),
         [utc(2027, 3, 31, 0), utc(2027, 5, 1, 0)]),
        # Berlin, anchor 15 Jan 10:00 CET: the UTC rule ended on 15 April 11:00 CEST.
        (BERLIN, utc(2027, 1, 15, 9), utc(2027, 4, 15, 9),
         [utc(2027, 5, 15, 8), utc(2027, 6, 15, 8)]),
    ],
)
def test_an_end_stored_by_the_utc_rule_is_followed_by_the_shops_calendar(zone, anchor, stored_end,
                                                                         next_ends):
    end, seen = stored_end, []
    for _ in next_ends:
        end = next_period_end(anchor, end, "month", zone=zone)
        seen.append(end)
    assert seen == next_ends


def test_shop_zone_is_the_configured_one(app, app_factory):
    with app.app_context():
        assert shop_zone() == SEOUL
    with app_factory(SHOP_TIMEZONE="Europe/Berlin").app_context():
        assert shop_zone() == BERLIN


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
