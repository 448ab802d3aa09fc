"""The parameters the checkout page hands to IMP.request_pay."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from storefront.payment_window import sdk_params
from storefront.extensions import db
from storefront.formatting import amount_for_sdk
from storefront.models import Payment


def test_the_sdk_amount_is_the_payments_even_when_the_plan_price_changed(app, order):
    with app.test_request_context():
        payment = db.session.execute(db.select(Payment).where(Payment.merchant_uid == order)).scalar_one()
        # The plan's price changed after this checkout was opened (and registered at $9).
        payment.subscription.plan.price = Decimal("12.50")
        payment.subscription.plan.currency = "EUR"
        db.session.commit()
        pay = sdk_params(payment)["pay"]
    assert (pay["amount"], pay["currency"]) == (9, "USD")
    assert json.dumps(pay["amount"]) == "9"


@pytest.mark.parametrize(("amount", "json_text"), [
    (Decimal("9.00"), "9"), (Decimal("9.50"), "9.5"), (Decimal("12.34"), "12.34"),
    (Decimal("9900"), "9900"),
])
def test_amount_for_sdk_is_a_json_number(amount, json_text):
    assert json.dumps(amount_for_sdk(amount)) == json_text
