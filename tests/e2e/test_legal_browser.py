"""In Chromium on a phone: the footer's business details and the terms and privacy pages, in
Korean and in English, readable without scrolling sideways."""
from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.checkout_browser import STEP_TIMEOUT_MS
from tests.support.shop import make_shop

PHONE_DEVICE = "iPhone 13"  # as the phone fixture of conftest.py
SHOP = {
    "BUSINESS_NAME": "주식회사 한빛상점",
    "BUSINESS_NAME_EN": "Hanbit Store Inc.",
    "BUSINESS_REGISTRATION_NUMBER": "214-86-12345",
    "CUSTOMER_SERVICE_EMAIL": "help@hanbit.co.kr",
}
IN = {
    "ko-KR": {"name": "주식회사 한빛상점", "labels": ["상호", "대표자", "사업자등록번호",
                                                 "통신판매업 신고번호", "주소", "고객센터"],
              "terms": "이용약관", "privacy": "개인정보처리방침", "lang": "ko"},
    "en-US": {"name": "Hanbit Store Inc.", "labels": ["Company", "Representative",
                                                     "Business registration no.",
                                                     "Mail-order sales registration no.",
                                                     "Address", "Customer service"],
              "terms": "Terms of use", "privacy": "Privacy policy", "lang": "en"},
}


@pytest.fixture
def hanbit(tmp_path, sandbox):
    running = make_shop(tmp_path, sandbox, **SHOP)
    yield running
    running.stop()


def phone_in(playwright, browser, locale: str) -> tuple[Any, Any]:
    device = dict(playwright.devices[PHONE_DEVICE])
    device.pop("default_browser_type", None)
    context = browser.new_context(**device, locale=locale)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    return context, context.new_page()


def fits_the_screen(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("locale", ["ko-KR", "en-US"])
def test_the_footer_and_the_legal_pages_on_a_phone(playwright, browser, hanbit, locale):
    words = IN[locale]
    context, page = phone_in(playwright, browser, locale)
    try:
        page.goto(hanbit.url + "/")
        assert page.locator("html").get_attribute("lang") == words["lang"]
        footer = page.locator("footer")
        footer.scroll_into_view_if_needed()
        for label in words["labels"]:
            expect(footer.locator("dt", has_text=label).first).to_be_visible()
        expect(footer).to_contain_text(words["name"])
        expect(footer).to_contain_text("214-86-12345")
        expect(footer.get_by_role("link", name="help@hanbit.co.kr")).to_be_visible()
        assert fits_the_screen(page)
        # Each detail's value starts on its label's line or the next, never off the screen.
        box = footer.locator(".business-details").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390 + 1

        footer.get_by_role("link", name=words["terms"]).click()
        expect(page.locator("h1")).to_have_text(words["terms"])
        expect(page.locator("main")).to_contain_text(words["name"])
        assert fits_the_screen(page)

        page.locator("footer").get_by_role("link", name=words["privacy"]).click()
        expect(page.locator("h1")).to_have_text(words["privacy"])
        expect(page.locator("main")).to_contain_text("help@hanbit.co.kr")
        assert fits_the_screen(page)
    finally:
        context.close()


def test_the_switch_turns_the_legal_page_to_the_other_language(playwright, browser, hanbit):
    context, page = phone_in(playwright, browser, "ko-KR")
    try:
        page.goto(hanbit.url + "/terms")
        expect(page.locator("h1")).to_have_text("이용약관")
        page.get_by_role("button", name="English").click()
        expect(page.locator("h1")).to_have_text("Terms of use")
        assert page.url.endswith("/terms")
        expect(page.locator("footer")).to_contain_text("Hanbit Store Inc.")
    finally:
        context.close()
