"""Charges that settle late: on an old card after a card change, after a cancel, or on a renewal
the shop was withdrawing; the money is recorded, the card on file stays the newest, and what
the shopper was promised not to pay goes back (tests over real HTTP)."""

from __future__ import annotations

from datetime import timedelta

import responses

from storefront import billing
from storefront.models import Payment, utcnow
from tests.support.records import DAY, key_exists, payments, stored_payments, subscription
from tests.support.sandbox import OTHER_GOOD_CARD, window_result
from tests.support.shop import Shop, webhook
from tests.support.subscribing import subscribe
from tests.support.waiting import wait_until

LONG_REVIEW = 10 * DAY


def scheduled_charges(shop: Shop, customer_uid: str) -> list[dict]:
    """The charges iamport made by running schedules on the key, newest first."""
    listed = shop.sandbox.api("GET", f"/subscribe/customers/{customer_uid}/payments").json()
    return [p for p in listed["response"]["list"] if p["customer_uid_usage"] == "payment.scheduled"]


def run_renewal_losing_its_webhook(shop: Shop, customer_uid: str) -> dict:
    """iamport runs the subscription's renewal (paid); its webhook never reaches the shop."""
    shop.sandbox.set_webhooks(drop_rate=1.0)
    shop.sandbox.advance(32 * DAY)
    wait_until(lambda: scheduled_charges(shop, customer_uid), timeout=6, message="the renewal run")
    shop.sandbox.set_webhooks(drop_rate=0.0)
    [ran] = scheduled_charges(shop, customer_uid)
    assert ran["status"] == "paid"
    return ran


def test_a_renewal_on_the_old_card_settling_after_a_card_change_keeps_the_new_card(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    old_key = subscription(shop, sub_id).customer_uid
    ran = run_renewal_losing_its_webhook(shop, old_key)

    params = shopper.open_card_change(sub_id)
    paid = window_result(shopper.pay_in_window(params, card=OTHER_GOOD_CARD).text)
    assert shopper.complete(params, paid["imp_uid"]).json()["status"] == "paid"
    new_key = params["pay"]["customer_uid"]
    wait_until(lambda: subscription(shop, sub_id).billing_key_ready_at is not None, timeout=6,
               message="the new key confirmed")
    changed = subscription(shop, sub_id)
    assert changed.customer_uid == new_key

    # The renewal's webhook comes after all: it buys its period and leaves the card alone.
    webhook(shop, ran["imp_uid"], ran["merchant_uid"])
    with shop.context():
        billing.reconcile()
    after = subscription(shop, sub_id)
    assert after.customer_uid == new_key and after.status == "active"
    assert after.current_period_end > changed.current_period_end
    assert [p.status for p in payments(shop, sub_id) if p.merchant_uid == ran["merchant_uid"]] == ["paid"]
    assert key_exists(shop, new_key) and not key_exists(shop, old_key)
    assert shop.sandbox.payment(ran["imp_uid"])["status"] == "paid"  # not refunded: it bought a period


def test_a_renewal_iamport_ran_as_the_shopper_cancelled_is_refunded_even_if_its_webhook_is_lost(shop):
    shop.sandbox.set_delays(cancel_delay=0)
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    key = subscription(shop, sub_id).customer_uid
    ran = run_renewal_losing_its_webhook(shop, key)
    response = shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"})
    assert response.status_code == 200
    with shop.context():
        billing.reconcile()
        billing.reconcile()
    assert subscription(shop, sub_id).status == "canceled"
    [renewal] = [p for p in payments(shop, sub_id) if p.merchant_uid == ran["merchant_uid"]]
    assert renewal.status == "cancelled"  # recorded, then given back
    assert shop.sandbox.payment(ran["imp_uid"])["status"] == "cancelled"


def test_cancel_at_period_end_charges_nothing_when_the_withdrawal_is_refused(shop):
    shop.sandbox.set_delays(cancel_delay=0)
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    key = subscription(shop, sub_id).customer_uid
    # Below the storefront's client, iamport refuses every unschedule with a 429; every other
    # call (the shop's, the sandbox's webhooks, the test's) goes through.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{shop.sandbox.url}/subscribe/payments/unschedule", status=429,
                  json={"code": -1, "message": "Too many requests", "response": None})
        mock.add_passthru(shop.sandbox.url)
        mock.add_passthru(shop.url)
        response = shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "period_end"})
        assert response.status_code == 200
        with shop.context():
            report = billing.reconcile()
    assert report.failures  # a withdrawal still owed is named
    [renewal] = payments(shop, sub_id, kind="renewal")
    assert renewal.status == "withdrawing"

    # iamport runs the schedule it still held: the charge goes back, nothing is extended.
    ending = subscription(shop, sub_id)
    shop.sandbox.advance(32 * DAY)
    wait_until(lambda: scheduled_charges(shop, key), timeout=6, message="the renewal run")
    [ran] = scheduled_charges(shop, key)
    wait_until(lambda: payments(shop, sub_id, kind="renewal", status="paid")
               or payments(shop, sub_id, kind="renewal", status="cancelled"), timeout=6,
               message="the renewal recorded")
    with shop.context():
        billing.reconcile(now=utcnow() + timedelta(days=32))
    assert shop.sandbox.payment(ran["imp_uid"])["status"] == "cancelled"
    after = subscription(shop, sub_id)
    assert after.current_period_end == ending.current_period_end
    assert after.status == "canceled"


def hold_first_payment_past_its_deadline(shop: Shop, shopper) -> dict:
    """The shopper's first payment is held for review; the deadline passes and the shop counts
    it as declined. Returns the held payment's window result."""
    shop.sandbox.set_delays(review_delay=LONG_REVIEW, cancel_delay=0)
    params = shopper.open_checkout()
    held = window_result(shopper.pay_in_window(params, cvv="555").text)
    shopper.complete(params, held["imp_uid"])
    with shop.context():
        billing.reconcile(now=utcnow() + timedelta(hours=73))
    return held


def given_back(shop: Shop, held: dict) -> bool:
    """Whether the held payment's late approval was recorded on its order and given back."""
    [order] = stored_payments(shop.app, Payment.merchant_uid == held["merchant_uid"])
    return order.status == "cancelled"


def test_a_first_payment_approved_after_the_shopper_cancelled_is_refunded_not_revived(shop):
    shopper = shop.shopper()
    held = hold_first_payment_past_its_deadline(shop, shopper)
    sub_id = subscribe(shop, shopper)
    assert shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"}).status_code == 200

    shop.sandbox.advance(LONG_REVIEW + 60)  # PAYMENTWALL approves the held payment
    wait_until(lambda: given_back(shop, held), timeout=10, message="the approval recorded and refunded")
    assert subscription(shop, sub_id).status == "canceled"
    assert shop.sandbox.payment(held["imp_uid"])["status"] == "cancelled"
    assert not key_exists(shop, shop.sandbox.payment(held["imp_uid"])["customer_uid"])


def test_a_first_payment_approved_after_the_shopper_subscribed_again_is_refunded(shop):
    shopper = shop.shopper()
    held = hold_first_payment_past_its_deadline(shop, shopper)
    first_sub = subscribe(shop, shopper)
    assert shopper.post_form(f"/account/subscriptions/{first_sub}/cancel", {"when": "now"}).status_code == 200
    second_sub = subscribe(shop, shopper)
    assert second_sub != first_sub

    shop.sandbox.advance(LONG_REVIEW + 60)
    wait_until(lambda: given_back(shop, held), timeout=10, message="the approval recorded and refunded")
    assert subscription(shop, first_sub).status == "canceled"
    assert subscription(shop, second_sub).status == "active"
    assert shop.sandbox.payment(held["imp_uid"])["status"] == "cancelled"


def test_a_card_change_paid_after_a_cancel_is_refunded_and_its_new_key_deleted(shop):
    shop.sandbox.set_delays(cancel_delay=0)
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    params = shopper.open_card_change(sub_id)  # the window opened in one tab …
    assert shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"}).status_code == 200
    paid = window_result(shopper.pay_in_window(params, card=OTHER_GOOD_CARD).text)  # … paid after
    shopper.complete(params, paid["imp_uid"])
    new_key = params["pay"]["customer_uid"]
    with shop.context():
        billing.reconcile()
    assert subscription(shop, sub_id).status == "canceled"
    assert shop.sandbox.payment(paid["imp_uid"])["status"] == "cancelled"
    assert not key_exists(shop, new_key)
