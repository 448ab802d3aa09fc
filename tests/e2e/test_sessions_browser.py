"""In Chromium: a copy of the cookies taken before log-out logs no one in after it; live mode's
__Host- cookies are kept and carry the session."""
from __future__ import annotations

import re

import pytest

from tests.support.checkout_browser import PASSWORD, STEP_TIMEOUT_MS, register
from tests.support.sandbox import LIVE_LIKE, start_sandbox
from tests.support.shop import make_shop


def log_in(page, base_url: str, email: str, remember: bool) -> None:
    page.goto(f"{base_url}/auth/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    if remember:
        page.check("#remember")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base_url) + r"/account$"))


def log_out(page) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state()


def account_page_of(browser, base_url: str, cookies: list[dict]) -> str:
    """Where another browser holding these cookies lands when it opens /account."""
    context = browser.new_context()
    context.set_default_timeout(STEP_TIMEOUT_MS)
    try:
        context.add_cookies(cookies)
        other = context.new_page()
        other.goto(f"{base_url}/account")
        return other.url
    finally:
        context.close()


def test_cookies_copied_before_logout_log_no_one_in_after_it(browser, page, shop):
    email = register(page, shop.url)
    log_out(page)
    log_in(page, shop.url, email, remember=True)
    copied = page.context.cookies()
    assert {"session", "remember_token"} <= {cookie["name"] for cookie in copied}
    remember_only = [cookie for cookie in copied if cookie["name"] == "remember_token"]
    # Before log-out the copies work, each on its own ...
    assert account_page_of(browser, shop.url, copied).endswith("/account")
    assert account_page_of(browser, shop.url, remember_only).endswith("/account")
    log_out(page)
    # ... and after it neither does.
    assert "/auth/login" in account_page_of(browser, shop.url, copied)
    assert "/auth/login" in account_page_of(browser, shop.url, remember_only)


@pytest.fixture
def live_shop(tmp_path):
    sandbox = start_sandbox(tmp_path / "live.sqlite3", SANDBOX_TEST_CHANNEL=True, **LIVE_LIKE)
    # Live mode's own cookie flags: Chromium treats http://127.0.0.1 as a secure context.
    # Live mode takes the sandbox's URLs for iamport's only when told (IAMPORT_URL_OVERRIDE).
    shop = make_shop(tmp_path, sandbox, IAMPORT_MODE="live", IAMPORT_PG="paymentwall.proj4815",
                     IAMPORT_URL_OVERRIDE="true", MAIL_SERVER="127.0.0.1",
                     MAIL_FROM="Northwind <help@northwind.kr>")
    assert shop.app.config["SESSION_COOKIE_NAME"] == "__Host-session"
    yield shop
    shop.stop()
    sandbox.stop()


def test_live_mode_host_cookies_are_kept_and_carry_the_session(page, live_shop):
    email = register(page, live_shop.url)
    log_out(page)
    log_in(page, live_shop.url, email, remember=True)
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert set(cookies) == {"__Host-session", "__Host-remember_token", "__Host-device"}
    for cookie in cookies.values():
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert cookie["path"] == "/"
    page.goto(f"{live_shop.url}/account")
    assert page.url.endswith("/account")
