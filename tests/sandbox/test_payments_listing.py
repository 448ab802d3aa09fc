"""Contract: GET /payments/status/{payment_status}, iamport's listing of payments by status (90 days at most, paged)."""
from __future__ import annotations

import pytest

from tests.support.openapi_shapes import PAGE, PAYMENT, check_envelope, check_shape
from tests.support.sandbox import checkout_params
from tests.support.sandbox_requests import clock_now

DAY = 24 * 3600


def listing(sandbox, status: str = "paid", **params) -> dict:
    response = sandbox.api("GET", f"/payments/status/{status}", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    check_envelope(body)
    check_shape(body["response"], PAGE)
    for payment in body["response"]["list"]:
        check_shape(payment, PAYMENT)
    return body["response"]


def uids(page: dict) -> list[str]:
    return [p["imp_uid"] for p in page["list"]]


def test_lists_the_paid_payments_of_the_last_90_days_newest_first(sandbox):
    old = sandbox.pay(checkout_params())
    sandbox.advance(2 * DAY)
    new = sandbox.pay(checkout_params())
    declined = sandbox.pay(checkout_params(), cvv="111")
    assert not declined["success"]
    page = listing(sandbox)
    assert uids(page) == [new["imp_uid"], old["imp_uid"]]
    assert (page["total"], page["previous"], page["next"]) == (2, 0, 0)
    assert {p["status"] for p in page["list"]} == {"paid"}
    assert uids(listing(sandbox, "failed")) == [declined["imp_uid"]]
    assert uids(listing(sandbox, "all")) == [declined["imp_uid"], new["imp_uid"], old["imp_uid"]]
    assert uids(listing(sandbox, sorting="started")) == [old["imp_uid"], new["imp_uid"]]


def test_from_and_to_select_by_the_time_of_the_payments_status(sandbox):
    opened = sandbox.open_window(checkout_params())
    sandbox.advance(DAY)
    paid = sandbox.pay(checkout_params())
    now = clock_now(sandbox)
    # A paid payment is found by when it was paid, an open one by when it was opened.
    assert uids(listing(sandbox, **{"from": now - 60, "to": now})) == [paid["imp_uid"]]
    assert uids(listing(sandbox, **{"from": now - 2 * DAY, "to": now - DAY // 2})) == []
    assert uids(listing(sandbox, "ready", **{"from": now - 2 * DAY, "to": now - DAY // 2})) == [opened["imp_uid"]]
    assert uids(listing(sandbox, "ready", **{"from": now - 60, "to": now})) == []


def test_without_from_and_to_the_window_is_the_last_90_days_of_its_clock(sandbox):
    paid = sandbox.pay(checkout_params())
    sandbox.advance(89 * DAY)
    assert uids(listing(sandbox)) == [paid["imp_uid"]]
    sandbox.advance(2 * DAY)
    assert listing(sandbox)["total"] == 0
    # An earlier window still finds it.
    now = clock_now(sandbox)
    assert uids(listing(sandbox, **{"from": now - 92 * DAY, "to": now - 3 * DAY})) == [paid["imp_uid"]]


def test_pages_follow_next_until_it_is_0(sandbox):
    paid = [sandbox.pay(checkout_params())["imp_uid"] for _ in range(5)]
    first = listing(sandbox, limit=2, sorting="paid")
    assert (first["total"], first["previous"], first["next"], len(first["list"])) == (5, 0, 2, 2)
    second = listing(sandbox, limit=2, page=2, sorting="paid")
    assert (second["previous"], second["next"]) == (1, 3)
    third = listing(sandbox, limit=2, page=3, sorting="paid")
    assert (third["previous"], third["next"], len(third["list"])) == (2, 0, 1)
    assert set(uids(first) + uids(second) + uids(third)) == set(paid)


def test_a_cancelled_payment_leaves_the_paid_listing(sandbox):
    sandbox.set_delays(cancel_delay=0)
    paid = sandbox.pay(checkout_params())
    cancel = sandbox.api("POST", "/payments/cancel", json={"imp_uid": paid["imp_uid"], "reason": "test"})
    assert cancel.json()["response"]["status"] == "cancelled"
    assert listing(sandbox)["total"] == 0
    assert uids(listing(sandbox, "cancelled")) == [paid["imp_uid"]]


def test_test_channel_payments_are_listed_only_when_asked_for(sandbox_factory):
    sandbox = sandbox_factory("test_channel", SANDBOX_TEST_CHANNEL=True)
    paid = sandbox.pay(checkout_params())
    assert listing(sandbox)["total"] == 0
    assert uids(listing(sandbox, include_sandbox="true")) == [paid["imp_uid"]]


@pytest.mark.parametrize(("status", "params"), [
    ("refunded", {}),
    ("paid", {"from": 100, "to": 100 + 90 * DAY + 1}),
    ("paid", {"from": 200, "to": 100}),
    ("paid", {"from": "yesterday"}),
    ("paid", {"limit": 0}),
    ("paid", {"limit": 1001}),
    ("paid", {"page": 0}),
    ("paid", {"page": 2}),
    ("paid", {"sorting": "amount"}),
])
def test_bad_search_parameters_are_400(sandbox, status, params):
    response = sandbox.api("GET", f"/payments/status/{status}", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    check_envelope(body, ok=False)
    assert body["code"] == -1 and body["message"]


def test_the_widest_window_is_exactly_90_days(sandbox):
    paid = sandbox.pay(checkout_params())
    now = clock_now(sandbox)
    assert uids(listing(sandbox, **{"from": now - 90 * DAY, "to": now})) == [paid["imp_uid"]]
    assert listing(sandbox, limit=1000)["total"] == 1
