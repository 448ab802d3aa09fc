"""Contract: GET /payments/{imp_uid}, /payments/find, /payments/prepare and the window's Payment records."""
from __future__ import annotations

import pytest

from tests.support.openapi_shapes import PAYMENT, check_envelope, check_shape
from tests.support.sandbox import checkout_params, new_uid


def test_paid_window_payment_has_every_documented_field(sandbox):
    param = checkout_params(custom_data={"plan": "pro"}, pg="paymentwall.project_abc")
    rsp = sandbox.pay(param)
    response = sandbox.api("GET", f"/payments/{rsp['imp_uid']}")
    assert response.status_code == 200
    body = response.json()
    check_envelope(body)
    payment = body["response"]
    check_shape(payment, PAYMENT)
    assert payment["status"] == "paid"
    assert payment["imp_uid"].startswith("imp_") and len(payment["imp_uid"]) == 16
    assert payment["merchant_uid"] == param["merchant_uid"]
    assert payment["channel"] == "pc"
    assert payment["pg_provider"] == "paymentwall"
    assert payment["pg_id"] == "project_abc"
    assert payment["pay_method"] == "card"
    assert payment["amount"] == 9.99 and payment["cancel_amount"] == 0
    assert payment["currency"] == "USD"
    assert payment["customer_uid"] == param["customer_uid"]
    assert payment["customer_uid_usage"] == "issue"
    assert payment["paid_at"] >= payment["started_at"] > 0
    assert payment["failed_at"] == 0 and payment["cancelled_at"] == 0
    assert payment["card_number"] == "424242******4242"
    assert payment["custom_data"] == '{"plan": "pro"}'
    assert payment["buyer_name"] == "Ada Lovelace" and payment["buyer_email"] == "ada@example.com"
    assert payment["sandbox"] is False
    assert payment["receipt_url"].startswith(sandbox.url)


def test_plain_pg_uses_the_default_mid(sandbox):
    rsp = sandbox.pay(checkout_params(pg="paymentwall"))
    assert sandbox.payment(rsp["imp_uid"])["pg_id"] == sandbox.sandbox.settings.paymentwall_mid


def test_opened_window_is_a_ready_payment(sandbox):
    opened = sandbox.open_window(checkout_params())
    payment = sandbox.payment(opened["imp_uid"])
    check_shape(payment, PAYMENT)
    assert payment["status"] == "ready" and payment["paid_at"] == 0 and payment["pg_tid"] is None


def test_mobile_window_payment_has_channel_mobile(sandbox):
    opened = sandbox.open_window(checkout_params(), mode="mobile")
    assert sandbox.payment(opened["imp_uid"])["channel"] == "mobile"


def test_unknown_imp_uid_is_404_with_nonzero_code(sandbox):
    response = sandbox.api("GET", "/payments/imp_000000000000")
    assert response.status_code == 404
    check_envelope(response.json(), ok=False)


def test_integer_amounts_stay_integers(sandbox):
    rsp = sandbox.pay(checkout_params(amount=15000, currency="KRW"))
    payment = sandbox.payment(rsp["imp_uid"])
    assert payment["amount"] == 15000 and isinstance(payment["amount"], int)


class TestFind:
    def test_find_by_merchant_uid_returns_the_latest_attempt(self, sandbox):
        param = checkout_params()
        first = sandbox.open_window(dict(param))
        sandbox.submit_window(first["window_url"], cvv="111")
        second = sandbox.pay(dict(param))
        response = sandbox.api("GET", f"/payments/find/{param['merchant_uid']}")
        assert response.status_code == 200
        check_shape(response.json()["response"], PAYMENT)
        assert response.json()["response"]["imp_uid"] == second["imp_uid"]

    def test_find_with_status(self, sandbox):
        param = checkout_params()
        failed = sandbox.open_window(dict(param))
        sandbox.submit_window(failed["window_url"], cvv="222")
        paid = sandbox.pay(dict(param))
        uid = param["merchant_uid"]
        assert sandbox.api("GET", f"/payments/find/{uid}/failed").json()["response"]["imp_uid"] == failed["imp_uid"]
        assert sandbox.api("GET", f"/payments/find/{uid}/paid").json()["response"]["imp_uid"] == paid["imp_uid"]
        missing = sandbox.api("GET", f"/payments/find/{uid}/cancelled")
        assert missing.status_code == 404
        check_envelope(missing.json(), ok=False)

    def test_unknown_merchant_uid_is_404(self, sandbox):
        response = sandbox.api("GET", "/payments/find/no_such_order")
        assert response.status_code == 404
        check_envelope(response.json(), ok=False)

    def test_bad_status_is_code_minus_1(self, sandbox):
        response = sandbox.api("GET", "/payments/find/order_x/shipped")
        assert response.status_code == 200
        check_envelope(response.json(), ok=False)
        assert response.json()["code"] == -1

    def test_sorting_by_started(self, sandbox):
        param = checkout_params()
        first = sandbox.open_window(dict(param))
        second = sandbox.open_window(dict(param))
        uid = param["merchant_uid"]
        oldest = sandbox.api("GET", f"/payments/find/{uid}", params={"sorting": "started"}).json()["response"]
        newest = sandbox.api("GET", f"/payments/find/{uid}").json()["response"]
        assert oldest["imp_uid"] == first["imp_uid"] and newest["imp_uid"] == second["imp_uid"]


class TestTestChannel:
    """With SANDBOX_TEST_CHANNEL the payments are marked sandbox and hidden without include_sandbox."""

    def test_hidden_unless_include_sandbox(self, sandbox_factory):
        sandbox = sandbox_factory("testchannel", SANDBOX_TEST_CHANNEL=True)
        rsp = sandbox.pay(checkout_params())
        assert sandbox.api("GET", f"/payments/{rsp['imp_uid']}").status_code == 404
        shown = sandbox.api("GET", f"/payments/{rsp['imp_uid']}", params={"include_sandbox": "true"})
        assert shown.status_code == 200 and shown.json()["response"]["sandbox"] is True

    def test_default_channel_ignores_include_sandbox(self, sandbox):
        rsp = sandbox.pay(checkout_params())
        for params in ({}, {"include_sandbox": "true"}, {"include_sandbox": "false"}):
            response = sandbox.api("GET", f"/payments/{rsp['imp_uid']}", params=params)
            assert response.status_code == 200 and response.json()["response"]["sandbox"] is False


class TestPrepare:
    def test_prepare_and_read_back(self, sandbox):
        uid = new_uid()
        response = sandbox.api("POST", "/payments/prepare", json={"merchant_uid": uid, "amount": 12500})
        assert response.status_code == 200
        body = response.json()
        check_envelope(body)
        # No currency given: KRW, as everywhere in iamport (so a whole number of won).
        assert body["response"] == {"merchant_uid": uid, "amount": 12500, "currency": "KRW"}
        again = sandbox.api("GET", f"/payments/prepare/{uid}")
        assert again.status_code == 200 and again.json()["response"] == body["response"]

    def test_prepare_answers_the_currency(self, sandbox):
        uid = new_uid()
        body = sandbox.api("POST", "/payments/prepare",
                           json={"merchant_uid": uid, "amount": 9.99, "currency": "usd"}).json()
        assert body["response"] == {"merchant_uid": uid, "amount": 9.99, "currency": "USD"}
        assert sandbox.api("GET", f"/payments/prepare/{uid}").json()["response"]["currency"] == "USD"

    def test_prepare_accepts_a_form_body(self, sandbox):
        uid = new_uid()
        response = sandbox.api("POST", "/payments/prepare", data={"merchant_uid": uid, "amount": "3000"})
        assert response.json()["response"]["amount"] == 3000

    def test_duplicate_merchant_uid_is_refused(self, sandbox):
        uid = new_uid()
        sandbox.api("POST", "/payments/prepare", json={"merchant_uid": uid, "amount": 10})
        response = sandbox.api("POST", "/payments/prepare", json={"merchant_uid": uid, "amount": 10})
        assert response.status_code == 200
        check_envelope(response.json(), ok=False)

    @pytest.mark.parametrize("body", [
        {"amount": 10},
        {"merchant_uid": "order_y"},
        {"merchant_uid": "order_y", "amount": "ten"},
        {"merchant_uid": "order_y", "amount": -1},
        {"merchant_uid": "x" * 41, "amount": 10},
    ])
    def test_bad_body_is_code_minus_1(self, sandbox, body):
        response = sandbox.api("POST", "/payments/prepare", json=body)
        assert response.status_code == 200
        check_envelope(response.json(), ok=False)
        assert response.json()["code"] == -1

    def test_not_json_is_code_minus_1(self, sandbox):
        response = sandbox.api("POST", "/payments/prepare", data="{not json",
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 200
        check_envelope(response.json(), ok=False)
        assert response.json()["code"] == -1

    def test_unknown_prepared_is_code_minus_1(self, sandbox):
        # iamport's description declares no 404 for this look-up.
        response = sandbox.api("GET", "/payments/prepare/not_prepared")
        assert response.status_code == 200
        check_envelope(response.json(), ok=False)
        assert response.json()["code"] == -1

    def test_window_with_another_amount_is_refused(self, sandbox):
        uid = new_uid()
        sandbox.api("POST", "/payments/prepare", json={"merchant_uid": uid, "amount": 9.99, "currency": "USD"})
        refused = sandbox.open_window(checkout_params(merchant_uid=uid, amount=1.00))
        assert refused["ok"] is False
        assert refused["rsp"]["error_code"] == "F0004" and refused["rsp"]["imp_uid"] is None
        accepted = sandbox.open_window(checkout_params(merchant_uid=uid, amount=9.99))
        assert accepted["ok"] is True
