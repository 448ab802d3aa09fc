"""Fixtures of the unit tests that mock iamport below the client."""

from __future__ import annotations

import time

import pytest
import responses

from storefront.cli import seed_plans
from storefront.extensions import db
from storefront.models import Payment, Plan, Subscription, User

API = "http://127.0.0.1:5001"
# Client addresses of the tests of limits (documentation ranges).
ATTACKER = "203.0.113.66"
OWNER_DEVICE = "198.51.100.7"
GATEWAY = "192.0.2.10"


def lookups(api) -> int:
    """REST lookups of payments the storefront made (GET /payments/...)."""
    return sum(1 for call in api.calls
               if call.request.method == "GET" and "/payments/" in call.request.url)


def from_address(address: str) -> dict:
    """Test-client options for a request from this client address."""
    return {"environ_base": {"REMOTE_ADDR": address}}


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
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-monthly")).scalar_one()
        sub = Subscription(user=user, plan=plan)
        payment = Payment(merchant_uid="sub_test_1", user=user, subscription=sub, amount=plan.price,
                          currency="USD", kind="first", customer_uid="cu_1_abc")
        db.session.add_all([user, sub, payment])
        db.session.commit()
        return payment.merchant_uid
