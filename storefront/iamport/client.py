"""IamportClient: the iamport V1 REST endpoints this shop calls, each one method."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Flask, current_app, has_app_context

from storefront.iamport.connection import Connection
from storefront.iamport.wire import Amount, Timestamp, path_segment, to_json, unix_seconds

logger = logging.getLogger(__name__)

PAYMENT_STATUSES = frozenset({"ready", "paid", "failed", "cancelled"})


class IamportClient:
    """iamport V1 REST client: per app one session, a cached token, read retries, one error type."""

    def __init__(self, app: Flask | None = None) -> None:
        # Set only on the client an app keeps in app.extensions["iamport"]; the shared one in
        # storefront.extensions speaks for the current app, else for the app last initialised.
        self._own: Connection | None = None
        self._last: Connection | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Keep a client of the app's own (settings, session, token) in app.extensions["iamport"]."""
        bound = IamportClient()
        bound._own = self._last = Connection(app.config)
        app.extensions["iamport"] = bound

    # -- payments ------------------------------------------------------------------------------

    def get_payment(self, imp_uid: str,
                    timeout: tuple[float, float] | None = None) -> dict[str, Any]:
        """GET /payments/{imp_uid}: one payment by iamport's id (`timeout`: connect and read
        seconds of each attempt, when a page waits and the configured ones are too long)."""
        return self._call("GET", f"/payments/{path_segment(imp_uid)}", params=self._test_payments(),
                          timeout=timeout)

    def find_payment(self, merchant_uid: str, status: str | None = None) -> dict[str, Any]:
        """GET /payments/find/{merchant_uid}[/{status}]: the payment of one of our orders."""
        path = f"/payments/find/{path_segment(merchant_uid)}"
        if status is not None:
            if status not in PAYMENT_STATUSES:
                raise ValueError(f"unknown payment status {status!r}")
            path += f"/{status}"
        return self._call("GET", path, params=self._test_payments())

    def list_payments(self, status: str, start: Timestamp, end: Timestamp, page: int = 1,
                      limit: int = 20, sorting: str | None = None) -> dict[str, Any]:
        """GET /payments/status/{status}: one page of the payments in a status (or "all") whose
        time of that status (paid_at for "paid") lies from `start` to `end`, at most 90 days."""
        if status not in PAYMENT_STATUSES | {"all"}:
            raise ValueError(f"unknown payment status {status!r}")
        params = {"from": unix_seconds(start), "to": unix_seconds(end), "page": page,
                  "limit": limit, "sorting": sorting, **self._test_payments()}
        return self._call("GET", f"/payments/status/{status}", params=params)

    def _test_payments(self) -> dict[str, str]:
        """The query that makes a lookup or listing include test-channel payments (sandbox mode only)."""
        sandbox = self._connection().include_test_payments
        return {"include_sandbox": "true"} if sandbox else {}

    def cancel_payment(self, imp_uid: str, reason: str, amount: Amount | None = None,
                       checksum: Amount | None = None,
                       enable_webhook: bool | None = None) -> dict[str, Any]:
        """POST /payments/cancel: cancel a payment in full, or `amount` of it; `checksum` is the
        balance the caller believes is left (iamport refuses a mismatch); `enable_webhook` asks
        for the webhook of the cancel (API cancels send none otherwise)."""
        body = {"imp_uid": imp_uid, "reason": reason, "amount": amount, "checksum": checksum,
                "enable_webhook": enable_webhook}
        return self._call("POST", "/payments/cancel", body=body)

    def prepare_payment(self, merchant_uid: str, amount: Amount,
                        currency: str | None = None) -> dict[str, Any]:
        """POST /payments/prepare: register the amount the payment window must charge."""
        body = {"merchant_uid": merchant_uid, "amount": amount, "currency": currency}
        return self._call("POST", "/payments/prepare", body=body)

    def get_prepared_payment(self, merchant_uid: str) -> dict[str, Any]:
        """GET /payments/prepare/{merchant_uid}: the amount registered for an order."""
        return self._call("GET", f"/payments/prepare/{path_segment(merchant_uid)}")

    # -- billing keys --------------------------------------------------------------------------

    def charge_again(self, *, customer_uid: str, merchant_uid: str, amount: Amount, name: str,
                     currency: str, buyer_email: str, buyer_name: str,
                     notice_url: str | None = None,
                     custom_data: str | Mapping[str, Any] | None = None,
                     **extra: Any) -> dict[str, Any]:
        """POST /subscribe/payments/again: charge a billing key; its `status` says if it paid."""
        if custom_data is not None and not isinstance(custom_data, str):
            # iamport stores custom_data as a string; a mapping is sent as its JSON text.
            custom_data = to_json(custom_data)
        body = {"customer_uid": customer_uid, "merchant_uid": merchant_uid, "amount": amount,
                "name": name, "currency": currency, "buyer_email": buyer_email,
                "buyer_name": buyer_name, **extra, "notice_url": notice_url,
                "custom_data": custom_data}
        return self._call("POST", "/subscribe/payments/again", body=body)

    def get_billing_key(self, customer_uid: str) -> dict[str, Any]:
        """GET /subscribe/customers/{customer_uid}: the billing key's card, once issued."""
        return self._call("GET", f"/subscribe/customers/{path_segment(customer_uid)}")

    def delete_billing_key(self, customer_uid: str, reason: str | None = None) -> dict[str, Any]:
        """DELETE /subscribe/customers/{customer_uid}: forget the billing key (irreversible)."""
        path = f"/subscribe/customers/{path_segment(customer_uid)}"
        return self._call("DELETE", path, params={"reason": reason})

    # -- schedules -----------------------------------------------------------------------------

    def schedule_payments(self, customer_uid: str,
                          schedules: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """POST /subscribe/payments/schedule: schedule charges of a billing key."""
        converted = [{**item, "schedule_at": unix_seconds(item["schedule_at"])}
                     for item in schedules]
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
        return self._call("GET", f"/subscribe/payments/schedule/{path_segment(merchant_uid)}")

    def list_schedules(self, schedule_from: Timestamp, schedule_to: Timestamp,
                       status: str | None = None, page: int = 1,
                       limit: int = 20) -> dict[str, Any]:
        """GET /subscribe/payments/schedule: one page of schedules in a time range."""
        params = {"schedule_from": unix_seconds(schedule_from),
                  "schedule_to": unix_seconds(schedule_to),
                  "schedule_status": status, "page": page, "limit": limit}
        return self._call("GET", "/subscribe/payments/schedule", params=params)

    def authenticate(self) -> None:
        """Hold a valid access token: proves that iamport answers and takes our REST keys."""
        self._connection().token()

    # -- plumbing ------------------------------------------------------------------------------

    def _connection(self) -> Connection:
        """This client's app's connection, else the current app's, else the last app's."""
        if self._own is not None:
            return self._own
        if has_app_context() and "iamport" in current_app.extensions:
            return current_app.extensions["iamport"]._connection()
        if self._last is None:
            raise RuntimeError("IamportClient.init_app(app) has not been called")
        return self._last

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              body: Mapping[str, Any] | None = None, expect: type = dict,
              timeout: tuple[float, float] | None = None) -> Any:
        """Send one API request with a valid token and return the envelope's `response`."""
        # Optional fields left as None are not sent at all (requests drops None params itself).
        body = {key: value for key, value in body.items() if value is not None} if body else None
        # Encoded first: an amount that cannot be sent exactly fails before anything goes out.
        data = to_json(body) if body is not None else None
        connection = self._connection()
        token = connection.token()
        resp = connection.send(method, path, params=params, data=data, token=token, timeout=timeout)
        if resp.status_code == 401:
            # A 401 means the request was refused before it was processed, so one repeat
            # with a fresh token is safe even for a write.
            logger.info("iamport %s %s: token refused, renewing once", method, path)
            token = connection.token(refused=token)
            resp = connection.send(method, path, params=params, data=data, token=token,
                                   timeout=timeout)
        return connection.unwrap(resp, method, path, expect=expect, token=token)
