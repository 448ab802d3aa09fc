"""A first payment held for review (CVV 555 approved later, 556 declined) in a real browser: the
result and account pages follow the outcome without a reload by the shopper."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from storefront import billing
from tests.e2e.conftest import PHONE_DEVICE, _new_page
from tests.support.browser import screenshot_on_failure
from tests.support.checkout_browser import (
    open_checkout,
    pay_in_window,
    register,
    result_url,
    start_payment,
    subscription_card,
    window_frame,
)
from tests.support.i18n import english_left
from tests.support.waiting import wait_until

TIMEOUT = 10_000
# Longer than any test: the review ends only when the test approves or declines it.
REVIEW_SECONDS = 3600
# More than the pages wait between two looks at the status; the test moves the page's clock by
# this much instead of waiting (Playwright's fake clock: timers only, requests stay real).
A_WHILE = "01:00"


def held_on_the_result_page(page, shop, cvv: str, window=None) -> str:
    """Subscribe to Basic with a card held for review; returns the order, its result page open."""
    shop.sandbox.set_delays(review_delay=REVIEW_SECONDS)
    open_checkout(page, shop.url)
    merchant_uid = start_payment(page)
    pay_in_window(window or window_frame(page), cvv=cvv)
    page.wait_for_url(result_url(shop.url, merchant_uid), timeout=TIMEOUT)
    expect(page.locator("section.result")).to_have_attribute("data-status", "review")
    return merchant_uid


def fake_clock(page) -> None:
    """From now on the page's timers run when the test says (the window is closed by now)."""
    page.clock.install()
    page.reload()


def decide(shop, merchant_uid: str, decision: str) -> None:
    """PAYMENTWALL's review ends (the sandbox's operator): an approval reaches us by its `paid`
    webhook; a declined window payment has no webhook, so reconcile (cron) finds it."""
    with shop.context():
        imp_uid = billing.payment_by_merchant_uid(merchant_uid).imp_uid
    shop.sandbox.control("POST", f"/payments/{imp_uid}/{decision}")
    final = "paid" if decision == "approve" else "failed"
    if decision == "decline":
        with shop.context():
            billing.reconcile(min_age=timedelta(0))

    def recorded() -> bool:
        with shop.context():
            return billing.payment_by_merchant_uid(merchant_uid).status == final

    wait_until(recorded, timeout=8, message=f"the review's {final} recorded")


@pytest.mark.parametrize(("cvv", "decision", "status", "heading"), [
    ("555", "approve", "paid", "You are subscribed to Basic"),
    ("556", "decline", "failed", "The payment did not go through"),
])
def test_the_result_page_follows_the_review(page, shop, cvv, decision, status, heading):
    register(page, shop.url)
    merchant_uid = held_on_the_result_page(page, shop, cvv)
    fake_clock(page)
    result = page.locator("section.result")
    expect(page.locator("h1")).to_have_text("Your payment is being reviewed")
    # Without the script, a link does what the script does.
    expect(page.get_by_role("link", name="Check again")).to_have_attribute(
        "href", f"/checkout/result/{merchant_uid}")
    page.clock.run_for(A_WHILE)
    expect(result).to_have_attribute("data-status", "review")

    decide(shop, merchant_uid, decision)
    page.clock.run_for(A_WHILE)
    expect(result).to_have_attribute("data-status", status)
    expect(page.locator("h1")).to_have_text(heading)
    assert page.url == f"{shop.url}/checkout/result/{merchant_uid}"
    if decision == "decline":
        expect(result.locator(".flash-error")).to_contain_text("declined after risk review")


def test_the_account_page_follows_the_review(page, shop):
    register(page, shop.url)
    merchant_uid = held_on_the_result_page(page, shop, "555")
    page.goto(f"{shop.url}/account")
    fake_clock(page)
    badge = subscription_card(page).locator("h3 .badge")
    expect(badge).to_have_text("under review")
    page.clock.run_for(A_WHILE)
    expect(badge).to_have_text("under review")

    decide(shop, merchant_uid, "approve")
    page.clock.run_for(A_WHILE)
    expect(badge).to_have_text("active")
    expect(badge).to_have_attribute("data-status", "active")
    expect(subscription_card(page).locator(".flash-info")).to_have_count(0)
    assert page.url == f"{shop.url}/account"


def test_the_result_page_follows_the_review_on_a_phone_in_korean(playwright, browser, shop, request):
    device = dict(playwright.devices[PHONE_DEVICE])
    device.pop("default_browser_type", None)
    context, page = _new_page(browser, locale="ko-KR", **device)
    request.addfinalizer(context.close)
    request.addfinalizer(lambda: screenshot_on_failure(request, page))
    register(page, shop.url, first="길동", last="홍", heading="내 계정")
    # Mobile: the whole page goes to the window, which sends it back to the shop (the redirect).
    shop.sandbox.set_delays(review_delay=REVIEW_SECONDS)
    page.goto(f"{shop.url}/checkout/basic-monthly")
    page.locator("#pay-button:not([disabled])").wait_for()
    page.check("#consent")
    merchant_uid = start_payment(page)
    page.wait_for_url(re.compile(re.escape(shop.sandbox.url) + r"/window/"), timeout=TIMEOUT)
    pay_in_window(page, cvv="555")
    page.wait_for_url(result_url(shop.url, merchant_uid), timeout=TIMEOUT)
    result = page.locator("section.result")
    expect(result).to_have_attribute("data-status", "review")
    fake_clock(page)
    expect(page.locator("h1")).to_have_text("결제를 검토하고 있습니다")
    assert english_left(page.content().replace(merchant_uid, " ")) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")

    decide(shop, merchant_uid, "approve")
    page.clock.run_for(A_WHILE)
    expect(result).to_have_attribute("data-status", "paid")
    expect(page.locator("h1")).to_have_text("베이직 구독이 시작되었습니다")
