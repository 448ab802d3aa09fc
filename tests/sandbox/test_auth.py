"""Contract: POST /users/getToken and the token every other endpoint requires."""
from __future__ import annotations

import pytest

AUTHENTICATED = [
    ("GET", "/payments/imp_000000000000"),
    ("GET", "/payments/find/order_x"),
    ("GET", "/payments/find/order_x/paid"),
    ("POST", "/payments/cancel"),
    ("POST", "/payments/prepare"),
    ("GET", "/payments/prepare/order_x"),
    ("POST", "/subscribe/payments/again"),
    ("POST", "/subscribe/payments/schedule"),
    ("POST", "/subscribe/payments/unschedule"),
    ("GET", "/subscribe/payments/schedule/order_x"),
    ("GET", "/subscribe/payments/schedule?schedule_from=0&schedule_to=1"),
    ("GET", "/subscribe/customers/cust_x"),
    ("DELETE", "/subscribe/customers/cust_x"),
    ("GET", "/subscribe/customers/cust_x/payments"),
]


def get_token(sandbox, **body):
    return sandbox.http.post(f"{sandbox.url}/users/getToken", timeout=10, **body)


def test_get_token_returns_token_now_and_expiry(sandbox):
    response = get_token(sandbox, json={"imp_key": sandbox.api_key, "imp_secret": sandbox.api_secret})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"code", "message", "response"}
    assert body["code"] == 0
    token = body["response"]
    assert isinstance(token["access_token"], str) and len(token["access_token"]) >= 32
    assert isinstance(token["now"], int) and isinstance(token["expired_at"], int)
    assert token["expired_at"] - token["now"] == 30 * 60


def test_get_token_accepts_a_form_body(sandbox):
    response = get_token(sandbox, data={"imp_key": sandbox.api_key, "imp_secret": sandbox.api_secret})
    assert response.status_code == 200
    assert response.json()["response"]["access_token"]


@pytest.mark.parametrize("body", [
    {"imp_key": "sandbox_api_key", "imp_secret": "wrong"},
    {"imp_key": "wrong", "imp_secret": "sandbox_api_secret"},
    {"imp_key": "sandbox_api_key"},
    {},
])
def test_wrong_keys_get_401_in_the_envelope(sandbox, body):
    response = get_token(sandbox, json=body)
    assert response.status_code == 401
    payload = response.json()
    assert payload["code"] != 0 and payload["response"] is None and payload["message"]


def test_same_token_while_valid(sandbox):
    first = sandbox.token()
    sandbox.advance(20 * 60)
    assert sandbox.token() == first


def test_token_asked_in_its_last_minute_lives_five_minutes_longer(sandbox):
    keys = {"imp_key": sandbox.api_key, "imp_secret": sandbox.api_secret}
    first = get_token(sandbox, json=keys).json()["response"]
    sandbox.advance(29 * 60 + 10)
    second = get_token(sandbox, json=keys).json()["response"]
    assert second["access_token"] == first["access_token"]
    assert second["expired_at"] == first["expired_at"] + 5 * 60
    # Asked again right away: no longer in the last minute, so no further extension.
    third = get_token(sandbox, json=keys).json()["response"]
    assert third["expired_at"] == second["expired_at"]


def test_expired_token_gets_401_and_a_new_token_is_issued(sandbox):
    old = sandbox.token()
    sandbox.advance(31 * 60)
    response = sandbox.api("GET", "/payments/imp_000000000000", token=old)
    assert response.status_code == 401
    new = sandbox.token()
    assert new != old
    assert sandbox.api("GET", "/payments/imp_000000000000", token=new).status_code == 404


@pytest.mark.parametrize("method,path", AUTHENTICATED)
def test_every_endpoint_wants_a_token(sandbox, method, path):
    response = sandbox.api(method, path, token=None, json={})
    assert response.status_code == 401
    body = response.json()
    assert body["code"] != 0 and body["response"] is None


def test_invalid_token_gets_401(sandbox):
    assert sandbox.api("GET", "/payments/imp_000000000000", token="not-a-token").status_code == 401


def test_bearer_and_bare_token_are_both_accepted(sandbox):
    token = sandbox.token()
    url = f"{sandbox.url}/payments/imp_000000000000"
    bearer = sandbox.http.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    bare = sandbox.http.get(url, headers={"Authorization": token}, timeout=10)
    # Authenticated (404 for the unknown id), not 401.
    assert bearer.status_code == 404 and bare.status_code == 404
