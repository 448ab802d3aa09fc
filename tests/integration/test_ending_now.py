"""Ending a subscription now over real HTTP to the sandbox: withdrawal (청약철회) within the window
refunds every payment in full, after it the unused whole days are refunded (or nothing), and the
shopper's cancel, staff's cancel and an account's deletion all follow that one rule."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from storefront.extensions import db
from storefront.models import MrrChange, Plan, Refund, SubscriptionEvent, utcnow
from tests.support.records import key_exists, payments, registered, subscription
from tests.support.self_service import sign_up, submit
from tests.support.shop import Shopper, make_shop
from tests.support.staff import confirm, staff_member
from tests.support.subscribing import pay_first
from tests.support.waiting import wait_until

WON_PLAN = "basic-krw-monthly"
PRICE = Decimal("19800")
SEOUL = ZoneInfo("Asia/Seoul")
DAY = 24 * 3600


def priced(shop, amount: Decimal = PRICE) -> None:
    """The won plan at the issue's price (19,800 won), before anyone subscribes."""
    with shop.context():
        plan = db.session.execute(db.select(Plan).where(Plan.slug == WON_PLAN)).scalar_one()
        plan.price = amount
        db.session.commit()


def subscribed(shop, shopper) -> tuple[str, int]:
    """Pay the won plan's first period; (imp_uid, subscription id) once renewals are scheduled."""
    shop.sandbox.set_delays(cancel_delay=0)
    _, imp_uid, sub_id = pay_first(shop, shopper, WON_PLAN)
    wait_until(lambda: registered(shop, sub_id), timeout=6, message="the first renewal schedule")
    return imp_uid, sub_id


def refunds_of(shop, imp_uid: str) -> list[tuple[Decimal, str]]:
    with shop.context():
        return [(r.amount, r.status) for r in db.session.execute(
            db.select(Refund).where(Refund.imp_uid == imp_uid).order_by(Refund.id)).scalars()]


def cancelled_at_iamport(shop, imp_uid: str, amount: int) -> dict:
    return wait_until(lambda: (lambda p: p if p["cancel_amount"] == amount else None)(
        shop.sandbox.payment(imp_uid)), timeout=6, message=f"iamport's record of {amount} given back")


def unused_days_value(paid: Decimal, start, end, now) -> Decimal:
    """The whole unused days' value, from the dates: the days from tomorrow (Seoul) to the
    paid-until date, over the period's days, of what was paid; rounded down to the won."""
    start_day, end_day = start.astimezone(SEOUL).date(), end.astimezone(SEOUL).date()
    tomorrow = now.astimezone(SEOUL).date() + timedelta(days=1)
    unused = (end_day - tomorrow).days
    return (paid * unused / (end_day - start_day).days).quantize(Decimal(1), rounding=ROUND_DOWN)


def seconds_to_a_30_day_month() -> float:
    """Seconds from now to noon in Seoul on the 15th of the next month that has 30 days."""
    now = utcnow().astimezone(SEOUL)
    year, month = now.year, now.month
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if calendar.monthrange(year, month)[1] == 30:
            return (datetime(year, month, 15, 12, tzinfo=SEOUL) - now).total_seconds()


@pytest.fixture
def without_withdrawal(tmp_path, sandbox):
    running = make_shop(tmp_path, sandbox, WITHDRAWAL_DAYS=0)
    yield running
    running.stop()


@pytest.fixture
def refunding_nothing(tmp_path, sandbox):
    running = make_shop(tmp_path, sandbox, REFUND_ON_CANCEL_NOW="none")
    yield running
    running.stop()


def test_cancel_now_minutes_after_paying_refunds_everything_paid(shop):
    priced(shop)
    ada = shop.shopper()
    imp_uid, sub_id = subscribed(shop, ada)
    page = unescape(ada.get(f"/account/subscriptions/{sub_id}/cancel").text)
    assert "₩19,800 will be refunded to your card" in page
    assert "19,799" not in page and "Nothing is refunded" not in page
    done = ada.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"})
    assert "₩19,800 will be refunded to your card" in unescape(done.text)
    assert subscription(shop, sub_id).status == "canceled"
    assert cancelled_at_iamport(shop, imp_uid, 19800)["status"] == "cancelled"
    assert refunds_of(shop, imp_uid) == [(PRICE, "done")]
    mails = wait_until(lambda: [m for m in shop.sandbox.mail(ada.email) if m["subject"] == "Refund of ₩19,800"],
                       message="the refund mail")
    assert len(mails) == 1


def test_without_withdrawal_cancel_now_on_day_0_refunds_the_unused_whole_days(without_withdrawal):
    shop = without_withdrawal
    priced(shop)
    # The clocks moved on to the 15th of the next month of 30 days, so the period paid has 30 days.
    ahead = seconds_to_a_30_day_month()
    shop.sandbox.advance(ahead)
    ada = shop.shopper()
    imp_uid, sub_id = subscribed(shop, ada)
    assert "Withdraw" not in ada.get("/account").text
    sub = subscription(shop, sub_id)
    start, end = sub.current_period_start.astimezone(SEOUL), sub.current_period_end.astimezone(SEOUL)
    assert (end.date() - start.date()).days == 30 and start.day == 15
    now = utcnow() + timedelta(seconds=ahead)
    # Day 0: today is used, the 29 days from tomorrow to the paid-until date are not.
    expected = unused_days_value(PRICE, start, end, now)
    assert expected == (PRICE * 29 / 30).quantize(Decimal(1), rounding=ROUND_DOWN) == Decimal("19140")
    shown = f"₩{expected:,.0f} will be refunded to your card"
    assert shown in unescape(ada.get(f"/account/subscriptions/{sub_id}/cancel").text)
    ada.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"})
    assert cancelled_at_iamport(shop, imp_uid, int(expected))["status"] == "paid"
    assert refunds_of(shop, imp_uid) == [(expected, "done")]
    # Off, the shop has no withdrawal page either.
    assert ada.get(f"/account/subscriptions/{sub_id}/withdraw").status_code == 404


def test_withdrawal_ends_at_once_and_refunds_every_payment_of_the_window_in_full(shop):
    priced(shop)
    ada = shop.shopper()
    imp_uid, sub_id = subscribed(shop, ada)
    ada.charge_now(sub_id)  # a second payment in the window, for the next period
    [repeat] = payments(shop, sub_id, kind="repeat", status="paid")
    key = subscription(shop, sub_id).customer_uid
    overview = ada.get("/account").text
    assert f'href="/account/subscriptions/{sub_id}/withdraw"' in overview
    assert f'href="/account/subscriptions/{sub_id}/cancel"' in overview
    page = unescape(ada.get(f"/account/subscriptions/{sub_id}/withdraw").text)
    assert "₩39,600 will be refunded to your card" in page
    done = ada.post_form(f"/account/subscriptions/{sub_id}/withdraw", {})
    assert done.status_code == 200 and "withdrawn" in done.text
    ended = subscription(shop, sub_id)
    assert (ended.status, ended.ended_reason) == ("canceled", "withdrawn")
    for paid in (imp_uid, repeat.imp_uid):
        assert cancelled_at_iamport(shop, paid, 19800)["status"] == "cancelled"
        assert refunds_of(shop, paid) == [(PRICE, "done")]
    assert not key_exists(shop, key)
    with shop.context():
        [end] = db.session.execute(db.select(MrrChange).where(
            MrrChange.subscription_id == sub_id, MrrChange.kind == "end")).scalars().all()
        assert end.voluntary is True
        ended_events = [e.detail.get("reason") for e in db.session.execute(
            db.select(SubscriptionEvent).where(SubscriptionEvent.subscription_id == sub_id,
                                               SubscriptionEvent.kind == "ended")).scalars()]
        assert ended_events == ["withdrawal"]
    wait_until(lambda: len([m for m in shop.sandbox.mail(ada.email) if m["subject"] == "Refund of ₩19,800"]) == 2,
               message="a refund mail per payment")


def test_after_the_window_the_withdraw_button_is_gone_and_cancel_refunds_unused_days(shop):
    priced(shop)
    ada = shop.shopper()
    imp_uid, sub_id = subscribed(shop, ada)
    shop.sandbox.advance(8 * DAY)
    assert "/withdraw" not in ada.get("/account").text
    assert ada.get(f"/account/subscriptions/{sub_id}/withdraw").status_code == 409
    sub = subscription(shop, sub_id)
    now = utcnow() + timedelta(seconds=8 * DAY)
    expected = unused_days_value(PRICE, sub.current_period_start, sub.current_period_end, now)
    assert f"₩{expected:,.0f} will be refunded to your card" in unescape(
        ada.get(f"/account/subscriptions/{sub_id}/cancel").text)


def test_with_refund_none_nothing_is_refunded_after_the_window_and_the_pages_say_so(refunding_nothing):
    shop = refunding_nothing
    priced(shop)
    ada = shop.shopper()
    imp_uid, sub_id = subscribed(shop, ada)
    shop.sandbox.advance(8 * DAY)
    page = unescape(ada.get(f"/account/subscriptions/{sub_id}/cancel").text)
    assert "Nothing is refunded" in page and "withdrawal period has passed" in page
    assert "will be refunded" not in page
    ada.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"})
    assert subscription(shop, sub_id).status == "canceled"
    assert refunds_of(shop, imp_uid) == []
    assert shop.sandbox.payment(imp_uid)["cancel_amount"] == 0
    terms = ada.get("/terms").text
    assert "the unused time is not refunded" in terms


def test_staff_cancel_now_offers_the_rules_amount(shop):
    priced(shop)
    ada = shop.shopper()
    imp_uid, sub_id = subscribed(shop, ada)
    sam = staff_member(shop)
    page = unescape(sam.get(f"/admin/subscriptions/{sub_id}/cancel").text)
    assert 'value="19800"' in page and "₩19,800" in page
    answer, _ = confirm(sam, f"/admin/subscriptions/{sub_id}/cancel", reason="asked by phone",
                        when="now", refund="19800")
    assert answer.status_code == 200
    assert cancelled_at_iamport(shop, imp_uid, 19800)["status"] == "cancelled"


def test_deleting_the_account_within_the_window_refunds_in_full(shop, sandbox):
    priced(shop)
    http = sign_up(shop, "ada@example.com")
    ada = Shopper(shop, http, "ada@example.com")
    imp_uid, sub_id = subscribed(shop, ada)
    page = unescape(http.get(f"{shop.url}/account/delete", timeout=10).text)
    assert "₩19,800 will be refunded to your card" in page
    done = submit(shop, http, "/account/delete", {"current": "correct horse"})
    assert done.status_code == 200 and "Your account is deleted." in done.text
    assert subscription(shop, sub_id).status == "canceled"
    assert cancelled_at_iamport(shop, imp_uid, 19800)["status"] == "cancelled"
    assert refunds_of(shop, imp_uid) == [(PRICE, "done")]


def test_withdrawal_and_cancel_pages_in_korean(shop):
    from tests.support.i18n import english_left

    priced(shop)
    ada = shop.shopper()
    _, sub_id = subscribed(shop, ada)
    ada.use_language("ko")
    overview = ada.get("/account").text
    assert "청약철회 (전액 환불)" in overview
    for path in ("withdraw", "cancel"):
        page = ada.get(f"/account/subscriptions/{sub_id}/{path}").text
        assert "카드로 19,800원 환불됩니다" in page, path
        assert english_left(page, {"Ada", "Lovelace", "Basic"}) == [], path
    done = ada.post_form(f"/account/subscriptions/{sub_id}/withdraw", {})
    assert "청약철회가 완료되어" in done.text
