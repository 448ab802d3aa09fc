"""The sandbox's own controls and operator page, restarts, several sandboxes, and running it alone."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.sandbox import checkout_params, new_uid, start_sandbox
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


def test_clock_advances_and_never_goes_back(sandbox):
    before = sandbox.control("GET", "/clock")
    after = sandbox.advance(86400)
    assert after["now"] - before["now"] >= 86400 and after["offset"] >= 86400
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/clock/advance", json={"seconds": -5}, timeout=10)
    assert response.status_code == 400


def test_reset_forgets_everything(sandbox):
    customer_uid = new_uid("cust")
    issued = sandbox.issue_billing_key(customer_uid)
    sandbox.advance(100)
    sandbox.set_faults(latency_ms=10)
    sandbox.control("POST", "/reset")
    assert sandbox.api("GET", f"/payments/{issued['rsp']['imp_uid']}").status_code == 404
    assert sandbox.api("GET", f"/subscribe/customers/{customer_uid}").status_code == 404
    assert sandbox.control("GET", "/clock")["offset"] == 0
    assert sandbox.control("GET", "/faults")["latency_ms"] == 0
    assert sandbox.webhook_log() == []


def test_operator_page_lists_everything_and_offers_actions(sandbox_factory, webhook_sink):
    sandbox = sandbox_factory(SANDBOX_REVIEW_DELAY=600)
    customer_uid = new_uid("cust")
    issued = sandbox.issue_billing_key(customer_uid, notice_url=webhook_sink.url)
    held = sandbox.pay(checkout_params(), cvv="555")
    merchant_uid = new_uid("sched")
    at = sandbox.control("GET", "/clock")["now"] + 3600
    sandbox.api("POST", "/subscribe/payments/schedule", json={"customer_uid": customer_uid, "schedules": [
        {"merchant_uid": merchant_uid, "schedule_at": at, "amount": 5, "name": "Renewal"}]})
    webhook_sink.wait_for(1)
    page = sandbox.http.get(f"{sandbox.url}/_sandbox", timeout=10)
    assert page.status_code == 200
    text = page.text
    for expected in (issued["rsp"]["imp_uid"], held["imp_uid"], customer_uid, merchant_uid, webhook_sink.url,
                     "held for review", "Approve", "Decline", "Resend", "Advance"):
        assert expected in text, expected


def test_operator_forms_redirect_back_to_the_page(sandbox):
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/clock/advance", data={"seconds": "60"},
                                 allow_redirects=False, timeout=10)
    assert response.status_code == 302 and "/_sandbox" in response.headers["Location"]
    sandbox.http.post(f"{sandbox.url}/_sandbox/webhooks/settings", data={"format": "form", "delay": "0"},
                      allow_redirects=False, timeout=10)
    assert sandbox.control("GET", "/webhooks/settings")["format"] == "form"


def test_state_survives_a_restart(tmp_path):
    database = tmp_path / "sandbox.sqlite3"
    first = start_sandbox(database, SANDBOX_PINGBACK_DELAY=60)
    customer_uid = new_uid("cust")
    try:
        token = first.token()
        issued = first.issue_billing_key(customer_uid, wait=False)
        first.advance(30)
    finally:
        first.stop()

    second = start_sandbox(database)
    try:
        # The token, the payment and the clock offset came through.
        assert second.api("GET", f"/payments/{issued['rsp']['imp_uid']}", token=token).status_code == 200
        assert second.control("GET", "/clock")["offset"] >= 30
        # The pingback queued before the restart still arrives.
        assert second.api("GET", f"/subscribe/customers/{customer_uid}", token=token).status_code == 404
        second.advance(31)
        assert second.api("GET", f"/subscribe/customers/{customer_uid}", token=token).status_code == 200
    finally:
        second.stop()


def test_several_sandboxes_in_one_process_are_independent(sandbox_factory):
    one, two = sandbox_factory("one"), sandbox_factory("two")
    rsp = one.pay(checkout_params())
    assert one.api("GET", f"/payments/{rsp['imp_uid']}").status_code == 200
    assert two.api("GET", f"/payments/{rsp['imp_uid']}").status_code == 404
    one.advance(1000)
    assert two.control("GET", "/clock")["offset"] == 0


def test_receipt_page(sandbox):
    rsp = sandbox.pay(checkout_params())
    page = sandbox.http.get(rsp["receipt_url"], timeout=10)
    assert page.status_code == 200 and rsp["imp_uid"] in page.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_runs_alone_from_the_command_line(tmp_path):
    port = _free_port()
    env = {**os.environ, "SANDBOX_DATABASE": str(tmp_path / "alone.sqlite3")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        def token_answer():
            try:
                return requests.post(f"http://127.0.0.1:{port}/users/getToken", timeout=1,
                                     json={"imp_key": "sandbox_api_key", "imp_secret": "sandbox_api_secret"})
            except requests.ConnectionError:
                return None

        response = wait_until(token_answer, timeout=15, interval=0.2, message="the sandbox to listen")
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output.decode()
    assert b"iamport sandbox on" in output
    assert (tmp_path / "alone.sqlite3").exists()
