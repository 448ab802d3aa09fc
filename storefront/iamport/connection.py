"""One app's line to iamport: its settings, a kept-alive session retrying reads, its token."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from storefront.iamport.errors import IamportError, logged
from storefront.iamport.wire import api_int, read_envelope, to_json

logger = logging.getLogger(__name__)

LIVE_API_URL = "https://api.iamport.kr"
TOKEN_PATH = "/users/getToken"
# Renew this long before the expiry the API gave, so a token never dies in flight.
RENEW_MARGIN = 60.0


def min_timeout(configured: tuple[float, float], asked: tuple[float, float]) -> tuple[float, float]:
    """The shorter of each of two (connect, read) timeouts: a caller may wait less, never more."""
    return (min(configured[0], asked[0]), min(configured[1], asked[1]))


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


class Connection:
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
             data: str | None = None, token: str | None = None,
             timeout: tuple[float, float] | None = None) -> requests.Response:
        """One HTTP exchange (retried as mounted) with timeouts (the configured ones, or shorter
        ones given); no answer is an IamportError."""
        headers = {"Content-Type": "application/json; charset=utf-8"} if data is not None else {}
        started = time.perf_counter()
        try:
            resp = self.session.request(
                method, self.base_url + path, params=params, headers=headers,
                data=data.encode("utf-8") if data is not None else None,
                auth=_Bearer(token) if token is not None else None,
                timeout=self.timeout if timeout is None else min_timeout(self.timeout, timeout),
            )
        except requests.RequestException as exc:
            what = "timed out" if isinstance(exc, requests.Timeout) else type(exc).__name__
            error = IamportError(None, f"iamport {method} {path}: no answer ({what})")
            raise logged(error, method, path) from exc
        elapsed = (time.perf_counter() - started) * 1000
        logger.debug("iamport %s %s -> %d in %.0f ms", method, path, resp.status_code, elapsed)
        return resp

    def unwrap(self, resp: requests.Response, method: str, path: str, *, expect: type,
               token: str | None) -> Any:
        """Return the envelope's `response`, or raise IamportError for any other answer."""
        status = resp.status_code
        write = method != "GET" and path != TOKEN_PATH
        envelope = read_envelope(resp)
        code = api_int(envelope.get("code")) if envelope is not None else None
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
        raise logged(error, method, path)

    def token(self, refused: str | None = None) -> str:
        """A token valid for RENEW_MARGIN more seconds; `refused` is one iamport turned down."""
        # Held across the fetch on purpose: concurrent threads wait for one renewal instead
        # of each asking for a token.
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at or self._token == refused:
                self._token, self._renew_at = self._fetch_token()
            return self._token

    def _fetch_token(self) -> tuple[str, float]:
        """POST /users/getToken: the token and the local monotonic time at which to renew it."""
        if not self.api_key or not self.api_secret:
            error = IamportError(None, "IAMPORT_API_KEY and IAMPORT_API_SECRET must be set",
                                 unknown_outcome=False)
            raise logged(error, "POST", TOKEN_PATH)
        started = time.monotonic()
        try:
            keys = {"imp_key": self.api_key, "imp_secret": self.api_secret}
            resp = self.send("POST", TOKEN_PATH, data=to_json(keys))
            if resp.status_code == 401:
                envelope = read_envelope(resp) or {}
                message = "iamport refused IAMPORT_API_KEY/IAMPORT_API_SECRET"
                error = IamportError(api_int(envelope.get("code")), message, 401)
                raise logged(error, "POST", TOKEN_PATH)
            answer = self.unwrap(resp, "POST", TOKEN_PATH, expect=dict, token=None)
        except IamportError as exc:
            # No token means the caller's own request was never sent: its outcome is known.
            raise IamportError(exc.code, exc.message, exc.status, unknown_outcome=False) from exc
        access_token = answer.get("access_token")
        now, expired_at = api_int(answer.get("now")), api_int(answer.get("expired_at"))
        if not (isinstance(access_token, str) and access_token and now and expired_at):
            error = IamportError(None, "iamport answered getToken without access_token, now and "
                                 "expired_at", resp.status_code, unknown_outcome=False)
            raise logged(error, "POST", TOKEN_PATH)
        # expired_at is on the server's clock: only its distance from the server's `now`
        # means anything here, so local clock skew cannot make us use a dead token.
        return access_token, started + (expired_at - now) - RENEW_MARGIN
