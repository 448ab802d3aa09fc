"""Fixtures of the unit tests: iamport mocked below the client, an order, the throttle's clock, apps with rate limits."""

from __future__ import annotations

import time

import pytest
import responses

from storefront import consents, throttle
from storefront.cli import seed_plans
from storefront.extensions import db
from storefront.models import Payment, Plan, Subscription, User
from tests.support.apps import close_database, make_app
from tests.support.iamport_mock import API
from tests.support.login_throttle import Clock


@pytest.fixture
def api():
    """iamport's REST API mocked below the client, its token endpoint answering."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        now = int(time.time())
        mock.post(f"{API}/users/getToken", json={"code": 0, "message": None, "response": {
            "access_token": "tok", "now": now, "expired_at": now + 1800}})
        yield mock


@pytest.fixture
def order(app):
    """A user with a pending first payment for the $9 monthly plan."""
    with app.app_context():
        seed_plans()
        user = User(email="ada@example.com", first_name="Ada", last_name="Lovelace")
        user.set_password("correct horse")
        consents.record(user)  # as sign-up does: no log-in of hers is sent to give them
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-monthly")).scalar_one()
        sub = Subscription(user=user, plan=plan)
        payment = Payment(merchant_uid="sub_test_1", user=user, subscription=sub, amount=plan.price,
                          currency="USD", kind="first", customer_uid="cu_1_abc")
        db.session.add_all([user, sub, payment])
        db.session.commit()
        return payment.merchant_uid


@pytest.fixture
def throttle_clock(monkeypatch) -> Clock:
    """The log-in throttle's time, moved by the test."""
    ticking = Clock()
    monkeypatch.setattr(throttle, "utcnow", ticking)
    return ticking


@pytest.fixture
def limited(tmp_path):
    """Builds the storefront with its rate limits on (the other tests' app has them off)."""
    built = []

    def build(**overrides):
        app = make_app(tmp_path, RATELIMIT_ENABLED=True, **overrides)
        built.append(app)
        return app

    yield build
    for app in built:
        close_database(app)
