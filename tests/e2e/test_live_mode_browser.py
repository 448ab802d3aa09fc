"""Live mode against a test channel: a shopper who pays there gets nothing, and is told so."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from storefront import billing
from storefront.extensions import db
from storefront.models import Payment, Refund, Subscription
from tests.support.checkout_browser import open_checkout, pay_in_window, register, start_payment, window_frame
from tests.support.sandbox import LIVE_LIKE, start_sandbox
from tests.support.shop import make_shop


@pytest.fixture
def live_shop_on_a_test_channel(tmp_path):
    sandbox = start_sandbox(tmp_path / "testchannel.sqlite3", SANDBOX_TEST_CHANNEL=True, **LIVE_LIKE)
    # Live mode takes the sandbox's URLs for iamport's only when told (IAMPORT_URL_OVERRIDE).
    shop = make_shop(tmp_path, sandbox, IAMPORT_MODE="live", IAMPORT_PG="paymentwall.proj4815",
                     IAMPORT_URL_OVERRIDE="true", MAIL_SERVER="127.0.0.1",
                     MAIL_FROM="Northwind <help@northwind.kr>",
                     # Chromium keeps Secure cookies of http://127.0.0.1; the flags are live's own.
                     SESSION_COOKIE_SECURE=False, REMEMBER_COOKIE_SECURE=False)
    assert shop.app.config["IAMPORT_MODE"] == "live"
    yield shop
    shop.stop()
    sandbox.stop()


def test_a_test_channel_payment_activates_nothing_in_live_mode(page, live_shop_on_a_test_channel):
    shop = live_shop_on_a_test_channel
    register(page, shop.url)
    open_checkout(page, shop.url)
    merchant_uid = start_payment(page)
    pay_in_window(window_frame(page))
    status = page.locator("#checkout-status")
    expect(status).to_contain_text("test channel")
    expect(status).to_contain_text("Nothing was activated")

    with shop.context():
        billing.reconcile(min_age=timedelta(0))
        payment = billing.payment_by_merchant_uid(merchant_uid)
        assert (payment.status, payment.imp_uid) == ("pending", None)
        assert payment.subscription.status == "incomplete"
        assert db.session.execute(db.select(Subscription).where(
            Subscription.customer_uid.is_not(None))).first() is None
        assert db.session.execute(db.select(Payment).where(Payment.kind != "first")).first() is None
        assert db.session.execute(db.select(Refund)).first() is None
    page.goto(f"{shop.url}/account")
    expect(page.locator("body")).to_contain_text("You have no subscription yet")
