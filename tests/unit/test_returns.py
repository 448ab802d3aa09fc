"""verify_return: the one result the three ways back from the payment window get from billing,
with iamport mocked below the client."""

from __future__ import annotations

import pytest
import requests

from storefront import billing
from storefront.billing import ReturnKind
from storefront.extensions import db
from storefront.models import Refund
from tests.support.iamport_mock import API, iamport_payment, key_unknown, serve_payment


def envelope(response):
    return {"code": 0, "message": None, "response": response}


@pytest.mark.parametrize("by", ["imp_uid", "merchant_uid"])
def test_a_payment_recorded_on_its_order(app, api, order, by):
    serve_payment(api)
    api.get(f"{API}/payments/find/sub_test_1", json=envelope(iamport_payment()))
    key_unknown(api)
    with app.app_context():
        found = billing.verify_return(**{by: "imp_1" if by == "imp_uid" else "sub_test_1"})
        assert found.kind == ReturnKind.RECORDED
        assert found.payment.merchant_uid == "sub_test_1"
        assert found.payment.status == "paid"
        assert found.given_back is None


@pytest.mark.parametrize("by", ["imp_uid", "merchant_uid"])
def test_a_payment_refused_on_its_order_is_recorded_with_what_is_given_back(app, api, order, by):
    wrong = iamport_payment(amount=1)
    serve_payment(api, amount=1)
    api.get(f"{API}/payments/find/sub_test_1", json=envelope(wrong))
    api.post(f"{API}/payments/cancel", json=envelope(dict(wrong, status="cancelled", cancel_amount=1)))
    with app.app_context():
        found = billing.verify_return(**{by: "imp_1" if by == "imp_uid" else "sub_test_1"})
        assert found.kind == ReturnKind.RECORDED
        assert found.payment.merchant_uid == "sub_test_1"
        # The order stays open: the payment was not its own.
        assert found.payment.status == "pending"
        assert isinstance(found.given_back, Refund)
        assert (found.given_back.imp_uid, found.given_back.merchant_uid) == ("imp_1", "sub_test_1")
        assert found.given_back.reason == "Refunded: this payment was 1 instead of 9.00."


def test_a_refund_of_another_order_is_not_this_ones(app, api, order):
    """A refund row for the same imp_uid on another order id says nothing about this order."""
    serve_payment(api)
    key_unknown(api)
    with app.app_context():
        db.session.add(Refund(imp_uid="imp_1", merchant_uid="sub_other_9", amount=9, currency="USD",
                              reason="Refunded: elsewhere."))
        db.session.commit()
        found = billing.verify_return(imp_uid="imp_1")
        assert found.kind == ReturnKind.RECORDED
        assert found.given_back is None


def test_a_payment_of_no_order_of_ours_is_not_the_orders(app, api, order):
    serve_payment(api, merchant_uid="sub_somebody_else")
    with app.app_context():
        found = billing.verify_return(imp_uid="imp_1")
        assert found.kind == ReturnKind.NOT_THE_ORDERS
        assert found.payment is None and found.given_back is None
        assert billing.payment_by_merchant_uid("sub_test_1").status == "pending"


@pytest.mark.parametrize("by", ["imp_uid", "merchant_uid"])
def test_a_payment_iamport_has_no_record_of(app, api, order, by):
    missing = {"status": 404, "json": {"code": -1, "message": "no such payment", "response": None}}
    api.get(f"{API}/payments/imp_1", **missing)
    api.get(f"{API}/payments/find/sub_test_1", **missing)
    with app.app_context():
        found = billing.verify_return(**{by: "imp_1" if by == "imp_uid" else "sub_test_1"})
        assert found.kind == ReturnKind.UNKNOWN_AT_IAMPORT
        assert found.payment is None and found.given_back is None


@pytest.mark.parametrize("failure", [
    {"status": 500, "json": {"code": -1, "message": "internal error", "response": None}},
    {"body": requests.ConnectionError("iamport is down")},
])
def test_no_answer_from_iamport(app, api, order, failure):
    api.get(f"{API}/payments/imp_1", **failure)
    with app.app_context():
        found = billing.verify_return(imp_uid="imp_1")
        assert found.kind == ReturnKind.NO_ANSWER
        assert found.payment is None and found.given_back is None
        assert billing.payment_by_merchant_uid("sub_test_1").status == "pending"


def test_a_return_names_the_payment_or_the_order(app):
    with app.app_context(), pytest.raises(ValueError):
        billing.verify_return()
