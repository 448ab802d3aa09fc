"""The sandbox's cards whose later charges are held for risk review: 0259 (approved), 0267 (declined)."""
from __future__ import annotations

import pytest

from tests.support.openapi_shapes import PAYMENT, check_envelope, check_shape
from tests.support.sandbox import (
    RENEWAL_REVIEW_APPROVE_CARD,
    RENEWAL_REVIEW_DECLINE_CARD,
    new_uid,
)
from tests.support.sandbox_requests import again_body, clock_now, schedule, schedule_item

REVIEW = 3600
CARDS = [(RENEWAL_REVIEW_APPROVE_CARD, "paid"), (RENEWAL_REVIEW_DECLINE_CARD, "failed")]


@pytest.mark.parametrize(("card", "final"), CARDS)
def test_a_scheduled_charge_is_held_then_decided_by_the_review(sandbox, webhook_sink, card, final):
    sandbox.set_delays(review_delay=REVIEW)
    customer_uid = new_uid("cust")
    issued = sandbox.issue_billing_key(customer_uid, card=card)
    # The first charge, with the window, is approved at once.
    assert issued["rsp"]["success"] is True
    assert sandbox.payment(issued["rsp"]["imp_uid"])["status"] == "paid"
    item = schedule_item(clock_now(sandbox) + 60, notice_url=webhook_sink.url)
    assert schedule(sandbox, customer_uid, item).json()["code"] == 0
    sandbox.advance(61)
    result = sandbox.api("GET", f"/subscribe/payments/schedule/{item['merchant_uid']}").json()["response"]
    assert result["payment_status"] == "failed" and "held for risk review" in result["fail_reason"]
    held = sandbox.payment(result["imp_uid"])
    assert held["status"] == "failed" and "held for risk review" in held["fail_reason"]
    assert webhook_sink.wait_for(1)[0]["status"] == "failed"

    sandbox.advance(REVIEW - 30)
    assert sandbox.payment(result["imp_uid"])["status"] == "failed"  # still held
    sandbox.advance(60)
    decided = sandbox.payment(result["imp_uid"])
    check_shape(decided, PAYMENT)
    assert decided["status"] == final
    if final == "paid":
        assert decided["paid_at"] > 0 and decided["fail_reason"] is None
    else:
        assert "declined after risk review" in decided["fail_reason"]
    # The review's end is reported with the final status.
    bodies = webhook_sink.wait_for(2)
    assert bodies[1] == {"imp_uid": result["imp_uid"], "merchant_uid": item["merchant_uid"],
                         "status": final}


@pytest.mark.parametrize(("card", "final"), CARDS)
def test_again_answers_held_then_the_review_decides(sandbox, webhook_sink, card, final):
    sandbox.set_delays(review_delay=REVIEW)
    customer_uid = new_uid("cust")
    sandbox.issue_billing_key(customer_uid, card=card)
    body = again_body(customer_uid, notice_url=webhook_sink.url)
    payload = sandbox.api("POST", "/subscribe/payments/again", json=body).json()
    check_envelope(payload)
    held = payload["response"]
    assert held["status"] == "failed" and "held for risk review" in held["fail_reason"]
    sandbox.advance(REVIEW + 1)
    assert sandbox.payment(held["imp_uid"])["status"] == final
    assert webhook_sink.wait_for(1)[-1]["status"] == final
