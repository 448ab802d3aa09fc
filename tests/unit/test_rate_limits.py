"""Rate limits on the routes that cost an iamport lookup or a password hash, and owner-only completion."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest

from storefront import config
from storefront.cli import seed_plans
from storefront.extensions import db
from storefront.models import Payment, Plan, Subscription, User
from tests.support.page_text import without_csrf
from tests.support.accounts import AuthActions
from tests.support.addresses import ATTACKER, GATEWAY, OWNER_DEVICE, from_address
from tests.support.iamport_mock import API, iamport_payment, lookups


def forged(n: int) -> dict:
    return {"imp_uid": f"imp_forged{n}", "merchant_uid": f"sub_forged{n}", "status": "paid"}


def test_forged_webhooks_from_one_address_are_cut_off_by_the_limiter(limited, api):
    app = limited()
    api.get(re.compile(rf"{API}/payments/imp_forged\d+"), status=404,
            json={"code": -1, "message": "no such payment", "response": None})
    client = app.test_client()
    answers = [client.post("/iamport/webhook", json=forged(n), **from_address(ATTACKER))
               for n in range(300)]
    statuses = [answer.status_code for answer in answers]
    # The default: 120 a minute from one address.
    assert statuses == [200] * 120 + [429] * 180
    assert lookups(api) == 120
    refused = answers[-1]
    assert refused.is_json and "Too many requests" in refused.json["error"]["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_iamports_own_address_is_never_refused(limited, api):
    app = limited(WEBHOOK_ALLOWED_IPS=["52.78.100.19"])
    api.get(re.compile(rf"{API}/payments/imp_forged\d+"), status=404,
            json={"code": -1, "message": "no such payment", "response": None})
    client = app.test_client()
    statuses = {client.post("/iamport/webhook", json=forged(n), **from_address("52.78.100.19")).status_code
                for n in range(300)}
    assert statuses == {200}
    assert lookups(api) == 300


@pytest.mark.parametrize("setting, method, path, options", [
    ("LOGIN_RATE_LIMIT", "POST", "/auth/login", {"data": {"email": "a@example.com", "password": "x"}}),
    ("REGISTER_RATE_LIMIT", "POST", "/auth/register", {"data": {"email": "not an address"}}),
    ("COMPLETION_RATE_LIMIT", "POST", "/checkout/complete",
     {"json": {"imp_uid": "imp_1", "merchant_uid": "sub_test_1"}}),
    ("COMPLETION_RATE_LIMIT", "GET", "/checkout/return?merchant_uid=sub_test_1", {}),
])
def test_routes_that_cost_a_lookup_or_a_hash_are_rate_limited(limited, setting, method, path, options):
    app = limited(**{setting: "3 per minute"})
    client = app.test_client()
    answers = [client.open(path, method=method, **options, **from_address(GATEWAY)) for _ in range(4)]
    assert 429 not in [answer.status_code for answer in answers[:3]]
    refused = answers[3]
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    text = refused.get_data(as_text=True)
    assert "Too many requests" in text and "wait" in text
    # Counted per client address: another one is not refused.
    assert client.open(path, method=method, **options, **from_address(OWNER_DEVICE)).status_code != 429
    if method == "POST" and path.startswith("/auth"):
        assert client.get(path, **from_address(GATEWAY)).status_code == 200  # the form still shows


def test_limits_count_the_address_the_proxy_saw(limited):
    app = limited(LOGIN_RATE_LIMIT="2 per minute", PROXY_HOPS=1)
    client = app.test_client()
    body = {"email": "a@example.com", "password": "x"}
    for _ in range(2):
        client.post("/auth/login", data=body, headers={"X-Forwarded-For": ATTACKER})
    assert client.post("/auth/login", data=body, headers={"X-Forwarded-For": ATTACKER}).status_code == 429
    assert client.post("/auth/login", data=body, headers={"X-Forwarded-For": GATEWAY}).status_code == 401


def test_limits_are_settings_with_defaults(monkeypatch):
    defaults = config.load({"SECRET_KEY": "x"})
    assert defaults["RATELIMIT_ENABLED"] is True and defaults["RATELIMIT_STORAGE_URI"] == "memory://"
    assert defaults["WEBHOOK_RATE_LIMIT"] == "120 per minute"
    assert defaults["MAX_CONTENT_LENGTH"] == 64 * 1024
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://cache.internal:6379/2")
    monkeypatch.setenv("WEBHOOK_RATE_LIMIT", "50 per second")
    monkeypatch.setenv("WEBHOOK_MAX_CONTENT_LENGTH", "2048")
    chosen = config.load({"SECRET_KEY": "x"})
    assert chosen["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/2"
    assert (chosen["WEBHOOK_RATE_LIMIT"], chosen["WEBHOOK_MAX_CONTENT_LENGTH"]) == ("50 per second", 2048)
    monkeypatch.setenv("WEBHOOK_RATE_LIMIT", "lots")
    with pytest.raises(config.ConfigError, match="WEBHOOK_RATE_LIMIT"):
        config.load({"SECRET_KEY": "x"})


# --------------------------------------------------------------------------- item 4: owner-only completion


@pytest.fixture
def paid_at_iamport(api):
    api.get(f"{API}/payments/imp_1", json={"code": 0, "message": None, "response": iamport_payment()})
    api.get(f"{API}/subscribe/customers/cu_1_abc", status=404,
            json={"code": -1, "message": "no such customer", "response": None})
    return api


def test_a_non_owners_completion_asks_iamport_nothing_and_tells_nothing(app, client, order, paid_at_iamport):
    auth = AuthActions(client)
    answers = {}
    for who in ("anonymous", "grace"):
        if who == "grace":
            auth.register(email="grace@example.com", first_name="Grace", last_name="Hopper")
        real = client.post("/checkout/complete", json={"imp_uid": "imp_1", "merchant_uid": "sub_test_1"})
        made_up = client.post("/checkout/complete", json={"imp_uid": "imp_1", "merchant_uid": "sub_test_9"})
        assert real.status_code == made_up.status_code and real.status_code in (401, 404)
        same = json.dumps(real.json).replace("sub_test_1", "ID")
        assert same == json.dumps(made_up.json).replace("sub_test_9", "ID")
        assert "paid" not in real.get_data(as_text=True)
        answers[who] = real.status_code
    assert answers == {"anonymous": 401, "grace": 404}
    assert lookups(paid_at_iamport) == 0


def test_a_logged_out_shopper_is_sent_to_log_in_then_to_the_result(app, client, order, paid_at_iamport):
    answer = client.post("/checkout/complete", json={"imp_uid": "imp_1", "merchant_uid": "sub_test_1"})
    assert answer.status_code == 401
    assert unquote(answer.json["redirect"]) == "/auth/login?next=/checkout/result/sub_test_1"
    assert lookups(paid_at_iamport) == 0


def test_the_owners_completion_is_verified(app, client, order, paid_at_iamport):
    AuthActions(client).login()
    answer = client.post("/checkout/complete", json={"imp_uid": "imp_1", "merchant_uid": "sub_test_1"})
    assert answer.status_code == 200
    assert answer.json == {"status": "paid", "redirect": "/checkout/result/sub_test_1"}
    assert lookups(paid_at_iamport) == 1


@pytest.mark.parametrize("recorded", [False, True], ids=["new imp_uid", "recorded imp_uid"])
def test_the_owner_cannot_read_anothers_payment_through_their_own_order(app, client, order, api, recorded):
    """Ada's order id with Grace's imp_uid: not Ada's payment, so Ada learns nothing of it."""
    with app.app_context():
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-monthly")).scalar_one()
        grace = User(email="grace@example.com", first_name="Grace", last_name="Hopper")
        grace.set_password("correct horse")
        sub = Subscription(user=grace, plan=plan)
        db.session.add(Payment(merchant_uid="sub_test_2", user=grace, subscription=sub, amount=plan.price,
                               currency="USD", kind="first", customer_uid="cu_2_abc",
                               imp_uid="imp_2" if recorded else None))
        db.session.commit()
    other = iamport_payment(imp_uid="imp_2", merchant_uid="sub_test_2", customer_uid="cu_2_abc")
    api.get(f"{API}/payments/imp_2", json={"code": 0, "message": None, "response": other})
    api.get(f"{API}/subscribe/customers/cu_2_abc", status=404,
            json={"code": -1, "message": "no such customer", "response": None})
    AuthActions(client).login()
    answer = client.post("/checkout/complete", json={"imp_uid": "imp_2", "merchant_uid": "sub_test_1"})
    assert answer.status_code == 404 and "paid" not in answer.get_data(as_text=True)
    assert answer.json == client.post("/checkout/complete",
                                      json={"imp_uid": "imp_2", "merchant_uid": "sub_test_9"}).json
    assert lookups(api) == (0 if recorded else 1)


def test_the_owners_mobile_return_is_verified(app, client, order, paid_at_iamport):
    AuthActions(client).login()
    back = client.get("/checkout/return?imp_uid=imp_1&merchant_uid=sub_test_1")
    assert back.status_code == 302 and back.location.endswith("/checkout/result/sub_test_1")
    assert lookups(paid_at_iamport) == 1
    with app.app_context():
        assert db.session.execute(db.select(Payment.status)).scalar_one() == "paid"


def test_the_mobile_return_tells_a_visitor_nothing_of_an_imp_uid(app, client, order, paid_at_iamport):
    api = paid_at_iamport
    api.get(f"{API}/payments/imp_9", status=404,
            json={"code": -1, "message": "no such payment", "response": None})
    known = client.get("/checkout/return?imp_uid=imp_1")
    unknown = client.get("/checkout/return?imp_uid=imp_9")
    # Both sent to log in and back to the same return, which names only what the visitor sent.
    assert known.status_code == unknown.status_code == 302
    assert unquote(known.location).replace("imp_1", "ID") == unquote(unknown.location).replace("imp_9", "ID")
    assert "sub_test_1" not in unquote(known.location)
    login_page = client.get(known.location).get_data(as_text=True)
    assert "iamport has no record" not in login_page


def test_the_mobile_return_tells_another_shopper_nothing_of_an_imp_uid(app, client, order, paid_at_iamport):
    api = paid_at_iamport
    api.get(f"{API}/payments/imp_9", status=404,
            json={"code": -1, "message": "no such payment", "response": None})
    AuthActions(client).register(email="grace@example.com", first_name="Grace", last_name="Hopper")
    client.get("/account")  # shows the welcome message, so neither answer below carries it
    known = client.get("/checkout/return?imp_uid=imp_1")
    unknown = client.get("/checkout/return?imp_uid=imp_9")
    assert known.status_code == unknown.status_code == 404
    assert without_csrf(known.get_data(as_text=True).replace("imp_1", "ID")) == \
        without_csrf(unknown.get_data(as_text=True).replace("imp_9", "ID"))
    assert "sub_test_1" not in known.get_data(as_text=True) + str(known.location)


def test_the_owner_who_logs_in_after_the_return_reaches_the_result(app, client, order, paid_at_iamport):
    back = client.get("/checkout/return?imp_uid=imp_1&merchant_uid=sub_test_1")
    assert back.status_code == 302 and "/auth/login" in back.location
    logged_in = client.post(back.location, data={"email": "ada@example.com", "password": "correct horse"})
    assert logged_in.status_code == 302
    final = client.get(logged_in.location, follow_redirects=True)
    assert final.status_code == 200 and final.request.path == "/checkout/result/sub_test_1"


def test_the_result_page_is_limited_per_shopper_not_per_address(limited, api):
    app = limited(RESULT_RATE_LIMIT="3 per minute")
    api.get(re.compile(rf"{API}/payments/find/.*"), status=404,
            json={"code": -1, "message": "no such payment", "response": None})
    browsers = {}
    for email, first in (("ada@example.com", "Ada"), ("grace@example.com", "Grace")):
        browsers[first] = app.test_client()
        AuthActions(browsers[first]).register(email=email, first_name=first, last_name="Tester",
                                              **from_address(GATEWAY))
    with app.app_context():
        seed_plans()
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-monthly")).scalar_one()
        for first in browsers:
            user = db.session.execute(db.select(User).where(User.first_name == first)).scalar_one()
            db.session.add(Payment(merchant_uid=f"sub_{first.lower()}", user=user,
                                   subscription=Subscription(user=user, plan=plan), amount=plan.price,
                                   currency="USD", kind="first", customer_uid=f"cu_{first.lower()}"))
        db.session.commit()
    ada = [browsers["Ada"].get("/checkout/result/sub_ada", **from_address(GATEWAY)).status_code
           for _ in range(4)]
    assert ada == [200, 200, 200, 429]
    assert lookups(api) == 3
    # Grace, behind the same address, is not held back by Ada's reloads.
    assert browsers["Grace"].get("/checkout/result/sub_grace", **from_address(GATEWAY)).status_code == 200
