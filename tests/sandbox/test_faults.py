"""Faults of the REST API: latency, a share of 5xx answers, hangs; never on controls, SDK or window."""
from __future__ import annotations

import time

import pytest
import requests

from tests.support.openapi_shapes import check_envelope
from tests.support.sandbox import checkout_params, new_uid


def test_faults_are_off_by_default(sandbox):
    assert sandbox.control("GET", "/faults") == {"latency_ms": 0, "error_rate": 0.0, "hang_rate": 0.0,
                                                  "hang_seconds": 3.0, "mail_refuse": False}


def test_error_rate_one_answers_every_api_call_with_5xx(sandbox):
    token = sandbox.token()
    sandbox.set_faults(error_rate=1)
    for method, path in (("GET", "/payments/imp_000000000000"), ("POST", "/users/getToken")):
        response = sandbox.api(method, path, token=token, json={})
        assert response.status_code in (500, 502, 503)
        check_envelope(response.json(), ok=False)
    # Controls, the SDK and the window are never faulted.
    assert sandbox.http.get(sandbox.sdk_url, timeout=10).status_code == 200
    assert sandbox.open_window(checkout_params())["ok"] is True
    sandbox.set_faults(error_rate=0)
    assert sandbox.api("GET", "/payments/imp_000000000000", token=token).status_code == 404


def test_a_share_of_5xx_answers(sandbox):
    token = sandbox.token()
    sandbox.set_faults(error_rate=0.5)
    statuses = [sandbox.api("GET", "/payments/imp_000000000000", token=token).status_code for _ in range(40)]
    assert any(s >= 500 for s in statuses) and 404 in statuses


def test_fault_settings_from_config(sandbox_factory):
    sandbox = sandbox_factory(SANDBOX_ERROR_RATE=1)
    response = sandbox.http.post(f"{sandbox.url}/users/getToken",
                                 json={"imp_key": sandbox.api_key, "imp_secret": sandbox.api_secret}, timeout=10)
    assert response.status_code >= 500


def test_latency(sandbox):
    token = sandbox.token()
    sandbox.set_faults(latency_ms=400)
    started = time.monotonic()
    sandbox.api("GET", "/payments/imp_000000000000", token=token)
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    sandbox.control("GET", "/clock")
    assert time.monotonic() - started < 0.3


def test_hang_past_the_client_timeout_after_doing_the_work(sandbox):
    """The client gives up, but the charge was made: a careful client looks it up instead of retrying."""
    customer_uid = new_uid("cust")
    sandbox.issue_billing_key(customer_uid)
    token = sandbox.token()
    sandbox.set_faults(hang_rate=1, hang_seconds=2)
    merchant_uid = new_uid("renew")
    with pytest.raises(requests.Timeout):
        sandbox.api("POST", "/subscribe/payments/again", token=token, timeout=0.5, json={
            "customer_uid": customer_uid, "merchant_uid": merchant_uid, "amount": 5, "name": "Renewal",
            "currency": "USD", "buyer_email": "ada@example.com"})
    sandbox.set_faults(hang_rate=0)
    found = sandbox.api("GET", f"/payments/find/{merchant_uid}", token=token)
    assert found.status_code == 200 and found.json()["response"]["status"] == "paid"


@pytest.mark.parametrize("values", [{"error_rate": 2}, {"latency_ms": -1}, {"unknown": 1}, {"hang_rate": "x"}])
def test_bad_fault_settings_are_refused(sandbox, values):
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/faults", json=values, timeout=10)
    assert response.status_code == 400 and response.json()["error"]
