"""Subscribe flow over real HTTP: callback, mobile redirect and webhook, verified and recorded once."""

from __future__ import annotations

import itertools
import re
import threading
from decimal import Decimal
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func

from storefront import billing
from storefront.payment_window import CONSENT_VERSION
from storefront.extensions import db
from storefront.models import Payment, Refund, Subscription
from tests.support.sandbox import window_result
from tests.support.shop import webhook
from tests.support.waiting import wait_until


def state(shop, merchant_uid):
    """(payment status, subscription status, billing key ready?) as recorded by the storefront."""
    with shop.context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        sub = payment.subscription
        return payment.status, sub.status, sub.billing_key_ready_at is not None


def pay_desktop(shopper, params, **card):
    response = shopper.pay_in_window(params, **card)
    assert response.status_code == 200
    return window_result(response.text)


def quiet_webhooks(sandbox):
    # Deliveries are dropped (and logged) so the test decides when a webhook arrives.
    sandbox.set_webhooks(drop_rate=1.0)


def test_callback_alone_activates(shop, sandbox):
    quiet_webhooks(sandbox)
    shopper = shop.shopper()
    params = shopper.open_checkout()
    pay = params["pay"]
    assert pay["pg"] == "paymentwall" and pay["pay_method"] == "card"
    assert pay["amount"] == 9 and pay["currency"] == "USD" and pay["buyer_name"] == "Ada Lovelace"
    assert pay["customer_uid"].startswith("cu_") and pay["bypass"] == {"widget_code": "t3_1"}
    assert pay["notice_url"] == f"{shop.url}/iamport/webhook"
    assert pay["m_redirect_url"] == f"{shop.url}/checkout/return"
    rsp = pay_desktop(shopper, params)
    assert rsp["success"] is True
    response = shopper.complete(params, rsp["imp_uid"])
    assert response.status_code == 200
    assert response.json() == {"status": "paid",
                               "redirect": f"/checkout/result/{pay['merchant_uid']}"}
    assert state(shop, pay["merchant_uid"])[:2] == ("paid", "active")
    page = shopper.get(response.json()["redirect"])
    assert "You are subscribed to Basic" in page.text
    # The billing key becomes ready once PAYMENTWALL's pingback lets iamport answer for it.
    wait_until(lambda: billing_key_ready(shop, shopper, pay["merchant_uid"]), timeout=5,
               message="billing key readiness")


def billing_key_ready(shop, shopper, merchant_uid):
    shopper.get("/account")  # any later look-up (here the result page) may confirm the key
    with shop.context():
        sub = billing.payment_by_merchant_uid(merchant_uid).subscription
        billing.confirm_billing_key(sub)
        return sub.billing_key_ready_at is not None


def test_mobile_redirect_alone_activates(shop, sandbox):
    quiet_webhooks(sandbox)
    shopper = shop.shopper()
    params = shopper.open_checkout()
    response = shopper.pay_in_window(params, mode="mobile")
    assert response.status_code == 302
    location = response.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{shop.url}/checkout/return?")
    assert query["imp_success"] == ["true"]
    back = shopper.http.get(location, timeout=15)
    assert back.url == f"{shop.url}/checkout/result/{params['pay']['merchant_uid']}"
    assert "You are subscribed to Basic" in back.text
    assert state(shop, params["pay"]["merchant_uid"])[:2] == ("paid", "active")


def test_mobile_return_without_the_session_records_then_asks_to_log_in(shop, sandbox):
    quiet_webhooks(sandbox)
    shopper = shop.shopper()
    params = shopper.open_checkout()
    location = shopper.pay_in_window(params, mode="mobile").headers["Location"]
    stranger = requests.Session()
    back = stranger.get(location, allow_redirects=False, timeout=15)
    assert back.status_code == 302
    assert "/auth/login?next=" in back.headers["Location"]
    assert state(shop, params["pay"]["merchant_uid"])[:2] == ("paid", "active")


def test_webhook_alone_activates_and_marks_the_key_ready(shop, sandbox):
    shopper = shop.shopper()
    params = shopper.open_checkout()
    rsp = pay_desktop(shopper, params)
    merchant_uid = params["pay"]["merchant_uid"]
    # No callback, no redirect: the issuance webhook at pingback time settles everything.
    wait_until(lambda: state(shop, merchant_uid) == ("paid", "active", True), timeout=6,
               message="the webhook to activate the subscription")
    deliveries = sandbox.webhook_log(rsp["imp_uid"])
    assert deliveries and deliveries[0]["url"] == f"{shop.url}/iamport/webhook"


ROUTES = ("callback", "redirect", "webhook")


def deliver(route, shop, shopper, params, imp_uid, location):
    if route == "callback":
        return shopper.complete(params, imp_uid).status_code
    if route == "redirect":
        return shopper.http.get(location, allow_redirects=False, timeout=15).status_code
    return webhook(shop, imp_uid, params["pay"]["merchant_uid"]).status_code


@pytest.mark.parametrize("order", list(itertools.permutations(ROUTES)))
def test_all_three_in_every_order_apply_once(shop, sandbox, order):
    quiet_webhooks(sandbox)
    shopper = shop.shopper()
    params = shopper.open_checkout()
    response = shopper.pay_in_window(params, mode="mobile")
    location = response.headers["Location"]
    imp_uid = parse_qs(urlsplit(location).query)["imp_uid"][0]
    ends = []
    for route in order + order:  # each way back twice
        assert deliver(route, shop, shopper, params, imp_uid, location) in (200, 302)
        with shop.context():
            sub = billing.payment_by_merchant_uid(params["pay"]["merchant_uid"]).subscription
            ends.append(sub.current_period_end)
    assert len(set(ends)) == 1
    with shop.context():
        # One first payment (a scheduled renewal may join it once the key is confirmed).
        assert db.session.execute(
            db.select(func.count(Payment.id)).where(Payment.kind == "first")).scalar_one() == 1
        assert db.session.execute(db.select(func.count(Subscription.id))).scalar_one() == 1
    assert state(shop, params["pay"]["merchant_uid"])[:2] == ("paid", "active")


def test_simultaneous_deliveries_apply_once(shop, sandbox, activations):
    quiet_webhooks(sandbox)
    shopper = shop.shopper()
    params = shopper.open_checkout()
    location = shopper.pay_in_window(params, mode="mobile").headers["Location"]
    imp_uid = parse_qs(urlsplit(location).query)["imp_uid"][0]
    barrier = threading.Barrier(12)
    codes = []

    def one(i):
        barrier.wait()
        codes.append(deliver(ROUTES[i % 3], shop, shopper, params, imp_uid, location))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(codes)) <= [200, 302]
    assert len(activations) == 1
    assert state(shop, params["pay"]["merchant_uid"])[:2] == ("paid", "active")


def test_a_payment_of_another_amount_is_refunded_and_the_order_stays_open(shop, sandbox):
    quiet_webhooks(sandbox)
    shopper = shop.shopper()
    params = shopper.open_checkout()
    merchant_uid = params["pay"]["merchant_uid"]
    rsp = pay_desktop(shopper, params)
    with shop.context():
        # The order says $19 but $9 was paid (as if the page had been altered before prepare).
        payment = billing.payment_by_merchant_uid(merchant_uid)
        payment.amount = Decimal("19.00")
        db.session.commit()
    response = shopper.complete(params, rsp["imp_uid"])
    assert response.json()["status"] == "refused"
    # Said in the shopper's words; the amounts are for the logs (see the test above).
    assert "did not match the order" in response.json()["message"]
    assert state(shop, merchant_uid)[:2] == ("pending", "incomplete")
    wait_until(lambda: sandbox.payment(rsp["imp_uid"])["status"] == "cancelled", timeout=5,
               message="the payment of another amount to be cancelled at iamport")
    page = shopper.get(f"/checkout/result/{merchant_uid}")
    assert "We did not accept this payment" in page.text
    assert "was given back" in page.text or "is being given back" in page.text


# The shopper's wording of a refused payment, as the result page gives it, in each language.
REFUSED_WORDS = {
    "en": ("Your payment was not accepted. Refunded: this payment did not match the order, so it "
           "was not needed."),
    "ko": "결제가 승인되지 않았습니다. 환불 사유: 주문과 맞지 않는 결제여서 필요하지 않았습니다.",
}
FLASH = re.compile(r'<div class="flash flash-error" role="status">(.*?)</div>', re.S)


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("way_back", ["callback", "mobile return"])
def test_a_refused_payment_is_told_in_the_shoppers_words_not_the_logs(shop, sandbox, caplog,
                                                                      language, way_back):
    """The stored refund reason names internal amounts ("9 instead of 19.00"): the logs keep it,
    the callback's JSON and the mobile return's flash say it in the shopper's words."""
    quiet_webhooks(sandbox)
    shopper = shop.shopper()
    shopper.use_language(language)
    params = shopper.open_checkout()
    merchant_uid = params["pay"]["merchant_uid"]
    response = shopper.pay_in_window(params, mode="pc" if way_back == "callback" else "mobile")
    with shop.context():
        # The order says $19 but $9 was paid (as if the page had been altered before prepare).
        payment = billing.payment_by_merchant_uid(merchant_uid)
        payment.amount = Decimal("19.00")
        db.session.commit()
    if way_back == "callback":
        answer = shopper.complete(params, window_result(response.text)["imp_uid"]).json()
        assert answer["status"] == "refused"
        told = answer["message"]
    else:
        back = shopper.http.get(response.headers["Location"], timeout=15)
        assert back.url == f"{shop.url}/checkout/result/{merchant_uid}"
        [told] = [unescape(m).strip() for m in FLASH.findall(back.text)]
        assert "9 instead of 19.00" not in back.text
    assert told == REFUSED_WORDS[language]
    assert "19.00" not in told and "instead of" not in told
    with shop.context():
        [refund] = db.session.execute(db.select(Refund)).scalars()
        # The raw reason stays for the logs and audits.
        assert refund.reason == "Refunded: this payment was 9 instead of 19.00."
    assert "9 instead of 19.00" in caplog.text
    assert state(shop, merchant_uid)[:2] == ("pending", "incomplete")


def test_declined_card_shows_the_reason_and_retry_gets_a_new_order(shop, sandbox):
    shopper = shop.shopper()
    params = shopper.open_checkout()
    rsp = pay_desktop(shopper, params, cvv="222")
    assert rsp["success"] is False and rsp["imp_uid"]
    response = shopper.complete(params, rsp["imp_uid"])
    assert response.json()["status"] == "failed"
    page = shopper.get(response.json()["redirect"])
    assert "contact your bank to check the balance" in page.text
    assert "Try again" in page.text
    again = shopper.open_checkout()
    assert again["pay"]["merchant_uid"] != params["pay"]["merchant_uid"]
    assert again["pay"]["customer_uid"] != params["pay"]["customer_uid"]


def test_reload_keeps_the_pending_order(shop, sandbox):
    shopper = shop.shopper()
    first = shopper.open_checkout()
    second = shopper.open_checkout()
    assert first["pay"]["merchant_uid"] == second["pay"]["merchant_uid"]
    # The amount was registered with payments/prepare: a window with another amount is refused.
    opened = sandbox.open_window({**first["pay"], "amount": 1}, imp_code=first["imp_code"],
                                 origin=shop.url)
    assert opened["ok"] is False


def test_held_for_review_then_late_approval(shop, sandbox):
    sandbox.set_delays(review_delay=30)
    shopper = shop.shopper()
    params = shopper.open_checkout()
    merchant_uid = params["pay"]["merchant_uid"]
    rsp = pay_desktop(shopper, params, cvv="555")
    response = shopper.complete(params, rsp["imp_uid"])
    assert response.json()["status"] == "review"
    assert "being reviewed" in shopper.get(response.json()["redirect"]).text
    sandbox.control("POST", f"/payments/{rsp['imp_uid']}/approve")
    wait_until(lambda: state(shop, merchant_uid)[:2] == ("paid", "active"), timeout=6,
               message="the late paid webhook")


def test_held_then_declined(shop, sandbox):
    sandbox.set_delays(review_delay=30)
    shopper = shop.shopper()
    params = shopper.open_checkout()
    rsp = pay_desktop(shopper, params, cvv="556")
    assert shopper.complete(params, rsp["imp_uid"]).json()["status"] == "review"
    sandbox.control("POST", f"/payments/{rsp['imp_uid']}/decline")
    shopper.get(f"/checkout/result/{params['pay']['merchant_uid']}")
    assert state(shop, params["pay"]["merchant_uid"])[:2] == ("failed", "incomplete")


def test_sandbox_down_during_the_callback_then_the_webhook_settles(shop, sandbox):
    quiet_webhooks(sandbox)
    shopper = shop.shopper()
    params = shopper.open_checkout()
    rsp = pay_desktop(shopper, params)
    sandbox.set_faults(error_rate=1.0)
    response = shopper.complete(params, rsp["imp_uid"])
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert state(shop, params["pay"]["merchant_uid"])[0] == "pending"
    assert webhook(shop, rsp["imp_uid"]).status_code == 503  # asks iamport to try again
    sandbox.set_faults(error_rate=0.0)
    assert webhook(shop, rsp["imp_uid"], form=True).status_code == 200
    assert state(shop, params["pay"]["merchant_uid"])[:2] == ("paid", "active")


def test_result_page_is_for_its_owner_only(shop, sandbox):
    owner = shop.shopper()
    params = owner.open_checkout()
    other = shop.shopper(email="grace@example.com", first="Grace", last="Hopper")
    assert other.get(f"/checkout/result/{params['pay']['merchant_uid']}").status_code == 404
    assert owner.get(f"/checkout/result/{params['pay']['merchant_uid']}").status_code == 200


def test_webhook_with_garbage_has_no_side_effects(shop, sandbox):
    shopper = shop.shopper()
    shopper.open_checkout()
    assert webhook(shop, "imp_doesnotexist").json()["result"] == "ignored"
    assert requests.post(f"{shop.url}/iamport/webhook", data=b"\x00\xff",
                         headers={"Content-Type": "application/json"}, timeout=10).status_code == 400
    assert requests.post(f"{shop.url}/iamport/webhook", json=["imp_1"], timeout=10).status_code == 400
    with shop.context():
        assert db.session.execute(db.select(Payment.status)).scalars().all() == ["pending"]


def test_subscribed_user_is_sent_to_the_account(shop, sandbox):
    shopper = shop.shopper()
    params = shopper.open_checkout()
    shopper.complete(params, pay_desktop(shopper, params)["imp_uid"])
    again = shopper.get("/checkout/basic-monthly", allow_redirects=False)
    assert again.status_code == 302 and again.headers["Location"].endswith("/account")


def test_names_with_spaces_reach_paymentwall_as_first_last(shop, sandbox):
    shopper = shop.shopper(first="Mary  Ann", last="van Dyke")
    params = shopper.open_checkout()
    assert params["pay"]["buyer_name"] == "Mary-Ann van-Dyke"
    rsp = pay_desktop(shopper, params)
    assert shopper.complete(params, rsp["imp_uid"]).json()["status"] == "paid"
    assert sandbox.payment(rsp["imp_uid"])["buyer_name"] == "Mary-Ann van-Dyke"


def test_closed_window_on_mobile_keeps_the_order_open(shop, sandbox):
    shopper = shop.shopper()
    params = shopper.open_checkout()
    opened = sandbox.open_window(params["pay"], mode="mobile", imp_code=params["imp_code"],
                                 origin=shop.url)
    closed = sandbox.submit_window(opened["window_url"], action="close")
    location = closed.headers["Location"]
    assert "error_code=" in location and "imp_uid=" in location
    back = shopper.http.get(location, timeout=15)
    assert back.url == f"{shop.url}/plans/basic-monthly"
    assert "The payment was not completed" in back.text
    assert state(shop, params["pay"]["merchant_uid"])[:2] == ("pending", "incomplete")
    # The same order is offered again and can still be paid.
    again = shopper.open_checkout()
    assert again["pay"]["merchant_uid"] == params["pay"]["merchant_uid"]
    rsp = pay_desktop(shopper, again)
    assert shopper.complete(again, rsp["imp_uid"]).json()["status"] == "paid"


def test_a_first_payment_held_for_review_offers_no_second_checkout(shop, sandbox):
    sandbox.set_delays(review_delay=30)
    shopper = shop.shopper()
    params = shopper.open_checkout()
    rsp = pay_desktop(shopper, params, cvv="555")
    assert shopper.complete(params, rsp["imp_uid"]).json()["status"] == "review"
    account = shopper.get("/account").text
    assert "under review" in account and "You have no subscription yet" not in account
    plan_page = shopper.get("/plans/basic-monthly").text
    assert "being reviewed" in plan_page and "/checkout/basic-monthly" not in plan_page
    again = shopper.get("/checkout/basic-monthly", allow_redirects=False)
    assert again.status_code == 302 and again.headers["Location"].endswith("/account")


def test_a_second_first_payment_is_refunded_in_words_and_its_key_deleted(shop, sandbox):
    """Held payment A, then (opened before the hold) payment B activates; A's approval is refunded."""
    sandbox.set_delays(review_delay=30)
    shopper = shop.shopper()
    first = shopper.open_checkout()
    rsp_a = pay_desktop(shopper, first, cvv="555")
    assert shopper.complete(first, rsp_a["imp_uid"]).json()["status"] == "review"
    with shop.context():
        # A second page opened before the hold began (two tabs): a new order on the same subscription.
        user = billing.payment_by_merchant_uid(first["pay"]["merchant_uid"]).user
        plan = billing.payment_by_merchant_uid(first["pay"]["merchant_uid"]).subscription.plan
        payment_b = billing.open_checkout(user, plan, CONSENT_VERSION)
        merchant_b, key_b = payment_b.merchant_uid, payment_b.customer_uid
    params_b = dict(first, pay=dict(first["pay"], merchant_uid=merchant_b, customer_uid=key_b))
    rsp_b = pay_desktop(shopper, params_b)
    assert shopper.complete(params_b, rsp_b["imp_uid"]).json()["status"] == "paid"
    sandbox.control("POST", f"/payments/{rsp_a['imp_uid']}/approve")
    wait_until(lambda: sandbox.payment(rsp_a["imp_uid"])["status"] == "cancelled", timeout=8,
               message="the approved second payment to be refunded")
    with shop.context():
        [refund] = billing.refunds_of_order(first["pay"]["merchant_uid"])
        assert refund.reason.startswith("Refunded: you already subscribe")
    wait_until(lambda: sandbox.api("GET", f"/subscribe/customers/{first['pay']['customer_uid']}")
               .status_code == 404, timeout=8, message="the unused billing key to be deleted")
    assert state(shop, merchant_b)[:2] == ("paid", "active")


def test_the_order_opens_only_with_the_consent_and_in_the_pages_language(shop, sandbox):
    shopper = shop.shopper()
    shopper.use_language("ko")
    page = shopper.get("/checkout/basic-monthly")
    assert page.status_code == 200 and "정기결제 동의" in page.text
    refused = shopper.http.post(f"{shop.url}/checkout/basic-monthly", json={"consent": False},
                                headers={"X-CSRFToken": shopper.csrf(page.text)}, timeout=15)
    assert refused.status_code == 400 and "정기결제" in refused.json()["error"]["message"]
    with shop.context():
        assert db.session.execute(db.select(func.count(Payment.id))).scalar_one() == 0
        assert db.session.execute(db.select(func.count(Subscription.id))).scalar_one() == 0
    params = shopper.open_checkout()
    assert params["pay"]["language"] == "ko"
    rsp = pay_desktop(shopper, params)
    assert shopper.complete(params, rsp["imp_uid"]).json()["status"] == "paid"
    with shop.context():
        subscription = billing.payment_by_merchant_uid(params["pay"]["merchant_uid"]).subscription
        assert subscription.consent_version == f"{CONSENT_VERSION}/ko" and subscription.consent_at is not None
