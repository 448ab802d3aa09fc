"""Renewals with iamport mocked below the client: anchored periods, one schedule per period."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import responses

from storefront import billing, followups
from storefront.extensions import db
from storefront.models import Payment, Subscription
from tests.unit.conftest import API
from tests.unit.test_billing import iamport_payment

UTC = timezone.utc
OK_LIST = {"code": 0, "message": None, "response": []}


def key_known(api, customer_uid="cu_1_abc"):
    api.get(f"{API}/subscribe/customers/{customer_uid}", json={"code": 0, "message": None, "response": {
        "customer_uid": customer_uid, "card_name": "VISA", "card_number": "424242******4242"}})


def schedule_calls(api) -> tuple[list[str], list[str]]:
    """The merchant_uids sent to iamport's schedule and unschedule, in order."""
    sent, withdrawn = [], []
    for call in api.calls:
        if call.request.url.endswith("/subscribe/payments/schedule"):
            sent += [s["merchant_uid"] for s in json.loads(call.request.body)["schedules"]]
        elif call.request.url.endswith("/subscribe/payments/unschedule"):
            withdrawn += json.loads(call.request.body)["merchant_uid"]
    return sent, withdrawn


def renewals(app, status=None) -> list[Payment]:
    with app.app_context():
        query = db.select(Payment).where(Payment.kind == "renewal").order_by(Payment.id)
        if status:
            query = query.where(Payment.status == status)
        rows = list(db.session.execute(query).scalars())
        for row in rows:
            db.session.expunge(row)
        return rows


def subscribe_at(app, api, paid_at: datetime) -> None:
    """The order's first payment is paid at `paid_at`; its key is ready and a renewal scheduled."""
    api.get(f"{API}/payments/imp_1", json={"code": 0, "message": None,
                                           "response": iamport_payment(paid_at=int(paid_at.timestamp()))})
    key_known(api)
    api.post(f"{API}/subscribe/payments/schedule", json=OK_LIST)
    api.post(f"{API}/subscribe/payments/unschedule", json=OK_LIST)
    with app.app_context():
        assert billing.sync_payment("imp_1").status == "paid"
    assert followups.runner(app).wait(timeout=10)


def run_renewal(app, api, row: Payment, n: int, **overrides) -> Payment:
    """iamport runs the scheduled renewal `row`; its webhook is verified."""
    info = dict(iamport_payment(), imp_uid=f"imp_ren_{n}", merchant_uid=row.merchant_uid,
                customer_uid_usage="payment.scheduled", paid_at=int(row.scheduled_at.timestamp()))
    info.update(overrides)
    url = f"{API}/payments/imp_ren_{n}"
    api.upsert(responses.GET, url, json={"code": 0, "message": None, "response": info})
    with app.app_context():
        payment = billing.sync_payment(f"imp_ren_{n}")
        db.session.expunge(payment)
    assert followups.runner(app).wait(timeout=10)
    return payment


def period_ends(app) -> tuple[datetime, datetime]:
    with app.app_context():
        sub = db.session.get(Subscription, 1)
        return sub.current_period_start, sub.current_period_end


def test_a_subscription_started_on_31_january_renews_on_the_months_last_days(app, api, order):
    start = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
    subscribe_at(app, api, start)
    assert period_ends(app) == (start, datetime(2027, 2, 28, 10, tzinfo=UTC))
    ends = []
    for n in range(3):
        [row] = renewals(app, status="scheduled")
        assert run_renewal(app, api, row, n).status == "paid"
        ends.append(period_ends(app)[1])
    assert ends == [datetime(2027, 3, 31, 10, tzinfo=UTC), datetime(2027, 4, 30, 10, tzinfo=UTC),
                    datetime(2027, 5, 31, 10, tzinfo=UTC)]
    with app.app_context():
        assert db.session.get(Subscription, 1).billing_anchor == start


def test_period_end_after_is_the_paid_until_date_of_one_more_charge(app, api, order):
    start = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
    subscribe_at(app, api, start)
    with app.app_context():
        sub = db.session.get(Subscription, 1)
        assert billing.period_end_after(sub) == datetime(2027, 3, 31, 10, tzinfo=UTC)
