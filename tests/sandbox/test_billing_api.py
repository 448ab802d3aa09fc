"""Contract: billing keys, POST /subscribe/payments/again and the customer endpoints."""
from __future__ import annotations

import time

import pytest

from tests.support.openapi_shapes import CUSTOMER, PAGE, PAYMENT, check_envelope, check_shape
from tests.support.sandbox import RENEWAL_DECLINE_CARD, new_uid
from tests.support.sandbox_requests import again_body
from tests.support.waiting import wait_until


class TestIssuance:
    def test_key_is_chargeable_only_after_the_pingback(self, sandbox_factory):
        sandbox = sandbox_factory(SANDBOX_PINGBACK_DELAY=0.8)
        customer_uid = new_uid("cust")
        issued = sandbox.issue_billing_key(customer_uid, wait=False)
        assert issued["rsp"]["success"] is True
        # Before Paymentwall's pingback the key is unknown, and `again` fails as for an unknown key.
        assert sandbox.api("GET", f"/subscribe/customers/{customer_uid}").status_code == 404
        early = sandbox.api("POST", "/subscribe/payments/again", json=again_body(customer_uid)).json()
        check_envelope(early, ok=False)
        time.sleep(1.0)
        response = sandbox.api("GET", f"/subscribe/customers/{customer_uid}")
        assert response.status_code == 200
        customer = response.json()["response"]
        check_shape(customer, CUSTOMER)
        assert customer["customer_uid"] == customer_uid
        assert customer["pg_provider"] == "paymentwall"
        assert customer["card_number"] == "424242******4242"
        assert customer["customer_email"] == "ada@example.com"
        assert customer["customer_name"] == "Ada Lovelace"
        assert customer["inserted"] > 0 and customer["updated"] >= customer["inserted"]

    def test_declined_first_charge_issues_no_key(self, sandbox):
        customer_uid = new_uid("cust")
        issued = sandbox.issue_billing_key(customer_uid, cvv="111")
        assert issued["rsp"]["success"] is False
        sandbox.advance(10)
        assert sandbox.api("GET", f"/subscribe/customers/{customer_uid}").status_code == 404

    def test_key_cannot_be_issued_without_a_payment(self, sandbox):
        response = sandbox.api("POST", f"/subscribe/customers/{new_uid('cust')}",
                               json={"card_number": "4242-4242-4242-4242", "expiry": "2030-12", "birth": "000000"})
        check_envelope(response.json(), ok=False)

    def test_reusing_a_customer_uid_replaces_the_card(self, sandbox):
        customer_uid = new_uid("cust")
        sandbox.issue_billing_key(customer_uid)
        sandbox.issue_billing_key(customer_uid, card="4000 0000 0000 0002", wait=False)
        # The old card stays on file until the new card's pingback arrives.
        wait_until(
            lambda: sandbox.api("GET", f"/subscribe/customers/{customer_uid}").json()["response"]["card_number"]
            == "400000******0002",
            message="the new card's pingback",
        )


class TestAgain:
    def test_paid(self, sandbox):
        customer_uid = new_uid("cust")
        sandbox.issue_billing_key(customer_uid)
        body = again_body(customer_uid, custom_data="period=2")
        response = sandbox.api("POST", "/subscribe/payments/again", json=body)
        assert response.status_code == 200
        payload = response.json()
        check_envelope(payload)
        payment = payload["response"]
        check_shape(payment, PAYMENT)
        assert payment["status"] == "paid" and payment["paid_at"] > 0
        assert payment["channel"] == "api"
        assert payment["customer_uid"] == customer_uid and payment["customer_uid_usage"] == "payment"
        assert payment["merchant_uid"] == body["merchant_uid"] and payment["amount"] == 9.99
        assert payment["currency"] == "USD" and payment["custom_data"] == "period=2"
        assert sandbox.payment(payment["imp_uid"])["status"] == "paid"

    def test_form_encoded_body(self, sandbox):
        customer_uid = new_uid("cust")
        sandbox.issue_billing_key(customer_uid)
        response = sandbox.api("POST", "/subscribe/payments/again", data=again_body(customer_uid, amount="9.99"))
        assert response.json()["response"]["status"] == "paid"

    def test_renewal_decline_card_fails_with_code_0(self, sandbox):
        customer_uid = new_uid("cust")
        issued = sandbox.issue_billing_key(customer_uid, card=RENEWAL_DECLINE_CARD)
        assert issued["rsp"]["success"] is True
        payload = sandbox.api("POST", "/subscribe/payments/again", json=again_body(customer_uid)).json()
        check_envelope(payload)  # code 0: the request reached the PG...
        payment = payload["response"]
        assert payment["status"] == "failed"  # ...which declined it
        assert payment["fail_reason"] and payment["failed_at"] > 0 and payment["paid_at"] == 0

    def test_unknown_customer_uid(self, sandbox):
        payload = sandbox.api("POST", "/subscribe/payments/again", json=again_body("no_such_customer")).json()
        check_envelope(payload, ok=False)
        assert payload["code"] == -1

    def test_duplicate_merchant_uid(self, sandbox):
        customer_uid = new_uid("cust")
        sandbox.issue_billing_key(customer_uid)
        body = again_body(customer_uid)
        assert sandbox.api("POST", "/subscribe/payments/again", json=body).json()["response"]["status"] == "paid"
        duplicate = sandbox.api("POST", "/subscribe/payments/again", json=body).json()
        check_envelope(duplicate, ok=False)

    def test_buyer_email_must_match_the_issuance(self, sandbox):
        customer_uid = new_uid("cust")
        sandbox.issue_billing_key(customer_uid)
        wrong = sandbox.api("POST", "/subscribe/payments/again",
                            json=again_body(customer_uid, buyer_email="other@example.com")).json()
        check_envelope(wrong, ok=False)
        missing = sandbox.api("POST", "/subscribe/payments/again",
                              json=again_body(customer_uid, buyer_email=None)).json()
        check_envelope(missing, ok=False)

    def test_buyer_name_must_be_first_last(self, sandbox):
        customer_uid = new_uid("cust")
        sandbox.issue_billing_key(customer_uid)
        payload = sandbox.api("POST", "/subscribe/payments/again",
                              json=again_body(customer_uid, buyer_name="Ada")).json()
        check_envelope(payload, ok=False)

    @pytest.mark.parametrize("missing", ["customer_uid", "merchant_uid", "amount", "name"])
    def test_missing_required_field_is_code_minus_1(self, sandbox, missing):
        body = again_body("cust_x")
        del body[missing]
        response = sandbox.api("POST", "/subscribe/payments/again", json=body)
        assert response.status_code == 200
        check_envelope(response.json(), ok=False)
        assert response.json()["code"] == -1

    def test_zero_amount_is_code_minus_1(self, sandbox):
        response = sandbox.api("POST", "/subscribe/payments/again", json=again_body("cust_x", amount=0))
        assert response.status_code == 200 and response.json()["code"] == -1

    def test_paid_again_sends_a_webhook(self, sandbox, webhook_sink):
        customer_uid = new_uid("cust")
        sandbox.issue_billing_key(customer_uid)
        body = again_body(customer_uid, notice_url=webhook_sink.url)
        payment = sandbox.api("POST", "/subscribe/payments/again", json=body).json()["response"]
        received = webhook_sink.wait_for(1)
        assert received == [{"imp_uid": payment["imp_uid"], "merchant_uid": body["merchant_uid"], "status": "paid"}]


class TestCustomers:
    def test_unknown_customer_is_404(self, sandbox):
        for method, path in (("GET", "/subscribe/customers/nobody"), ("DELETE", "/subscribe/customers/nobody"),
                             ("GET", "/subscribe/customers/nobody/payments")):
            response = sandbox.api(method, path)
            assert response.status_code == 404, path
            check_envelope(response.json(), ok=False)

    def test_delete(self, sandbox):
        customer_uid = new_uid("cust")
        sandbox.issue_billing_key(customer_uid)
        response = sandbox.api("DELETE", f"/subscribe/customers/{customer_uid}", params={"reason": "user left"})
        assert response.status_code == 200
        check_shape(response.json()["response"], CUSTOMER)
        assert sandbox.api("GET", f"/subscribe/customers/{customer_uid}").status_code == 404
        after = sandbox.api("POST", "/subscribe/payments/again", json=again_body(customer_uid)).json()
        check_envelope(after, ok=False)

    def test_payments_of_a_customer_are_paged(self, sandbox):
        customer_uid = new_uid("cust")
        issued = sandbox.issue_billing_key(customer_uid)
        for _ in range(21):
            sandbox.api("POST", "/subscribe/payments/again", json=again_body(customer_uid))
        first = sandbox.api("GET", f"/subscribe/customers/{customer_uid}/payments").json()["response"]
        check_shape(first, PAGE)
        assert first["total"] == 22 and first["previous"] == 0 and first["next"] == 2
        assert len(first["list"]) == 20
        for payment in first["list"]:
            check_shape(payment, PAYMENT)
        second = sandbox.api("GET", f"/subscribe/customers/{customer_uid}/payments", params={"page": 2}).json()
        page = second["response"]
        assert page["previous"] == 1 and page["next"] == 0 and len(page["list"]) == 2
        # Newest first: the issuing payment is the oldest.
        assert page["list"][-1]["imp_uid"] == issued["rsp"]["imp_uid"]
        assert page["list"][-1]["customer_uid_usage"] == "issue"
