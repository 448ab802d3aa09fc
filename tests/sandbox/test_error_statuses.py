"""Refusals answer only with the HTTP statuses iamport's description declares for each endpoint."""
from __future__ import annotations

import pytest

from tests.support.openapi_shapes import DESCRIPTION, check_envelope
from tests.support.sandbox import new_uid

NOT_JSON = {"data": "{not json", "headers": {"Content-Type": "application/json"}}

# One unusable request per endpoint: unknown ids, missing or malformed fields, unreadable bodies.
BAD_REQUESTS = [
    ("POST /users/getToken", "/users/getToken", NOT_JSON),
    ("GET /payments/{imp_uid}", "/payments/imp_000000000000", {}),
    ("GET /payments/find/{merchant_uid}", "/payments/find/order_x", {"params": {"sorting": "price"}}),
    ("GET /payments/find/{merchant_uid}/{payment_status}", "/payments/find/order_x/shipped", {}),
    ("GET /payments/status/{payment_status}", "/payments/status/refunded", {}),
    ("POST /payments/cancel", "/payments/cancel", {"json": {}}),
    ("POST /payments/cancel", "/payments/cancel", {"json": {"imp_uid": "imp_1", "amount": "lots"}}),
    ("POST /payments/prepare", "/payments/prepare", {"json": {"amount": 10}}),
    ("POST /payments/prepare", "/payments/prepare", NOT_JSON),
    ("GET /payments/prepare/{merchant_uid}", "/payments/prepare/not_prepared", {}),
    ("POST /subscribe/payments/again", "/subscribe/payments/again", {"json": {"customer_uid": "nobody"}}),
    ("POST /subscribe/payments/again", "/subscribe/payments/again", NOT_JSON),
    ("POST /subscribe/payments/onetime", "/subscribe/payments/onetime", {"json": {"customer_uid": "nobody"}}),
    ("POST /subscribe/payments/onetime", "/subscribe/payments/onetime", NOT_JSON),
    ("POST /subscribe/payments/schedule", "/subscribe/payments/schedule", {"json": {"customer_uid": "nobody"}}),
    ("POST /subscribe/payments/unschedule", "/subscribe/payments/unschedule", {"json": {}}),
    ("GET /subscribe/payments/schedule/{merchant_uid}", "/subscribe/payments/schedule/order_x", {}),
    ("GET /subscribe/payments/schedule", "/subscribe/payments/schedule", {"params": {"schedule_from": 1}}),
    ("GET /subscribe/customers/{customer_uid}", "/subscribe/customers/nobody", {}),
    ("POST /subscribe/customers/{customer_uid}", "/subscribe/customers/nobody", NOT_JSON),
    ("DELETE /subscribe/customers/{customer_uid}", "/subscribe/customers/nobody", {}),
    ("GET /subscribe/customers/{customer_uid}/payments", "/subscribe/customers/nobody/payments", {}),
]


def test_every_endpoint_has_a_bad_request_here():
    assert {endpoint for endpoint, _, _ in BAD_REQUESTS} == set(DESCRIPTION["endpoints"])


@pytest.mark.parametrize("endpoint, path, kwargs", BAD_REQUESTS, ids=[f"{e} {p}" for e, p, _ in BAD_REQUESTS])
def test_refusals_use_only_declared_statuses(sandbox, endpoint, path, kwargs):
    method = endpoint.split(" ", 1)[0]
    response = sandbox.api(method, path, **kwargs)
    declared = DESCRIPTION["endpoints"][endpoint]["statuses"]
    assert response.status_code in declared, (response.status_code, declared, response.text)
    body = response.json()
    check_envelope(body, ok=False)
    if response.status_code == 200:
        # Where iamport declares no 4xx, a request it cannot use is refused like any other: code -1.
        assert body["code"] == -1, body


def test_again_with_an_unknown_key_and_fields_missing_is_code_minus_1(sandbox):
    response = sandbox.api("POST", "/subscribe/payments/again",
                           json={"customer_uid": "nobody", "merchant_uid": new_uid(), "amount": 1})
    assert response.status_code == 200
    body = response.json()
    check_envelope(body, ok=False)
    assert body["code"] == -1 and body["message"]


def test_a_bad_page_of_a_known_key_is_code_minus_1(sandbox):
    customer_uid = new_uid("cust")
    sandbox.issue_billing_key(customer_uid)
    response = sandbox.api("GET", f"/subscribe/customers/{customer_uid}/payments", params={"page": "two"})
    assert response.status_code == 200
    body = response.json()
    check_envelope(body, ok=False)
    assert body["code"] == -1


def test_the_schedule_search_keeps_its_declared_400(sandbox):
    response = sandbox.api("GET", "/subscribe/payments/schedule", params={"schedule_from": 200, "schedule_to": 100})
    assert response.status_code == 400
    check_envelope(response.json(), ok=False)


def test_a_missing_token_is_still_401(sandbox):
    response = sandbox.api("POST", "/subscribe/payments/again", token=None, json={})
    assert response.status_code == 401
    check_envelope(response.json(), ok=False)
