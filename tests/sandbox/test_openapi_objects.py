"""Every answer of every sandbox endpoint against the official V1 objects (openapi_objects.json)."""
from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.openapi_shapes import DESCRIPTION, check_answer, check_envelope, check_shape, problems, response_description
from tests.support.sandbox import RENEWAL_DECLINE_CARD, checkout_params, new_uid

HOUR = 3600


def served_endpoints(sandbox) -> set[str]:
    """The REST endpoints of the sandbox's API blueprint, as "METHOD /path/{name}"."""
    found = set()
    for rule in sandbox.app.url_map.iter_rules():
        if not rule.endpoint.startswith("sandbox_api."):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        found |= {f"{method} {path}" for method in rule.methods - {"HEAD", "OPTIONS"}}
    return found


class Tour:
    """Calls the sandbox and notes how each successful answer differs from its endpoint's object."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.token = sandbox.token()
        self.seen: set[str] = set()
        self.differences: list[str] = []

    def ok(self, endpoint: str, path: str | None = None, **kwargs: Any) -> Any:
        method, template = endpoint.split(" ", 1)
        response = self.sandbox.api(method, path or template, token=self.token, **kwargs)
        assert response.status_code == 200, (endpoint, response.text)
        body = response.json()
        check_envelope(body)
        # Collected rather than asserted one by one, so a failure lists every difference.
        self.differences += problems(body["response"], response_description(endpoint), endpoint)
        self.seen.add(endpoint)
        return body["response"]


def test_every_served_endpoint_has_a_recorded_object(sandbox):
    assert served_endpoints(sandbox) == set(DESCRIPTION["endpoints"])


def test_every_answer_matches_the_official_objects(sandbox):
    sandbox.set_delays(cancel_delay=0)
    tour = Tour(sandbox)

    answer = sandbox.http.post(f"{sandbox.url}/users/getToken",
                               json={"imp_key": sandbox.api_key, "imp_secret": sandbox.api_secret}, timeout=10)
    check_answer("POST /users/getToken", answer.json())
    tour.seen.add("POST /users/getToken")

    # A payment in each status: ready (window open), failed (declined), paid, cancelled.
    opened = sandbox.open_window(checkout_params())
    tour.ok("GET /payments/{imp_uid}", f"/payments/{opened['imp_uid']}")
    declined = sandbox.pay(checkout_params(), cvv="111")
    tour.ok("GET /payments/find/{merchant_uid}/{payment_status}",
            f"/payments/find/{declined['merchant_uid']}/failed")
    paid = sandbox.pay(checkout_params(amount=30))
    tour.ok("GET /payments/find/{merchant_uid}", f"/payments/find/{paid['merchant_uid']}")
    part = tour.ok("POST /payments/cancel", json={"imp_uid": paid["imp_uid"], "amount": 10.5,
                                                  "reason": "partial refund"})
    rest = tour.ok("POST /payments/cancel", json={"merchant_uid": paid["merchant_uid"]})
    assert part["status"] == "paid" and rest["status"] == "cancelled"
    # The official cancel entry requires a reason string, even when none was given.
    assert [h["reason"] for h in rest["cancel_history"]] == ["partial refund", ""]

    # A cancel that Paymentwall confirms later: the answer still shows the payment as it was.
    sandbox.set_delays(cancel_delay=5)
    later = sandbox.pay(checkout_params())
    tour.ok("POST /payments/cancel", json={"imp_uid": later["imp_uid"], "reason": "later"})
    # Listed by status: the payments above in each of theirs.
    for status in ("paid", "failed", "cancelled", "ready", "all"):
        listed = tour.ok("GET /payments/status/{payment_status}", f"/payments/status/{status}")
        assert listed["total"] >= 1 and all(status in ("all", p["status"]) for p in listed["list"])

    merchant_uid = new_uid()
    prepared = tour.ok("POST /payments/prepare", json={"merchant_uid": merchant_uid, "amount": 12.5,
                                                       "currency": "USD"})
    assert prepared == {"merchant_uid": merchant_uid, "amount": 12.5, "currency": "USD"}
    unpriced = new_uid()
    assert tour.ok("POST /payments/prepare", json={"merchant_uid": unpriced, "amount": 1000})["currency"] == "KRW"
    got = tour.ok("GET /payments/prepare/{merchant_uid}", f"/payments/prepare/{merchant_uid}")
    assert got == prepared

    # Billing keys: a good card and one whose later charges are declined.
    good = sandbox.issue_billing_key(new_uid("cust"))["param"]
    bad = sandbox.issue_billing_key(new_uid("cust"), card=RENEWAL_DECLINE_CARD)["param"]
    tour.ok("GET /subscribe/customers/{customer_uid}", f"/subscribe/customers/{good['customer_uid']}")
    for param, status in ((good, "paid"), (bad, "failed")):
        charged = tour.ok("POST /subscribe/payments/again", json={
            "customer_uid": param["customer_uid"], "merchant_uid": new_uid("renew"), "amount": 9.99,
            "name": "Renewal", "currency": "USD", "buyer_email": param["buyer_email"],
            "custom_data": {"plan": "pro"}})
        assert charged["status"] == status
    tour.ok("GET /subscribe/customers/{customer_uid}/payments",
            f"/subscribe/customers/{good['customer_uid']}/payments")

    now = sandbox.control("GET", "/clock")["now"]
    uids = [new_uid("sched") for _ in range(3)]
    tour.ok("POST /subscribe/payments/schedule", json={
        "customer_uid": good["customer_uid"],
        "schedules": [{"merchant_uid": uid, "schedule_at": now + (i + 1) * HOUR, "amount": 9.99,
                       "name": f"Renewal {i}", "currency": "USD"} for i, uid in enumerate(uids)]})
    tour.ok("POST /subscribe/payments/unschedule",
            json={"customer_uid": good["customer_uid"], "merchant_uid": [uids[2]]})
    # A schedule whose key is deleted before it runs fails without a card behind it.
    orphan = new_uid("sched")
    tour.ok("POST /subscribe/payments/schedule", json={
        "customer_uid": bad["customer_uid"],
        "schedules": [{"merchant_uid": orphan, "schedule_at": now + HOUR // 2, "amount": 5, "name": "Orphan"}]})
    tour.ok("DELETE /subscribe/customers/{customer_uid}", f"/subscribe/customers/{bad['customer_uid']}")
    sandbox.advance(HOUR + 1)
    tour.token = sandbox.token()  # the old one died with the hour
    executed = tour.ok("GET /subscribe/payments/schedule/{merchant_uid}",
                       f"/subscribe/payments/schedule/{uids[0]}")
    assert executed["schedule_status"] == "executed"
    failed = tour.ok("GET /subscribe/payments/schedule/{merchant_uid}", f"/subscribe/payments/schedule/{orphan}")
    assert failed["payment_status"] == "failed"
    tour.ok("GET /payments/{imp_uid}", f"/payments/{failed['imp_uid']}")
    listed = tour.ok("GET /subscribe/payments/schedule",
                     params={"schedule_from": now, "schedule_to": now + 4 * HOUR})
    assert {s["schedule_status"] for s in listed["list"]} == {"executed", "scheduled", "revoked"}

    # Paymentwall cannot do these, so they never succeed: their answer is always a refusal.
    for endpoint, path, body in (
        ("POST /subscribe/payments/onetime", "/subscribe/payments/onetime",
         {"merchant_uid": new_uid(), "amount": 1, "card_number": "4242-4242-4242-4242", "expiry": "2039-12"}),
        ("POST /subscribe/customers/{customer_uid}", f"/subscribe/customers/{new_uid('cust')}",
         {"card_number": "4242-4242-4242-4242", "expiry": "2039-12"}),
    ):
        refused = sandbox.api("POST", path, token=tour.token, json=body)
        assert refused.status_code == 200, refused.text
        check_envelope(refused.json(), ok=False)
        tour.seen.add(endpoint)

    assert tour.seen == set(DESCRIPTION["endpoints"])
    assert not tour.differences, "\n".join(tour.differences)


def test_a_test_channel_payment_matches_too(sandbox_factory):
    sandbox = sandbox_factory("test_channel", SANDBOX_TEST_CHANNEL=True)
    paid = sandbox.pay(checkout_params())
    payment = sandbox.payment(paid["imp_uid"])
    assert payment["sandbox"] is True
    check_shape(payment, "PaymentAnnotation")


@pytest.mark.parametrize("value, kind, wrong", [
    (1, "string", True), ("1", "integer", True), (1.5, "integer", True), (True, "integer", True),
    (True, "number", True), (1, "number", False), (1.5, "number", False), ([], "array", False),
    ("x", "boolean", True),
])
def test_the_checker_tells_json_types_apart(value, kind, wrong):
    assert bool(problems(value, {"type": kind})) is wrong


def test_the_checker_refuses_missing_extra_and_null_fields():
    payment = {"imp_uid": "imp_1", "merchant_uid": "m", "amount": 1, "cancel_amount": 0,
               "currency": "USD", "status": "paid", "sandbox": False}
    check_shape(payment, "PaymentAnnotation")
    for broken in ({k: v for k, v in payment.items() if k != "currency"},
                   {**payment, "surprise": 1},
                   {**payment, "status": None},
                   {**payment, "cancel_history": [{"pg_tid": "t", "amount": 1, "cancelled_at": 0,
                                                   "reason": None, "cancellation_id": "c"}]}):
        with pytest.raises(AssertionError):
            check_shape(broken, "PaymentAnnotation")
    check_shape({**payment, "buyer_tel": None}, "PaymentAnnotation")
