"""The back office in Chromium, in English and in Korean, worked by the pages' visible labels only.

A visitor who is not staff finds nothing at /admin; staff made with `flask staff grant` read the
dashboard's figures, find a subscriber by e-mail, read the timeline, and refund half a payment.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from storefront import billing
from tests.support.checkout_browser import register
from tests.support.records import registered
from tests.support.subscribing import pay_first
from tests.support.waiting import wait_until

WON_PLAN = "basic-krw-monthly"
STAFF_EMAIL = "sam@example.com"
STAFF_PASSWORD = "correct horse"

# What each page says, as a newcomer reads it, in each language. The money is written out by hand
# from the won plan's price: one subscriber at 9,900 won a month is an MRR of 9,900 won, and half
# of the payment is 4,950 won.
WORDS = {
    "en": {
        "switch": "English",
        "not_found": "We could not find that page.",
        "account": "Your account",
        "log_in": "Log in",
        "email": "E-mail",
        "password": "Password",
        "back_office": "Back office",
        "dashboard": "Dashboard",
        "active": "Active subscriptions",
        "past_due": "Past-due subscriptions",
        "mrr": "MRR in KRW (VAT included)",
        "mrr_value": "₩9,900",
        "subscriptions": "Subscriptions",
        "search_box": "E-mail, name, order ID or imp_uid",
        "search": "Search",
        "timeline": "Timeline",
        "paid": "Payment paid",
        "activated": "Subscription activated",
        "payments": "Payments",
        "refund": "Refund",
        "amount": "Amount to refund",
        "reason": "Reason",
        "your_password": "Your password",
        "half": "4,950",
        "refunded_flash": "The refund of ₩4,950 is asked of iamport.",
        "refunds": "Refunds",
        "half_shown": "₩4,950",
        "partially": "partially refunded",
    },
    "ko": {
        "switch": "한국어",
        "not_found": "페이지를 찾을 수 없습니다.",
        "account": "내 계정",
        "log_in": "로그인",
        "email": "이메일",
        "password": "비밀번호",
        "back_office": "관리자 화면",
        "dashboard": "대시보드",
        "active": "이용 중인 구독",
        "past_due": "미결제 구독",
        "mrr": "KRW 월간 반복 매출(MRR, 부가세 포함)",
        "mrr_value": "9,900원",
        "subscriptions": "구독",
        "search_box": "이메일, 이름, 주문번호 또는 imp_uid",
        "search": "검색",
        "timeline": "타임라인",
        "paid": "결제 완료",
        "activated": "구독 시작",
        "payments": "결제 내역",
        "refund": "환불",
        "amount": "환불 금액",
        "reason": "사유",
        "your_password": "비밀번호",
        "half": "4,950",
        "refunded_flash": "포트원에 4,950원 환불을 요청했습니다.",
        "refunds": "환불",
        "half_shown": "4,950원",
        "partially": "부분 환불",
    },
}

LANGUAGES = ["en", "ko"]


def switch_language(page, words: dict) -> None:
    """Press the language's name in the header (a form of buttons, one a language)."""
    page.get_by_role("banner").get_by_role("button", name=words["switch"], exact=True).click()
    expect(page.get_by_role("banner").get_by_role("button", name=words["switch"], exact=True)) \
        .to_have_attribute("aria-current", "true")


def figure(page, label: str):
    """The value shown under a dashboard figure's label."""
    return page.locator("dl.figures > div").filter(
        has=page.get_by_text(label, exact=True)).get_by_role("definition")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_back_office_is_not_found_for_anyone_but_staff(page, shop, language):
    words = WORDS[language]
    page.goto(f"{shop.url}/")
    switch_language(page, words)

    answer = page.goto(f"{shop.url}/admin")
    assert answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text(words["not_found"])
    expect(page.get_by_role("link", name=words["back_office"])).to_have_count(0)

    register(page, shop.url, heading=words["account"])
    for path in ("/admin", "/admin/subscriptions", "/admin/payments/1/refund"):
        answer = page.goto(f"{shop.url}{path}")
        assert answer.status == 404, path
        expect(page.get_by_role("heading", level=1)).to_have_text(words["not_found"])
    page.goto(f"{shop.url}/account")
    expect(page.get_by_role("heading", level=1)).to_have_text(words["account"])
    expect(page.get_by_role("link", name=words["back_office"])).to_have_count(0)


@pytest.mark.parametrize("language", LANGUAGES)
def test_staff_read_the_figures_find_a_subscriber_and_refund_half(page, shop, language):
    words = WORDS[language]
    shop.sandbox.set_delays(cancel_delay=0)
    # Ada pays the won plan's first month in the sandbox's payment window.
    ada = shop.shopper(email="ada@example.com")
    merchant_uid, imp_uid, sub_id = pay_first(shop, ada, WON_PLAN)
    wait_until(lambda: registered(shop, sub_id), timeout=6, message="the first renewal schedule")
    # Sam has an account; the CLI makes it staff (which ends the session it had).
    shop.shopper(email=STAFF_EMAIL, first="Sam", last="Staff")
    result = shop.app.test_cli_runner().invoke(args=["staff", "grant", STAFF_EMAIL])
    assert result.exit_code == 0, result.output

    page.goto(f"{shop.url}/")
    switch_language(page, words)
    page.get_by_role("banner").get_by_role("link", name=words["log_in"]).click()
    page.get_by_label(words["email"], exact=True).fill(STAFF_EMAIL)
    page.get_by_label(words["password"], exact=True).fill(STAFF_PASSWORD)
    page.get_by_role("main").get_by_role("button", name=words["log_in"]).click()
    page.get_by_role("banner").get_by_role("link", name=words["back_office"]).click()

    # The dashboard: one live subscription at 9,900 won a month.
    expect(page.get_by_role("heading", level=1)).to_have_text(words["dashboard"])
    expect(figure(page, words["active"])).to_have_text("1")
    expect(figure(page, words["past_due"])).to_have_text("0")
    expect(figure(page, words["mrr"])).to_have_text(words["mrr_value"])

    # The subscriptions list, searched by Ada's e-mail.
    back_office = page.get_by_role("navigation", name=words["back_office"])
    back_office.get_by_role("link", name=words["subscriptions"], exact=True).click()
    page.get_by_label(words["search_box"]).fill(ada.email)
    page.get_by_role("button", name=words["search"], exact=True).click()
    found = page.get_by_role("row").filter(has_text=ada.email)
    expect(found).to_have_count(1)
    found.get_by_role("link").click()

    # The subscription's timeline has the first payment and the activation.
    timeline = page.get_by_role("region", name=words["timeline"])
    expect(timeline.get_by_text(words["paid"], exact=True)).to_be_visible()
    expect(timeline.get_by_text(words["activated"], exact=True)).to_be_visible()

    # Its payment, refunded by half through the confirmation page.
    page.get_by_role("region", name=words["payments"]).get_by_role("link", name=merchant_uid).click()
    page.get_by_role("link", name=words["refund"], exact=True).click()
    page.get_by_label(words["amount"]).fill(words["half"])
    page.get_by_label(words["reason"]).fill("charged twice, says the customer")
    asked = page.get_by_label(words["your_password"])
    if asked.count():
        asked.fill(STAFF_PASSWORD)
    page.get_by_role("button", name=words["refund"], exact=True).click()

    expect(page.get_by_role("status").filter(has_text=words["refunded_flash"])).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text(words["partially"])
    wait_until(lambda: shop.sandbox.payment(imp_uid)["cancel_amount"] == 4950, timeout=5,
               message="the sandbox's record of the partial refund")
    with shop.context():
        assert billing.payment_by_merchant_uid(merchant_uid).subscription.status == "active"
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text(words["partially"])
    expect(page.get_by_role("region", name=words["refunds"], exact=True)).to_contain_text(words["half_shown"])
