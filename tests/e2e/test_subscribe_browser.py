"""Subscribing in a real browser: the plan page, the checkout page, the sandbox window and back."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from storefront import billing
from storefront.payment_window import CONSENT_VERSION
from storefront.extensions import db
from storefront.models import Payment
from tests.support.browser import screenshot_on_failure
from tests.support.checkout_browser import (
    fill_card,
    tick_consents,
    open_checkout,
    order_number,
    start_payment,
    pay_in_window,
    register,
    result_url,
    subscription_card,
    window_frame,
)
from tests.support.i18n import english_left
from tests.support.sandbox import GOOD_CARD

TIMEOUT = 10_000


def assert_active_on_account(page, base_url):
    page.goto(f"{base_url}/account")
    card = subscription_card(page, "Basic")
    expect(card).to_have_count(1)
    badge = card.locator("h3 .badge")
    expect(badge).to_have_text("active")
    expect(badge).to_have_attribute("data-status", "active")


def test_desktop_subscribe_in_the_iframe_window(page, shop):
    register(page, shop.url)
    open_checkout(page, shop.url)
    expect(page.locator("h1")).to_have_text("Subscribe to Basic")

    merchant_uid = start_payment(page)
    assert merchant_uid.startswith("sub_")
    assert order_number(page) == merchant_uid
    # Desktop: the SDK lays the window over the page in an iframe; the page itself stays put.
    window = window_frame(page)
    expect(window.locator("#pw-amount")).to_contain_text("9", timeout=TIMEOUT)
    assert page.url.endswith("/checkout/basic-monthly")
    expect(page.locator("#pay-button")).to_be_disabled()
    pay_in_window(window, card=GOOD_CARD, expiry="12/30", cvv="123", holder="Ada Lovelace")

    page.wait_for_url(result_url(shop.url, merchant_uid), timeout=TIMEOUT)
    result = page.locator("section.result")
    expect(result).to_have_attribute("data-status", "paid")
    expect(page.locator("h1")).to_have_text("You are subscribed to Basic")
    expect(page.locator("#imp-sandbox-overlay")).to_have_count(0)

    page.get_by_role("link", name="Go to your account").click()
    page.wait_for_url(f"{shop.url}/account")
    assert_active_on_account(page, shop.url)
    history = page.locator("table.history tbody tr")
    expect(history).to_have_count(1)
    expect(history.first).to_have_attribute("data-merchant-uid", merchant_uid)
    expect(history.first.locator(".badge")).to_have_text("paid")


def test_mobile_subscribe_goes_to_the_window_and_comes_back(phone, shop):
    page = phone
    assert re.search(r"Mobi|iPhone", page.evaluate("navigator.userAgent"))
    register(page, shop.url)
    open_checkout(page, shop.url)

    # The checkout page fits the phone's width: nothing scrolls sideways.
    width = page.evaluate("window.innerWidth")
    assert width < 500, width
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"checkout page is {scroll_width}px wide on a {width}px screen"

    merchant_uid = start_payment(page)
    # Mobile: the whole page goes to the sandbox's window, no overlay.
    page.wait_for_url(re.compile(re.escape(shop.sandbox.url) + r"/window/"), timeout=TIMEOUT)
    assert page.frames == [page.main_frame]
    expect(page.locator(".pw-merchant")).to_contain_text(merchant_uid)
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= page.evaluate("window.innerWidth")

    return_urls = []
    page.on("request", lambda req: req.url.startswith(f"{shop.url}/checkout/return")
            and return_urls.append(req.url))
    pay_in_window(page, card=GOOD_CARD, expiry="12/30", cvv="123", holder="Ada Lovelace")

    page.wait_for_url(result_url(shop.url, merchant_uid), timeout=TIMEOUT)
    assert len(return_urls) == 1 and f"merchant_uid={merchant_uid}" in return_urls[0], return_urls
    assert "imp_success=true" in return_urls[0]
    expect(page.locator("h1")).to_have_text("You are subscribed to Basic")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")

    assert_active_on_account(page, shop.url)


DECLINES = {
    "111": "please check the CVV code",
    "222": "please contact your bank to check the balance",
    "333": "please contact your bank to approve this payment",
}


def assert_declined_and_kept(page, shop, merchant_uid, reason):
    """The checkout after a decline: the reason in the shopper's words, the consent and the
    details kept, pay enabled; the failed order is not offered again (its number is gone)."""
    status = page.locator("#checkout-status")
    expect(status).to_contain_text("The payment did not go through", timeout=TIMEOUT)
    expect(status).to_contain_text(reason)
    expect(status).to_have_class(re.compile(r"checkout-error"))
    expect(page.locator("#consent")).to_be_checked()
    expect(page.locator("#buyer_tel")).to_have_value("010-1234-5678")
    expect(page.locator("#pay-button")).to_be_enabled()
    expect(page.locator("#order-row")).to_be_hidden()
    with shop.context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        assert payment.status == "failed"
        assert payment.subscription.status == "incomplete"


def assert_retry_paid(page, shop, merchant_uid, retry_uid):
    """The retry's window paid: its result, and the declined order still failed."""
    page.wait_for_url(result_url(shop.url, retry_uid), timeout=TIMEOUT)
    expect(page.locator("h1")).to_have_text("You are subscribed to Basic")
    with shop.context():
        assert billing.payment_by_merchant_uid(merchant_uid).status == "failed"
        assert billing.payment_by_merchant_uid(retry_uid).status == "paid"
        assert billing.payment_by_merchant_uid(retry_uid).subscription.status == "active"


@pytest.mark.parametrize("cvv", sorted(DECLINES))
def test_a_declined_card_keeps_the_shopper_on_the_checkout_with_the_reason(page, shop, cvv):
    register(page, shop.url)
    open_checkout(page, shop.url)
    page.fill("#buyer_tel", "010-1234-5678")
    merchant_uid = start_payment(page)
    pay_in_window(window_frame(page), cvv=cvv)

    # Still the checkout: the reason in the shopper's words, the consent and the details kept.
    assert_declined_and_kept(page, shop, merchant_uid, DECLINES[cvv])
    expect(page.locator("#imp-sandbox-overlay")).to_have_count(0)
    assert page.url == f"{shop.url}/checkout/basic-monthly"

    # The same button opens the window again, on a new order, without ticking anything again.
    retry_uid = start_payment(page)
    assert retry_uid != merchant_uid
    assert order_number(page) == retry_uid
    pay_in_window(window_frame(page))
    assert_retry_paid(page, shop, merchant_uid, retry_uid)


def test_a_declined_card_on_a_phone_returns_to_the_checkout_with_the_reason(phone, shop):
    page = phone
    register(page, shop.url)
    open_checkout(page, shop.url)
    page.fill("#buyer_tel", "010-1234-5678")
    merchant_uid = start_payment(page)
    page.wait_for_url(re.compile(re.escape(shop.sandbox.url) + r"/window/"), timeout=TIMEOUT)
    pay_in_window(page, cvv="111")

    # Back on the checkout (the phone left it for the window), as the desktop stays on it: the
    # consent given on that order and the details given to its window kept.
    page.wait_for_url(f"{shop.url}/checkout/basic-monthly?declined={merchant_uid}", timeout=TIMEOUT)
    assert_declined_and_kept(page, shop, merchant_uid, DECLINES["111"])
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")

    # Pay again at once, without ticking anything: a new order, and this card goes through.
    retry_uid = start_payment(page)
    assert retry_uid != merchant_uid
    page.wait_for_url(re.compile(re.escape(shop.sandbox.url) + r"/window/"), timeout=TIMEOUT)
    pay_in_window(page)
    assert_retry_paid(page, shop, merchant_uid, retry_uid)


def test_closing_the_window_leaves_the_order_pending(page, shop):
    # iamport keeps a closed window as a failed payment with an imp_uid; the server verifies it,
    # sees the buyer closed the window, and keeps our order open so the same order can be paid.
    register(page, shop.url)
    open_checkout(page, shop.url)
    merchant_uid = start_payment(page)
    window = window_frame(page)
    fill_card(window)  # typed but never sent
    window.locator("button.pw-close").click()

    expect(page.locator("#imp-sandbox-overlay")).to_have_count(0)
    expect(page.locator("#checkout-status")).to_contain_text("The payment was not completed",
                                                            timeout=TIMEOUT)
    expect(page.locator("#pay-button")).to_be_enabled()
    assert page.url.endswith("/checkout/basic-monthly")

    with shop.context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        assert payment.status == "pending", payment.status
        assert payment.paid_at is None
        assert payment.subscription.status == "incomplete"
    at_iamport = shop.sandbox.api("GET", f"/payments/find/{merchant_uid}").json()["response"]
    assert at_iamport["status"] == "failed" and at_iamport["paid_at"] == 0
    assert at_iamport["card_number"] in (None, ""), "a closed window must not record the typed card"

    # Nothing was charged, so the account has no subscription and no history row.
    page.goto(f"{shop.url}/account")
    expect(page.locator("article.subscription")).to_have_count(0)
    expect(page.locator("table.history tbody tr")).to_have_count(0)

    # The plan page still works and the same order can be paid.
    page.goto(f"{shop.url}/plans/basic-monthly")
    expect(page.locator("h1")).to_contain_text("Basic")
    open_checkout(page, shop.url)
    assert start_payment(page) == merchant_uid
    pay_in_window(window_frame(page))
    page.wait_for_url(result_url(shop.url, merchant_uid), timeout=TIMEOUT)
    expect(page.locator("section.result")).to_have_attribute("data-status", "paid")


def test_window_that_cannot_open_leaves_the_order_pending(page, shop):
    """No imp_uid comes back (the SDK could not reach iamport): the checkout page says so and
    the same order can be paid once the service answers again."""
    register(page, shop.url)
    open_checkout(page, shop.url)
    open_window = f"{shop.sandbox.url}/sdk/v1/payments"
    page.route(open_window, lambda route: route.abort("connectionrefused"))
    merchant_uid = start_payment(page)

    status = page.locator("#checkout-status")
    expect(status).to_contain_text("The payment was not completed", timeout=TIMEOUT)
    expect(status).to_contain_text("could not be reached")
    expect(page.locator("#imp-sandbox-overlay")).to_have_count(0)
    expect(page.locator("#pay-button")).to_be_enabled()
    assert page.url == f"{shop.url}/checkout/basic-monthly"
    with shop.context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        assert payment.status == "pending" and payment.imp_uid is None
        assert payment.subscription.status == "incomplete"

    # The plan page still works; back on the checkout the same pending order is offered again.
    page.goto(f"{shop.url}/plans/basic-monthly")
    expect(page.locator("h1")).to_have_text("Basic")
    page.unroute(open_window)
    open_checkout(page, shop.url)
    assert start_payment(page) == merchant_uid
    pay_in_window(window_frame(page))
    page.wait_for_url(result_url(shop.url, merchant_uid), timeout=TIMEOUT)
    expect(page.locator("h1")).to_have_text("You are subscribed to Basic")


# ------------------------------------------------------------------ the same journey in Korean


def _korean_page(browser, request, **device):
    context = browser.new_context(locale="ko-KR", **device)
    context.set_default_timeout(TIMEOUT)
    context.set_default_navigation_timeout(TIMEOUT)
    request.addfinalizer(context.close)
    page = context.new_page()
    request.addfinalizer(lambda: screenshot_on_failure(request, page))
    return page


@pytest.fixture
def korean_desktop(browser, request):
    """A desktop page whose browser asks for Korean (ko-KR)."""
    return _korean_page(browser, request, viewport={"width": 1280, "height": 900})


@pytest.fixture
def korean_phone(playwright, browser, request):
    """The phone of the `phone` fixture, asking for Korean."""
    device = dict(playwright.devices["iPhone 13"])
    device.pop("default_browser_type", None)
    return _korean_page(browser, request, **device)


def _register_in_korean(page, base_url):
    page.goto(f"{base_url}/auth/register")
    assert page.locator("html").get_attribute("lang") == "ko"
    page.fill("#first_name", "길동")
    page.fill("#last_name", "홍")
    page.fill("#email", "gildong@example.com")
    page.fill("#password", "correct horse battery")
    page.fill("#confirm", "correct horse battery")
    tick_consents(page)
    page.click("form:has(#email) button[type=submit]")
    page.wait_for_url(f"{base_url}/account")


def _korean_words_only(page, *codes):
    html = page.content()
    for code in codes:  # order numbers are codes, shown as they are
        html = html.replace(code, " ")
    return english_left(html)


def _korean_checkout_needs_consent(page, shop):
    """Plan page → checkout in Korean; the pay button refuses until the consent is ticked."""
    page.goto(f"{shop.url}/plans/basic-monthly")
    assert page.locator("html").get_attribute("lang") == "ko"
    assert _korean_words_only(page) == []
    page.get_by_role("link", name="베이직 구독하기").click()
    page.wait_for_url(f"{shop.url}/checkout/basic-monthly")
    page.locator("#pay-button:not([disabled])").wait_for()
    expect(page.locator("h1")).to_have_text("베이직 구독하기")
    assert _korean_words_only(page) == []
    # The consent states the amount, the interval, the first renewal's date and how to cancel.
    consent = page.locator("label[for=consent]")
    first_renewal = re.search(r"다음 결제일 (\d{4}년 \d{1,2}월 \d{1,2}일)",
                              page.locator("dl.summary-list").inner_text()).group(1)
    for words in ("US$9.00", "매월", first_renewal, "해지", "내 계정", "부가세 포함"):
        expect(consent).to_contain_text(words)
    expect(page.locator("legend")).to_have_text("정기결제 동의")
    expect(page.locator("#consent")).not_to_be_checked()

    opened = []
    page.on("request", lambda req: req.method == "POST" and req.url.endswith("/checkout/basic-monthly")
            and opened.append(req.url))
    page.click("#pay-button")
    expect(page.locator("#consent-error")).to_contain_text("정기결제 동의란에 체크")
    expect(page.locator("#consent")).to_be_focused()
    expect(page.locator("#pay-button")).to_be_enabled()
    expect(page.locator("iframe[name=imp-sandbox-window]")).to_have_count(0)
    assert opened == [] and page.url == f"{shop.url}/checkout/basic-monthly"
    with shop.context():
        assert db.session.execute(db.select(Payment)).scalars().all() == []

    page.check("#consent")
    expect(page.locator("#consent-error")).to_be_hidden()


def _consent_recorded(shop, merchant_uid):
    with shop.context():
        subscription = billing.payment_by_merchant_uid(merchant_uid).subscription
        assert subscription.consent_version.startswith(f"{CONSENT_VERSION}/")
        assert subscription.consent_at is not None


def test_desktop_subscribe_in_korean_asks_for_consent(korean_desktop, shop):
    page = korean_desktop
    _register_in_korean(page, shop.url)
    _korean_checkout_needs_consent(page, shop)
    merchant_uid = start_payment(page)
    pay_in_window(window_frame(page), holder="Gildong Hong")
    page.wait_for_url(result_url(shop.url, merchant_uid), timeout=TIMEOUT)
    expect(page.locator("section.result")).to_have_attribute("data-status", "paid")
    expect(page.locator("h1")).to_have_text("베이직 구독이 시작되었습니다")
    assert page.locator("html").get_attribute("lang") == "ko"
    assert _korean_words_only(page, merchant_uid) == []
    _consent_recorded(shop, merchant_uid)


def test_phone_subscribe_in_korean_asks_for_consent(korean_phone, shop):
    page = korean_phone
    _register_in_korean(page, shop.url)
    _korean_checkout_needs_consent(page, shop)
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")
    merchant_uid = start_payment(page)
    page.wait_for_url(re.compile(re.escape(shop.sandbox.url) + r"/window/"), timeout=TIMEOUT)
    pay_in_window(page, holder="Gildong Hong")
    page.wait_for_url(result_url(shop.url, merchant_uid), timeout=TIMEOUT)
    expect(page.locator("h1")).to_have_text("베이직 구독이 시작되었습니다")
    assert _korean_words_only(page, merchant_uid) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")
    _consent_recorded(shop, merchant_uid)


def test_a_declined_card_is_explained_in_korean_and_the_consent_kept(korean_desktop, shop):
    page = korean_desktop
    _register_in_korean(page, shop.url)
    _korean_checkout_needs_consent(page, shop)
    merchant_uid = start_payment(page)
    pay_in_window(window_frame(page), cvv="111", holder="Gildong Hong")

    status = page.locator("#checkout-status")
    # The PG's reason as the window gave it, in the page's language (the window was opened in it).
    expect(status).to_contain_text("보안코드(CVC)를 확인해 주십시오", timeout=TIMEOUT)
    expect(status).to_contain_text("결제되지 않았습니다")
    assert page.url == f"{shop.url}/checkout/basic-monthly"
    expect(page.locator("#consent")).to_be_checked()
    expect(page.locator("#pay-button")).to_be_enabled()
    assert _korean_words_only(page, merchant_uid) == ["CVC"]
    retry_uid = start_payment(page)
    assert retry_uid != merchant_uid
