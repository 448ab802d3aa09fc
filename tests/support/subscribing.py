"""A browser-less shopper subscribing to a plan on the served shop, through the window and the callback."""

from __future__ import annotations

from storefront import billing
from storefront.extensions import db
from storefront.models import Payment, Subscription, User
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


def pay_a_second_window(shop: Shop, shopper: Shopper, merchant_uid: str = "sub_second_window") -> dict:
    """A second window for the plan the shopper already bought (opened in another tab before the
    first was paid) is paid now, its webhook lost; returns the window's result. The shop owes
    this payment back, and the key it issued."""
    with shop.context():
        sub = db.session.execute(
            db.select(Subscription).join(Subscription.user).where(User.email == shopper.email)
        ).scalars().one()
        second = Payment(merchant_uid=merchant_uid, user_id=sub.user_id, subscription_id=sub.id,
                         amount=sub.plan.price, currency=sub.plan.currency, kind="first",
                         customer_uid=f"cu_{sub.user_id}_{merchant_uid}")
        db.session.add(second)
        db.session.commit()
        pay = {"pg": "paymentwall", "pay_method": "card", "merchant_uid": merchant_uid,
               "name": sub.plan.name, "amount": int(sub.plan.price), "currency": sub.plan.currency,
               "buyer_email": shopper.email, "buyer_name": "Ada Lovelace",
               "customer_uid": second.customer_uid}
    shop.sandbox.set_webhooks(drop_rate=1.0)
    rsp = shop.sandbox.pay(pay)
    assert rsp["success"], rsp
    rsp["customer_uid"] = pay["customer_uid"]
    return rsp
