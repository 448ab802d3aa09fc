"""The card page in a real browser, in both languages: a past-due subscription's new card pays the overdue renewal, with the consent asked first."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from storefront import billing
from tests.e2e.conftest import _new_page
from tests.support.checkout_browser import (
    PASSWORD, order_number, pay_in_window, register, result_url, start_payment, tick_consents,
    wait_for_charge_button, window_frame,
)
from tests.support.i18n import english_left
from tests.support.records import registered
from tests.support.sandbox import OTHER_GOOD_CARD, RENEWAL_DECLINE_CARD
from tests.support.waiting import wait_until

WORDS = {
    "en": {"overdue": "Overdue renewal", "back": "Back to your account", "use": "Use a new card",
           "needed": "Please tick the box to agree to this payment first.", "active": "active"},
    "ko": {"overdue": "밀린 정기결제", "back": "내 계정으로 돌아가기", "use": "카드 변경",
           "needed": "먼저 결제 동의란에 체크해 주세요.", "active": "이용 중"},
}


def sign_up_and_subscribe(page, shop, language: str, card: str) -> str:
    if language == "en":
        register(page, shop.url)
    else:
        page.goto(f"{shop.url}/auth/register")
        page.fill("#first_name", "길동")
        page.fill("#last_name", "홍")
        page.fill("#email", "hong@example.com")
        page.fill("#password", PASSWORD)
        page.fill("#confirm", PASSWORD)
        tick_consents(page)
        page.locator("form:has(#email) button[type=submit]").click()
        page.wait_for_url(f"{shop.url}/account")
    page.goto(f"{shop.url}/checkout/basic-monthly")
    page.locator("#pay-button:not([disabled])").wait_for()
    page.check("#consent")
    merchant_uid = start_payment(page)
    pay_in_window(window_frame(page), card=card)
    page.wait_for_url(result_url(shop.url, merchant_uid))
    return merchant_uid


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_new_card_pays_the_overdue_renewal_after_consent(browser, shop, language):
    words = WORDS[language]
    context, page = _new_page(browser, viewport={"width": 1280, "height": 900},
                              locale="ko-KR" if language == "ko" else "en-US")
    try:
        first_uid = sign_up_and_subscribe(page, shop, language, RENEWAL_DECLINE_CARD)
        wait_for_charge_button(page, shop.url)
        with shop.context():
            sub_id = billing.payment_by_merchant_uid(first_uid).subscription_id
        wait_until(lambda: registered(shop, sub_id), timeout=6, message="the renewal at iamport")
        shop.sandbox.advance(32 * 86400)

        def past_due() -> bool:
            page.goto(f"{shop.url}/account")
            return page.locator("article.subscription h3 .badge").get_attribute("data-status") == "past_due"

        wait_until(past_due, timeout=8, interval=0.25, message="the subscription past due")
        page.get_by_role("link", name=words["use"]).click()
        page.wait_for_url(f"{shop.url}/account/subscriptions/{sub_id}/card")
        page.locator("#pay-button:not([disabled])").wait_for()
        expect(page.locator("dt", has_text=words["overdue"])).to_be_visible()
        expect(page.locator(".card-on-file")).to_contain_text("0341")
        expect(page.get_by_role("link", name=words["back"])).to_have_attribute("href", "/account")
        if language == "ko":
            assert english_left(page.content(), {"Sandbox", "VISA", "card"}) == []
        # Without the box ticked nothing is opened, and the page says why.
        page.click("#pay-button")
        expect(page.locator("#consent-error")).to_have_text(words["needed"])
        expect(page.locator("#order-row")).to_be_hidden()
        page.check("#consent")
        page.click("#pay-button")
        merchant_uid = order_number(page)
        pay_in_window(window_frame(page), card=OTHER_GOOD_CARD)
        page.wait_for_url(result_url(shop.url, merchant_uid))
        with shop.context():
            sub = billing.payment_by_merchant_uid(merchant_uid).subscription
            assert sub.status == "active" and sub.retry_count == 0
        page.goto(f"{shop.url}/account")
        expect(page.locator("article.subscription h3 .badge")).to_have_text(words["active"])
        expect(page.locator("article.subscription .card-on-file")).to_contain_text("0002", timeout=8_000)
        assert re.search(r"button-secondary charge-button", page.content())
    finally:
        context.close()
