"""Several webhook senders: a slow endpoint no longer holds the queue back, and nothing goes twice."""
from __future__ import annotations

import time

from tests.support.sandbox import WebhookSink, new_uid


def charge(sandbox, customer_uid, notice_url):
    body = {"customer_uid": customer_uid, "merchant_uid": new_uid("renew"), "amount": 5, "name": "Renewal",
            "currency": "USD", "buyer_email": "ada@example.com", "notice_url": notice_url}
    response = sandbox.api("POST", "/subscribe/payments/again", json=body).json()["response"]
    assert response["status"] == "paid"
    return response["imp_uid"]


def test_senders_deliver_in_parallel_and_each_webhook_once(sandbox):
    slow = WebhookSink(delay=0.5).start()
    try:
        assert sandbox.set_webhooks(workers=4)["workers"] == 4
        key = sandbox.issue_billing_key()["param"]["customer_uid"]
        sandbox.set_webhooks(delay=0.3)  # queue all eight before the first one leaves
        imp_uids = {charge(sandbox, key, slow.url) for _ in range(8)}
        started = time.monotonic()
        slow.wait_for(8, timeout=5)
        elapsed = time.monotonic() - started
        # One sender would need 8 x 0.5 s; four need about 1 s.
        assert elapsed < 2.5, elapsed
        time.sleep(0.3)
        assert sorted(b["imp_uid"] for b in slow.bodies()) == sorted(imp_uids)
        log = [row for row in sandbox.webhook_log() if row["imp_uid"] in imp_uids]
        assert len(log) == 8 and {(row["state"], row["attempts"]) for row in log} == {("delivered", 1)}
    finally:
        slow.stop()


def test_one_sender_by_default(sandbox):
    assert sandbox.control("GET", "/webhooks/settings")["workers"] == 1


def test_workers_out_of_range_are_refused(sandbox):
    for value in (0, 65):
        response = sandbox.http.post(f"{sandbox.url}/_sandbox/webhooks/settings", json={"workers": value}, timeout=10)
        assert response.status_code == 400, response.text
        assert "SANDBOX_WEBHOOK_WORKERS" in response.json()["error"]
    assert sandbox.control("GET", "/webhooks/settings")["workers"] == 1
