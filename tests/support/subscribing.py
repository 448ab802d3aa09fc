"""A browser-less shopper subscribing to a plan on the served shop, through the window and the callback."""

from __future__ import annotations

from storefront import billing
from tests.support.records import registered
from tests.support.sandbox import GOOD_CARD, window_result
from tests.support.shop import Shop, Shopper
from tests.support.waiting import wait_until


def pay_first(shop: Shop, shopper: Shopper, slug: str = "basic-monthly",
              card: str = GOOD_CARD) -> tuple[str, str, int]:
    """Pay the plan's first period; returns (merchant_uid, imp_uid, subscription id)."""
    params = shopper.open_checkout(slug)
    rsp = window_result(shopper.pay_in_window(params, card=card).text)
    assert shopper.complete(params, rsp["imp_uid"]).json()["status"] == "paid"
    merchant_uid = params["pay"]["merchant_uid"]
    with shop.context():
        sub_id = billing.payment_by_merchant_uid(merchant_uid).subscription_id
    return merchant_uid, rsp["imp_uid"], sub_id


def subscribe(shop: Shop, shopper: Shopper, card: str = GOOD_CARD, wait_ready: bool = True) -> int:
    """Subscribe to Basic monthly; wait until renewals are scheduled. Returns the subscription id."""
    _, _, sub_id = pay_first(shop, shopper, card=card)
    if wait_ready:
        wait_until(lambda: registered(shop, sub_id), timeout=6, message="the first renewal schedule")
    return sub_id
