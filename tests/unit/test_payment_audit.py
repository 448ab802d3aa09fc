"""The payment audit below the client: which of iamport's paid payments it records, how it pages, and a page that does not come."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from storefront.billing.payment_audit import audit_payments
from storefront.extensions import db
from storefront.models import Payment, Refund
from tests.support.iamport_mock import API, iamport_payment, key_unknown, paid_listing

NOW = datetime(2030, 6, 1, 12, 0, 0, 500000, tzinfo=timezone.utc)
NOW_UNIX = 1906545600  # 2030-06-01 12:00:00 UTC


def closed_and_recorded(app, order: str) -> None:
    """The order closed as abandoned; another order of the shopper's recorded paid; a payment
    on the first order already given back."""
    with app.app_context():
        first = db.session.execute(db.select(Payment).where(Payment.merchant_uid == order)).scalar_one()
        first.status, first.fail_reason = "failed", "Not completed: no payment was made."
        db.session.add(Payment(merchant_uid="sub_recorded", imp_uid="imp_rec", user_id=first.user_id,
                               amount=9, currency="USD", kind="first", status="paid"))
        db.session.add(Refund(imp_uid="imp_twice", merchant_uid=order, amount=9, currency="USD",
                              reason="a second payment of the order", status="done", refunded_at=NOW))
        db.session.commit()


def listing_requests(api) -> list:
    return [c.request for c in api.calls if "/payments/status/" in c.request.url]


def status_of(app, merchant_uid: str) -> tuple[str, str | None]:
    with app.app_context():
        row = db.session.execute(db.select(Payment).where(Payment.merchant_uid == merchant_uid)).scalar_one()
        return row.status, row.imp_uid


def test_records_only_the_paid_payments_of_our_orders_we_never_recorded(app, api, order):
    closed_and_recorded(app, order)
    key_unknown(api)
    paid_listing(api, [iamport_payment(imp_uid="imp_theirs", merchant_uid="another_shops_order"),
                       iamport_payment(imp_uid="imp_rec", merchant_uid="sub_recorded"),
                       iamport_payment(imp_uid="imp_twice")],
                 [iamport_payment(imp_uid="imp_late")])
    with app.app_context():
        recorded, failures = audit_payments(NOW)
    assert (recorded, failures) == (1, [])
    assert status_of(app, order) == ("paid", "imp_late")
    assert status_of(app, "sub_recorded") == ("paid", "imp_rec")
    with app.app_context():
        refunds = db.session.execute(db.select(Refund.imp_uid)).scalars().all()
    assert refunds == ["imp_twice"]  # someone else's payment is not ours to give back
    listed = listing_requests(api)
    assert [r.params["page"] for r in listed] == ["1", "2"]
    for request in listed:
        assert request.url.split("?")[0] == f"{API}/payments/status/paid"
        assert (request.params["from"], request.params["to"]) == (str(NOW_UNIX - 90 * 86400), str(NOW_UNIX))
        assert (request.params["limit"], request.params["sorting"]) == ("100", "paid")
    # The listing's record is enough: no payment is looked up again.
    assert [c for c in api.calls if c.request.url.split("?")[0].startswith(f"{API}/payments/imp_")] == []


def test_a_second_payment_on_a_paid_order_is_recorded_as_owed_back(app, api, order):
    with app.app_context():
        first = db.session.execute(db.select(Payment).where(Payment.merchant_uid == order)).scalar_one()
        first.status, first.imp_uid = "paid", "imp_1"
        db.session.commit()
    paid_listing(api, [iamport_payment(), iamport_payment(imp_uid="imp_again")])
    api.post(f"{API}/payments/cancel", json={"code": 0, "message": None,
                                            "response": iamport_payment(imp_uid="imp_again")})
    with app.app_context():
        recorded, failures = audit_payments(NOW)
    assert (recorded, failures) == (1, [])
    assert status_of(app, order) == ("paid", "imp_1")
    with app.app_context():
        refunds = db.session.execute(db.select(Refund.imp_uid)).scalars().all()
    assert refunds == ["imp_again"]


def test_a_page_that_does_not_come_is_a_failure(app, api, order):
    closed_and_recorded(app, order)
    key_unknown(api)

    def pages(request):
        if request.params["page"] == "1":
            return 200, {}, json.dumps({"code": 0, "message": None, "response": {
                "total": 101, "previous": 0, "next": 2, "list": [iamport_payment(imp_uid="imp_late")]}})
        return 503, {}, json.dumps({"code": -1, "message": "Service unavailable", "response": None})

    api.add_callback("GET", f"{API}/payments/status/paid", callback=pages)
    with app.app_context():
        recorded, failures = audit_payments(NOW)
    assert recorded == 1 and status_of(app, order) == ("paid", "imp_late")
    assert len(failures) == 1 and failures[0].startswith("payment listing, page 2: ")
    assert "503" in failures[0]


def test_a_listing_that_names_the_same_page_again_ends(app, api, order):
    api.get(f"{API}/payments/status/paid", json={"code": 0, "message": None, "response": {
        "total": 500, "previous": 0, "next": 1, "list": []}})
    with app.app_context():
        assert audit_payments(NOW) == (0, [])
    assert len(listing_requests(api)) == 1
    assert status_of(app, order) == ("pending", None)
