"""Won (KRW), a currency without a minor unit: whole amounts go through, fractions are refused everywhere."""
from __future__ import annotations

import pytest

from tests.support.sandbox import checkout_params, new_uid

WON = {"amount": 9900, "currency": "KRW"}


def refused_for_won(response) -> bool:
    """Refused in iamport's envelope (non-zero code; HTTP 200 where the endpoint declares no 400)."""
    body = response.json()
    return response.status_code in (200, 400) and body["code"] != 0 and "KRW" in body["message"] \
        and body["response"] is None


def test_a_whole_won_amount_is_paid_and_recorded_exactly(sandbox):
    rsp = sandbox.pay(checkout_params(**WON))
    assert rsp["success"] is True and rsp["paid_amount"] == 9900 and rsp["currency"] == "KRW"
    payment = sandbox.payment(rsp["imp_uid"])
    assert payment["amount"] == 9900 and isinstance(payment["amount"], int)


def test_the_window_shows_won_without_decimals(sandbox):
    opened = sandbox.open_window(checkout_params(**WON))
    page = sandbox.http.get(opened["window_url"], timeout=10).text
    assert "KRW 9,900" in page and "9,900.00" not in page


@pytest.mark.parametrize("amount", [9900.5, 9900.01])
def test_request_pay_refuses_a_fraction_of_a_won(sandbox, amount):
    answer = sandbox.open_window(checkout_params(amount=amount, currency="KRW"))
    assert answer["ok"] is False and answer["rsp"]["error_code"] == "F0002"
    assert "KRW" in answer["rsp"]["error_msg"]


def test_a_fraction_of_a_dollar_is_still_fine(sandbox):
    assert sandbox.open_window(checkout_params(amount=9.5, currency="USD"))["ok"] is True


def test_prepare_refuses_a_fraction_of_a_won(sandbox):
    response = sandbox.api("POST", "/payments/prepare",
                           json={"merchant_uid": new_uid(), "amount": 9900.5, "currency": "KRW"})
    assert refused_for_won(response)


@pytest.fixture
def won_key(sandbox):
    return sandbox.issue_billing_key(**WON)["param"]


def test_again_charges_whole_won_and_refuses_fractions(sandbox, won_key):
    body = {"customer_uid": won_key["customer_uid"], "name": "Basic (won)", "currency": "KRW",
            "buyer_email": won_key["buyer_email"]}
    paid = sandbox.api("POST", "/subscribe/payments/again", json={**body, "merchant_uid": new_uid(), "amount": 9900})
    assert paid.json()["response"]["status"] == "paid" and paid.json()["response"]["amount"] == 9900
    refused = sandbox.api("POST", "/subscribe/payments/again",
                          json={**body, "merchant_uid": new_uid(), "amount": 9900.5})
    assert refused_for_won(refused)


def test_schedule_refuses_a_fraction_of_a_won(sandbox, won_key):
    item = {"merchant_uid": new_uid(), "schedule_at": int(sandbox.sandbox.clock.timestamp()) + 3600,
            "amount": 9900.5, "currency": "KRW", "name": "Basic (won)"}
    response = sandbox.api("POST", "/subscribe/payments/schedule",
                           json={"customer_uid": won_key["customer_uid"], "schedules": [item]})
    assert refused_for_won(response)
    ok = sandbox.api("POST", "/subscribe/payments/schedule",
                     json={"customer_uid": won_key["customer_uid"], "schedules": [{**item, "amount": 9900}]})
    assert ok.status_code == 200 and ok.json()["response"][0]["amount"] == 9900


def test_cancel_in_won_takes_whole_amounts_and_checksums(sandbox):
    sandbox.set_delays(cancel_delay=0)
    imp_uid = sandbox.pay(checkout_params(**WON))["imp_uid"]
    half = sandbox.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "amount": 4950.5, "checksum": 9900})
    assert refused_for_won(half)
    part = sandbox.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "amount": 4950, "checksum": 9900})
    assert part.status_code == 200 and part.json()["response"]["cancel_amount"] == 4950
    rest = sandbox.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "amount": 4950, "checksum": 4950})
    assert rest.json()["response"]["status"] == "cancelled"
