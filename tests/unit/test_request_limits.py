"""Request size limits: a body over the limit is refused 413 before it is parsed."""

from __future__ import annotations

import io
import json

import pytest

from storefront.extensions import db
from storefront.models import LoginThrottle
from tests.support.iamport_mock import API, iamport_payment, lookups


def test_a_webhook_body_over_its_limit_is_413_and_not_parsed(app, client, api, order):
    api.get(f"{API}/payments/imp_1", json={"code": 0, "message": None, "response": iamport_payment()})
    padded = {"imp_uid": "imp_1", "merchant_uid": "sub_test_1", "status": "paid", "pad": "x" * 20_000}
    as_json = client.post("/iamport/webhook", json=padded)
    as_form = client.post("/iamport/webhook", data=padded)
    for response in (as_json, as_form):
        assert response.status_code == 413
        assert response.is_json, "the webhook is answered in JSON, whatever it sent"
        assert "too large" in response.json["error"]["message"]
    assert lookups(api) == 0


def test_a_normal_webhook_is_still_accepted(app, client, api, order):
    api.get(f"{API}/payments/imp_1", json={"code": 0, "message": None, "response": iamport_payment()})
    api.get(f"{API}/subscribe/customers/cu_1_abc", status=404,
            json={"code": -1, "message": "no such customer", "response": None})
    body = {"imp_uid": "imp_1", "merchant_uid": "sub_test_1", "status": "paid"}
    assert client.post("/iamport/webhook", data=body).json["result"] == "ok"
    assert client.post("/iamport/webhook", json={**body, "cancellation_id": "c" * 40}).status_code == 200
    assert lookups(api) == 2


@pytest.mark.parametrize("path, kind", [
    ("/auth/login", "form"), ("/auth/register", "form"), ("/checkout/complete", "json"),
])
def test_a_page_body_over_the_limit_is_413_with_a_readable_message(app, client, path, kind):
    big = "x" * (2 * 1024 * 1024)
    if kind == "form":
        response = client.post(path, data={"email": "a@example.com", "password": big})
        assert response.status_code == 413 and response.mimetype == "text/html"
        assert b"too large" in response.data
    else:
        response = client.post(path, json={"imp_uid": "imp_1", "merchant_uid": big})
        assert response.status_code == 413 and "too large" in response.json["error"]["message"]
    with app.app_context():
        assert db.session.execute(db.select(LoginThrottle)).first() is None  # nothing was tried


def test_a_chunked_webhook_body_without_length_is_cut_at_the_limit(app, client, api):
    # As a server hands the app a chunked body: no Content-Length, the stream ends where it ends.
    body = json.dumps({"imp_uid": "imp_1", "pad": "x" * 100_000}).encode()
    response = client.post("/iamport/webhook", input_stream=io.BytesIO(body),
                           content_type="application/json",
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and response.is_json
    assert lookups(api) == 0


def test_the_413_names_the_limit_that_applied(app, client):
    whole_body = client.post("/auth/login", data={"email": "a@example.com", "password": "x" * 70_000})
    assert whole_body.status_code == 413 and b"65,536 bytes" in whole_body.data
    one_field = client.post("/auth/login", data={"email": "a@example.com", "password": "x" * 30_000},
                            content_type="multipart/form-data")
    assert one_field.status_code == 413 and b"16,384 bytes" in one_field.data
    # A urlencoded form is held to the body's limit alone: a 30 KB one is read, and refused as input.
    read = client.post("/auth/login", data={"email": "a@example.com", "password": "x" * 30_000})
    assert read.status_code == 400


@pytest.mark.parametrize("uid", ["imp_1\n", "imp_1\r\n", "\nimp_1"])
def test_an_id_with_a_line_break_is_refused(app, client, api, uid):
    assert client.post("/iamport/webhook", json={"imp_uid": uid}).status_code == 400
    assert lookups(api) == 0
