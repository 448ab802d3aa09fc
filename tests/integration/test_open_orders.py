"""Orders left open: a window opened and left or closed never blocks a new checkout, is closed after
its last lookup, and a payment that still arrives for it is honoured (tests over real HTTP)."""

from __future__ import annotations

from datetime import timedelta

from storefront import billing
from storefront.extensions import db
from storefront.models import Plan, utcnow
from tests.support.records import payments, stored_payments, subscription
from tests.support.sandbox import window_result
from tests.support.shop import Shop, Shopper
from tests.support.subscribing import pay_first
from tests.support.waiting import wait_until

HOURS_LATER = timedelta(hours=3)


def open_and_leave(shop: Shop, shopper: Shopper, slug: str = "basic-monthly") -> dict:
    """Open the checkout and its payment window (iamport now holds the order as `ready`), then
    walk away; returns the page's parameters and the window's address."""
    params = shopper.open_checkout(slug)
    opened = shop.sandbox.open_window(params["pay"], imp_code=params["imp_code"], origin=shop.url)
    assert opened["ok"], opened
    params["window_url"] = opened["window_url"]
    return params


def offers_checkout(shopper: Shopper, slug: str = "basic-monthly") -> bool:
    """Whether the plan's page offers to subscribe and the checkout page opens."""
    plan_page = shopper.get(f"/plans/{slug}")
    checkout = shopper.get(f"/checkout/{slug}", allow_redirects=False)
    return f'href="/checkout/{slug}"' in plan_page.text and checkout.status_code == 200


def count_lookups(shop: Shop, monkeypatch) -> list[str]:
    """The payments the shop's iamport client looks up from now on (it still asks the sandbox)."""
    client = shop.app.extensions["iamport"]
    seen: list[str] = []
    for name in ("find_payment", "get_payment"):
        original = getattr(client, name)

        def spy(uid, *args, _original=original, **kwargs):
            seen.append(uid)
            return _original(uid, *args, **kwargs)

        monkeypatch.setattr(client, name, spy)
    return seen


def test_a_window_opened_and_left_never_blocks_a_new_checkout(shop):
    ada = shop.shopper()
    params = open_and_leave(shop, ada)
    merchant_uid = params["pay"]["merchant_uid"]
    # The result page and reconcile both look the order up and find it `ready` at iamport.
    assert ada.get(f"/checkout/result/{merchant_uid}").status_code == 200
    with shop.context():
        billing.reconcile()
    [order] = stored_payments(shop.app)
    assert order.status == "pending"
    assert offers_checkout(ada)
    # Within the hour the same open order is offered again, and may be paid.
    again = ada.open_checkout()
    assert again["pay"]["merchant_uid"] == merchant_uid


def test_a_window_closed_by_the_shopper_never_blocks_a_new_checkout(shop):
    ada = shop.shopper()
    params = open_and_leave(shop, ada)
    closed = shop.sandbox.submit_window(params["window_url"], action="close")
    assert closed.status_code == 200
    rsp = window_result(closed.text)
    assert ada.complete(params, rsp["imp_uid"]).status_code in (200, 404)
    with shop.context():
        billing.reconcile()
    assert offers_checkout(ada)


def test_an_order_left_open_is_closed_by_one_last_lookup_and_then_costs_nothing(shop, monkeypatch):
    ada = shop.shopper()
    params = open_and_leave(shop, ada)
    with shop.context():
        billing.reconcile(now=utcnow() + HOURS_LATER)
    [order] = stored_payments(shop.app)
    assert order.status == "failed"
    looked_up = count_lookups(shop, monkeypatch)
    with shop.context():
        report = billing.reconcile(now=utcnow() + HOURS_LATER)
    assert report.still_pending == 0 and report.failures == []
    assert looked_up == []
    # A new checkout makes a new order.
    assert ada.open_checkout()["pay"]["merchant_uid"] != params["pay"]["merchant_uid"]


def test_a_late_payment_on_a_closed_order_is_honoured_and_refunded_if_bought_meanwhile(shop):
    shop.sandbox.set_delays(cancel_delay=0)
    ada = shop.shopper()
    left = open_and_leave(shop, ada)
    with shop.context():
        billing.reconcile(now=utcnow() + HOURS_LATER)
    _, _, sub_id = pay_first(shop, ada)
    assert subscription(shop, sub_id).status == "active"
    # The old window is paid after all; its webhook reaches the shop.
    paid = window_result(shop.sandbox.submit_window(left["window_url"]).text)
    assert paid["success"], paid

    def old_order_settled() -> bool:
        [old] = [p for p in payments(shop, sub_id) if p.merchant_uid == left["pay"]["merchant_uid"]]
        return old.status == "cancelled"

    wait_until(old_order_settled, timeout=10, message="the late payment recorded and refunded")
    assert shop.sandbox.payment(paid["imp_uid"])["status"] == "cancelled"
    assert subscription(shop, sub_id).status == "active"


def test_a_payment_on_an_expired_order_for_a_plan_no_longer_sold_at_its_price_is_refunded(shop):
    shop.sandbox.set_delays(cancel_delay=0)
    ada = shop.shopper()
    left = open_and_leave(shop, ada, "basic-yearly")
    with shop.context():
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-yearly")).scalar_one()
        old_price = plan.price
        plan.price, plan.active = old_price + 30, False
        # The order was opened two hours ago: it has expired by the time it is paid.
        order = billing.payment_by_merchant_uid(left["pay"]["merchant_uid"])
        order.created_at = utcnow() - timedelta(hours=2)
        db.session.commit()
    paid = window_result(shop.sandbox.submit_window(left["window_url"]).text)
    assert paid["success"], paid
    answer = ada.complete(left, paid["imp_uid"])
    assert answer.status_code == 200
    [order] = stored_payments(shop.app)
    assert order.amount == old_price
    wait_until(lambda: stored_payments(shop.app)[0].status == "cancelled", timeout=10,
               message="the payment refunded")
    assert shop.sandbox.payment(paid["imp_uid"])["status"] == "cancelled"
    assert subscription(shop, order.subscription_id).status == "incomplete"
    # The shopper is told why, on the result page and the account page.
    result = ada.get(f"/checkout/result/{order.merchant_uid}").text
    account = ada.get("/account").text
    for page in (result, account):
        assert "no longer sold at its price" in page
