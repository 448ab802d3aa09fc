"""Fixtures of the unit tests that mock iamport below the client."""

from __future__ import annotations

import time

import pytest
import responses

from storefront.cli import seed_plans
from storefront.extensions import db
from storefront.models import Payment, Plan, Subscription, User

API = "http://127.0.0.1:5001"


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
