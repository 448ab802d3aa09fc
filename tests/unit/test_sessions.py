"""Sessions that end: log-out and log-in end copied cookies, cookie flags, live-mode HSTS, no-store."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest

from storefront import config as settings
from storefront.cli import seed_plans
from storefront.config import ConfigError
from storefront.extensions import db
from storefront.models import Payment, User
from tests.support.accounts import CONSENTS, AuthActions
from tests.support.iamport_mock import API

LIVE = {"IAMPORT_MODE": "live", "IAMPORT_API_KEY": "k4815162342",
        "IAMPORT_API_SECRET": "s4815162342q9w8e7r6t5y4u3i2o1p", "IAMPORT_IMP_CODE": "imp48151623",
        "IAMPORT_PG": "paymentwall.proj4815", "SECRET_KEY": "a-live-like-secret-4815162342",
        "PUBLIC_URL": "https://shop.northwind.kr", "MAIL_SERVER": "smtp.northwind.kr",
        "MAIL_FROM": "Northwind <help@northwind.kr>"}
MAX_REMEMBER = timedelta(days=30)


def set_cookies(response) -> dict[str, str]:
    """The Set-Cookie headers of a response by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def attributes(header: str) -> dict[str, str]:
    """The attributes of one Set-Cookie header, names lower-cased."""
    parts = [part.strip() for part in header.split(";")[1:]]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1)[1] if "=" in p else "") for p in parts}


def replay(app, **cookies: str):
    """A fresh client that sends only the given cookies: another browser holding a copy."""
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


@pytest.fixture
def ada(auth):
    """Ada registered and logged out."""
    assert auth.register().status_code == 302
    auth.logout()
    return auth


def login_remembered(client):
    return client.post("/auth/login", data={"email": "ada@example.com", "password": "correct horse",
                                            "remember": "y"})


# --------------------------------------------------------------------------- ending sessions


def test_a_session_cookie_copied_before_logout_is_refused_after_it(app, client, ada):
    assert ada.login().status_code == 302
    copied = client.get_cookie("session").value
    assert replay(app, session=copied).get("/account").status_code == 200
    ada.logout()
    response = replay(app, session=copied).get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_a_remember_cookie_replayed_after_logout_does_not_log_in(app, client, ada):
    assert login_remembered(client).status_code == 302
    copied = client.get_cookie("remember_token").value
    # The copy alone (no session) logs in while the session lasts ...
    assert replay(app, remember_token=copied).get("/account").status_code == 200
    ada.logout()
    # ... and not after log-out.
    assert replay(app, remember_token=copied).get("/account").status_code == 302


def test_a_new_login_ends_the_sessions_of_the_previous_one(app, client, ada):
    assert login_remembered(client).status_code == 302
    session, remember = client.get_cookie("session").value, client.get_cookie("remember_token").value
    elsewhere = AuthActions(app.test_client())
    assert elsewhere.login().status_code == 302
    assert replay(app, session=session).get("/account").status_code == 302
    assert replay(app, remember_token=remember).get("/account").status_code == 302


def test_each_login_gets_another_remember_cookie(client, ada):
    login_remembered(client)
    first = client.get_cookie("remember_token").value
    ada.logout()
    login_remembered(client)
    assert client.get_cookie("remember_token").value != first


def test_ending_all_sessions_logs_out_every_copy(app, client, ada):
    """What a password change calls: every session and remember cookie of the user stops."""
    login_remembered(client)
    session, remember = client.get_cookie("session").value, client.get_cookie("remember_token").value
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        user.end_all_sessions()
        db.session.commit()
    assert replay(app, session=session).get("/account").status_code == 302
    assert replay(app, remember_token=remember).get("/account").status_code == 302


def test_the_session_is_cleared_at_login_and_logout(client, ada):
    with client.session_transaction() as sess:
        sess["planted"] = "by someone else"
    ada.login()
    with client.session_transaction() as sess:
        assert "planted" not in sess
        sess["planted"] = "again"
    ada.logout()
    with client.session_transaction() as sess:
        assert "planted" not in sess


# --------------------------------------------------------------------------- CSRF token renewed


def form_token(page) -> str:
    match = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page.get_data(as_text=True))
    assert match, "no csrf_token field on the page"
    return re.search(r'value="([^"]+)"', match.group(0)).group(1)


@pytest.fixture
def csrf_client(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    token = form_token(client.get("/auth/register"))
    response = client.post("/auth/register", data={
        "csrf_token": token, "first_name": "Ada", "last_name": "Lovelace",
        "email": "ada@example.com", "password": "correct horse", "confirm": "correct horse",
        **CONSENTS})
    assert response.status_code == 302
    yield client
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_csrf_token_is_renewed_at_login_and_logout(csrf_client):
    client = csrf_client
    before_logout = form_token(client.get("/account"))
    with client.session_transaction() as sess:
        raw_before_logout = sess["csrf_token"]
    assert client.post("/auth/logout", data={"csrf_token": before_logout}).status_code == 302

    before_login = form_token(client.get("/auth/login"))
    with client.session_transaction() as sess:
        raw_before_login = sess["csrf_token"]
    assert raw_before_login != raw_before_logout
    response = client.post("/auth/login", data={"csrf_token": before_login,
                                                "email": "ada@example.com", "password": "correct horse"})
    assert response.status_code == 302
    # A token from before log-in (one a page of another site may have planted) is refused after it.
    refused = client.post("/auth/logout", data={"csrf_token": before_login})
    assert refused.status_code == 400
    after_login = form_token(client.get("/account"))
    with client.session_transaction() as sess:
        assert sess["csrf_token"] != raw_before_login
    assert client.post("/auth/logout", data={"csrf_token": after_login}).status_code == 302
    # And one from before log-out is refused after it.
    login = client.post("/auth/login", data={"csrf_token": after_login,
                                             "email": "ada@example.com", "password": "correct horse"})
    assert login.status_code == 400


# --------------------------------------------------------------------------- cookie flags


def test_the_remember_cookie_is_lax_httponly_and_lasts_at_most_30_days(client, ada):
    response = login_remembered(client)
    cookie = set_cookies(response)["remember_token"]
    attrs = attributes(cookie)
    assert attrs["samesite"] == "Lax"
    assert "httponly" in attrs
    assert "secure" not in attrs  # plain http on 127.0.0.1 in sandbox mode
    assert attrs["path"] == "/"
    expires = parsedate_to_datetime(attrs["expires"])
    assert expires <= datetime.now(timezone.utc) + MAX_REMEMBER + timedelta(minutes=1)
    if "max-age" in attrs:
        assert int(attrs["max-age"]) <= MAX_REMEMBER.total_seconds()


def test_the_remember_duration_is_a_setting_of_at_most_30_days(monkeypatch):
    monkeypatch.setenv("REMEMBER_COOKIE_DAYS", "7")
    assert settings.load({"SECRET_KEY": "t"})["REMEMBER_COOKIE_DURATION"] == timedelta(days=7)
    monkeypatch.delenv("REMEMBER_COOKIE_DAYS")
    assert settings.load({"SECRET_KEY": "t"})["REMEMBER_COOKIE_DURATION"] == timedelta(days=30)
    for bad in ("31", "365", "0", "-1", "a month"):
        monkeypatch.setenv("REMEMBER_COOKIE_DAYS", bad)
        with pytest.raises(ConfigError, match="REMEMBER_COOKIE_DAYS"):
            settings.load({"SECRET_KEY": "t"})


def test_session_protection_is_basic(app):
    # "strong" would log out a phone whose address changes between networks mid-checkout.
    assert app.config["SESSION_PROTECTION"] == "basic"


@pytest.fixture
def live_app(app_factory):
    app = app_factory(**LIVE)
    assert app.config["IAMPORT_MODE"] == "live"
    return app


def test_live_mode_cookies_are_host_prefixed_and_secure(live_app):
    client = live_app.test_client()
    auth = AuthActions(client)
    assert auth.register().status_code == 302
    auth.logout()
    response = login_remembered(client)
    cookies = set_cookies(response)
    # The session, the remember cookie and the known-device cookie of the log-in throttle.
    assert set(cookies) == {"__Host-session", "__Host-remember_token", "__Host-device"}
    for header in cookies.values():
        attrs = attributes(header)
        assert "secure" in attrs and "httponly" in attrs
        assert attrs["path"] == "/" and "domain" not in attrs
        assert attrs["samesite"] == "Lax"
    # The prefixed cookies carry the session.
    assert client.get("/account").status_code == 200


def test_hsts_only_in_live_mode(live_app, client):
    for path in ("/", "/auth/login", "/no-such-page"):
        hsts = live_app.test_client().get(path).headers.get("Strict-Transport-Security", "")
        assert re.search(r"max-age=(\d+)", hsts), path
        assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 365 * 24 * 3600
        assert "Strict-Transport-Security" not in client.get(path).headers


def test_the_hsts_header_is_a_setting_of_live_mode(monkeypatch):
    for name, value in LIVE.items():
        monkeypatch.setenv(name, value)
    assert settings.load()["STRICT_TRANSPORT_SECURITY"] == settings.LIVE_HSTS
    monkeypatch.setenv("STRICT_TRANSPORT_SECURITY", "max-age=31536000")
    assert settings.load()["STRICT_TRANSPORT_SECURITY"] == "max-age=31536000"
    monkeypatch.setenv("STRICT_TRANSPORT_SECURITY", "off")
    assert settings.load()["STRICT_TRANSPORT_SECURITY"] == ""
    monkeypatch.setenv("IAMPORT_MODE", "sandbox")
    monkeypatch.setenv("STRICT_TRANSPORT_SECURITY", "max-age=31536000")
    assert settings.load()["STRICT_TRANSPORT_SECURITY"] == ""


def test_env_example_lists_the_session_settings():
    text = (settings.ROOT / ".env.example").read_text()
    for name in ("REMEMBER_COOKIE_DAYS", "STRICT_TRANSPORT_SECURITY"):
        assert f"\n{name}=" in text, name


# --------------------------------------------------------------------------- no-store pages


@pytest.fixture
def paid_order(app, order, auth):
    """Ada logged in, her first payment paid (so the result page asks iamport nothing)."""
    with app.app_context():
        payment = db.session.execute(db.select(Payment)).scalar_one()
        payment.status = "paid"
        db.session.commit()
    assert auth.login().status_code == 302
    return order


def test_account_checkout_and_result_pages_are_not_stored(client, api, paid_order):
    api.post(f"{API}/payments/prepare", json={"code": 0, "message": None,
                                              "response": {"merchant_uid": "x", "amount": 9}})
    pages = {"/account": 200, "/checkout/basic-yearly": 200, f"/checkout/result/{paid_order}": 200,
             "/auth/login": 302}
    for path, status in pages.items():
        response = client.get(path)
        assert response.status_code == status, path
        assert "no-store" in response.headers.get("Cache-Control", ""), path
    # Any page a logged-in shopper sees carries their name and a token: not stored either.
    assert "no-store" in client.get("/").headers.get("Cache-Control", "")


def test_the_login_page_and_an_anonymous_catalog(app, client):
    assert "no-store" in client.get("/auth/login").headers.get("Cache-Control", "")
    assert "no-store" in client.get("/auth/register").headers.get("Cache-Control", "")
    with app.app_context():
        seed_plans()
    catalog = client.get("/")
    assert catalog.status_code == 200
    # The catalog for a visitor who is not logged in may be cached.
    assert "no-store" not in catalog.headers.get("Cache-Control", "")
    with client.get("/static/css/style.css") as stylesheet:
        assert "no-store" not in stylesheet.headers.get("Cache-Control", "")



# --------------------------------------------------------------------------- migration


def test_the_migration_gives_every_existing_user_a_token_of_their_own(app_factory):
    from flask_migrate import check, upgrade
    from sqlalchemy import inspect, text

    app = app_factory()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(revision="f0f82798082a")
        with db.engine.begin() as conn:
            for n in (1, 2):
                conn.execute(text(
                    "INSERT INTO users (email, first_name, last_name, password_hash, created_at) "
                    f"VALUES ('u{n}@example.com', 'U', 'Ser', 'x', CURRENT_TIMESTAMP)"))
        upgrade()
        check()
        tokens = db.session.execute(db.select(User.session_token)).scalars().all()
        assert len(tokens) == 2 and len(set(tokens)) == 2
        assert all(len(token) >= 40 for token in tokens)
        uniques = inspect(db.engine).get_unique_constraints("users")
        assert any(u["column_names"] == ["session_token"] for u in uniques)
        db.session.remove()
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
