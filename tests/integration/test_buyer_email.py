"""PAYMENTWALL charges a billing key only with the buyer_email it was issued with: the address the
window was opened with is kept with the key, whatever the account's address becomes."""

from __future__ import annotations

from storefront import billing
from storefront.extensions import db
from storefront.models import User
from tests.support.records import iamport_schedule, payments, registered, subscription
from tests.support.sandbox import window_result
from tests.support.waiting import wait_until


def change_address(shop, old: str, new: str) -> None:
    """The account's address changes (as a confirmed e-mail change does)."""
    with shop.context():
        user = db.session.execute(db.select(User).where(User.email == old)).scalar_one()
        user.email = new
        db.session.commit()


def test_an_address_changed_while_the_window_is_open_is_not_the_keys(shop, sandbox):
    ada = shop.shopper()
    params = ada.open_checkout()
    assert params["pay"]["buyer_email"] == "ada@example.com"
    change_address(shop, "ada@example.com", "ada.new@example.com")
    rsp = window_result(ada.pay_in_window(params).text)
    assert ada.complete(params, rsp["imp_uid"]).json()["status"] == "paid"
    with shop.context():
        sub_id = billing.payment_by_merchant_uid(params["pay"]["merchant_uid"]).subscription_id
    wait_until(lambda: registered(shop, sub_id), timeout=6, message="the first renewal schedule")

    assert subscription(shop, sub_id).buyer_email == "ada@example.com"
    renewal = payments(shop, sub_id, kind="renewal", status="scheduled")[0]
    assert iamport_schedule(shop, renewal.merchant_uid)["buyer_email"] == "ada@example.com"

    charged = ada.charge_now(sub_id)
    assert charged.status_code == 200, charged.text[:300]
    repeat = payments(shop, sub_id, kind="repeat")
    assert [p.status for p in repeat] == ["paid"], [(p.status, p.fail_reason) for p in repeat]
    assert sandbox.payment(repeat[0].imp_uid)["buyer_email"] == "ada@example.com"


def test_a_new_card_after_an_address_change_keeps_the_address_it_was_opened_with(shop, sandbox):
    ada = shop.shopper()
    from tests.support.subscribing import subscribe
    sub_id = subscribe(shop, ada)
    params = ada.open_card_change(sub_id)
    assert params["pay"]["buyer_email"] == "ada@example.com"
    change_address(shop, "ada@example.com", "ada.new@example.com")
    rsp = window_result(ada.pay_in_window(params).text)
    assert ada.complete(params, rsp["imp_uid"]).json()["status"] == "paid"
    wait_until(lambda: subscription(shop, sub_id).customer_uid == params["pay"]["customer_uid"]
               and registered(shop, sub_id), timeout=6, message="the new key's renewal")
    assert subscription(shop, sub_id).buyer_email == "ada@example.com"
    charged = ada.charge_now(sub_id)
    assert charged.status_code == 200
    repeat = payments(shop, sub_id, kind="repeat")
    assert [p.status for p in repeat] == ["paid"], [(p.status, p.fail_reason) for p in repeat]
