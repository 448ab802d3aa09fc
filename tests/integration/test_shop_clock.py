"""In sandbox mode the shop's clock follows the sandbox's (over real HTTP), and a sandbox reset ends
the shop's subscriptions on the keys it forgot; sessions and log-in keep the system clock."""

from __future__ import annotations

import calendar
import logging
import re
import socket
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from storefront import clock
from storefront.extensions import db
from storefront.models import ShopState
from tests.support.records import DAY, payments, scheduled, subscription
from tests.support.sandbox import window_result
from tests.support.shop import make_shop
from tests.support.subscribing import subscribe

SEOUL = ZoneInfo("Asia/Seoul")
AHEAD_DAYS = 400


def month_later(moment: datetime) -> str:
    """The same day a month later (or the month's last), as English pages write a date."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return f"{day} {calendar.month_name[month]} {year}"


def shown_dates(page: str, before: str) -> list[str]:
    """The dates ('7 January 2028') written right after `before` on a page."""
    return re.findall(re.escape(before) + r"\s*(\d{1,2} [A-Z][a-z]+ \d{4})", page)


def test_the_plan_page_reckons_from_the_sandbox_clock(shop):
    today = datetime.now(SEOUL)
    assert month_later(today) in shop.shopper().get("/plans/basic-monthly").text
    shop.sandbox.advance(AHEAD_DAYS * DAY)
    page = shop.shopper("grace@example.com").get("/plans/basic-monthly").text
    assert month_later(today + timedelta(days=AHEAD_DAYS)) in page
    assert month_later(today) not in page


def test_after_the_clock_moved_the_consent_and_the_result_agree_on_the_date(shop):
    shop.sandbox.advance(AHEAD_DAYS * DAY)
    shopper = shop.shopper()
    expected = month_later(datetime.now(SEOUL) + timedelta(days=AHEAD_DAYS))
    page = shopper.get("/checkout/basic-monthly").text
    assert shown_dates(page, "first on") == [expected]
    params = shopper.open_checkout()
    rsp = window_result(shopper.pay_in_window(params).text)
    assert shopper.complete(params, rsp["imp_uid"]).json()["status"] == "paid"
    result = shopper.get(f"/checkout/result/{params['pay']['merchant_uid']}").text
    assert shown_dates(result, "until") == [expected]


def test_reconcile_ends_a_cancelled_period_once_the_sandbox_clock_passes_it(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "period_end"})
    runner = shop.app.test_cli_runner()
    assert runner.invoke(args=["billing", "reconcile"]).exit_code == 0
    assert subscription(shop, sub_id).status == "active"
    shop.sandbox.advance(32 * DAY)
    result = runner.invoke(args=["billing", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "ended 1" in result.output
    assert subscription(shop, sub_id).status == "canceled"


def test_sessions_and_log_in_keep_the_system_clock(shop):
    shopper = shop.shopper()
    shop.sandbox.advance(90 * DAY)
    account = shopper.get("/account", allow_redirects=False)
    assert account.status_code == 200
    with shop.context():
        clock.refresh()
        assert clock.offset() >= 90 * DAY


def test_an_unreachable_sandbox_clock_means_real_time_and_a_warning(tmp_path, sandbox, caplog,
                                                                       monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setitem(clock._unreachable, "now", False)
    shop = make_shop(tmp_path, sandbox, SANDBOX_URL=f"http://127.0.0.1:{closed}")
    try:
        sandbox.advance(AHEAD_DAYS * DAY)
        with caplog.at_level(logging.WARNING, logger="storefront.clock"):
            page = shop.shopper().get("/plans/basic-monthly").text
        assert month_later(datetime.now(SEOUL)) in page
        assert any("offset 0" in record.getMessage() for record in caplog.records)
    finally:
        shop.stop()


def test_a_sandbox_reset_ends_the_subscriptions_on_its_forgotten_keys(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    runner = shop.app.test_cli_runner()
    assert runner.invoke(args=["billing", "reconcile"]).exit_code == 0
    with shop.context():
        assert db.session.get(ShopState, "sandbox_generation").value == "0"
    shop.sandbox.control("POST", "/reset")
    # A shopper who subscribes after the reset keeps a subscription on the new sandbox's key.
    grace = shop.shopper("grace@example.com")
    kept = subscribe(shop, grace)
    charged = len(payments(shop, sub_id))

    result = runner.invoke(args=["billing", "reconcile"])
    assert result.exit_code == 0, result.output
    ended = subscription(shop, sub_id)
    assert ended.status == "canceled" and ended.canceled_at is not None
    assert scheduled(shop, sub_id) == []
    assert payments(shop, sub_id, kind="renewal", status="revoked")
    assert len(payments(shop, sub_id)) == charged  # nothing charged
    assert subscription(shop, kept).status == "active"
    assert scheduled(shop, kept)
    with shop.context():
        assert db.session.get(ShopState, "sandbox_generation").value == "1"
    # The reset is acted on once.
    assert runner.invoke(args=["billing", "reconcile"]).exit_code == 0
    assert subscription(shop, kept).status == "active"
