"""The sandbox is for one machine: loopback, no cross-site controls, no framing but the window's, small bodies."""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

import pytest
from flask import Flask

from sandbox import serving
from tests.support.sandbox import checkout_params, start_sandbox
from tests.support.servers import serve_wsgi

EVIL = "http://evil.example"


def _post_faults(sandbox, headers: dict, **form: str):
    return sandbox.http.post(f"{sandbox.url}/_sandbox/faults", data=form or {"latency_ms": "500"},
                             headers=headers, allow_redirects=False, timeout=10)


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
    {"Origin": EVIL},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:9", "Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "cross-site"},
], ids=["cross-site", "other-origin", "opaque-origin", "same-site-other-port", "sec-fetch-only"])
def test_a_control_from_another_site_is_refused(sandbox, headers):
    response = _post_faults(sandbox, headers)
    assert response.status_code == 403
    assert "only from its own pages" in response.text
    assert sandbox.control("GET", "/faults")["latency_ms"] == 0


def test_every_control_is_guarded(sandbox):
    headers = {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    for path in ("/reset", "/clock/advance", "/clock/advance-to-next-renewal", "/run", "/delays",
                 "/webhooks/settings", "/webhooks/1/resend", "/payments/x/approve", "/payments/x/decline"):
        response = sandbox.http.post(f"{sandbox.url}/_sandbox{path}", data={"seconds": "60"}, headers=headers,
                                     allow_redirects=False, timeout=10)
        assert response.status_code == 403, path
    assert sandbox.control("GET", "/clock")["offset"] == 0


def test_the_operator_page_and_scripts_pass(sandbox):
    own = {"Origin": sandbox.url, "Sec-Fetch-Site": "same-origin"}
    assert _post_faults(sandbox, own, latency_ms="5").status_code == 302
    assert sandbox.control("GET", "/faults")["latency_ms"] == 5
    # A script or test sends neither header.
    assert sandbox.set_faults(latency_ms=0)["latency_ms"] == 0
    # Reading the page from a link on another site still works.
    assert sandbox.http.get(f"{sandbox.url}/_sandbox", headers={"Sec-Fetch-Site": "cross-site"},
                            timeout=10).status_code == 200


def test_a_page_that_rebinds_its_name_to_the_sandbox_reads_and_changes_nothing(sandbox):
    # DNS rebinding: evil.example now resolves to 127.0.0.1, so the browser sends its requests
    # here, same-origin as far as it knows, with Host: evil.example.
    rebound = {"Host": "evil.example:%d" % int(sandbox.url.rsplit(":", 1)[1]),
               "Origin": "http://evil.example:%d" % int(sandbox.url.rsplit(":", 1)[1])}
    for path in ("/_sandbox", "/_sandbox/mail", "/_sandbox/state"):
        assert sandbox.http.get(f"{sandbox.url}{path}", headers={"Host": rebound["Host"]},
                                timeout=10).status_code == 403, path
    assert _post_faults(sandbox, rebound).status_code == 403
    assert sandbox.control("GET", "/faults")["latency_ms"] == 0
    # Its own names still work.
    port = sandbox.url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert sandbox.http.get(f"{sandbox.url}/_sandbox/mail", headers={"Host": host},
                                timeout=10).status_code == 200, host


def test_the_sdk_and_the_rest_api_stay_open_to_other_origins(sandbox):
    headers = {"Origin": "http://127.0.0.1:9", "Sec-Fetch-Site": "cross-site"}
    body = {"imp_code": sandbox.imp_code, "param": checkout_params(), "mode": "pc", "origin": headers["Origin"]}
    opened = sandbox.http.post(f"{sandbox.url}/sdk/v1/payments", json=body, headers=headers, timeout=10)
    assert opened.status_code == 200 and opened.json()["ok"], opened.text
    assert sandbox.http.get(sandbox.sdk_url, headers=headers, timeout=10).status_code == 200
    token = sandbox.http.post(f"{sandbox.url}/users/getToken", headers=headers, timeout=10,
                              json={"imp_key": sandbox.api_key, "imp_secret": sandbox.api_secret})
    assert token.status_code == 200 and token.json()["code"] == 0


def test_a_cross_site_form_in_chromium_changes_nothing(desktop_page, sandbox):
    attacker = Flask("attacker")
    target = sandbox.url.replace("127.0.0.1", "localhost")  # another site than the attacker's 127.0.0.1

    @attacker.get("/")
    def _form() -> str:
        return (f'<form id="f" method="post" action="{target}/_sandbox/faults">'
                '<input name="latency_ms" value="700"></form><script>document.getElementById("f").submit()</script>')

    served = serve_wsgi(attacker)
    try:
        desktop_page.goto(served.url)
        desktop_page.wait_for_url(lambda url: url.startswith(target))
        desktop_page.wait_for_load_state()
        assert sandbox.control("GET", "/faults")["latency_ms"] == 0
        assert "only from its own pages" in desktop_page.content()
    finally:
        served.stop()


def _frame_policy(response) -> tuple[str, str]:
    return response.headers.get("X-Frame-Options", ""), response.headers.get("Content-Security-Policy", "")


def test_pages_refuse_framing_but_the_payment_window(sandbox):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "shop@example.com", "ada@example.com", "Hi"
    message.set_content("x\n")
    with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    mail_id = sandbox.wait_for_mail("ada@example.com")[0]["id"]
    for path in ("/_sandbox", f"/_sandbox/mail/{mail_id}", "/_sandbox/mail"):
        frame_options, csp = _frame_policy(sandbox.http.get(f"{sandbox.url}{path}", timeout=10))
        assert frame_options == "DENY", path
        assert "frame-ancestors 'none'" in csp, path
    opened = sandbox.open_window()
    window = sandbox.http.get(opened["window_url"], timeout=10)
    assert window.status_code == 200
    frame_options, csp = _frame_policy(window)
    assert frame_options == "" and "frame-ancestors 'none'" not in csp
    submitted = sandbox.submit_window(opened["window_url"])
    assert submitted.status_code == 200
    assert "frame-ancestors 'none'" not in _frame_policy(submitted)[1]


def test_large_bodies_are_refused_readably(sandbox):
    big = "x" * (65 * 1024)
    control = sandbox.http.post(f"{sandbox.url}/_sandbox/faults", json={"latency_ms": 1, "pad": big}, timeout=10)
    assert control.status_code == 413
    assert "64 KiB" in control.text
    api = sandbox.http.post(f"{sandbox.url}/users/getToken", json={"imp_key": big}, timeout=10)
    assert api.status_code == 413
    assert "64 KiB" in api.json()["message"]
    assert sandbox.control("GET", "/faults")["latency_ms"] == 0


@pytest.mark.parametrize("host, exposed", [
    ("127.0.0.1", False), ("localhost", False), ("::1", False), ("127.0.0.2", False),
    ("0.0.0.0", True), ("", True), ("::", True), ("192.168.1.10", True), ("example.com", True),
])
def test_a_host_beyond_loopback_is_warned_about_loudly(caplog, host, exposed):
    with caplog.at_level(logging.WARNING, logger="sandbox"):
        assert serving.warn_if_exposed(host, "the sandbox") is exposed
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert bool(warnings) is exposed
    if exposed:
        assert "NOT ONLY THIS MACHINE" in warnings[0].getMessage()


def test_the_smtp_server_checks_its_host(monkeypatch, tmp_path):
    warned: list[str] = []
    monkeypatch.setattr("sandbox.mailbox.warn_if_exposed", lambda host, what: warned.append(host) or True)
    running = start_sandbox(tmp_path / "s.sqlite3")
    try:
        assert warned == ["127.0.0.1"]
    finally:
        running.stop()
