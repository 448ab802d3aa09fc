"""A payment held for review has a deadline (REVIEW_DEADLINE): after it the attempt is failed and
dunning runs; an approval that still comes is honoured (tests over real HTTP)."""

from __future__ import annotations

from datetime import timedelta

from storefront import billing, clock
from storefront.models import utcnow
from tests.support.records import DAY, payments, scheduled, stored_payments, subscription
from tests.support.sandbox import RENEWAL_REVIEW_APPROVE_CARD, window_result
from tests.support.subscribing import subscribe
from tests.support.waiting import wait_until

# PAYMENTWALL's review in these tests outlasts the shop's deadline.
LONG_REVIEW = 10 * DAY
PAST_THE_DEADLINE = timedelta(hours=73)


def test_a_renewal_held_past_the_deadline_fails_and_dunning_runs_then_a_late_approval_counts(shop):
    shop.sandbox.set_delays(review_delay=LONG_REVIEW)
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper, card=RENEWAL_REVIEW_APPROVE_CARD)
    before = subscription(shop, sub_id)
    shop.sandbox.advance(32 * DAY)
    wait_until(lambda: payments(shop, sub_id, kind="renewal", status="review"), timeout=6,
               message="the held renewal's webhook")
    with shop.context():
        clock.refresh()  # the shop's time is the sandbox's, 32 days on
        billing.reconcile()  # within the deadline: still held
    assert subscription(shop, sub_id).status == "active"

    with shop.context():
        clock.refresh()
        billing.reconcile(now=clock.now() + PAST_THE_DEADLINE)
    [held] = payments(shop, sub_id, kind="renewal", status="failed")
    assert held.fail_reason and "review" in held.fail_reason
    lapsed = subscription(shop, sub_id)
    assert (lapsed.status, lapsed.retry_count) == ("past_due", 1)
    assert lapsed.current_period_end == before.current_period_end
    wait_until(lambda: scheduled(shop, sub_id), timeout=6, message="the retry's schedule")

    # PAYMENTWALL approves after all: the money is recorded and pays the period.
    shop.sandbox.advance(LONG_REVIEW + 60)
    wait_until(lambda: payments(shop, sub_id, kind="renewal", status="paid"), timeout=6,
               message="the late approval's webhook")
    wait_until(lambda: subscription(shop, sub_id).status == "active", timeout=6,
               message="the subscription active again")
    after = subscription(shop, sub_id)
    assert after.retry_count == 0 and after.current_period_start == before.current_period_end
    assert after.current_period_end > before.current_period_end


def test_a_first_payment_held_past_the_deadline_lets_the_shopper_buy_again(shop):
    shop.sandbox.set_delays(review_delay=LONG_REVIEW)
    ada = shop.shopper()
    params = ada.open_checkout()
    rsp = window_result(ada.pay_in_window(params, cvv="555").text)
    ada.complete(params, rsp["imp_uid"])
    [held] = stored_payments(shop.app)
    assert held.status == "review"
    assert ada.get("/checkout/basic-monthly", allow_redirects=False).status_code == 302

    with shop.context():
        billing.reconcile(now=utcnow() + PAST_THE_DEADLINE)
    [failed] = stored_payments(shop.app)
    assert failed.status == "failed"
    assert ada.get("/checkout/basic-monthly", allow_redirects=False).status_code == 200
