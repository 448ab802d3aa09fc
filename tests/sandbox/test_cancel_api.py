"""Contract: POST /payments/cancel — full and partial, checksum, reason, cancel_history, Paymentwall's delay."""
from __future__ import annotations

import pytest

from tests.support.openapi_shapes import CANCEL_HISTORY, PAYMENT, check_envelope, check_shape
from tests.support.sandbox import checkout_params
from tests.support.waiting import wait_until


@pytest.fixture
def instant(sandbox):
    """Cancels confirmed within the request, so the answer already shows them."""
    sandbox.set_delays(cancel_delay=0)
    return sandbox


def paid(sandbox, amount=30):
    return sandbox.pay(checkout_params(amount=amount))["imp_uid"]


def test_full_cancel(instant):
    imp_uid = paid(instant)
    response = instant.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "reason": "customer asked"})
    assert response.status_code == 200
    body = response.json()
    check_envelope(body)
    payment = body["response"]
    check_shape(payment, PAYMENT)
    assert payment["status"] == "cancelled"
    assert payment["cancel_amount"] == 30 and payment["cancel_reason"] == "customer asked"
    assert payment["cancelled_at"] > 0
    assert len(payment["cancel_history"]) == 1
    check_shape(payment["cancel_history"][0], CANCEL_HISTORY)
    assert payment["cancel_history"][0]["amount"] == 30


def test_cancel_by_merchant_uid(instant):
    param = checkout_params()
    instant.pay(param)
    response = instant.api("POST", "/payments/cancel", json={"merchant_uid": param["merchant_uid"]})
    assert response.json()["response"]["status"] == "cancelled"


def test_partial_cancels_then_the_rest(instant):
    imp_uid = paid(instant, amount=30)
    first = instant.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "amount": 10.5, "reason": "partial"})
    payment = first.json()["response"]
    assert payment["status"] == "paid" and payment["cancel_amount"] == 10.5
    second = instant.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "amount": 19.5, "checksum": 19.5})
    payment = second.json()["response"]
    assert payment["status"] == "cancelled" and payment["cancel_amount"] == 30
    assert [h["amount"] for h in payment["cancel_history"]] == [10.5, 19.5]
    assert len({h["cancellation_id"] for h in payment["cancel_history"]}) == 2


def test_checksum_mismatch_is_refused(instant):
    imp_uid = paid(instant)
    response = instant.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "amount": 5, "checksum": 29})
    assert response.status_code == 200
    check_envelope(response.json(), ok=False)
    assert instant.payment(imp_uid)["cancel_amount"] == 0


def test_more_than_the_balance_is_refused(instant):
    imp_uid = paid(instant)
    response = instant.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "amount": 31})
    check_envelope(response.json(), ok=False)


def test_cancelling_twice_is_refused(instant):
    imp_uid = paid(instant)
    instant.api("POST", "/payments/cancel", json={"imp_uid": imp_uid})
    response = instant.api("POST", "/payments/cancel", json={"imp_uid": imp_uid})
    check_envelope(response.json(), ok=False)


def test_unknown_payment_is_refused_with_code_1(sandbox):
    response = sandbox.api("POST", "/payments/cancel", json={"imp_uid": "imp_000000000000"})
    assert response.status_code == 200
    body = response.json()
    check_envelope(body, ok=False)
    assert body["code"] == 1


def test_failed_payment_cannot_be_cancelled(sandbox):
    rsp = sandbox.pay(checkout_params(), cvv="111")
    response = sandbox.api("POST", "/payments/cancel", json={"imp_uid": rsp["imp_uid"]})
    check_envelope(response.json(), ok=False)


@pytest.mark.parametrize("body", [{}, {"reason": "no id"}, {"imp_uid": "imp_1", "amount": "lots"}])
def test_bad_body_is_code_minus_1(sandbox, body):
    response = sandbox.api("POST", "/payments/cancel", json=body)
    assert response.status_code == 200
    check_envelope(response.json(), ok=False)
    assert response.json()["code"] == -1


def test_paymentwall_confirms_the_cancel_later(sandbox, webhook_sink):
    """By default the answer still shows `paid`; the cancel lands when Paymentwall calls back."""
    rsp = sandbox.pay(checkout_params(amount=20, notice_url=webhook_sink.url))
    imp_uid = rsp["imp_uid"]
    webhook_sink.wait_for(1)  # the issuance webhook
    response = sandbox.api("POST", "/payments/cancel",
                           json={"imp_uid": imp_uid, "reason": "refund", "enable_webhook": True})
    answer = response.json()["response"]
    assert answer["status"] == "paid" and answer["cancel_amount"] == 0
    # While the cancel is pending, the balance is spoken for.
    again = sandbox.api("POST", "/payments/cancel", json={"imp_uid": imp_uid})
    check_envelope(again.json(), ok=False)
    final = wait_until(lambda: (p := sandbox.payment(imp_uid))["status"] == "cancelled" and p, timeout=5)
    assert final["cancel_amount"] == 20
    bodies = webhook_sink.wait_for(2)
    assert bodies[-1]["status"] == "cancelled" and bodies[-1]["imp_uid"] == imp_uid
    assert bodies[-1]["cancellation_id"] == final["cancel_history"][0]["cancellation_id"]


def test_no_cancel_webhook_without_enable_webhook(instant, webhook_sink):
    rsp = instant.pay(checkout_params(notice_url=webhook_sink.url))
    webhook_sink.wait_for(1)
    instant.api("POST", "/payments/cancel", json={"imp_uid": rsp["imp_uid"]})
    instant.control("POST", "/run")
    assert [b["status"] for b in webhook_sink.bodies()] == ["paid"]


def test_paymentwall_confirms_a_partial_cancel_later(sandbox, webhook_sink):
    """A partial cancel awaiting the PG holds its share of the balance: the next checksum counts
    it, and each confirmed cancel lands in cancel_history with its own cancellation_id."""
    rsp = sandbox.pay(checkout_params(amount=30, notice_url=webhook_sink.url))
    imp_uid = rsp["imp_uid"]
    webhook_sink.wait_for(1)
    first = sandbox.api("POST", "/payments/cancel", json={
        "imp_uid": imp_uid, "amount": 10, "checksum": 30, "reason": "half", "enable_webhook": True})
    answer = first.json()["response"]
    assert (answer["status"], answer["cancel_amount"], answer["cancel_history"]) == ("paid", 0, [])
    # iamport's record still says 30 left, but 10 is spoken for: a checksum of 30 is refused.
    stale = sandbox.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "amount": 10, "checksum": 30})
    check_envelope(stale.json(), ok=False)
    over = sandbox.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "amount": 21, "checksum": 20})
    check_envelope(over.json(), ok=False)
    second = sandbox.api("POST", "/payments/cancel", json={
        "imp_uid": imp_uid, "amount": 10, "checksum": 20, "reason": "again", "enable_webhook": True})
    check_envelope(second.json())
    final = wait_until(lambda: (p := sandbox.payment(imp_uid))["cancel_amount"] == 20 and p, timeout=5)
    assert final["status"] == "paid"
    assert [(h["amount"], h["reason"]) for h in final["cancel_history"]] == [(10, "half"), (10, "again")]
    ids = [h["cancellation_id"] for h in final["cancel_history"]]
    assert len(set(ids)) == 2
    bodies = webhook_sink.wait_for(3)
    assert sorted(b["cancellation_id"] for b in bodies[1:]) == sorted(ids)


def test_a_fraction_of_a_won_is_refused(instant):
    imp_uid = instant.pay(checkout_params(amount=9900, currency="KRW"))["imp_uid"]
    response = instant.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "amount": 4950.5})
    check_envelope(response.json(), ok=False)
    answer = instant.api("POST", "/payments/cancel", json={"imp_uid": imp_uid, "amount": 4950, "checksum": 9900})
    assert answer.json()["response"]["cancel_amount"] == 4950
    assert instant.payment(imp_uid)["status"] == "paid"
