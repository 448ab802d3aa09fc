"""The won plan end to end over real HTTP: checkout, verification, renewals, charge now and refunds in KRW."""

from __future__ import annotations

from decimal import Decimal

from storefront import billing
from storefront.extensions import db
from tests.support.records import DAY, iamport_schedule, payments, registered, scheduled
from tests.support.sandbox import window_result
from tests.support.subscribing import pay_first
from tests.support.waiting import wait_until

WON_PLAN = "basic-krw-monthly"


def subscribe_in_won(shop, shopper) -> int:
    _, _, sub_id = pay_first(shop, shopper, WON_PLAN)
    wait_until(lambda: registered(shop, sub_id), timeout=6, message="the first renewal schedule")
    return sub_id


def test_the_won_plan_is_sent_to_the_sdk_as_whole_won(shop):
    params = shop.shopper().open_checkout(WON_PLAN)
    amount = params["pay"]["amount"]
    assert amount == 9900 and isinstance(amount, int) and params["pay"]["currency"] == "KRW"


def test_a_won_subscription_is_paid_verified_and_scheduled_in_won(shop):
    shopper = shop.shopper()
    merchant_uid, imp_uid, sub_id = pay_first(shop, shopper, WON_PLAN)
    charged = shop.sandbox.payment(imp_uid)
    assert (charged["amount"], charged["currency"]) == (9900, "KRW")
    [first] = payments(shop, sub_id, kind="first")
    assert (first.amount, first.currency, first.status) == (Decimal("9900"), "KRW", "paid")
    wait_until(lambda: registered(shop, sub_id), timeout=6, message="the first renewal schedule")
    [renewal] = scheduled(shop, sub_id)
    assert (renewal.amount, renewal.currency) == (Decimal("9900"), "KRW")
    at_iamport = iamport_schedule(shop, renewal.merchant_uid)
    assert (at_iamport["amount"], at_iamport["currency"]) == (9900, "KRW")


def test_a_won_renewal_runs_at_9900_won(shop):
    shopper = shop.shopper()
    sub_id = subscribe_in_won(shop, shopper)
    shop.sandbox.advance(32 * DAY)
    wait_until(lambda: payments(shop, sub_id, kind="renewal", status="paid"), timeout=6,
               message="the renewal webhook")
    [renewal] = payments(shop, sub_id, kind="renewal", status="paid")
    assert (renewal.amount, renewal.currency) == (Decimal("9900"), "KRW")
    charged = shop.sandbox.payment(renewal.imp_uid)
    assert (charged["amount"], charged["currency"], charged["status"]) == (9900, "KRW", "paid")


def test_charge_now_charges_the_key_again_in_won(shop):
    shopper = shop.shopper()
    sub_id = subscribe_in_won(shop, shopper)
    response = shopper.charge_now(sub_id)
    assert "₩9,900" in response.text and "9,900.00" not in response.text
    [repeat] = payments(shop, sub_id, kind="repeat")
    assert (repeat.amount, repeat.currency, repeat.status) == (Decimal("9900"), "KRW", "paid")
    charged = shop.sandbox.payment(repeat.imp_uid)
    assert (charged["amount"], charged["currency"], charged["customer_uid_usage"]) == (9900, "KRW", "payment")


def test_a_won_payment_of_another_amount_is_refused_and_given_back_in_won(shop, sandbox):
    sandbox.set_webhooks(drop_rate=1.0)  # the test decides when iamport's news arrives
    shopper = shop.shopper()
    params = shopper.open_checkout(WON_PLAN)
    merchant_uid = params["pay"]["merchant_uid"]
    rsp = window_result(shopper.pay_in_window(params).text)
    with shop.context():
        # The order says 9,901 won but 9,900 were paid: not the order's payment.
        payment = billing.payment_by_merchant_uid(merchant_uid)
        payment.amount = Decimal("9901")
        db.session.commit()
    response = shopper.complete(params, rsp["imp_uid"])
    assert response.json()["status"] == "refused"
    assert "did not match the order" in response.json()["message"]
    assert "9901" not in response.json()["message"]
    wait_until(lambda: sandbox.payment(rsp["imp_uid"])["status"] == "cancelled", timeout=5,
               message="the payment to be given back at iamport")
    cancelled = sandbox.payment(rsp["imp_uid"])
    assert cancelled["cancel_amount"] == 9900
    assert [c["amount"] for c in cancelled["cancel_history"]] == [9900]
