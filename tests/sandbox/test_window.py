"""The payment window over HTTP: card checks, each test card's outcome, closing, mobile redirects."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.sandbox import OTHER_GOOD_CARD, RENEWAL_DECLINE_CARD, checkout_params, window_result
from tests.support.waiting import wait_until


def test_window_page_shows_the_order_and_a_test_mode_banner(sandbox):
    opened = sandbox.open_window(checkout_params(name="Pro plan (monthly)", amount=9.99))
    page = sandbox.http.get(opened["window_url"], timeout=10)
    assert page.status_code == 200
    text = page.text
    for expected in ("TEST MODE", "Pro plan (monthly)", "USD 9.99", "Card number", "Expiry", "CVV",
                     "Card holder", "Close the payment window"):
        assert expected in text


def test_window_needs_its_key(sandbox):
    opened = sandbox.open_window(checkout_params())
    bare = opened["window_url"].split("?")[0]
    assert sandbox.http.get(bare, timeout=10).status_code == 404
    assert sandbox.http.get(bare + "?key=wrong", timeout=10).status_code == 404


@pytest.mark.parametrize("card,expiry,field", [
    ("4242 4242 4242 4241", "12/39", "This card number is not valid"),
    ("5555 5555 5555 4444", "12/39", "Test mode accepts only test cards"),
    ("4242 4242 4242 4242", "01/20", "This card has expired"),
    ("4242 4242 4242 4242", "13/30", "Use the format MM/YY"),
])
def test_card_form_errors_keep_the_window_open(sandbox, card, expiry, field):
    opened = sandbox.open_window(checkout_params())
    response = sandbox.submit_window(opened["window_url"], card=card, expiry=expiry)
    assert response.status_code == 422 and field in response.text
    assert sandbox.payment(opened["imp_uid"])["status"] == "ready"
    # The buyer can correct the card and pay.
    assert window_result(sandbox.submit_window(opened["window_url"]).text)["success"] is True


@pytest.mark.parametrize("card", ["4242 4242 4242 4242", OTHER_GOOD_CARD, RENEWAL_DECLINE_CARD])
def test_good_cards_are_paid(sandbox, card):
    rsp = sandbox.pay(checkout_params(), card=card)
    assert rsp["success"] is True and rsp["imp_success"] is True and rsp["error_code"] is None
    assert rsp["status"] == "paid" and rsp["paid_amount"] == 9.99
    for field in ("imp_uid", "merchant_uid", "pg_provider", "pg_tid", "buyer_name", "buyer_email", "paid_at",
                  "receipt_url", "card_name", "card_number", "currency", "apply_num", "pay_method", "name"):
        assert rsp[field], field
    assert sandbox.payment(rsp["imp_uid"])["status"] == "paid"


@pytest.mark.parametrize("cvv,words", [("111", "CVV"), ("222", "balance"), ("333", "approve")])
def test_decline_cvvs(sandbox, webhook_sink, cvv, words):
    rsp = sandbox.pay(checkout_params(notice_url=webhook_sink.url), cvv=cvv)
    assert rsp["success"] is False and rsp["error_code"] == "F1002" and words in rsp["error_msg"]
    payment = sandbox.payment(rsp["imp_uid"])
    assert payment["status"] == "failed" and payment["fail_reason"] == rsp["error_msg"]
    assert payment["failed_at"] > 0
    sandbox.control("POST", "/run")
    # An ordinary failure sends no webhook.
    assert sandbox.webhook_log(rsp["imp_uid"]) == []


def test_cvv_555_is_held_then_approved_with_a_late_paid_webhook(sandbox, webhook_sink):
    param = checkout_params(notice_url=webhook_sink.url)
    rsp = sandbox.pay(param, cvv="555")
    assert rsp["success"] is False and rsp["error_code"] == "F1003"
    held = sandbox.payment(rsp["imp_uid"])
    assert held["status"] == "failed" and held["fail_reason"]
    assert sandbox.api("GET", f"/subscribe/customers/{param['customer_uid']}").status_code == 404
    bodies = webhook_sink.wait_for(1, timeout=5)
    assert bodies == [{"imp_uid": rsp["imp_uid"], "merchant_uid": param["merchant_uid"], "status": "paid"}]
    approved = sandbox.payment(rsp["imp_uid"])
    assert approved["status"] == "paid" and approved["paid_at"] > 0
    assert sandbox.api("GET", f"/subscribe/customers/{param['customer_uid']}").status_code == 200


def test_cvv_556_is_held_then_declined(sandbox, webhook_sink):
    param = checkout_params(notice_url=webhook_sink.url)
    rsp = sandbox.pay(param, cvv="556")
    assert rsp["error_code"] == "F1003"
    wait_until(lambda: "after risk review" in (sandbox.payment(rsp["imp_uid"])["fail_reason"] or ""), timeout=5)
    assert sandbox.payment(rsp["imp_uid"])["status"] == "failed"
    assert webhook_sink.bodies() == []
    assert sandbox.api("GET", f"/subscribe/customers/{param['customer_uid']}").status_code == 404


def test_operator_can_approve_a_held_payment_early(sandbox_factory):
    sandbox = sandbox_factory(SANDBOX_REVIEW_DELAY=600)
    rsp = sandbox.pay(checkout_params(), cvv="555")
    answer = sandbox.control("POST", f"/payments/{rsp['imp_uid']}/approve")
    assert answer["payment"]["status"] == "paid"
    again = sandbox.http.post(f"{sandbox.url}/_sandbox/payments/{rsp['imp_uid']}/decline", json={}, timeout=10)
    assert again.status_code == 409


def test_operator_can_decline_a_held_payment(sandbox_factory):
    sandbox = sandbox_factory(SANDBOX_REVIEW_DELAY=600)
    rsp = sandbox.pay(checkout_params(), cvv="555")
    answer = sandbox.control("POST", f"/payments/{rsp['imp_uid']}/decline")
    assert answer["payment"]["status"] == "failed"
    sandbox.advance(700)
    assert sandbox.payment(rsp["imp_uid"])["status"] == "failed"


def test_closing_the_window_is_a_user_cancel(sandbox):
    opened = sandbox.open_window(checkout_params())
    response = sandbox.submit_window(opened["window_url"], action="close")
    rsp = window_result(response.text)
    assert rsp["success"] is False and rsp["error_code"] == "F1001" and rsp["error_msg"]
    payment = sandbox.payment(opened["imp_uid"])
    assert payment["status"] == "failed" and payment["paid_at"] == 0


def test_finished_window_cannot_be_paid_twice(sandbox):
    opened = sandbox.open_window(checkout_params())
    first = window_result(sandbox.submit_window(opened["window_url"]).text)
    second = window_result(sandbox.submit_window(opened["window_url"], cvv="111").text)
    assert first == second
    paid = sandbox.api("GET", f"/payments/find/{first['merchant_uid']}/paid").json()["response"]
    assert paid["imp_uid"] == first["imp_uid"] and paid["status"] == "paid"


def test_paid_merchant_uid_cannot_open_a_window_again(sandbox):
    param = checkout_params()
    sandbox.pay(dict(param))
    refused = sandbox.open_window(dict(param))
    assert refused["ok"] is False and refused["rsp"]["error_code"] == "F0003"


class TestMobile:
    def test_paid_redirects_to_m_redirect_url(self, sandbox):
        param = checkout_params(m_redirect_url="http://127.0.0.1:9/checkout/return?plan=pro")
        opened = sandbox.open_window(param, mode="mobile")
        response = sandbox.submit_window(opened["window_url"])
        assert response.status_code == 302
        target = urlsplit(response.headers["Location"])
        assert (target.scheme, target.netloc, target.path) == ("http", "127.0.0.1:9", "/checkout/return")
        query = parse_qs(target.query)
        assert query["plan"] == ["pro"]
        assert query["imp_uid"] == [opened["imp_uid"]] and query["merchant_uid"] == [param["merchant_uid"]]
        assert query["imp_success"] == ["true"] and "error_code" not in query

    def test_declined_redirect_carries_the_error(self, sandbox):
        opened = sandbox.open_window(checkout_params(), mode="mobile")
        response = sandbox.submit_window(opened["window_url"], cvv="222")
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        assert query["imp_success"] == ["false"] and query["error_code"] == ["F1002"] and query["error_msg"]
        assert query["imp_uid"] == [opened["imp_uid"]]

    def test_closing_redirects_with_the_cancel_error(self, sandbox):
        opened = sandbox.open_window(checkout_params(), mode="mobile")
        response = sandbox.submit_window(opened["window_url"], action="close")
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        assert query["error_code"] == ["F1001"]

    def test_bad_parameter_on_mobile_comes_with_a_redirect(self, sandbox):
        answer = sandbox.open_window(checkout_params(buyer_name="Ada"), mode="mobile")
        assert answer["ok"] is False
        query = parse_qs(urlsplit(answer["redirect_url"]).query)
        assert query["error_code"] == ["F0002"] and query["imp_success"] == ["false"]
