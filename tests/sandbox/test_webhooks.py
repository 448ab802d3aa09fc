"""Webhooks: where they go, their body and format, the delivery log, and the faults tests can switch on."""
from __future__ import annotations

import time

from tests.support.sandbox import WebhookSink, checkout_params, new_uid
from tests.support.waiting import wait_until


def again(sandbox, customer_uid, **extra):
    body = {"customer_uid": customer_uid, "merchant_uid": new_uid("renew"), "amount": 5, "name": "Renewal",
            "currency": "USD", "buyer_email": "ada@example.com", **extra}
    return sandbox.api("POST", "/subscribe/payments/again", json=body).json()["response"]


def test_issuance_webhook_waits_for_the_pingback(sandbox_factory, webhook_sink):
    sandbox = sandbox_factory(SANDBOX_PINGBACK_DELAY=0.8)
    param = checkout_params(notice_url=webhook_sink.url)
    rsp = sandbox.pay(param)
    time.sleep(0.4)
    assert webhook_sink.bodies() == []
    bodies = webhook_sink.wait_for(1, timeout=5)
    assert bodies == [{"imp_uid": rsp["imp_uid"], "merchant_uid": param["merchant_uid"], "status": "paid"}]
    # Once the webhook is out, the key is chargeable.
    assert sandbox.api("GET", f"/subscribe/customers/{param['customer_uid']}").status_code == 200


def test_default_url_when_no_notice_url(sandbox_factory, webhook_sink):
    sandbox = sandbox_factory(SANDBOX_WEBHOOK_URL=webhook_sink.url)
    rsp = sandbox.pay(checkout_params())
    assert webhook_sink.wait_for(1)[0]["imp_uid"] == rsp["imp_uid"]


def test_notice_url_replaces_the_default_url(sandbox_factory, webhook_sink):
    other = WebhookSink().start()
    try:
        sandbox = sandbox_factory(SANDBOX_WEBHOOK_URL=webhook_sink.url)
        sandbox.pay(checkout_params(notice_url=other.url))
        other.wait_for(1)
        sandbox.control("POST", "/run")
        time.sleep(0.2)
        assert webhook_sink.bodies() == []
    finally:
        other.stop()


def test_form_encoded_webhooks(sandbox, webhook_sink):
    sandbox.set_webhooks(format="form")
    rsp = sandbox.pay(checkout_params(notice_url=webhook_sink.url))
    webhook_sink.wait_for(1)
    received = webhook_sink.received[0]
    assert received["content_type"] == "application/x-www-form-urlencoded"
    assert received["body"] == {"imp_uid": rsp["imp_uid"], "merchant_uid": rsp["merchant_uid"], "status": "paid"}


def test_json_webhooks_by_default(sandbox, webhook_sink):
    sandbox.pay(checkout_params(notice_url=webhook_sink.url))
    webhook_sink.wait_for(1)
    assert webhook_sink.received[0]["content_type"] == "application/json"


def test_every_delivery_is_logged(sandbox, webhook_sink):
    rsp = sandbox.pay(checkout_params(notice_url=webhook_sink.url))
    webhook_sink.wait_for(1)
    entry = wait_until(lambda: [w for w in sandbox.webhook_log(rsp["imp_uid"]) if w["state"] == "delivered"])[0]
    assert entry["url"] == webhook_sink.url and entry["http_status"] == 200 and entry["attempts"] == 1
    assert entry["body"] == {"imp_uid": rsp["imp_uid"], "merchant_uid": rsp["merchant_uid"], "status": "paid"}
    assert entry["event"] == "issue" and entry["kind"] == "original" and entry["format"] == "json"


def test_webhook_with_nowhere_to_go_is_logged_as_skipped(sandbox):
    rsp = sandbox.pay(checkout_params())
    entry = wait_until(lambda: sandbox.webhook_log(rsp["imp_uid"]))[0]
    assert entry["state"] == "skipped" and entry["url"] is None


def test_failed_delivery_is_logged_and_retried_when_asked(sandbox):
    failing = WebhookSink(status=500).start()
    try:
        sandbox.set_webhooks(retries=1, retry_interval=0.2)
        rsp = sandbox.pay(checkout_params(notice_url=failing.url))
        entry = wait_until(lambda: [w for w in sandbox.webhook_log(rsp["imp_uid"]) if w["state"] == "failed"],
                           timeout=5)[0]
        assert entry["http_status"] == 500 and entry["attempts"] == 2
        assert len(failing.bodies()) == 2
    finally:
        failing.stop()


def test_unreachable_url_is_logged_as_failed(sandbox):
    rsp = sandbox.pay(checkout_params(notice_url="http://127.0.0.1:9/hook"))
    entry = wait_until(lambda: [w for w in sandbox.webhook_log(rsp["imp_uid"]) if w["state"] == "failed"])[0]
    assert entry["http_status"] is None and entry["error"]


def test_drop(sandbox, webhook_sink):
    sandbox.set_webhooks(drop_rate=1)
    rsp = sandbox.pay(checkout_params(notice_url=webhook_sink.url))
    entry = wait_until(lambda: sandbox.webhook_log(rsp["imp_uid"]))[0]
    assert entry["state"] == "dropped"
    time.sleep(0.2)
    assert webhook_sink.bodies() == []


def test_duplicate(sandbox, webhook_sink):
    sandbox.set_webhooks(duplicate_rate=1)
    rsp = sandbox.pay(checkout_params(notice_url=webhook_sink.url))
    bodies = webhook_sink.wait_for(2)
    assert bodies[0] == bodies[1] and bodies[0]["imp_uid"] == rsp["imp_uid"]
    kinds = sorted(w["kind"] for w in sandbox.webhook_log(rsp["imp_uid"]))
    assert kinds == ["duplicate", "original"]


def test_delay(sandbox, webhook_sink):
    sandbox.set_webhooks(delay=1.0)
    sandbox.pay(checkout_params(notice_url=webhook_sink.url))
    time.sleep(0.8)  # pingback 0.2 s + delay 1 s: nothing yet
    assert webhook_sink.bodies() == []
    webhook_sink.wait_for(1, timeout=5)


def test_reorder_delivers_a_batch_newest_first(sandbox, webhook_sink):
    customer_uid = new_uid("cust")
    sandbox.issue_billing_key(customer_uid)
    sandbox.set_webhooks(reorder=True, reorder_window=0.6)
    first = again(sandbox, customer_uid, notice_url=webhook_sink.url)
    second = again(sandbox, customer_uid, notice_url=webhook_sink.url)
    bodies = webhook_sink.wait_for(2, timeout=5)
    assert [b["imp_uid"] for b in bodies] == [second["imp_uid"], first["imp_uid"]]


def test_resend(sandbox, webhook_sink):
    rsp = sandbox.pay(checkout_params(notice_url=webhook_sink.url))
    webhook_sink.wait_for(1)
    original = sandbox.webhook_log(rsp["imp_uid"])[0]
    answer = sandbox.control("POST", f"/webhooks/{original['id']}/resend")
    bodies = webhook_sink.wait_for(2)
    assert bodies[0] == bodies[1]
    resent = [w for w in sandbox.webhook_log(rsp["imp_uid"]) if w["id"] == answer["id"]][0]
    assert resent["kind"] == "resend"


def test_resend_unknown_is_404(sandbox):
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/webhooks/999/resend", json={}, timeout=10)
    assert response.status_code == 404


def test_several_notice_urls(sandbox, webhook_sink):
    sandbox.pay(checkout_params(notice_url=[webhook_sink.url, webhook_sink.url + "/second"]))
    webhook_sink.wait_for(2)
    assert sorted(r["path"] for r in webhook_sink.received) == ["/hook", "/hook/second"]
