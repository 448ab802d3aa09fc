"""The scheduled renewal row is the outbox: the webhook writes it with the payment and answers; its schedule is sent after the answer, and reconcile sends what iamport never took."""

from __future__ import annotations

import json
import os
import threading
from datetime import timedelta

import pytest
import requests
import responses
import sqlalchemy as sa

from storefront import billing
from storefront.cli import seed_plans
from storefront.extensions import db
from storefront.formatting import shop_zone
from storefront.models import Payment, Plan, Subscription, User, utcnow
from storefront.periods import add_interval
from tests.support.records import stored_payments
from tests.support.servers import serve_wsgi
from tests.support.iamport_mock import API, iamport_payment, paid_listing, unschedule_revokes, unscheduled_uids

RENEWAL = "ren_1_due_0"


def active_with_renewal(app, order_uid: str) -> None:
    """Make the order's subscription active on a ready key with one scheduled renewal."""
    start = utcnow().replace(microsecond=0)
    with app.app_context():
        payment = billing.payment_by_merchant_uid(order_uid)
        sub = payment.subscription
        sub.status, sub.customer_uid, sub.billing_key_ready_at = "active", "cu_1_abc", start
        sub.current_period_start, sub.current_period_end = start, add_interval(start, "month",
                                                                               zone=shop_zone())
        sub.buyer_email, sub.buyer_name = "ada@example.com", "Ada Lovelace"
        payment.status = "paid"
        db.session.add(Payment(merchant_uid=RENEWAL, user_id=payment.user_id, subscription=sub,
                               amount=payment.amount, currency="USD", kind="renewal",
                               status="scheduled", customer_uid="cu_1_abc",
                               scheduled_at=sub.current_period_end,
                               period_start=sub.current_period_end, attempt=0,
                               schedule_taken_at=start))
        db.session.commit()


def serve_renewal(api, **overrides) -> None:
    info = dict(iamport_payment(), imp_uid="imp_ren", merchant_uid=RENEWAL,
                customer_uid_usage="payment.scheduled", **overrides)
    api.get(f"{API}/payments/imp_ren", json={"code": 0, "message": None, "response": info})


def scheduled_renewals(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(
            db.select(Payment.merchant_uid).where(Payment.status == "scheduled")).scalars())


def untaken(app) -> list[str]:
    """Scheduled renewals whose schedule iamport has not taken (the outbox)."""
    with app.app_context():
        return list(db.session.execute(
            db.select(Payment.merchant_uid).where(Payment.status == "scheduled",
                                                  Payment.schedule_taken_at.is_(None))).scalars())


def sent_schedules(api) -> list[str]:
    """The order ids of every schedule the storefront sent iamport."""
    return [s["merchant_uid"] for call in api.calls
            if call.request.url.endswith("/subscribe/payments/schedule")
            for s in json.loads(call.request.body)["schedules"]]


def test_webhook_answers_before_the_next_renewal_is_scheduled(app, api, order):
    """Over real HTTP: the server sends the answer, then the schedule goes to iamport."""
    active_with_renewal(app, order)
    serve_renewal(api)
    release = threading.Event()

    def slow_schedule(request):
        # iamport is slow to take the schedule; the webhook's answer must not wait for it.
        assert release.wait(10)
        return 200, {}, json.dumps({"code": 0, "message": None, "response": []})

    api.add_callback(responses.POST, f"{API}/subscribe/payments/schedule", callback=slow_schedule)
    with serve_wsgi(app) as served:
        api.add_passthru(served.url)
        answer = requests.post(f"{served.url}/iamport/webhook", timeout=5,
                               json={"imp_uid": "imp_ren", "merchant_uid": RENEWAL})
        assert answer.status_code == 200 and answer.json() == {"result": "ok", "status": "paid"}
        with app.app_context():
            assert billing.payment_by_merchant_uid(RENEWAL).status == "paid"
            sub = db.session.get(Subscription, 1)
            assert sub.current_period_start == billing.payment_by_merchant_uid(RENEWAL).scheduled_at
        # The next renewal was written with the payment, in one transaction; only iamport waits.
        [next_renewal] = scheduled_renewals(app)
        assert next_renewal != RENEWAL and untaken(app) == [next_renewal]
        release.set()
        assert served.wait_idle(10)
    assert sent_schedules(api) == [next_renewal]
    assert untaken(app) == []


def test_an_earlier_attempt_at_the_next_period_makes_the_next_one_attempt_1(app, client, api, order):
    """The next period already has an attempt (one withdrawn): the webhook still records the
    payment, and the next renewal is scheduled once, as the period's next attempt."""
    active_with_renewal(app, order)
    serve_renewal(api)
    with app.app_context():
        sub = db.session.get(Subscription, 1)
        due = add_interval(sub.current_period_end, "month", zone=shop_zone())
        db.session.add(Payment(merchant_uid="ren_withdrawn", user_id=sub.user_id,
                               subscription=sub, amount=9, currency="USD", kind="renewal",
                               status="revoked", customer_uid="cu_1_abc", scheduled_at=due,
                               period_start=due, attempt=0))
        db.session.commit()
    schedule = api.post(f"{API}/subscribe/payments/schedule",
                        json={"code": 0, "message": None, "response": []})
    answer = client.post("/iamport/webhook", json={"imp_uid": "imp_ren", "merchant_uid": RENEWAL})
    assert answer.status_code == 200 and answer.json["status"] == "paid"
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


def test_a_schedule_iamport_did_not_take_stays_in_the_outbox_and_reconcile_sends_it(app, client, api, order):
    active_with_renewal(app, order)
    serve_renewal(api)
    down = api.post(f"{API}/subscribe/payments/schedule", status=503,
                    json={"code": -1, "message": "Service unavailable", "response": None})
    answer = client.post("/iamport/webhook", json={"imp_uid": "imp_ren", "merchant_uid": RENEWAL})
    assert answer.status_code == 200 and answer.json == {"result": "ok", "status": "paid"}
    [next_renewal] = untaken(app)
    # Asked whether the schedule arrived all the same (an answer may be lost): it did not.
    api.get(f"{API}/subscribe/payments/schedule/{next_renewal}", status=404,
            json={"code": 1, "message": "not found", "response": None})
    assert down.call_count >= 1
    api.replace(responses.POST, f"{API}/subscribe/payments/schedule",
                json={"code": 0, "message": None, "response": []})
    with app.app_context():
        report = billing.reconcile(min_age=timedelta(0))
    assert report.rescheduled == 1 and report.failures == []
    assert untaken(app) == [] and scheduled_renewals(app) == [next_renewal]
    assert sent_schedules(api)[-1] == next_renewal


def test_a_schedule_whose_answer_was_lost_is_recorded_taken_when_iamport_holds_it(app, api, order):
    active_with_renewal(app, order)
    with app.app_context():
        renewal = billing.payment_by_merchant_uid(RENEWAL)
        renewal.schedule_taken_at = None
        db.session.commit()
    api.post(f"{API}/subscribe/payments/schedule", body=requests.exceptions.ReadTimeout("read timed out"))
    held = api.get(f"{API}/subscribe/payments/schedule/{RENEWAL}", json={
        "code": 0, "message": None, "response": {"merchant_uid": RENEWAL, "schedule_status": "scheduled"}})
    with app.app_context():
        assert billing.send_schedule(billing.payment_by_merchant_uid(RENEWAL)) is True
    assert held.call_count == 1
    assert untaken(app) == [] and scheduled_renewals(app) == [RENEWAL]


def test_reconcile_schedules_a_renewal_that_was_never_written(app, api, order):
    """The renewal was recorded paid without its next one (the clash that leaves it to later)."""
    active_with_renewal(app, order)
    with app.app_context():
        renewal = billing.payment_by_merchant_uid(RENEWAL)
        renewal.status, renewal.imp_uid, renewal.paid_at = "paid", "imp_ren", utcnow()
        sub = renewal.subscription
        sub.current_period_start = sub.current_period_end
        sub.current_period_end = add_interval(sub.current_period_end, "month", zone=shop_zone())
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


def statuses(app) -> dict[str, str]:
    """Every renewal's status by order id."""
    return {row.merchant_uid: str(row.status) for row in stored_payments(app, kind="renewal")}


NOTHING_TO_REVOKE = {"code": 1, "message": "There is no scheduled payment to revoke.", "response": None}


def test_a_withdrawal_with_an_unknown_outcome_stays_owed_for_reconcile(app, api, order):
    active_with_renewal(app, order)
    unschedule = api.post(f"{API}/subscribe/payments/unschedule",
                          body=requests.exceptions.ReadTimeout("read timed out"))
    with app.app_context():
        assert billing.revoke_schedule(billing.payment_by_merchant_uid(RENEWAL)) is False
    assert unschedule.call_count == 1
    assert statuses(app) == {RENEWAL: "withdrawing"}


def test_a_schedule_withdrawn_on_its_way_is_withdrawn_again_once_iamport_holds_it(app, api, order):
    """A cancel found nothing at iamport to withdraw while the schedule was being sent: once the
    schedule landed, the withdrawal is owed again (and carried out like any other)."""
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
    api.get(f"{API}/subscribe/payments/schedule/{RENEWAL}", status=404,
            json={"code": 1, "message": "no such schedule", "response": None})
    with app.app_context():
        renewal = billing.payment_by_merchant_uid(RENEWAL)
        renewal.schedule_taken_at = None
        db.session.commit()
        assert billing.send_schedule(renewal) is False
    assert statuses(app) == {RENEWAL: "withdrawing"}
    # Carried out: this time iamport holds it and revokes it.
    api.replace(responses.POST, f"{API}/subscribe/payments/unschedule", json={
        "code": 0, "message": None, "response": [{"merchant_uid": RENEWAL, "schedule_status": "revoked"}]})
    with app.app_context():
        billing.carry_out(1)
    assert statuses(app) == {RENEWAL: "revoked"}


def test_a_withdrawal_refused_for_another_reason_stays_owed(app, api, order):
    """A refusal is not "nothing to withdraw" until iamport's schedule shows it gone: here
    iamport still lists it as scheduled (the unschedule was refused with a 429)."""
    active_with_renewal(app, order)
    api.post(f"{API}/subscribe/payments/unschedule", status=429,
             json={"code": -1, "message": "too many requests", "response": None})
    api.get(f"{API}/subscribe/payments/schedule/{RENEWAL}", json={
        "code": 0, "message": None, "response": {"merchant_uid": RENEWAL, "schedule_status": "scheduled"}})
    with app.app_context():
        assert billing.revoke_schedule(billing.payment_by_merchant_uid(RENEWAL)) is False
        report = billing.reconcile(min_age=timedelta(0))
    assert statuses(app) == {RENEWAL: "withdrawing"}
    assert any(RENEWAL in failure for failure in report.failures)


def test_a_paid_renewal_writes_its_next_renewal_and_sends_its_schedule(app, client, api, order):
    active_with_renewal(app, order)
    serve_renewal(api)
    api.post(f"{API}/subscribe/payments/schedule", json={"code": 0, "message": None, "response": []})
    answer = client.post("/iamport/webhook", json={"imp_uid": "imp_ren", "merchant_uid": RENEWAL})
    assert answer.json == {"result": "ok", "status": "paid"}
    (next_renewal,) = scheduled_renewals(app)
    assert next_renewal != RENEWAL
    sent = [json.loads(call.request.body) for call in api.calls
            if call.request.url.endswith("/subscribe/payments/schedule")]
    assert [s["merchant_uid"] for body in sent for s in body["schedules"]] == [next_renewal]


def settled_subscriptions(app, count: int) -> list[str]:
    """`count` active subscriptions on ready keys, each with one renewal iamport took; returns
    the renewals' order ids."""
    start = utcnow().replace(microsecond=0)
    uids = []
    with app.app_context():
        end = add_interval(start, "month", zone=shop_zone())
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-monthly")).scalar_one()
        for n in range(count):
            user = User(email=f"settled{n}@example.com", first_name="Ada", last_name="Lovelace")
            user.set_password("correct horse")
            key = f"cu_settled_{n}"
            sub = Subscription(user=user, plan=plan, status="active", customer_uid=key,
                               billing_key_ready_at=start, current_period_start=start,
                               current_period_end=end, buyer_email=user.email,
                               buyer_name="Ada Lovelace")
            renewal = Payment(merchant_uid=f"ren_settled_{n}", user=user, subscription=sub,
                              amount=plan.price, currency="USD", kind="renewal", status="scheduled",
                              customer_uid=key, scheduled_at=end, period_start=end, attempt=0,
                              schedule_taken_at=start)
            db.session.add_all([user, sub, renewal])
            uids.append(renewal.merchant_uid)
        db.session.commit()
    return uids


def calls_but_the_token(api) -> list[str]:
    return [f"{c.request.method} {c.request.url}" for c in api.calls
            if not c.request.url.endswith("/users/getToken")]


def test_reconcile_asks_iamport_nothing_about_subscriptions_that_are_settled(app, api):
    with app.app_context():
        seed_plans()
    settled_subscriptions(app, 5)
    with app.app_context():
        report = billing.reconcile(min_age=timedelta(0))
    assert report.failures == [] and report.rescheduled == 0
    assert calls_but_the_token(api) == []


def listing(*schedules, next_page=0) -> dict:
    return {"code": 0, "message": None, "response": {
        "total": 1000 + len(schedules), "previous": 0, "next": next_page,
        "list": [{"merchant_uid": uid, "schedule_status": status} for uid, status in schedules]}}


def test_an_audit_pages_through_the_listing_and_acts_on_what_iamport_revoked_or_lost(app, api):
    with app.app_context():
        seed_plans()
    kept, revoked, lost = settled_subscriptions(app, 3)
    pages = [listing(("someone_elses", "scheduled"), (kept, "scheduled"), next_page=2),
             listing((revoked, "revoked"))]
    api.add_callback(responses.GET, f"{API}/subscribe/payments/schedule",
                     callback=lambda request: (200, {}, json.dumps(pages.pop(0))))
    # Not listed: looked up alone before it is taken for lost.
    alone = api.get(f"{API}/subscribe/payments/schedule/{lost}", status=404,
                    json={"code": 1, "message": "not found", "response": None})
    api.post(f"{API}/subscribe/payments/schedule", json={"code": 0, "message": None, "response": []})
    paid_listing(api)
    with app.app_context():
        report = billing.reconcile(min_age=timedelta(0), audit=True)
    assert report.failures == []
    assert (report.revoked_at_iamport, report.lost_at_iamport) == (1, 1)
    assert pages == [] and alone.call_count == 1
    listed = [c.request for c in api.calls if c.request.url.split("?")[0].endswith("/payments/schedule")
              and c.request.method == "GET"]
    assert [r.params["page"] for r in listed] == ["1", "2"] and {r.params["limit"] for r in listed} == {"1000"}
    with app.app_context():
        status = dict(db.session.execute(db.select(Payment.merchant_uid, Payment.status)).all())
    assert (status[kept], status[revoked], status[lost]) == ("scheduled", "revoked", "scheduled")
    # The lost one is sent again; the revoked one's period gets a new attempt, sent too.
    sent = sent_schedules(api)
    assert lost in sent and len(sent) == 2 and untaken(app) == []


def test_an_audit_cut_short_concludes_nothing(app, api):
    with app.app_context():
        seed_plans()
    settled_subscriptions(app, 2)
    api.get(f"{API}/subscribe/payments/schedule", status=503,
            json={"code": -1, "message": "Service unavailable", "response": None})
    paid_listing(api)
    with app.app_context():
        report = billing.reconcile(min_age=timedelta(0), audit=True)
    assert len(report.failures) == 1 and "listing" in report.failures[0]
    assert (report.revoked_at_iamport, report.lost_at_iamport) == (0, 0)
    assert untaken(app) == [] and len(scheduled_renewals(app)) == 2


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="row locks: PostgreSQL only")
def test_reconcile_holds_no_row_lock_while_it_asks_iamport(app, api, order):
    locked_elsewhere: list[bool] = []

    def lookup(request):
        # Another process (a webhook for this order, say) locks the row meanwhile, at once.
        engine = sa.create_engine(os.environ["TEST_DATABASE_URL"])
        try:
            with engine.connect() as other:
                other.execute(sa.text("SET lock_timeout = '100ms'"))
                other.execute(sa.text("SELECT id FROM payments WHERE merchant_uid = :uid FOR UPDATE"),
                              {"uid": order})
                locked_elsewhere.append(True)
                other.rollback()
        except sa.exc.OperationalError:
            locked_elsewhere.append(False)
        finally:
            engine.dispose()
        return 200, {}, json.dumps({"code": 0, "message": None, "response": iamport_payment(status="ready")})

    api.add_callback(responses.GET, f"{API}/payments/find/{order}", callback=lookup)
    with app.app_context():
        billing.reconcile(min_age=timedelta(0))
    assert locked_elsewhere == [True]


def another_taken_renewal(app, beside: str, merchant_uid: str, same_period: bool) -> None:
    """A second scheduled renewal iamport took, beside the renewal `beside`: another attempt at
    its period, or one with no period (as written before renewals recorded theirs)."""
    with app.app_context():
        row = billing.payment_by_merchant_uid(beside)
        db.session.add(Payment(merchant_uid=merchant_uid, user_id=row.user_id,
                               subscription_id=row.subscription_id, amount=row.amount, currency="USD",
                               kind="renewal", status="scheduled", customer_uid=row.customer_uid,
                               scheduled_at=row.scheduled_at, schedule_taken_at=utcnow(),
                               **({"period_start": row.period_start, "attempt": 1} if same_period else {})))
        db.session.commit()


def test_reconcile_withdraws_a_second_renewal_scheduled_for_the_same_period(app, api):
    """Two attempts at one period both scheduled (a cancel's withdrawal that timed out, then a
    resume): iamport would run both, so reconcile withdraws the later one."""
    with app.app_context():
        seed_plans()
    [first] = settled_subscriptions(app, 1)
    another_taken_renewal(app, first, "ren_settled_0_again", same_period=True)
    unschedule_revokes(api)
    with app.app_context():
        billing.reconcile(min_age=timedelta(0))
    assert scheduled_renewals(app) == [first]
    assert unscheduled_uids(api) == [["ren_settled_0_again"]]


def test_reconcile_withdraws_a_scheduled_renewal_of_no_period(app, api):
    """A scheduled row without a period (written before renewals recorded theirs) beside the
    period's own: NULL is a difference, not an unknown, so reconcile looks at it."""
    with app.app_context():
        seed_plans()
    [first] = settled_subscriptions(app, 1)
    another_taken_renewal(app, first, "ren_legacy", same_period=False)
    unschedule_revokes(api)
    with app.app_context():
        billing.reconcile(min_age=timedelta(0))
    assert scheduled_renewals(app) == [first]


def test_a_due_renewal_iamport_holds_no_schedule_for_is_sent_again(app, api, order):
    """The renewal's time has come, iamport has no payment for it and no schedule either (a
    withdrawal that did go through, say): reconcile sends it again, a little ahead."""
    active_with_renewal(app, order)
    with app.app_context():
        renewal = billing.payment_by_merchant_uid(RENEWAL)
        renewal.scheduled_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    api.get(f"{API}/payments/find/{RENEWAL}", status=404, json={"code": 1, "message": "not found", "response": None})
    api.get(f"{API}/subscribe/payments/schedule/{RENEWAL}", status=404,
            json={"code": 1, "message": "not found", "response": None})
    api.post(f"{API}/subscribe/payments/schedule", json={"code": 0, "message": None, "response": []})
    with app.app_context():
        report = billing.reconcile(min_age=timedelta(0))
        assert billing.payment_by_merchant_uid(RENEWAL).scheduled_at > utcnow()
    assert report.lost_at_iamport == 1 and report.failures == []
    assert sent_schedules(api) == [RENEWAL] and untaken(app) == []


def test_a_schedule_sent_after_the_webhooks_answer_names_the_shops_own_webhook(app, client, api, order):
    active_with_renewal(app, order)
    serve_renewal(api)
    api.post(f"{API}/subscribe/payments/schedule", json={"code": 0, "message": None, "response": []})
    # The webhook reached the shop under another Host: the schedule still names PUBLIC_URL's
    # (in sandbox mode, by default, where `make run` serves the shop).
    client.post("/iamport/webhook", json={"imp_uid": "imp_ren", "merchant_uid": RENEWAL},
                base_url="https://attacker.example")
    [call] = [c for c in api.calls if c.request.url.endswith("/subscribe/payments/schedule")]
    [schedule] = json.loads(call.request.body)["schedules"]
    assert schedule["notice_url"] == "http://127.0.0.1:5000/iamport/webhook"


def test_a_renewal_iamport_still_held_past_its_time_is_revoked_by_its_unschedule(app, api, order):
    """iamport's list of what it withdrew shows it never ran, however late: no lookup is owed."""
    active_with_renewal(app, order)
    with app.app_context():
        renewal = billing.payment_by_merchant_uid(RENEWAL)
        renewal.scheduled_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    unschedule_revokes(api)
    with app.app_context():
        assert billing.revoke_schedule(billing.payment_by_merchant_uid(RENEWAL)) is True
    assert statuses(app) == {RENEWAL: "revoked"}
