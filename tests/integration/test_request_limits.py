"""Body limits over real HTTP: a chunked body with no Content-Length is cut at the limit too."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from storefront.extensions import db
from storefront.models import LoginThrottle
from tests.support.servers import serve_wsgi


@pytest.fixture
def served(app_factory) -> Iterator[tuple]:
    app = app_factory()
    running = serve_wsgi(app)
    yield app, running.url
    running.stop()


def chunks(body: bytes, size: int = 4096) -> Iterator[bytes]:
    """A body sent in chunks, so that requests gives it no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def test_a_chunked_webhook_over_the_limit_is_413(served):
    _, url = served
    body = json.dumps({"imp_uid": "imp_1", "merchant_uid": "sub_1", "pad": "x" * 200_000}).encode()
    response = requests.post(f"{url}/iamport/webhook", data=chunks(body), timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request.headers
    assert response.status_code == 413
    assert "too large" in response.json()["error"]["message"]


def test_a_chunked_form_over_the_limit_is_413_and_not_tried(served):
    app, url = served
    body = b"email=a%40example.com&password=" + b"x" * 500_000
    response = requests.post(f"{url}/auth/login", data=chunks(body), timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and "too large" in response.text
    with app.app_context():
        assert db.session.execute(db.select(LoginThrottle)).first() is None


def test_a_small_chunked_webhook_is_read(served):
    _, url = served
    body = json.dumps({"merchant_uid": "sub_1", "status": "paid"}).encode()
    response = requests.post(f"{url}/iamport/webhook", data=chunks(body, 16), timeout=10,
                             headers={"Content-Type": "application/json"})
    # Read whole: refused for its missing imp_uid, not for its size.
    assert response.status_code == 400 and "imp_uid" in response.json()["error"]["message"]
