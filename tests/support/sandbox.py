"""Start the iamport sandbox for a test and drive it: tokens, the REST API, the window, controls.

    sandbox = start_sandbox(tmp_path / "sandbox.sqlite3", SANDBOX_PINGBACK_DELAY=0.1)
    try:
        payment = sandbox.issue_billing_key("cust_1")
        ...
    finally:
        sandbox.stop()
"""
from __future__ import annotations

import html
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from flask import Flask, request

from sandbox import create_app

from .servers import ServedApp, serve_wsgi
from .waiting import wait_until

# Small delays so that tests of asynchronous behaviour finish quickly.
TEST_CONFIG = {
    "SANDBOX_PINGBACK_DELAY": 0.2,
    "SANDBOX_REVIEW_DELAY": 0.6,
    "SANDBOX_CANCEL_DELAY": 0.2,
    "SANDBOX_TICK": 0.05,
    "SANDBOX_WEBHOOK_CONNECT_TIMEOUT": 2.0,
    "SANDBOX_WEBHOOK_READ_TIMEOUT": 5.0,
    "SANDBOX_HANG_SECONDS": 3.0,
    # The mailbox's SMTP server on a free port, bound by the event loop itself (no port guessed first).
    "SANDBOX_SMTP_PORT": 0,
}
# Keys that pass live mode's placeholder checks; the sandbox accepts them as its own.
LIVE_LIKE = {"SANDBOX_IMP_CODE": "imp48151623", "SANDBOX_API_KEY": "k4815162342",
             "SANDBOX_API_SECRET": "s4815162342q9w8e7r6t5y4u3i2o1p"}

GOOD_CARD = "4242 4242 4242 4242"
OTHER_GOOD_CARD = "4000 0000 0000 0002"
RENEWAL_DECLINE_CARD = "4000 0000 0000 0341"
# The sandbox's cards whose later charges are held for review, then approved or declined.
RENEWAL_REVIEW_APPROVE_CARD = "4000 0000 0000 0259"
RENEWAL_REVIEW_DECLINE_CARD = "4000 0000 0000 0267"


def new_uid(prefix: str = "order") -> str:
    """A unique merchant_uid / customer_uid for a test (at most 40 characters)."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def checkout_params(**overrides: Any) -> dict:
    """request_pay parameters that pass every check; override what the test is about."""
    param = {
        "pg": "paymentwall",
        "pay_method": "card",
        "merchant_uid": new_uid("order"),
        "name": "Pro plan (monthly)",
        "amount": 9.99,
        "currency": "USD",
        "language": "en",
        "buyer_email": "ada@example.com",
        "buyer_name": "Ada Lovelace",
        "buyer_tel": "010-1234-5678",
        "buyer_addr": "1 Analytical St",
        "buyer_postcode": "12345",
        "customer_uid": new_uid("cust"),
        "m_redirect_url": "http://127.0.0.1:9/return",
        "bypass": {"widget_code": "t3_1"},
    }
    param.update(overrides)
    return {k: v for k, v in param.items() if v is not None}


_RESULT_RE = re.compile(r'<script type="application/json" id="imp-result">(.*?)</script>', re.S)


def window_result(page_html: str) -> dict:
    """The rsp a finished desktop window posts to the SDK, read from its HTML."""
    match = _RESULT_RE.search(page_html)
    if not match:
        raise AssertionError("the window did not finish (no result on the page)")
    return json.loads(html.unescape(match.group(1)))["rsp"]


@dataclass
class RunningSandbox:
    """A sandbox served on 127.0.0.1 with helpers for tests."""

    app: Flask
    served: ServedApp
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        """Base URL (no trailing slash): the REST API root and the SDK's host."""
        return self.served.url

    @property
    def sdk_url(self) -> str:
        """Where iamport.js is served."""
        return f"{self.url}/v1/iamport.js"

    @property
    def sandbox(self) -> Any:
        """The Sandbox runtime object (store, clock, knobs)."""
        return self.app.extensions["sandbox"]

    def storefront_settings(self) -> dict[str, str]:
        """The storefront settings that point it at this sandbox instead of iamport."""
        return {
            "IAMPORT_API_URL": self.url,
            "IAMPORT_SDK_URL": self.sdk_url,
            "SANDBOX_URL": self.url,
            "IAMPORT_IMP_CODE": self.imp_code,
            "IAMPORT_API_KEY": self.api_key,
            "IAMPORT_API_SECRET": self.api_secret,
            # Strings, as the environment of a storefront process takes them.
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(self.smtp_port),
        }

    @property
    def smtp_port(self) -> int:
        """The port of the sandbox's SMTP server (the customer's mailbox)."""
        port = self.sandbox.mailbox.port
        assert port, f"the sandbox's mailbox is not running: {self.sandbox.mailbox.error}"
        return port

    def mail(self, to: str | None = None) -> list[dict]:
        """GET /_sandbox/mail: the messages of one recipient (all without `to`), newest first."""
        params = {"to": to} if to else None
        response = self.http.get(f"{self.url}/_sandbox/mail", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_mail(self, to: str, count: int = 1, timeout: float = 5.0) -> list[dict]:
        """Wait until `to` has at least `count` messages; returns them, newest first."""
        def enough() -> list[dict] | None:
            found = self.mail(to)
            return found if len(found) >= count else None

        return wait_until(enough, timeout=timeout, message=f"{count} mail(s) to {to}")

    @property
    def imp_code(self) -> str:
        """The merchant code IMP.init() takes."""
        return self.sandbox.settings.imp_code

    @property
    def api_key(self) -> str:
        """The REST API key."""
        return self.sandbox.settings.api_key

    @property
    def api_secret(self) -> str:
        """The REST API secret."""
        return self.sandbox.settings.api_secret

    def stop(self) -> None:
        """Stop the server and the sandbox's threads, and close its store."""
        self.served.stop()
        self.sandbox.stop()
        self.http.close()

    # -- REST API -------------------------------------------------------------------------------

    def token(self) -> str:
        """A valid access token."""
        response = self.http.post(f"{self.url}/users/getToken",
                                  json={"imp_key": self.api_key, "imp_secret": self.api_secret}, timeout=10)
        response.raise_for_status()
        return response.json()["response"]["access_token"]

    def api(self, method: str, path: str, *, token: str | None | bool = True, **kwargs: Any) -> requests.Response:
        """Call the REST API; token=True fetches one, a string uses it, None/False sends none."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is True:
            token = self.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("timeout", 10)
        return self.http.request(method, f"{self.url}{path}", headers=headers, **kwargs)

    def payment(self, imp_uid: str) -> dict:
        """GET /payments/{imp_uid} (sandbox payments included)."""
        response = self.api("GET", f"/payments/{imp_uid}", params={"include_sandbox": "true"})
        assert response.status_code == 200, response.text
        return response.json()["response"]

    # -- controls -------------------------------------------------------------------------------

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call a /_sandbox control endpoint and return its JSON."""
        kwargs.setdefault("timeout", 10)
        response = self.http.request(method, f"{self.url}/_sandbox{path}", **kwargs)
        assert response.status_code < 400, response.text
        return response.json()

    def advance(self, seconds: float) -> dict:
        """Move the sandbox clock forward and run what became due."""
        return self.control("POST", "/clock/advance", json={"seconds": seconds})

    def set_faults(self, **values: Any) -> dict:
        """Change REST API faults (latency_ms, error_rate, hang_rate, hang_seconds)."""
        return self.control("POST", "/faults", json=values)

    def set_webhooks(self, **values: Any) -> dict:
        """Change webhook settings (url, format, delay, drop_rate, duplicate_rate, reorder, ...)."""
        return self.control("POST", "/webhooks/settings", json=values)

    def set_delays(self, **values: Any) -> dict:
        """Change Paymentwall's timing (pingback_delay, review_delay, cancel_delay)."""
        return self.control("POST", "/delays", json=values)

    def webhook_log(self, imp_uid: str | None = None) -> list[dict]:
        """The delivery log, oldest first."""
        params = {"imp_uid": imp_uid} if imp_uid else None
        return list(reversed(self.control("GET", "/webhooks", params=params)))

    # -- the payment window without a browser ---------------------------------------------------

    def open_window(self, param: dict | None = None, *, mode: str = "pc", imp_code: str | None = None,
                    origin: str = "http://127.0.0.1:9") -> dict:
        """What IMP.request_pay posts to the sandbox; returns its answer (ok, imp_uid, window_url | rsp)."""
        body = {"imp_code": imp_code or self.imp_code, "param": param if param is not None else checkout_params(),
                "mode": mode, "origin": origin}
        response = self.http.post(f"{self.url}/sdk/v1/payments", json=body, headers={"Origin": origin}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def submit_window(self, window_url: str, *, card: str = GOOD_CARD, cvv: str = "123", expiry: str = "12/39",
                      holder: str = "Ada Lovelace", action: str = "pay") -> requests.Response:
        """Fill and submit the window's card form (or close it with action='close')."""
        key = re.search(r"[?&]key=([^&]+)", window_url).group(1)
        post_url = window_url.split("?", 1)[0]
        data = {"key": key, "action": action, "card_number": card, "expiry": expiry, "cvv": cvv,
                "card_holder": holder}
        return self.http.post(post_url, data=data, allow_redirects=False, timeout=10)

    def pay(self, param: dict | None = None, **card: Any) -> dict:
        """Open a desktop window and pay; returns the rsp the SDK callback would get."""
        opened = self.open_window(param)
        assert opened["ok"], opened
        response = self.submit_window(opened["window_url"], **card)
        assert response.status_code == 200, response.text
        return window_result(response.text)

    def issue_billing_key(self, customer_uid: str | None = None, *, wait: bool = True, **overrides: Any) -> dict:
        """Pay with the window (good card unless overridden) and wait until the key is chargeable."""
        card = {k: overrides.pop(k) for k in ("card", "cvv", "expiry", "holder") if k in overrides}
        param = checkout_params(customer_uid=customer_uid or new_uid("cust"), **overrides)
        rsp = self.pay(param, **card)
        if wait and rsp["success"]:
            token = self.token()
            wait_until(
                lambda: self.api("GET", f"/subscribe/customers/{param['customer_uid']}", token=token).status_code == 200,
                timeout=5, message="the billing key's pingback",
            )
        return {"rsp": rsp, "param": param}


def start_sandbox(database: Path | str, **config: Any) -> RunningSandbox:
    """Create a sandbox app on its own SQLite file, serve it on 127.0.0.1 and start its workers."""
    settings = {**TEST_CONFIG, "SANDBOX_DATABASE": str(database), **config}
    app = create_app(settings)
    served = serve_wsgi(app)
    app.extensions["sandbox"].remember_url(served.url)
    app.extensions["sandbox"].start()
    return RunningSandbox(app=app, served=served)


class WebhookSink:
    """A tiny merchant endpoint that records every webhook it receives (JSON or form)."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.status = status
        self.delay = delay
        self.received: list[dict] = []
        self._lock = threading.Lock()
        self.app = Flask("webhook_sink")
        self.app.add_url_rule("/hook", "hook", self._receive, methods=["POST"])
        self.app.add_url_rule("/hook/<name>", "named_hook", self._receive, methods=["POST"])
        self.served: ServedApp | None = None

    def _receive(self, name: str = "") -> tuple[str, int]:
        if self.delay:
            time.sleep(self.delay)
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        with self._lock:
            self.received.append({"path": request.path, "content_type": request.mimetype, "body": body,
                                  "at": time.monotonic()})
        return "ok", self.status

    def start(self) -> "WebhookSink":
        """Serve the sink on 127.0.0.1."""
        self.served = serve_wsgi(self.app)
        return self

    @property
    def url(self) -> str:
        """The URL to give as notice_url or default webhook URL."""
        assert self.served is not None, "start() the sink first"
        return f"{self.served.url}/hook"

    def bodies(self, path: str | None = None) -> list[dict]:
        """The bodies received so far (optionally only at one path)."""
        with self._lock:
            return [r["body"] for r in self.received if path is None or r["path"] == path]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Wait until at least `count` webhooks arrived; returns all bodies."""
        wait_until(lambda: len(self.bodies()) >= count, timeout=timeout, message=f"{count} webhook(s)")
        return self.bodies()

    def stop(self) -> None:
        """Stop serving."""
        if self.served:
            self.served.stop()
