"""The payment page's pieces that need no server: which links it makes, what it compares, how long it waits for iamport."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import flask
import pytest
import responses

from storefront.admin.payment_page import LiveRecord, differences, safe_link
from storefront.iamport import IamportClient
from storefront.models import Payment, PaymentStatus

BASE = "http://iamport.test"


@pytest.mark.parametrize("url", [
    "https://iamport.kr/receipts/imp_1", "http://127.0.0.1:5001/_sandbox/receipts/imp_1",
])
def test_web_addresses_are_linked(url):
    assert safe_link(url) == url


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<script>x</script>",
    "ftp://example.com/r", "//evil.example/r", "https://", "", None, 42, ["https://x.y"],
])
def test_anything_else_is_not_linked(url):
    assert safe_link(url) is None


def paid_row(**values) -> Payment:
    row = Payment(merchant_uid="order-1", imp_uid="imp_1", amount=Decimal("9.00"), currency="USD",
                  status=PaymentStatus.PAID)
    for key, value in values.items():
        setattr(row, key, value)
    return row


IAMPORT = {"merchant_uid": "order-1", "imp_uid": "imp_1", "amount": 9, "currency": "USD",
           "status": "paid", "cancel_amount": 0}


def test_the_same_payment_differs_in_nothing():
    assert differences(paid_row(), LiveRecord(record=dict(IAMPORT)), Decimal(0)) == set()


@pytest.mark.parametrize(("ours", "theirs", "field"), [
    ({"amount": Decimal("8.00")}, {}, "amount"),
    ({}, {"amount": 9.5}, "amount"),
    ({}, {"currency": "KRW"}, "currency"),
    ({}, {"status": "cancelled"}, "status"),
    ({"status": PaymentStatus.CANCELLED}, {}, "status"),
    ({}, {"merchant_uid": "order-2"}, "merchant_uid"),
    ({}, {"cancel_amount": 4}, "cancel_amount"),
    ({}, {"amount": "not a number"}, "amount"),
])
def test_each_difference_is_found(ours, theirs, field):
    found = differences(paid_row(**ours), LiveRecord(record={**IAMPORT, **theirs}), Decimal(0))
    assert found == {field}


def test_a_refund_done_agrees_with_iamports_cancel_amount():
    record = LiveRecord(record={**IAMPORT, "cancel_amount": 4.5})
    assert differences(paid_row(), record, Decimal("4.50")) == set()


def test_a_payment_still_pending_is_not_compared_by_status():
    record = LiveRecord(record={**IAMPORT, "status": "ready"})
    assert differences(paid_row(status=PaymentStatus.PENDING), record, Decimal(0)) == set()


def test_odd_values_from_iamport_are_read_as_nothing():
    record = LiveRecord(record={**IAMPORT, "paid_at": "soon", "cancel_history": ["x", {"amount": None}],
                                "card_number": "****", "receipt_url": "javascript:alert(1)"})
    assert record.moment("paid_at") is None
    assert record.card_last_four is None
    assert record.receipt_url is None
    assert record.cancellations == [{"amount": None, "when": None, "reason": "", "receipt_url": None}]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


def test_a_page_may_wait_less_than_configured_never_more(rsps):
    app = flask.Flask(__name__)
    app.config.update(IAMPORT_API_URL=BASE, IAMPORT_API_KEY="key", IAMPORT_API_SECRET="secret",
                      IAMPORT_CONNECT_TIMEOUT=3, IAMPORT_READ_TIMEOUT=10)
    iamport = IamportClient(app)
    now = int(time.time())
    rsps.post(f"{BASE}/users/getToken", json={"code": 0, "message": "", "response": {
        "access_token": "tok", "now": now, "expired_at": now + 1800}})
    rsps.get(f"{BASE}/payments/imp_1", json={"code": 0, "message": "", "response": IAMPORT})
    iamport.get_payment("imp_1", timeout=(2.0, 4.0))
    iamport.get_payment("imp_1", timeout=(5.0, 1.0))
    iamport.get_payment("imp_1")
    waits = [call.request.req_kwargs["timeout"] for call in rsps.calls
             if call.request.url.startswith(f"{BASE}/payments/")]
    assert waits == [(2.0, 4.0), (3.0, 1.0), (3.0, 10.0)]
