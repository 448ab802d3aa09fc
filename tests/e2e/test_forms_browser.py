"""Every form of the site in a real browser: each visible input carries its proper type."""
from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from storefront import billing
from tests.support.checkout_browser import PASSWORD, open_checkout, register, subscribe_desktop, wait_for_charge_button

# The types HTML defines for <input>; anything else (e.g. "None") makes the browser fall back to text.
INPUT_TYPES = {
    "button", "checkbox", "color", "date", "datetime-local", "email", "file", "hidden", "image",
    "month", "number", "password", "radio", "range", "reset", "search", "submit", "tel", "text",
    "time", "url", "week",
}


def visible_inputs(page: Any) -> list[dict[str, Any]]:
    """Name, id and type attribute (None when absent) of each visible input of the page."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('input'))
        .filter(el => el.offsetParent !== null || el.getClientRects().length > 0)
        .map(el => ({id: el.id, name: el.name, type: el.getAttribute('type')}))""")


def bad_types(page: Any) -> list[dict[str, Any]]:
    """The visible inputs whose type attribute is missing or not an HTML input type."""
    return [i for i in visible_inputs(page) if i["type"] not in INPUT_TYPES]


def type_of(page: Any, selector: str) -> str | None:
    return page.locator(selector).get_attribute("type")


def test_every_form_gives_each_input_its_proper_type(page, shop):
    problems: dict[str, list] = {}

    def check(label: str) -> None:
        inputs = visible_inputs(page)
        assert inputs, f"{label}: no visible inputs found; the walk is on the wrong page"
        bad = bad_types(page)
        if bad:
            problems[label] = bad

    # Sign-up: passwords masked, e-mail as e-mail, names as text.
    page.goto(f"{shop.url}/auth/register")
    check("sign-up")
    assert type_of(page, "#email") == "email"
    assert type_of(page, "#password") == "password"
    assert type_of(page, "#confirm") == "password"
    assert type_of(page, "#first_name") == "text"
    assert type_of(page, "#last_name") == "text"
    email = register(page, shop.url)

    # Log-in, after logging out.
    page.locator("form[action$='/auth/logout'] button").click()
    page.goto(f"{shop.url}/auth/login")
    check("log-in")
    assert type_of(page, "#email") == "email"
    assert type_of(page, "#password") == "password"
    assert type_of(page, "#remember") == "checkbox"
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form:has(#email) button[type=submit]")
    page.wait_for_url(f"{shop.url}/account")

    # The checkout page's billing details (then paid, so the account forms exist).
    open_checkout(page, shop.url)
    check("checkout")
    assert type_of(page, "#buyer_tel") == "tel"
    page.goto(f"{shop.url}/account")
    merchant_uid = subscribe_desktop(page, shop.url)
    wait_for_charge_button(page, shop.url)
    with shop.context():
        sub_id = billing.payment_by_merchant_uid(merchant_uid).subscription.id
    account = f"{shop.url}/account/subscriptions/{sub_id}"

    page.goto(f"{account}/charge")
    expect(page.get_by_role("heading", level=1)).to_have_text("Charge Basic now?")
    # Its only fields are hidden; what it shows is buttons.
    assert bad_types(page) == []

    page.goto(f"{account}/cancel")
    expect(page.get_by_role("heading", level=1)).to_have_text("Cancel Basic?")
    check("cancel confirmation")
    page.get_by_role("button", name="Confirm cancellation").click()
    page.wait_for_url(f"{shop.url}/account")

    page.goto(f"{account}/resume")
    expect(page.get_by_role("heading", level=1)).to_have_text("Resume Basic?")
    # Its only fields are hidden; what it shows is buttons.
    assert bad_types(page) == []
    page.get_by_role("button", name="Resume subscription").click()
    page.wait_for_url(f"{shop.url}/account")

    page.goto(f"{account}/card")
    page.locator("#pay-button:not([disabled])").wait_for()
    assert bad_types(page) == []

    assert problems == {}, problems
    # Nothing on any page says "None" where a type belongs.
    assert re.search(r'type="None"', page.content()) is None
