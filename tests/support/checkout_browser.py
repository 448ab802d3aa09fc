"""A shopper in Chromium on the served shop: signing up, the checkout page, the sandbox window, the account page."""
from __future__ import annotations

import itertools
import re
from typing import Any

from tests.support.sandbox import GOOD_CARD
from tests.support.waiting import wait_until

# Playwright's own default waits are 30 s; a flow that hangs should fail well before that.
STEP_TIMEOUT_MS = 10_000
PASSWORD = "correct horse battery"

_emails = itertools.count(1)


def tick_consents(page: Any) -> None:
    """Tick sign-up's three consents: the terms, the personal data, and 14 or older."""
    for box in ("#terms", "#privacy", "#age"):
        page.check(box)


def register(page: Any, base_url: str, first: str = "Ada", last: str = "Lovelace",
             email: str | None = None, heading: str = "Your account") -> str:
    """Sign up through /auth/register (which logs the new user in); returns the e-mail used.
    `heading` is the account page's, in the page's language."""
    email = email or f"shopper{next(_emails)}@example.com"
    page.goto(f"{base_url}/auth/register")
    page.fill("#first_name", first)
    page.fill("#last_name", last)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    tick_consents(page)
    # The register form's own button: the language switch is a form of buttons too.
    page.locator("form:has(#email) button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(base_url) + r"/account$"))
    assert page.locator("h1", has_text=heading).is_visible()
    return email


def open_checkout(page: Any, base_url: str, slug: str = "basic-monthly", plan: str = "Basic",
                  consent: bool = True, subscribe: str = "Subscribe to {plan}") -> None:
    """Plan page → "Subscribe to <plan>" → checkout page, with the consent to the recurring
    payment ticked (unless told not to). No order exists until the pay button is pressed."""
    page.goto(f"{base_url}/plans/{slug}")
    page.get_by_role("link", name=subscribe.format(plan=plan)).click()
    page.wait_for_url(re.compile(re.escape(base_url) + rf"/checkout/{re.escape(slug)}$"))
    # checkout.js enables the button once the SDK is loaded and IMP.init() ran.
    page.locator("#pay-button:not([disabled])").wait_for()
    if consent:
        page.check("#consent")


def start_payment(page: Any) -> str:
    """Press the pay button (the consent given): the order is opened and its window too; returns
    the order number from the server's answer."""
    opened: dict = {}

    def keep_answer(route: Any) -> None:
        # Read here, on its way to the page: on a phone the page is gone to the window at once,
        # and a response the page navigated away from has no body left to read.
        response = route.fetch()
        if route.request.method == "POST":
            opened.update(response.json())
        route.fulfill(response=response)

    opening = re.compile(r"/checkout/(?!complete$)[\w-]+$")
    page.route(opening, keep_answer)
    try:
        page.click("#pay-button")
        for _ in range(200):
            if opened:
                break
            page.wait_for_timeout(50)
    finally:
        page.unroute(opening, keep_answer)
    assert opened, "the order was not opened"
    return opened["pay"]["merchant_uid"]


def order_number(page: Any) -> str:
    """The merchant_uid of the order the checkout page opened (shown once it is opened)."""
    page.locator("#order-row:not([hidden])").wait_for()
    return page.locator("#order-number").inner_text()


def window_frame(page: Any) -> Any:
    """The sandbox payment window inside the SDK's iframe overlay (desktop)."""
    return page.frame_locator("iframe[name=imp-sandbox-window]")


def fill_card(window: Any, card: str = GOOD_CARD, expiry: str = "12/30", cvv: str = "123",
              holder: str = "Ada Lovelace") -> None:
    """Type a card into the sandbox window (a Page on mobile, a FrameLocator on desktop)."""
    window.locator("#card_number").fill(card)
    window.locator("#expiry").fill(expiry)
    window.locator("#cvv").fill(cvv)
    window.locator("#card_holder").fill(holder)


def pay_in_window(window: Any, **card: Any) -> None:
    """Fill the card form and press the pay button."""
    fill_card(window, **card)
    window.locator("button.pw-pay").click()


def result_url(base_url: str, merchant_uid: str) -> re.Pattern:
    return re.compile(re.escape(f"{base_url}/checkout/result/{merchant_uid}") + "$")


def subscribe_desktop(page: Any, base_url: str, **card: Any) -> str:
    """The whole desktop checkout with a card that is approved; returns the order number."""
    open_checkout(page, base_url)
    merchant_uid = start_payment(page)
    pay_in_window(window_frame(page), **card)
    page.wait_for_url(result_url(base_url, merchant_uid))
    return merchant_uid


def subscription_card(page: Any, plan: str = "Basic") -> Any:
    """The account page's article for the plan's subscription."""
    return page.locator("article.subscription").filter(
        has=page.locator("h3", has_text=re.compile(rf"^\s*{re.escape(plan)}\b"))
    )


def wait_for_charge_button(page: Any, base_url: str, timeout: float = 8.0) -> None:
    """Reload the account page until "Charge now" is enabled (the billing key is ready)."""
    def enabled() -> bool:
        page.goto(f"{base_url}/account")
        button = page.locator(".charge-button")
        return button.count() == 1 and button.is_enabled()

    wait_until(enabled, timeout=timeout, interval=0.2, message='the "Charge now" button to be enabled')
