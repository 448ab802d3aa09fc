"""The only code that talks to the iamport (PortOne V1) REST API: IamportClient and IamportError."""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests
from flask import Flask, current_app, has_app_context

logger = logging.getLogger(__name__)

LIVE_API_URL = "https://api.iamport.kr"
# Renew this long before the expiry the API gave, so a token never dies in flight.
RENEW_MARGIN = 60.0
PAYMENT_STATUSES = frozenset({"ready", "paid", "failed", "cancelled"})

Amount = Decimal | int
Timestamp = int | datetime


def _clock() -> float:
    """Local monotonic seconds; token expiry is kept on this clock (a seam for tests)."""
    return time.monotonic()


def _sleep(seconds: float) -> None:
    """Wait between read retries (a seam for tests)."""
    time.sleep(seconds)


class IamportError(Exception):
    """An iamport call failed; carries the API code, the message and the HTTP status."""

    def __init__(
        self,
        code: int | None,
        message: str,
        status: int | None = None,
        *,
        unknown_outcome: bool | None = None,
    ) -> None:
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
        details = []
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.code is not None:
            details.append(f"code {self.code}")
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with all attributes (Exception's default would pass only the message)."""
        return (self.__class__, (self.code, self.message, self.status), self.__dict__)


@dataclass(frozen=True)
class _Settings:
    """One app's iamport configuration; also the key of its token in the cache."""

    base_url: str
    api_key: str
    api_secret: str = field(repr=False)
    connect_timeout: float
    read_timeout: float
    read_retries: int
    retry_backoff: float
    # Whether lookups include payments made on a test channel: only in sandbox mode, so that a
    # live shop never sees (let alone accepts) test money.
    include_test_payments: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> _Settings:
        """Read the IAMPORT_* keys of a Flask config, with defaults."""
        settings = cls(
            base_url=str(config.get("IAMPORT_API_URL") or LIVE_API_URL).rstrip("/"),
            api_key=str(config.get("IAMPORT_API_KEY") or ""),
            api_secret=str(config.get("IAMPORT_API_SECRET") or ""),
            connect_timeout=float(config.get("IAMPORT_CONNECT_TIMEOUT", 3.05)),
            read_timeout=float(config.get("IAMPORT_READ_TIMEOUT", 10)),
            read_retries=int(config.get("IAMPORT_READ_RETRIES", 2)),
            retry_backoff=float(config.get("IAMPORT_RETRY_BACKOFF", 0.3)),
            include_test_payments=config.get("IAMPORT_MODE", "sandbox") != "live",
        )
        if settings.connect_timeout <= 0 or settings.read_timeout <= 0:
            raise ValueError("IAMPORT_CONNECT_TIMEOUT and IAMPORT_READ_TIMEOUT must be positive")
        if settings.read_retries < 0 or settings.retry_backoff < 0:
            raise ValueError("IAMPORT_READ_RETRIES and IAMPORT_RETRY_BACKOFF must not be negative")
        return settings

    @property
    def timeout(self) -> tuple[float, float]:
        """The (connect, read) timeout passed to every request."""
        return (self.connect_timeout, self.read_timeout)


@dataclass(frozen=True)
class _Token:
    """An access token and the local monotonic time at which to renew it."""

    value: str = field(repr=False)
    renew_at: float


def _json_default(value: object) -> object:
    """Encode Decimal amounts as JSON numbers with exactly the same value, or refuse."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} to iamport")
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        if Decimal(repr(as_float)) == value:
            return as_float
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


def _environment_for(url: str) -> dict[str, Any]:
    """The proxies and CA bundle that requests would take from the environment for `url`."""
    with requests.Session() as probe:
        found = probe.merge_environment_settings(url, {}, None, None, None)
    return {"proxies": found["proxies"], "verify": found["verify"]}


class IamportClient:
    """iamport V1 REST client: one session, a cached token, read retries, one error type."""

    def __init__(self, app: Flask | None = None) -> None:
        self._session = requests.Session()
        self._session.headers.update({"Accept": "application/json"})
        # The environment (proxy variables, REQUESTS_CA_BUNDLE) is read once per API URL instead
        # of on every call (about 0.15 ms a call, twice per renewal); ~/.netrc is not read at
        # all, so it can never replace the Bearer token.
        self._session.trust_env = False
        self._environment: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._tokens: dict[_Settings, _Token] = {}
        # One instance (in extensions.py) may serve several apps, e.g. in tests: settings are
        # looked up per app so a token or URL of one app never leaks into another.
        self._by_app: weakref.WeakKeyDictionary[Flask, _Settings] = weakref.WeakKeyDictionary()
        self._default: _Settings | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the app's IAMPORT_* settings; register as app.extensions["iamport"]."""
        settings = _Settings.from_config(app.config)
        self._environment[settings.base_url] = _environment_for(settings.base_url)
        self._by_app[app] = settings
        self._default = settings
        app.extensions["iamport"] = self

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
            path += f"/{_segment(status)}"
        return self._call("GET", path, params=self._test_payments())

    def _test_payments(self) -> dict[str, str]:
        """The query that makes a lookup include test-channel payments (sandbox mode only)."""
        return {"include_sandbox": "true"} if self._settings().include_test_payments else {}

    def cancel_payment(
        self,
        imp_uid: str,
        reason: str,
        amount: Amount | None = None,
        checksum: Amount | None = None,
    ) -> dict[str, Any]:
        """POST /payments/cancel: cancel a payment in full, or `amount` of it."""
        body: dict[str, Any] = {"imp_uid": imp_uid, "reason": reason}
        if amount is not None:
            body["amount"] = amount
        if checksum is not None:
            body["checksum"] = checksum
        return self._call("POST", "/payments/cancel", body=body)

    def prepare_payment(
        self, merchant_uid: str, amount: Amount, currency: str | None = None
    ) -> dict[str, Any]:
        """POST /payments/prepare: register the amount the payment window must charge."""
        body: dict[str, Any] = {"merchant_uid": merchant_uid, "amount": amount}
        if currency is not None:
            body["currency"] = currency
        return self._call("POST", "/payments/prepare", body=body)

    def get_prepared_payment(self, merchant_uid: str) -> dict[str, Any]:
        """GET /payments/prepare/{merchant_uid}: the amount registered for an order."""
        return self._call("GET", f"/payments/prepare/{_segment(merchant_uid)}")

    # -- billing keys --------------------------------------------------------------------------

    def charge_again(
        self,
        *,
        customer_uid: str,
        merchant_uid: str,
        amount: Amount,
        name: str,
        currency: str,
        buyer_email: str,
        buyer_name: str,
        notice_url: str | None = None,
        custom_data: str | Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """POST /subscribe/payments/again: charge a billing key; its `status` says if it paid."""
        body: dict[str, Any] = {
            "customer_uid": customer_uid,
            "merchant_uid": merchant_uid,
            "amount": amount,
            "name": name,
            "currency": currency,
            "buyer_email": buyer_email,
            "buyer_name": buyer_name,
            **extra,
        }
        if notice_url is not None:
            body["notice_url"] = notice_url
        if custom_data is not None:
            # iamport stores custom_data as a string; a mapping is sent as its JSON text.
            body["custom_data"] = (
                custom_data if isinstance(custom_data, str) else _dumps(custom_data)
            )
        return self._call("POST", "/subscribe/payments/again", body=body)

    def get_billing_key(self, customer_uid: str) -> dict[str, Any]:
        """GET /subscribe/customers/{customer_uid}: the billing key's card, once issued."""
        return self._call("GET", f"/subscribe/customers/{_segment(customer_uid)}")

    def delete_billing_key(self, customer_uid: str, reason: str | None = None) -> dict[str, Any]:
        """DELETE /subscribe/customers/{customer_uid}: forget the billing key (irreversible)."""
        params = {"reason": reason} if reason is not None else None
        return self._call("DELETE", f"/subscribe/customers/{_segment(customer_uid)}", params=params)

    def list_billing_key_payments(self, customer_uid: str, page: int = 1) -> dict[str, Any]:
        """GET /subscribe/customers/{customer_uid}/payments: one page of the key's payments."""
        return self._call(
            "GET", f"/subscribe/customers/{_segment(customer_uid)}/payments", params={"page": page}
        )

    # -- schedules -----------------------------------------------------------------------------

    def schedule_payments(
        self, customer_uid: str, schedules: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """POST /subscribe/payments/schedule: schedule charges of a billing key."""
        converted = [{**item, "schedule_at": _unix(item["schedule_at"])} for item in schedules]
        body = {"customer_uid": customer_uid, "schedules": converted}
        return self._call("POST", "/subscribe/payments/schedule", body=body, expect=list)

    def unschedule_payments(
        self, customer_uid: str, merchant_uids: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """POST /subscribe/payments/unschedule: revoke the given schedules, or all of the key's."""
        body: dict[str, Any] = {"customer_uid": customer_uid}
        if merchant_uids is not None:
            body["merchant_uid"] = list(merchant_uids)
        return self._call("POST", "/subscribe/payments/unschedule", body=body, expect=list)

    def get_schedule(self, merchant_uid: str) -> dict[str, Any]:
        """GET /subscribe/payments/schedule/{merchant_uid}: one scheduled charge."""
        return self._call("GET", f"/subscribe/payments/schedule/{_segment(merchant_uid)}")

    def list_schedules(
        self,
        schedule_from: Timestamp,
        schedule_to: Timestamp,
        status: str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> dict[str, Any]:
        """GET /subscribe/payments/schedule: one page of schedules in a time range."""
        params: dict[str, Any] = {
            "schedule_from": _unix(schedule_from),
            "schedule_to": _unix(schedule_to),
            "page": page,
            "limit": limit,
        }
        if status is not None:
            params["schedule_status"] = status
        return self._call("GET", "/subscribe/payments/schedule", params=params)

    def authenticate(self) -> None:
        """Hold a valid access token: proves that iamport answers and takes our REST keys."""
        self._token(self._settings())

    # -- plumbing ------------------------------------------------------------------------------

    def _settings(self) -> _Settings:
        """The settings of the current app, else of the app last passed to init_app."""
        if has_app_context():
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            settings = self._by_app.get(app)
            if settings is not None:
                return settings
        if self._default is None:
            raise RuntimeError("IamportClient.init_app(app) has not been called")
        return self._default

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        expect: type = dict,
    ) -> Any:
        """Send one API request with a valid token and return the envelope's `response`."""
        # Encode first: an amount that cannot be sent exactly fails before anything goes out.
        data = _dumps(body) if body is not None else None
        settings = self._settings()
        is_read = method == "GET"
        retries = settings.read_retries if is_read else 0
        renewed = False
        while True:
            token = self._token(settings)
            resp = self._send_with_retries(
                settings, method, path, params=params, data=data, token=token, retries=retries
            )
            if resp.status_code == 401 and not renewed:
                # A 401 means the request was refused before it was processed, so one repeat
                # with a fresh token is safe even for a write.
                logger.info("iamport %s %s: token refused, renewing once", method, path)
                self._forget_token(settings, token)
                renewed = True
                continue
            return self._unwrap(
                settings, resp, method, path, expect=expect, write=not is_read, token=token
            )

    def _token(self, settings: _Settings) -> str:
        """Return a token valid for at least RENEW_MARGIN seconds, fetching one if needed."""
        # Held across the fetch on purpose: concurrent threads wait for one renewal instead
        # of each asking for a token.
        with self._lock:
            cached = self._tokens.get(settings)
            if cached is not None and _clock() < cached.renew_at:
                return cached.value
            token = self._fetch_token(settings)
            self._tokens[settings] = token
            return token.value

    def _forget_token(self, settings: _Settings, token: str) -> None:
        """Drop a refused token unless another thread already replaced it."""
        with self._lock:
            cached = self._tokens.get(settings)
            if cached is not None and cached.value == token:
                del self._tokens[settings]

    def _fetch_token(self, settings: _Settings) -> _Token:
        """POST /users/getToken and keep its lifetime on the local clock."""
        path = "/users/getToken"
        if not settings.api_key or not settings.api_secret:
            error = IamportError(
                None, "IAMPORT_API_KEY and IAMPORT_API_SECRET must be set", unknown_outcome=False
            )
            raise self._logged(error, "POST", path)
        data = _dumps({"imp_key": settings.api_key, "imp_secret": settings.api_secret})
        started = _clock()
        try:
            # getToken has no side effect (it hands back the same token while valid), so it
            # is retried like a read.
            resp = self._send_with_retries(
                settings, "POST", path, params=None, data=data, token=None,
                retries=settings.read_retries,
            )
            if resp.status_code == 401:
                error = IamportError(
                    self._envelope_code(resp),
                    "iamport refused IAMPORT_API_KEY/IAMPORT_API_SECRET",
                    401,
                )
                raise self._logged(error, "POST", path)
            answer = self._unwrap(
                settings, resp, "POST", path, expect=dict, write=False, token=None
            )
        except IamportError as exc:
            # No token means the caller's own request was never sent: its outcome is known.
            raise IamportError(exc.code, exc.message, exc.status, unknown_outcome=False) from exc
        access_token = answer.get("access_token")
        now = _api_int(answer.get("now"))
        expired_at = _api_int(answer.get("expired_at"))
        if (
            not isinstance(access_token, str)
            or not access_token
            or now is None
            or expired_at is None
        ):
            error = IamportError(
                None,
                "iamport answered getToken without access_token, now and expired_at",
                resp.status_code,
                unknown_outcome=False,
            )
            raise self._logged(error, "POST", path)
        # expired_at is on the server's clock: only its distance from the server's `now`
        # means anything here, so local clock skew cannot make us use a dead token.
        return _Token(access_token, started + (expired_at - now) - RENEW_MARGIN)

    def _send_with_retries(
        self,
        settings: _Settings,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        data: str | None,
        token: str | None,
        retries: int,
    ) -> requests.Response:
        """Send, retrying network errors and 5xx answers up to `retries` times with backoff."""
        attempt = 0
        while True:
            try:
                resp = self._send(settings, method, path, params=params, data=data, token=token)
            except IamportError:
                if attempt >= retries:
                    raise
            else:
                if resp.status_code < 500 or attempt >= retries:
                    return resp
            delay = settings.retry_backoff * 2**attempt
            attempt += 1
            logger.warning(
                "iamport %s %s: retry %d of %d in %.2f s", method, path, attempt, retries, delay
            )
            _sleep(delay)

    def _send(
        self,
        settings: _Settings,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        data: str | None,
        token: str | None,
    ) -> requests.Response:
        """One HTTP exchange with timeouts; network failures become IamportError(status=None)."""
        headers: dict[str, str] = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if data is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        started = time.perf_counter()
        try:
            resp = self._session.request(
                method,
                settings.base_url + path,
                params=params,
                data=data.encode("utf-8") if data is not None else None,
                headers=headers,
                timeout=settings.timeout,
                **self._environment[settings.base_url],
            )
        except requests.Timeout as exc:
            raise self._logged(
                IamportError(None, f"iamport {method} {path} timed out"), method, path, started
            ) from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise self._logged(
                IamportError(None, f"iamport {method} {path}: connection failed"),
                method, path, started,
            ) from exc
        except requests.RequestException as exc:
            raise self._logged(
                IamportError(None, f"iamport {method} {path}: {type(exc).__name__}"),
                method, path, started,
            ) from exc
        logger.debug(
            "iamport %s %s -> %d in %.0f ms",
            method, path, resp.status_code, (time.perf_counter() - started) * 1000,
        )
        return resp

    def _unwrap(
        self,
        settings: _Settings,
        resp: requests.Response,
        method: str,
        path: str,
        *,
        expect: type,
        write: bool,
        token: str | None,
    ) -> Any:
        """Return the envelope's `response`, or raise IamportError for any other answer."""
        status = resp.status_code
        envelope = self._envelope(resp)
        code = _api_int(envelope.get("code")) if envelope is not None else None
        raw_message = envelope.get("message") if envelope is not None else None
        message = self._redact(str(raw_message), settings, token) if raw_message else ""
        if not 200 <= status < 300:
            error = IamportError(code, message or f"iamport {method} {path} failed", status)
            raise self._logged(error, method, path)
        if envelope is None:
            # A 2xx we cannot read: a write may well have gone through.
            error = IamportError(
                None,
                f"iamport {method} {path} answered with a body that is not its JSON envelope",
                status,
                unknown_outcome=write,
            )
            raise self._logged(error, method, path)
        if code != 0:
            error = IamportError(code, message or f"iamport {method} {path} refused", status)
            raise self._logged(error, method, path)
        response = envelope.get("response")
        if not isinstance(response, expect):
            error = IamportError(
                None,
                f"iamport {method} {path} answered without the expected {expect.__name__}",
                status,
                unknown_outcome=write,
            )
            raise self._logged(error, method, path)
        return response

    @staticmethod
    def _envelope(resp: requests.Response) -> dict[str, Any] | None:
        """The decoded {code, message, response} envelope (floats as Decimal), or None."""
        try:
            payload = json.loads(resp.content, parse_float=Decimal)
        except ValueError:
            return None
        if not isinstance(payload, dict) or _api_int(payload.get("code")) is None:
            return None
        return payload

    def _envelope_code(self, resp: requests.Response) -> int | None:
        """The envelope code of an answer, if it has one."""
        envelope = self._envelope(resp)
        return _api_int(envelope.get("code")) if envelope is not None else None

    @staticmethod
    def _redact(text: str, settings: _Settings, token: str | None) -> str:
        """Keep the key, the secret and the token out of messages, even if the server echoed them."""
        for secret in (settings.api_secret, settings.api_key, token):
            if secret:
                text = text.replace(secret, "***")
        return text

    @staticmethod
    def _logged(
        error: IamportError, method: str, path: str, started: float | None = None
    ) -> IamportError:
        """Log a failed call and hand the error back to be raised.

        A 404 is an answer callers expect (a key not confirmed yet, an order never paid), so it
        is logged at INFO; everything else at WARNING.
        """
        level = logging.INFO if error.not_found else logging.WARNING
        if started is None:
            logger.log(level, "iamport %s %s failed: %s", method, path, error)
        else:
            logger.log(
                level,
                "iamport %s %s failed after %.0f ms: %s",
                method, path, (time.perf_counter() - started) * 1000, error,
            )
        return error
