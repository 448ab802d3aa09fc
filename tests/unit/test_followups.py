"""A webhook is answered once the payment is recorded; the next renewal is scheduled after that."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import requests
import responses
import sqlalchemy as sa

from storefront import billing, followups
from storefront.extensions import db
from storefront.models import Payment, Subscription, utcnow
from storefront.periods import add_interval
from tests.unit.conftest import API
from tests.unit.test_billing import iamport_payment

RENEWAL = "ren_1_due_0"


def active_with_renewal(app, order_uid: str) -> None:
    """Make the order's subscription active on a ready key with one scheduled renewal."""
    start = utcnow().replace(microsecond=0)
    with app.app_context():
        payment = billing.payment_by_merchant_uid(order_uid)
        sub = payment.subscription
        sub.status, sub.customer_uid, sub.billing_key_ready_at = "active", "cu_1_abc", start
        sub.current_period_start, sub.current_period_end = start, add_interval(start, "month")
        sub.buyer_email, sub.buyer_name = "ada@example.com", "Ada Lovelace"
        payment.status = "paid"
        db.session.add(Payment(merchant_uid=RENEWAL, user_id=payment.user_id, subscription=sub,
                               amount=payment.amount, currency="USD", kind="renewal",
                               status="scheduled", customer_uid="cu_1_abc",
                               scheduled_at=sub.current_period_end,
                               period_start=sub.current_period_end, attempt=0))
        db.session.commit()


def serve_renewal(api, **overrides) -> None:
    info = dict(iamport_payment(), imp_uid="imp_ren", merchant_uid=RENEWAL,
                customer_uid_usage="payment.scheduled", **overrides)
    api.get(f"{API}/payments/imp_ren", json={"code": 0, "message": None, "response": info})


def scheduled_renewals(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(
            db.select(Payment.merchant_uid).where(Payment.status == "scheduled")).scalars())


def test_webhook_answers_before_the_next_renewal_is_scheduled(app, client, api, order):
    active_with_renewal(app, order)
    serve_renewal(api)
    release = threading.Event()

    def slow_schedule(request):
        # iamport is slow to take the schedule; the webhook's answer must not wait for it.
        assert release.wait(10)
        return 200, {}, json.dumps({"code": 0, "message": None, "response": []})

    api.add_callback(responses.POST, f"{API}/subscribe/payments/schedule", callback=slow_schedule)
    answer = client.post("/iamport/webhook", json={"imp_uid": "imp_ren", "merchant_uid": RENEWAL})
    assert answer.status_code == 200 and answer.json == {"result": "ok", "status": "paid"}
    with app.app_context():
        assert billing.payment_by_merchant_uid(RENEWAL).status == "paid"
        sub = db.session.get(Subscription, 1)
        assert sub.current_period_start == billing.payment_by_merchant_uid(RENEWAL).scheduled_at
    assert not followups.runner(app).wait(timeout=0.2), "the schedule call should still be held"
    # The next renewal was written with the payment, in one transaction; only iamport waits.
    [next_renewal] = scheduled_renewals(app)
    assert next_renewal != RENEWAL
    release.set()
    assert followups.runner(app).wait(timeout=10)
    [call] = [c for c in api.calls if c.request.url.endswith("/subscribe/payments/schedule")]
    assert json.loads(call.request.body)["schedules"][0]["merchant_uid"] == next_renewal


def test_an_earlier_attempt_at_the_next_period_makes_the_next_one_attempt_1(app, client, api, order):
    """The next period already has an attempt (one withdrawn): the webhook still records the
    payment, and the next renewal is scheduled once, as the period's next attempt."""
    active_with_renewal(app, order)
    serve_renewal(api)
    with app.app_context():
        sub = db.session.get(Subscription, 1)
        due = add_interval(sub.current_period_end, "month")
        db.session.add(Payment(merchant_uid="ren_withdrawn", user_id=sub.user_id,
                               subscription=sub, amount=9, currency="USD", kind="renewal",
                               status="revoked", customer_uid="cu_1_abc", scheduled_at=due,
                               period_start=due, attempt=0))
        db.session.commit()
    schedule = api.post(f"{API}/subscribe/payments/schedule",
                        json={"code": 0, "message": None, "response": []})
    answer = client.post("/iamport/webhook", json={"imp_uid": "imp_ren", "merchant_uid": RENEWAL})
    assert answer.status_code == 200 and answer.json["status"] == "paid"
    assert followups.runner(app).wait(timeout=10)
    with app.app_context():
        assert billing.payment_by_merchant_uid(RENEWAL).status == "paid"
        assert db.session.get(Subscription, 1).current_period_end == due
        [row] = db.session.execute(db.select(Payment).where(Payment.status == "scheduled")).scalars()
        assert (row.period_start, row.attempt, row.scheduled_at) == (due, 1, due)
        uid = row.merchant_uid
    assert schedule.call_count == 1
    assert json.loads(schedule.calls[0].request.body)["schedules"][0]["merchant_uid"] == uid


def test_refund_of_a_renewal_on_a_canceled_subscription_is_made_before_the_answer(app, client, api, order):
    active_with_renewal(app, order)
    with app.app_context():
        db.session.get(Subscription, 1).status = "canceled"
        db.session.commit()
    serve_renewal(api)
    release = threading.Event()

    def cancel(request):
        release.set()
        return 200, {}, json.dumps({"code": 0, "message": None,
                                    "response": iamport_payment(status="cancelled")})

    api.add_callback(responses.POST, f"{API}/payments/cancel", callback=cancel)
    answer = client.post("/iamport/webhook", json={"imp_uid": "imp_ren", "merchant_uid": RENEWAL})
    assert answer.status_code == 200
    # Money goes back before iamport hears "ok", never on a thread that may not get to it.
    assert release.is_set()
    with app.app_context():
        assert billing.payment_by_merchant_uid(RENEWAL).status == "cancelled"


def test_a_failing_follow_up_is_logged_and_the_rest_still_run(app, caplog):
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("iamport said no")

    with app.test_request_context("/iamport/webhook", method="POST"), caplog.at_level(logging.ERROR):
        followups.defer()
        followups.later(broken)
        followups.later(lambda: ran.append("second"))
        assert ran == []
        followups.hand_off(app.response_class("ok"))
    assert followups.runner(app).wait(timeout=10)
    assert ran == ["second"]
    assert "reconcile will repeat it" in caplog.text and "iamport said no" in caplog.text


def test_without_defer_follow_ups_run_at_once(app):
    ran: list[str] = []
    with app.test_request_context("/account"):
        followups.later(lambda: ran.append("now"))
        assert ran == ["now"]


def test_reconcile_schedules_a_renewal_whose_follow_up_was_lost(app, api, order):
    """The worker died after recording the renewal and before scheduling the next one."""
    active_with_renewal(app, order)
    with app.app_context():
        renewal = billing.payment_by_merchant_uid(RENEWAL)
        renewal.status, renewal.imp_uid, renewal.paid_at = "paid", "imp_ren", utcnow()
        sub = renewal.subscription
        sub.current_period_start = sub.current_period_end
        sub.current_period_end = add_interval(sub.current_period_end, "month")
        db.session.commit()
        end = sub.current_period_end
    assert scheduled_renewals(app) == []
    schedule = api.post(f"{API}/subscribe/payments/schedule",
                        json={"code": 0, "message": None, "response": []})
    with app.app_context():
        report = billing.reconcile(min_age=timedelta(0))
        assert report.rescheduled == 1
        [row] = db.session.execute(db.select(Payment).where(Payment.status == "scheduled")).scalars()
        assert row.scheduled_at == end
    assert schedule.call_count == 1


NOTHING_TO_REVOKE = {"code": 1, "message": "There is no scheduled payment to revoke.", "response": None}


def test_a_revoke_with_an_unknown_outcome_leaves_the_renewal_scheduled_for_reconcile(app, api, order):
    active_with_renewal(app, order)
    unschedule = api.post(f"{API}/subscribe/payments/unschedule",
                          body=requests.exceptions.ReadTimeout("read timed out"))
    with app.app_context():
        assert billing.revoke_schedule(billing.payment_by_merchant_uid(RENEWAL)) is False
    assert unschedule.call_count == 1
    assert scheduled_renewals(app) == [RENEWAL]


def test_a_schedule_revoked_on_its_way_whose_withdrawal_times_out_is_left_to_reconcile(app, api, order):
    """A cancel found nothing at iamport to withdraw while the schedule was being sent (the
    withdrawal that follows is tested over real HTTP in test_lifecycle.py)."""
    active_with_renewal(app, order)

    def cancel_meanwhile(request):
        def revoke():
            with app.app_context():
                assert billing.revoke_schedule(billing.payment_by_merchant_uid(RENEWAL)) is True
        thread = threading.Thread(target=revoke)
        thread.start()
        thread.join()
        return 200, {}, json.dumps({"code": 0, "message": None, "response": []})

    api.add_callback(responses.POST, f"{API}/subscribe/payments/schedule", callback=cancel_meanwhile)
    api.post(f"{API}/subscribe/payments/unschedule", json=NOTHING_TO_REVOKE)
    # The storefront's own withdrawal after the schedule landed times out.
    api.post(f"{API}/subscribe/payments/unschedule",
             body=requests.exceptions.ReadTimeout("read timed out"))
    with app.app_context():
        assert billing.register_schedule(billing.payment_by_merchant_uid(RENEWAL)) is False
    # Calls are listed as they are answered: the cancel's inside the schedule call's.
    calls = [call.request.url.rsplit("/", 1)[1] for call in api.calls]
    assert calls[-3:] == ["unschedule", "schedule", "unschedule"]
    # iamport may hold it: scheduled again here, so that reconcile asks iamport and withdraws it.
    assert scheduled_renewals(app) == [RENEWAL]


def test_a_paid_renewal_writes_its_next_renewal_and_sends_its_schedule(app, client, api, order):
    active_with_renewal(app, order)
    serve_renewal(api)
    api.post(f"{API}/subscribe/payments/schedule", json={"code": 0, "message": None, "response": []})
    answer = client.post("/iamport/webhook", json={"imp_uid": "imp_ren", "merchant_uid": RENEWAL})
    assert followups.runner(app).wait(timeout=10)
    assert answer.json == {"result": "ok", "status": "paid"}
    (next_renewal,) = scheduled_renewals(app)
    assert next_renewal != RENEWAL
    sent = [json.loads(call.request.body) for call in api.calls
            if call.request.url.endswith("/subscribe/payments/schedule")]
    assert [s["merchant_uid"] for body in sent for s in body["schedules"]] == [next_renewal]
