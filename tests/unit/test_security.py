"""Hardening: headers, cookies, CSRF, log-in throttle, webhook allow-list behind a proxy."""

from __future__ import annotations

import pytest

from storefront.cli import seed_plans


def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self' http://127.0.0.1:5001" in csp
    assert "frame-src http://127.0.0.1:5001" in csp
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert client.get("/no-such-page").headers["X-Frame-Options"] == "DENY"


def test_session_cookie_flags(client, auth):
    response = auth.register()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_password_hash_uses_scrypt(auth, app):
    from storefront.extensions import db
    from storefront.models import User

    auth.register()
    with app.app_context():
        assert db.session.execute(db.select(User.password_hash)).scalar_one().startswith("scrypt:")


def test_login_is_throttled_after_repeated_failures(client, auth):
    auth.register()
    auth.logout()
    for _ in range(5):
        assert auth.login(password="wrong password").status_code == 401
    blocked = auth.login()
    assert blocked.status_code == 429
    assert b"Too many failed attempts" in blocked.data
    assert client.get("/account").status_code == 302


def test_successful_login_clears_the_count(client, auth):
    auth.register()
    auth.logout()
    for _ in range(4):
        auth.login(password="wrong password")
    assert auth.login().status_code == 302
    auth.logout()
    for _ in range(4):
        assert auth.login(password="wrong password").status_code == 401


@pytest.fixture
def csrf_app(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        seed_plans()
    return app


@pytest.mark.parametrize(
    "path",
    ["/auth/register", "/auth/login", "/auth/logout", "/checkout/complete",
     "/account/subscriptions/1/charge", "/account/subscriptions/1/cancel",
     "/account/subscriptions/1/resume"],
)
def test_state_changing_routes_need_a_csrf_token(csrf_app, path):
    client = csrf_app.test_client()
    response = client.post(path, data={"email": "a@example.com"})
    assert response.status_code == 400
    assert b"Your form expired" in response.data


def test_webhook_is_the_only_csrf_exemption(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/iamport/webhook", json={"merchant_uid": "x"})
    assert response.status_code == 400
    assert b"imp_uid" in response.data


def test_webhook_allow_list_behind_a_proxy(app_factory):
    app = app_factory(WEBHOOK_ALLOWED_IPS=["52.78.100.19"], PROXY_HOPS=1)
    client = app.test_client()
    refused = client.post("/iamport/webhook", json={"imp_uid": "imp_1"},
                          headers={"X-Forwarded-For": "203.0.113.9"})
    assert refused.status_code == 403
    # The proxy appends the real peer; a forged first entry is not trusted.
    forged = client.post("/iamport/webhook", json={"imp_uid": "imp_1"},
                         headers={"X-Forwarded-For": "52.78.100.19, 203.0.113.9"})
    assert forged.status_code == 403
    allowed = client.post("/iamport/webhook", json={}, headers={"X-Forwarded-For": "52.78.100.19"})
    assert allowed.status_code == 400  # past the allow-list, refused for the missing imp_uid
