"""The only code that talks to the iamport (PortOne V1) REST API: IamportClient and IamportError."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests
from flask import Flask, current_app, has_app_context
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

logger = logging.getLogger(__name__)

LIVE_API_URL = "https://api.iamport.kr"
TOKEN_PATH = "/users/getToken"
# Renew this long before the expiry the API gave, so a token never dies in flight.
RENEW_MARGIN = 60.0
PAYMENT_STATUSES = frozenset({"ready", "paid", "failed", "cancelled"})

Amount = Decimal | int
Timestamp = int | datetime


def _clock() -> float:
    """Local monotonic seconds; token expiry is kept on this clock (a seam for tests)."""
    return time.monotonic()


class IamportError(Exception):
    """An iamport call failed; carries the API code, the message and the HTTP status."""

    def __init__(self, code: int | None, message: str, status: int | None = None, *,
                 unknown_outcome: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self._unknown_outcome = unknown_outcome

    @property
    def not_found(self) -> bool:
        """True when iamport answered 404 (no such payment, billing key or schedule)."""
        return self.status == 404

    @property
    def unknown_outcome(self) -> bool:
        """True when the request may or may not have taken effect: reconcile, never retry."""
        if self._unknown_outcome is not None:
            return self._unknown_outcome
        return self.status is None or self.status >= 500

    def __str__(self) -> str:
        """Return the message with the HTTP status and API code when known."""
        details = [f"HTTP {self.status}"] if self.status is not None else []
        details += [f"code {self.code}"] if self.code is not None else []
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with all attributes (Exception's default would pass only the message)."""
        return (self.__class__, (self.code, self.message, self.status), self.__dict__)


def _json_default(value: object) -> object:
    """Encode Decimal amounts as JSON numbers with exactly the same value, or refuse."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} to iamport")
        if value == value.to_integral_value():
            return int(value)
        if Decimal(repr(float(value))) == value:
            return float(value)
        raise ValueError(f"amount {value} cannot be sent to iamport as an exact JSON number")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(body: object) -> str:
    """Serialise a request body, Decimal-aware."""
    return json.dumps(body, default=_json_default, ensure_ascii=False)


def _segment(value: str) -> str:
    """Quote one URL path segment; an empty or dot one would silently hit another endpoint."""
    text = str(value)
    if not text:
        raise ValueError("an iamport path segment must not be empty")
    if text in {".", ".."}:
        # Dots are not quoted, and every URL normaliser on the way resolves them.
        raise ValueError(f"{text!r} is not an id iamport can be asked about")
    return quote(text, safe="")


def _unix(value: Timestamp) -> int:
    """UNIX seconds from an int or a timezone-aware datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("a naive datetime is ambiguous; pass an aware one or UNIX seconds")
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected UNIX seconds or an aware datetime, not {type(value).__name__}")
    return value


def _api_int(value: object) -> int | None:
    """An integer field of an API answer (JSON may carry it as 1700000000.0), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


def _envelope(resp: requests.Response) -> dict[str, Any] | None:
    """The decoded {code, message, response} envelope (floats as Decimal), or None."""
    try:
        payload = json.loads(resp.content, parse_float=Decimal)
    except ValueError:
        return None
    if not isinstance(payload, dict) or _api_int(payload.get("code")) is None:
        return None
    return payload


def _logged(error: IamportError, method: str, path: str) -> IamportError:
    """Log a failed call and hand the error back to be raised."""
    # A 404 is an answer callers expect (a key not confirmed yet, an order never paid).
    level = logging.INFO if error.not_found else logging.WARNING
    logger.log(level, "iamport %s %s failed: %s", method, path, error)
    return error


class _WritesOnce(Retry):
    """urllib3's Retry, except that a method it may not retry is never sent twice."""

    def increment(self, method: str | None = None, *args: Any, **kwargs: Any) -> Retry:
        """Count one failure; for a method not allowed, make it the last."""
        # urllib3 retries a failed connect whatever the method; a write goes out at most once.
        if (method or "").upper() not in (self.allowed_methods or ()):
            return Retry.increment(self.new(total=0), method, *args, **kwargs)
        return super().increment(method, *args, **kwargs)


class _Bearer(requests.auth.AuthBase):
    """The access token in the Authorization header (and, being auth, no ~/.netrc in its place)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the header on the request about to go out."""
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class _Connection:
    """One app's IAMPORT_* settings, kept-alive HTTP session and cached access token."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.base_url = str(config.get("IAMPORT_API_URL") or LIVE_API_URL).rstrip("/")
        self.api_key = str(config.get("IAMPORT_API_KEY") or "")
        self.api_secret = str(config.get("IAMPORT_API_SECRET") or "")
        self.timeout = (float(config.get("IAMPORT_CONNECT_TIMEOUT", 3.05)),
                        float(config.get("IAMPORT_READ_TIMEOUT", 10)))
        self.read_retries = int(config.get("IAMPORT_READ_RETRIES", 2))
        self.retry_backoff = float(config.get("IAMPORT_RETRY_BACKOFF", 0.3))
        if min(self.timeout) <= 0:
            raise ValueError("IAMPORT_CONNECT_TIMEOUT and IAMPORT_READ_TIMEOUT must be positive")
        if self.read_retries < 0 or self.retry_backoff < 0:
            raise ValueError("IAMPORT_READ_RETRIES and IAMPORT_RETRY_BACKOFF must not be negative")
        # Whether lookups include payments made on a test channel: only in sandbox mode, so that
        # a live shop never sees (let alone accepts) test money.
        self.include_test_payments = config.get("IAMPORT_MODE", "sandbox") != "live"
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        # Proxies and the CA bundle are taken from the environment once, here, rather than on
        # every call; with trust_env off, ~/.netrc is never read either.
        found = self.session.merge_environment_settings(self.base_url, {}, None, None, None)
        self.session.proxies, self.session.verify = found["proxies"], found["verify"]
        self.session.trust_env = False
        self.session.mount(self.base_url + "/", HTTPAdapter(max_retries=self._retry("GET")))
        # getToken has no side effect (it hands back the same token while valid): retried as a read.
        token_adapter = HTTPAdapter(max_retries=self._retry("POST"))
        self.session.mount(self.base_url + TOKEN_PATH, token_adapter)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0  # local monotonic time

    def _retry(self, method: str) -> Retry:
        """Retry network errors and 5xx answers of `method`, as configured, with backoff."""
        return _WritesOnce(
            total=self.read_retries, allowed_methods={method},
            status_forcelist=range(500, 600), backoff_factor=self.retry_backoff,
            # The last 5xx answer is returned, to be raised with its status and code.
            raise_on_status=False,
            # A Retry-After could hold a worker for minutes; the configured backoff is the wait.
            respect_retry_after_header=False,
        )

    def send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             data: str | None = None, token: str | None = None) -> requests.Response:
        """One HTTP exchange (retried as mounted) with timeouts; no answer is an IamportError."""
        headers = {"Content-Type": "application/json; charset=utf-8"} if data is not None else {}
        started = time.perf_counter()
        try:
            resp = self.session.request(
                method, self.base_url + path, params=params, headers=headers,
                data=data.encode("utf-8") if data is not None else None,
                auth=_Bearer(token) if token is not None else None, timeout=self.timeout,
            )
        except requests.RequestException as exc:
            what = "timed out" if isinstance(exc, requests.Timeout) else type(exc).__name__
            error = IamportError(None, f"iamport {method} {path}: no answer ({what})")
            raise _logged(error, method, path) from exc
        elapsed = (time.perf_counter() - started) * 1000
        logger.debug("iamport %s %s -> %d in %.0f ms", method, path, resp.status_code, elapsed)
        return resp

    def unwrap(self, resp: requests.Response, method: str, path: str, *, expect: type,
               token: str | None) -> Any:
        """Return the envelope's `response`, or raise IamportError for any other answer."""
        status = resp.status_code
        write = method != "GET" and path != TOKEN_PATH
        envelope = _envelope(resp)
        code = _api_int(envelope.get("code")) if envelope is not None else None
        message = str(envelope.get("message") or "") if envelope is not None else ""
        # Keep the key, the secret and the token out of messages, even if the server echoed them.
        for secret in (self.api_secret, self.api_key, token):
            message = message.replace(secret, "***") if secret else message
        if not 200 <= status < 300:
            error = IamportError(code, message or f"iamport {method} {path} failed", status)
        elif envelope is not None and code != 0:
            error = IamportError(code, message or f"iamport {method} {path} refused", status)
        elif envelope is None or not isinstance(envelope.get("response"), expect):
            # A 2xx we cannot read: a write may well have gone through.
            what = f"not its JSON envelope with a {expect.__name__}"
            error = IamportError(None, f"iamport {method} {path} answered {what}", status,
                                 unknown_outcome=write)
        else:
            return envelope["response"]
        raise _logged(error, method, path)

    def token(self, refused: str | None = None) -> str:
        """A token valid for RENEW_MARGIN more seconds; `refused` is one iamport turned down."""
        # Held across the fetch on purpose: concurrent threads wait for one renewal instead
        # of each asking for a token.
        with self._lock:
            if self._token is None or _clock() >= self._renew_at or self._token == refused:
                self._token, self._renew_at = self._fetch_token()
            return self._token

    def _fetch_token(self) -> tuple[str, float]:
        """POST /users/getToken: the token and the local monotonic time at which to renew it."""
        if not self.api_key or not self.api_secret:
            error = IamportError(None, "IAMPORT_API_KEY and IAMPORT_API_SECRET must be set",
                                 unknown_outcome=False)
            raise _logged(error, "POST", TOKEN_PATH)
        started = _clock()
        try:
            keys = {"imp_key": self.api_key, "imp_secret": self.api_secret}
            resp = self.send("POST", TOKEN_PATH, data=_dumps(keys))
            if resp.status_code == 401:
                envelope = _envelope(resp) or {}
                message = "iamport refused IAMPORT_API_KEY/IAMPORT_API_SECRET"
                error = IamportError(_api_int(envelope.get("code")), message, 401)
                raise _logged(error, "POST", TOKEN_PATH)
            answer = self.unwrap(resp, "POST", TOKEN_PATH, expect=dict, token=None)
        except IamportError as exc:
            # No token means the caller's own request was never sent: its outcome is known.
            raise IamportError(exc.code, exc.message, exc.status, unknown_outcome=False) from exc
        access_token = answer.get("access_token")
        now, expired_at = _api_int(answer.get("now")), _api_int(answer.get("expired_at"))
        if not (isinstance(access_token, str) and access_token and now and expired_at):
            error = IamportError(None, "iamport answered getToken without access_token, now and "
                                 "expired_at", resp.status_code, unknown_outcome=False)
            raise _logged(error, "POST", TOKEN_PATH)
        # expired_at is on the server's clock: only its distance from the server's `now`
        # means anything here, so local clock skew cannot make us use a dead token.
        return access_token, started + (expired_at - now) - RENEW_MARGIN


class IamportClient:
    """iamport V1 REST client: per app one session, a cached token, read retries, one error type."""

    def __init__(self, app: Flask | None = None) -> None:
        # Set only on the client an app keeps in app.extensions["iamport"]; the shared one in
        # storefront.extensions speaks for the current app, else for the app last initialised.
        self._own: _Connection | None = None
        self._last: _Connection | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Keep a client of the app's own (settings, session, token) in app.extensions["iamport"]."""
        bound = IamportClient()
        bound._own = self._last = _Connection(app.config)
        app.extensions["iamport"] = bound

    # -- payments ------------------------------------------------------------------------------

    def get_payment(self, imp_uid: str) -> dict[str, Any]:
        """GET /payments/{imp_uid}: one payment by iamport's id."""
        return self._call("GET", f"/payments/{_segment(imp_uid)}", params=self._test_payments())

    def find_payment(self, merchant_uid: str, status: str | None = None) -> dict[str, Any]:
        """GET /payments/find/{merchant_uid}[/{status}]: the payment of one of our orders."""
        path = f"/payments/find/{_segment(merchant_uid)}"
        if status is not None:
            if status not in PAYMENT_STATUSES:
                raise ValueError(f"unknown payment status {status!r}")
            path += f"/{status}"
        return self._call("GET", path, params=self._test_payments())

    def _test_payments(self) -> dict[str, str]:
        """The query that makes a lookup include test-channel payments (sandbox mode only)."""
        sandbox = self._connection().include_test_payments
        return {"include_sandbox": "true"} if sandbox else {}

    def cancel_payment(self, imp_uid: str, reason: str, amount: Amount | None = None,
                       checksum: Amount | None = None) -> dict[str, Any]:
        """POST /payments/cancel: cancel a payment in full, or `amount` of it."""
        body = {"imp_uid": imp_uid, "reason": reason, "amount": amount, "checksum": checksum}
        return self._call("POST", "/payments/cancel", body=body)

    def prepare_payment(self, merchant_uid: str, amount: Amount,
                        currency: str | None = None) -> dict[str, Any]:
        """POST /payments/prepare: register the amount the payment window must charge."""
        body = {"merchant_uid": merchant_uid, "amount": amount, "currency": currency}
        return self._call("POST", "/payments/prepare", body=body)

    def get_prepared_payment(self, merchant_uid: str) -> dict[str, Any]:
        """GET /payments/prepare/{merchant_uid}: the amount registered for an order."""
        return self._call("GET", f"/payments/prepare/{_segment(merchant_uid)}")

    # -- billing keys --------------------------------------------------------------------------

    def charge_again(self, *, customer_uid: str, merchant_uid: str, amount: Amount, name: str,
                     currency: str, buyer_email: str, buyer_name: str,
                     notice_url: str | None = None,
                     custom_data: str | Mapping[str, Any] | None = None,
                     **extra: Any) -> dict[str, Any]:
        """POST /subscribe/payments/again: charge a billing key; its `status` says if it paid."""
        if custom_data is not None and not isinstance(custom_data, str):
            # iamport stores custom_data as a string; a mapping is sent as its JSON text.
            custom_data = _dumps(custom_data)
        body = {"customer_uid": customer_uid, "merchant_uid": merchant_uid, "amount": amount,
                "name": name, "currency": currency, "buyer_email": buyer_email,
                "buyer_name": buyer_name, **extra, "notice_url": notice_url,
                "custom_data": custom_data}
        return self._call("POST", "/subscribe/payments/again", body=body)

    def get_billing_key(self, customer_uid: str) -> dict[str, Any]:
        """GET /subscribe/customers/{customer_uid}: the billing key's card, once issued."""
        return self._call("GET", f"/subscribe/customers/{_segment(customer_uid)}")

    def delete_billing_key(self, customer_uid: str, reason: str | None = None) -> dict[str, Any]:
        """DELETE /subscribe/customers/{customer_uid}: forget the billing key (irreversible)."""
        path = f"/subscribe/customers/{_segment(customer_uid)}"
        return self._call("DELETE", path, params={"reason": reason})

    # -- schedules -----------------------------------------------------------------------------

    def schedule_payments(self, customer_uid: str,
                          schedules: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """POST /subscribe/payments/schedule: schedule charges of a billing key."""
        converted = [{**item, "schedule_at": _unix(item["schedule_at"])} for item in schedules]
        body = {"customer_uid": customer_uid, "schedules": converted}
        return self._call("POST", "/subscribe/payments/schedule", body=body, expect=list)

    def unschedule_payments(self, customer_uid: str,
                            merchant_uids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """POST /subscribe/payments/unschedule: revoke the given schedules, or all of the key's."""
        merchant_uid = list(merchant_uids) if merchant_uids is not None else None
        body = {"customer_uid": customer_uid, "merchant_uid": merchant_uid}
        return self._call("POST", "/subscribe/payments/unschedule", body=body, expect=list)

    def get_schedule(self, merchant_uid: str) -> dict[str, Any]:
        """GET /subscribe/payments/schedule/{merchant_uid}: one scheduled charge."""
        return self._call("GET", f"/subscribe/payments/schedule/{_segment(merchant_uid)}")

    def list_schedules(self, schedule_from: Timestamp, schedule_to: Timestamp,
                       status: str | None = None, page: int = 1,
                       limit: int = 20) -> dict[str, Any]:
        """GET /subscribe/payments/schedule: one page of schedules in a time range."""
        params = {"schedule_from": _unix(schedule_from), "schedule_to": _unix(schedule_to),
                  "schedule_status": status, "page": page, "limit": limit}
        return self._call("GET", "/subscribe/payments/schedule", params=params)

    def authenticate(self) -> None:
        """Hold a valid access token: proves that iamport answers and takes our REST keys."""
        self._connection().token()

    # -- plumbing ------------------------------------------------------------------------------

    def _connection(self) -> _Connection:
        """This client's app's connection, else the current app's, else the last app's."""
        if self._own is not None:
            return self._own
        if has_app_context() and "iamport" in current_app.extensions:
            return current_app.extensions["iamport"]._connection()
        if self._last is None:
            raise RuntimeError("IamportClient.init_app(app) has not been called")
        return self._last

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              body: Mapping[str, Any] | None = None, expect: type = dict) -> Any:
        """Send one API request with a valid token and return the envelope's `response`."""
        # Optional fields left as None are not sent at all (requests drops None params itself).
        body = {key: value for key, value in body.items() if value is not None} if body else None
        # Encoded first: an amount that cannot be sent exactly fails before anything goes out.
        data = _dumps(body) if body is not None else None
        connection = self._connection()
        token = connection.token()
        resp = connection.send(method, path, params=params, data=data, token=token)
        if resp.status_code == 401:
            # A 401 means the request was refused before it was processed, so one repeat
            # with a fresh token is safe even for a write.
            logger.info("iamport %s %s: token refused, renewing once", method, path)
            token = connection.token(refused=token)
            resp = connection.send(method, path, params=params, data=data, token=token)
        return connection.unwrap(resp, method, path, expect=expect, token=token)
