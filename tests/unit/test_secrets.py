"""Secrets: the REST key, the secret and the access token appear in no page, JSON error or log line."""

# The app runs in live mode with distinctive credentials; iamport is mocked with `responses` at
# 127.0.0.1, first answering normally, then failing in every way while echoing the credentials
# back (as a careless server or proxy might). Every GET page is rendered logged out and logged in,
# the actions that call iamport are posted, and the bodies and every log record at DEBUG are
# searched for the credentials. The merchant code, which is public, must be on the checkout page.

from __future__ import annotations

import logging
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import responses

from storefront import create_app
from storefront.card import CARD_CONSENT_VERSION
from storefront.cli import seed_plans
from storefront.config import ConfigError
from storefront.extensions import db
from storefront.models import Payment, Plan, Subscription, User, utcnow
from tests.support.accounts import AuthActions

API = "http://127.0.0.1:5001"
KEY = "key-DO-NOT-LEAK-123"
SECRET = "secret-DO-NOT-LEAK-456"
TOKEN = "token-DO-NOT-LEAK-789"
IMP_CODE = "imp31415926"
LEAKS = (KEY, SECRET, TOKEN)
# Any endpoint but getToken, so that a catch-all never takes the place of the token's stub.
ANY_CALL = re.compile(re.escape(API) + r"/(?!users/getToken).*")
ECHO = f"bad request: imp_key={KEY} imp_secret={SECRET} Authorization: Bearer {TOKEN}"


@pytest.fixture
def live(app_factory, caplog):
    """The storefront in live mode with distinctive credentials, an owner with a subscription."""
    caplog.set_level(logging.DEBUG)
    app = app_factory(
        IAMPORT_MODE="live", IAMPORT_API_KEY=KEY, IAMPORT_API_SECRET=SECRET,
        IAMPORT_IMP_CODE=IMP_CODE, IAMPORT_PG="paymentwall", IAMPORT_API_URL=API, LOG_LEVEL="DEBUG",
        # iamport's API is mocked at another address, which live mode takes only when told.
        IAMPORT_URL_OVERRIDE="true", PUBLIC_URL="https://shop.northwind.kr",
        MAIL_SERVER="smtp.northwind.kr", MAIL_FROM="Northwind <help@northwind.kr>",
        # The test client speaks plain HTTP; live mode's secure-only cookies would not come back.
        SESSION_COOKIE_SECURE=False, REMEMBER_COOKIE_SECURE=False,
    )
    assert app.config["IAMPORT_MODE"] == "live"
    client = app.test_client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        AuthActions(client).register(email="owner@example.com")
        with app.app_context():
            seed_plans()
            owner = db.session.execute(db.select(User)).scalar_one()
            plans = {p.slug: p for p in db.session.execute(db.select(Plan)).scalars()}
            now = utcnow()
            sub = Subscription(user=owner, plan=plans["premium-monthly"], status="active",
                               customer_uid=f"cu_{owner.id}_live", current_period_start=now,
                               current_period_end=now + timedelta(days=30), billing_key_ready_at=now,
                               buyer_email=owner.email, buyer_name=owner.buyer_name,
                               card_name="Test card", card_number="4242********4242")
            open_sub = Subscription(user=owner, plan=plans["basic-yearly"], status="incomplete")
            db.session.add_all([sub, open_sub])
            db.session.add_all([
                Payment(merchant_uid="sub_live_paid", imp_uid="imp_live_paid", user=owner,
                        subscription=sub, amount=Decimal("19.00"), currency="USD", status="paid",
                        customer_uid=sub.customer_uid, paid_at=now),
                Payment(merchant_uid="sub_live_pending", user=owner, subscription=open_sub,
                        amount=Decimal("90.00"), currency="USD", status="pending",
                        customer_uid=f"cu_{owner.id}_open"),
            ])
            db.session.commit()
            ids = {"sub": sub.id}
        yield app, client, rsps, ids
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def token_ok(rsps) -> None:
    now = int(utcnow().timestamp())
    rsps.post(f"{API}/users/getToken", json={"code": 0, "message": None, "response": {
        "access_token": TOKEN, "now": now, "expired_at": now + 1800}})


def iamport_works(rsps) -> None:
    """iamport answers every call successfully (with what the pages need)."""
    token_ok(rsps)
    rsps.post(f"{API}/payments/prepare", json={"code": 0, "message": None,
                                                "response": {"merchant_uid": "x", "amount": 9}})
    rsps.get(re.compile(re.escape(API) + r"/payments/find/.*"), status=404,
             json={"code": 1, "message": "no such payment", "response": None})


def iamport_echoes(rsps, status: int, token_fails: bool) -> None:
    """Every call (or already the token) fails with `status`, echoing the credentials."""
    echo = {"code": -1, "message": ECHO, "response": {"echo": ECHO}}
    if token_fails:
        rsps.post(f"{API}/users/getToken", status=status, json=echo)
    else:
        token_ok(rsps)
    for method in (responses.GET, responses.POST, responses.DELETE):
        rsps.add(method, ANY_CALL, status=status, json=echo)


def pages(ids: dict) -> list[str]:
    """Every GET page of the storefront (with this owner's ids), error pages included."""
    sub = ids["sub"]
    return [
        "/", "/plans/basic-monthly", "/plans/nope", "/auth/register", "/auth/login", "/account",
        "/account?page=2", f"/account/subscriptions/{sub}/cancel", f"/account/subscriptions/{sub}/resume",
        f"/account/subscriptions/{sub}/card", "/account/subscriptions/999/card",
        f"/account/subscriptions/{sub}/plans", f"/account/subscriptions/{sub}/plans/basic-monthly",
        "/checkout/basic-monthly", "/checkout/premium-monthly", "/checkout/nope",
        "/checkout/return?merchant_uid=sub_live_pending", "/checkout/return?imp_uid=imp_live_paid",
        "/checkout/return", "/checkout/result/sub_live_pending", "/checkout/result/sub_live_paid",
        "/checkout/result/nope", "/no-such-page", "/auth/logout", "/checkout/complete",
    ]


def actions(ids: dict) -> list[tuple[str, dict]]:
    """Posts that call iamport or fail with an error."""
    sub = ids["sub"]
    return [
        ("/checkout/complete", {"json": {"imp_uid": "imp_live_paid", "merchant_uid": "sub_live_paid"}}),
        ("/checkout/complete", {"json": {"imp_uid": "imp_x", "merchant_uid": "sub_live_pending"},
                                "headers": {"Accept": "application/json"}}),
        ("/checkout/complete", {"data": "garbage"}),
        ("/iamport/webhook", {"json": {"imp_uid": "imp_live_paid", "merchant_uid": "sub_live_paid"}}),
        ("/iamport/webhook", {"data": {"imp_uid": "imp_other"}}),
        ("/iamport/webhook", {"json": ["garbage"]}),
        # The new card's order, opened (and registered with iamport) by the page's script.
        (f"/account/subscriptions/{sub}/card", {"json": {"amount": "19.00", "currency": "USD",
                                                          "consent": CARD_CONSENT_VERSION}}),
        (f"/account/subscriptions/{sub}/charge", {"data": {"charge_token": "t" * 24}}),
        (f"/account/subscriptions/{sub}/charge", {"data": {"charge_token": "short"},
                                                 "headers": {"Accept": "application/json"}}),
        (f"/account/subscriptions/{sub}/cancel", {"data": {"when": "later"}}),
        (f"/account/subscriptions/{sub}/cancel", {"data": {"when": "period_end"}}),
        (f"/account/subscriptions/{sub}/resume", {"data": {}}),
        (f"/account/subscriptions/{sub}/cancel", {"data": {"when": "now"}}),
        ("/auth/login", {"data": {"email": "owner@example.com", "password": "wrong"}}),
        ("/auth/login", {"json": {"email": "x"}}),
    ]


def visit(app, client, ids) -> list[str]:
    """Bodies of every page and action, anonymous and logged in."""
    bodies = []
    anonymous = app.test_client()
    for path in pages(ids):
        for who in (anonymous, client):
            for accept in ("text/html", "application/json"):
                bodies.append(who.get(path, headers={"Accept": accept}).get_data(as_text=True))
    for path, options in actions(ids):
        for who in (anonymous, client):
            bodies.append(who.post(path, **options).get_data(as_text=True))
    return bodies


def set_status(app, sub_id: int, status: str) -> None:
    with app.app_context():
        db.session.get(Subscription, sub_id).status = status
        db.session.commit()


def assert_nothing_leaked(bodies: list[str], caplog, leaks=LEAKS) -> None:
    for body in bodies:
        for secret in leaks:
            assert secret not in body, f"{secret} in a page: {body[:300]}"
    records = caplog.get_records("setup") + caplog.records
    assert caplog.records, "nothing was logged, so nothing was checked"
    for record in records:
        text = record.getMessage() + (record.exc_text or "") + repr(record.__dict__)
        for secret in leaks:
            assert secret not in text, f"{secret} logged by {record.name}: {record.getMessage()}"
    for secret in leaks:
        assert secret not in caplog.text


def test_pages_carry_the_merchant_code_but_no_credentials(live, caplog):
    app, client, rsps, ids = live
    iamport_works(rsps)
    # The checkout page is a shopper's with no live subscription (a subscriber changes plan).
    set_status(app, ids["sub"], "canceled")
    checkout = client.get("/checkout/basic-monthly")
    set_status(app, ids["sub"], "active")
    assert checkout.status_code == 200
    assert f'"imp_code": "{IMP_CODE}"' in checkout.get_data(as_text=True)
    card = client.get(f"/account/subscriptions/{ids['sub']}/card")
    assert card.status_code == 200 and IMP_CODE in card.get_data(as_text=True)
    bodies = [checkout.get_data(as_text=True), card.get_data(as_text=True), *visit(app, client, ids)]
    assert any(call.request.url.endswith("/users/getToken") for call in rsps.calls)
    # The new card's order was opened by its POST (its page alone asks iamport nothing).
    assert any(call.request.url.endswith("/payments/prepare") for call in rsps.calls)
    assert_nothing_leaked(bodies, caplog)


@pytest.mark.parametrize("token_fails", [False, True], ids=["api-call-fails", "token-fails"])
@pytest.mark.parametrize("status", [400, 401, 403, 500])
def test_iamport_errors_echoing_credentials_leak_nowhere(live, caplog, status, token_fails):
    app, client, rsps, ids = live
    iamport_echoes(rsps, status, token_fails)
    bodies = visit(app, client, ids)
    # The failures did happen and were logged (redacted), and each page still answered.
    assert any("iamport" in r.name and r.levelno >= logging.WARNING for r in caplog.records)
    assert "***" in caplog.text or (token_fails and status == 401)
    # Without a token there is none to leak; the echoed one is not ours.
    assert_nothing_leaked(bodies, caplog, (KEY, SECRET) if token_fails else LEAKS)


def test_iamport_answering_garbage_with_credentials_leaks_nowhere(live, caplog):
    app, client, rsps, ids = live
    token_ok(rsps)
    for method in (responses.GET, responses.POST, responses.DELETE):
        rsps.add(method, ANY_CALL, status=200, body=f"<html>{ECHO}</html>")
    assert_nothing_leaked(visit(app, client, ids), caplog)


@pytest.mark.parametrize("name, value", [
    ("IAMPORT_API_KEY", "your-rest-api-key"), ("IAMPORT_API_SECRET", "CHANGE_ME"),
    ("IAMPORT_API_SECRET", "sandbox_api_secret"), ("IAMPORT_IMP_CODE", "imp00000000"),
    ("IAMPORT_API_KEY", ""), ("IAMPORT_PG", "paymentwall.xxx"),
])
def test_live_mode_refuses_placeholders_without_echoing_them(monkeypatch, name, value):
    settings = {"IAMPORT_MODE": "live", "IAMPORT_API_KEY": KEY, "IAMPORT_API_SECRET": SECRET,
                "IAMPORT_IMP_CODE": IMP_CODE, "IAMPORT_PG": "paymentwall", "SECRET_KEY": "s" * 40,
                "PUBLIC_URL": "https://shop.northwind.kr", "MAIL_SERVER": "smtp.northwind.kr",
                "MAIL_FROM": "Northwind <help@northwind.kr>"}
    for key in settings:
        monkeypatch.delenv(key, raising=False)
    settings[name] = value
    with pytest.raises(ConfigError) as refused:
        create_app({**settings, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert name in str(refused.value)
    for secret in (KEY, SECRET):
        assert secret not in str(refused.value)
    if value:
        assert value not in str(refused.value)
