"""The payment audit: `reconcile(audit=True)` pages through iamport's paid payments and records one
we never heard of (a late `paid` whose webhook was lost), over real HTTP to the sandbox."""

from __future__ import annotations

from datetime import timedelta

from storefront import billing
from storefront.models import utcnow
from tests.support.records import payments, stored_payments, subscription
from tests.support.sandbox import window_result
from tests.support.shop import Shop, Shopper
from tests.support.subscribing import pay_first

HOURS_LATER = timedelta(hours=3)


def left_and_closed(shop: Shop, shopper: Shopper) -> dict:
    """Open the checkout and its window, walk away, and let reconcile close the order as
    abandoned (3 hours later); returns the page's parameters and the window's address."""
    params = shopper.open_checkout("basic-monthly")
    opened = shop.sandbox.open_window(params["pay"], imp_code=params["imp_code"], origin=shop.url)
    assert opened["ok"], opened
    params["window_url"] = opened["window_url"]
    with shop.context():
        report = billing.reconcile(now=utcnow() + HOURS_LATER)
    assert report.abandoned == 1
    [order] = [p for p in stored_payments(shop.app) if p.merchant_uid == params["pay"]["merchant_uid"]]
    assert order.status == "failed"
    return params


def paid_late_without_webhook(shop: Shop, params: dict) -> dict:
    """The old window is paid after all, and its webhook never reaches the shop."""
    shop.sandbox.set_webhooks(drop_rate=1.0)
    paid = window_result(shop.sandbox.submit_window(params["window_url"]).text)
    assert paid["success"], paid
    assert shop.sandbox.payment(paid["imp_uid"])["status"] == "paid"
    return paid


def listing_calls(shop: Shop, monkeypatch) -> list[str]:
    """The paths of iamport's payment listing the shop's client asks for from now on."""
    client = shop.app.extensions["iamport"]
    seen: list[str] = []
    original = client._call

    def spy(method, path, *args, **kwargs):
        if path.startswith("/payments/status/"):
            seen.append(path)
        return original(method, path, *args, **kwargs)

    monkeypatch.setattr(client, "_call", spy)
    return seen


def order_of(shop: Shop, merchant_uid: str):
    [order] = [p for p in stored_payments(shop.app) if p.merchant_uid == merchant_uid]
    return order


def test_an_audit_records_a_late_payment_on_an_order_closed_as_abandoned(shop, monkeypatch):
    ada = shop.shopper()
    left = left_and_closed(shop, ada)
    merchant_uid = left["pay"]["merchant_uid"]
    paid = paid_late_without_webhook(shop, left)
    listed = listing_calls(shop, monkeypatch)

    # Without the audit the closed order is not looked at: it stays failed.
    with shop.context():
        plain = billing.reconcile()
    assert listed == [] and plain.failures == []
    assert order_of(shop, merchant_uid).status == "failed"

    with shop.context():
        report = billing.reconcile(audit=True)
    order = order_of(shop, merchant_uid)
    assert (order.status, order.imp_uid) == ("paid", paid["imp_uid"])
    assert report.failures == []
    assert report.paid_unrecorded == 1
    assert listed == ["/payments/status/paid"]
    assert subscription(shop, order.subscription_id).status == "active"
    assert shop.sandbox.payment(paid["imp_uid"])["status"] == "paid"

    # Recorded now: the next audit finds nothing new.
    with shop.context():
        again = billing.reconcile(audit=True)
    assert again.paid_unrecorded == 0 and again.failures == []


def test_an_audit_refunds_a_late_payment_when_the_shopper_bought_meanwhile(shop):
    shop.sandbox.set_delays(cancel_delay=0)
    ada = shop.shopper()
    left = left_and_closed(shop, ada)
    _, bought_imp_uid, sub_id = pay_first(shop, ada)
    paid = paid_late_without_webhook(shop, left)

    with shop.context():
        report = billing.reconcile(audit=True)
    [old] = [p for p in payments(shop, sub_id) if p.merchant_uid == left["pay"]["merchant_uid"]]
    assert (old.status, old.imp_uid) == ("cancelled", paid["imp_uid"])
    assert report.failures == []
    assert report.paid_unrecorded == 1
    assert shop.sandbox.payment(paid["imp_uid"])["status"] == "cancelled"
    # The subscription bought meanwhile keeps its payment and stays active.
    assert shop.sandbox.payment(bought_imp_uid)["status"] == "paid"
    assert subscription(shop, sub_id).status == "active"


def test_the_cli_names_what_the_audit_recorded(shop):
    ada = shop.shopper()
    left = left_and_closed(shop, ada)
    paid_late_without_webhook(shop, left)
    runner = shop.app.test_cli_runner()
    plain = runner.invoke(args=["billing", "reconcile"])
    assert plain.exit_code == 0, plain.output
    assert "unrecorded" not in plain.output
    audited = runner.invoke(args=["billing", "reconcile", "--audit"])
    assert audited.exit_code == 0, audited.output
    assert "paid at iamport but unrecorded 1" in audited.output
    assert order_of(shop, left["pay"]["merchant_uid"]).status == "paid"
