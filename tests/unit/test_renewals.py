"""Renewals with iamport mocked below the client: anchored periods, one schedule per period."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import responses
import sqlalchemy as sa

from storefront import billing
from storefront.extensions import db
from storefront.models import Payment, Subscription, SubscriptionEvent
from tests.support.iamport_mock import API, iamport_payment, unschedule_revokes
from tests.support.records import stored_payments

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
    return stored_payments(app, kind="renewal", status=status)


def subscribe_at(app, api, paid_at: datetime) -> None:
    """The order's first payment is paid at `paid_at`; its key is ready and a renewal scheduled."""
    api.get(f"{API}/payments/imp_1", json={"code": 0, "message": None,
                                           "response": iamport_payment(paid_at=int(paid_at.timestamp()))})
    key_known(api)
    api.post(f"{API}/subscribe/payments/schedule", json=OK_LIST)
    unschedule_revokes(api)
    with app.app_context():
        assert billing.verify_payment("imp_1").status == "paid"


def run_renewal(app, api, row: Payment, n: int, **overrides) -> Payment:
    """iamport runs the scheduled renewal `row`; its webhook is verified."""
    info = dict(iamport_payment(), imp_uid=f"imp_ren_{n}", merchant_uid=row.merchant_uid,
                customer_uid_usage="payment.scheduled", paid_at=int(row.scheduled_at.timestamp()))
    info.update(overrides)
    url = f"{API}/payments/imp_ren_{n}"
    api.upsert(responses.GET, url, json={"code": 0, "message": None, "response": info})
    with app.app_context():
        payment = billing.verify_payment(f"imp_ren_{n}")
        db.session.refresh(payment)  # read what was committed, for use after the context
        db.session.expunge(payment)
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


def test_periods_follow_the_calendar_in_seoul(app, api, order):
    # Paid at 00:30 on 31 January in Seoul (SHOP_TIMEZONE's default), 15:30 UTC on 30 January:
    # every period ends at 00:30 KST on the month's last day, stored in UTC.
    start = datetime(2027, 1, 30, 15, 30, tzinfo=UTC)
    subscribe_at(app, api, start)
    assert period_ends(app) == (start, datetime(2027, 2, 27, 15, 30, tzinfo=UTC))  # 28 Feb KST
    with app.app_context():
        sub = db.session.get(Subscription, 1)
        assert billing.period_end_after(sub) == datetime(2027, 3, 30, 15, 30, tzinfo=UTC)
    ends = []
    for n in range(3):
        [row] = renewals(app, status="scheduled")
        assert run_renewal(app, api, row, n).status == "paid"
        ends.append(period_ends(app)[1])
    # 31 March, 30 April, 31 May at 00:30 KST.
    assert ends == [datetime(2027, 3, 30, 15, 30, tzinfo=UTC), datetime(2027, 4, 29, 15, 30, tzinfo=UTC),
                    datetime(2027, 5, 30, 15, 30, tzinfo=UTC)]


def test_periods_keep_the_shops_wall_clock_across_summer_time(app, api, order):
    app.config["SHOP_TIMEZONE"] = "Europe/Berlin"
    # Paid at 10:00 CET on 15 February 2027; Berlin's clocks go forward on 28 March.
    start = datetime(2027, 2, 15, 9, 0, tzinfo=UTC)
    subscribe_at(app, api, start)
    assert period_ends(app) == (start, datetime(2027, 3, 15, 9, tzinfo=UTC))
    [row] = renewals(app, status="scheduled")
    assert run_renewal(app, api, row, 0).status == "paid"
    # 15 April, 10:00 CEST.
    assert period_ends(app) == (datetime(2027, 3, 15, 9, tzinfo=UTC), datetime(2027, 4, 15, 8, tzinfo=UTC))


def active_until(app, end: datetime) -> None:
    """The order's subscription is active on a ready key, its period ending at `end`."""
    with app.app_context():
        payment = billing.payment_by_merchant_uid("sub_test_1")
        sub = payment.subscription
        start = end - timedelta(days=31)
        sub.status, sub.customer_uid, sub.billing_key_ready_at = "active", "cu_1_abc", start
        sub.billing_anchor, sub.current_period_start, sub.current_period_end = start, start, end
        sub.buyer_email, sub.buyer_name = "ada@example.com", "Ada Lovelace"
        payment.status = "paid"
        db.session.commit()


def age_records(app, by: timedelta) -> None:
    """Move every time the storefront stored `by` into the past: to the storefront that reads them,
    `by` has gone by (the billing code keeps its own clock, so the test moves the records)."""
    with app.app_context():
        for mapper in db.Model.registry.mappers:
            keys = [column.key for column in mapper.columns
                    if isinstance(getattr(column.type, "impl", column.type), sa.DateTime)]
            for row in db.session.execute(db.select(mapper.class_)).scalars():
                for key in keys:
                    if getattr(row, key) is not None:
                        setattr(row, key, getattr(row, key) - by)
        db.session.commit()


def test_repeated_ensure_schedule_near_the_due_date_keeps_the_one_schedule(app, api, order):
    active_until(app, datetime.now(UTC) + timedelta(minutes=4, microseconds=1234))
    api.post(f"{API}/subscribe/payments/schedule", json=OK_LIST)
    unschedule_revokes(api)
    # Every few seconds, from before the due date to well after it (iamport has not run it yet).
    step, gone = timedelta(seconds=17, microseconds=4321), timedelta(0)
    while gone < timedelta(minutes=10):
        with app.app_context():
            row = billing.ensure_schedule(1)
            assert row is not None and row.status == "scheduled"
        age_records(app, step)
        gone += step
    sent, withdrawn = schedule_calls(api)
    assert len(sent) == 1 and withdrawn == []
    assert [r.merchant_uid for r in renewals(app)] == sent


def test_a_renewals_order_id_cannot_be_guessed(app, api, order):
    """Two subscriptions in the same state (the same id, period and attempt) get unrelated ids."""
    active_until(app, datetime.now(UTC).replace(microsecond=0) + timedelta(days=30))
    api.post(f"{API}/subscribe/payments/schedule", json=OK_LIST)
    uids = []
    for _ in range(2):
        with app.app_context():
            uids.append(billing.ensure_schedule(1).merchant_uid)
            # The same state again, as in another shop's database.
            renewals = sa.select(Payment.id).where(Payment.kind == "renewal")
            db.session.execute(sa.delete(SubscriptionEvent).where(SubscriptionEvent.payment_id.in_(renewals)))
            db.session.execute(sa.delete(Payment).where(Payment.kind == "renewal"))
            db.session.commit()
    assert uids[0] != uids[1]
    assert all(len(uid) < 40 for uid in uids)
    # No part derived from the subscription or the due date alone makes them unguessable: at
    # least 16 random hex digits differ.
    assert sum(a != b for a, b in zip(uids[0], uids[1])) >= 8


def test_callers_racing_in_ensure_schedule_schedule_the_period_once(app, api, order):
    active_until(app, datetime.now(UTC).replace(microsecond=0) + timedelta(days=20))
    api.post(f"{API}/subscribe/payments/schedule", json=OK_LIST)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def race() -> None:
        try:
            with app.app_context():
                barrier.wait()
                billing.ensure_schedule(1)
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sent, _ = schedule_calls(api)
    assert [r.merchant_uid for r in renewals(app)] == sent and len(sent) == 1


def test_a_renewal_that_leaves_scheduled_but_not_by_iamports_run_is_withdrawn(app, api, order):
    """A payment on the renewal's order id that is not iamport running the schedule (here a
    failed window payment): iamport never holds two schedules for one period."""
    active_until(app, datetime.now(UTC).replace(microsecond=0) + timedelta(days=20))
    api.post(f"{API}/subscribe/payments/schedule", json=OK_LIST)
    unschedule_revokes(api)
    with app.app_context():
        uid = billing.ensure_schedule(1).merchant_uid
    info = dict(iamport_payment(), imp_uid="imp_window", merchant_uid=uid,
                status="failed", fail_reason="Card declined.", customer_uid=None,
                customer_uid_usage=None, paid_at=0)
    api.get(f"{API}/payments/imp_window", json={"code": 0, "message": None, "response": info})
    with app.app_context():
        billing.verify_payment("imp_window")
    sent, withdrawn = schedule_calls(api)
    held = [uid for uid in sent if uid not in withdrawn]
    assert len(held) <= 1
    scheduled = [r.merchant_uid for r in renewals(app, status="scheduled")]
    assert set(scheduled) <= set(held)
    if renewals(app)[0].status != "scheduled":
        assert uid in withdrawn


def two_attempts_at_one_period(app) -> tuple[datetime, datetime]:
    """Attempt 0 at the period is held for review; attempt 1 (made before attempts held their
    period) was paid and extended the subscription. Returns the period's start and new end."""
    period = datetime(2027, 3, 31, 10, tzinfo=UTC)
    active_until(app, period)
    following = datetime(2027, 4, 30, 10, tzinfo=UTC)
    with app.app_context():
        sub = db.session.get(Subscription, 1)
        for attempt, status, imp_uid in [(0, "review", "imp_held"), (1, "paid", "imp_paid")]:
            db.session.add(Payment(
                merchant_uid=f"ren_attempt_{attempt}", imp_uid=imp_uid, user_id=sub.user_id,
                subscription=sub, amount=9, currency="USD", kind="renewal", status=status,
                customer_uid="cu_1_abc", scheduled_at=period, period_start=period, attempt=attempt))
        sub.current_period_start, sub.current_period_end = period, following
        db.session.commit()
    return period, following


def held_attempt_decided(api, status: str, **overrides) -> None:
    info = dict(iamport_payment(), imp_uid="imp_held", merchant_uid="ren_attempt_0",
                customer_uid_usage="payment.scheduled", status=status, **overrides)
    api.get(f"{API}/payments/imp_held", json={"code": 0, "message": None, "response": info})


def test_a_late_decline_of_an_older_attempt_changes_nothing(app, api, order):
    _, following = two_attempts_at_one_period(app)
    held_attempt_decided(api, "failed", fail_reason="Payment declined after risk review by the PG.",
                         paid_at=0, failed_at=1806000000)
    api.post(f"{API}/subscribe/payments/schedule", json=OK_LIST)
    with app.app_context():
        assert billing.verify_payment("imp_held").status == "failed"
    with app.app_context():
        sub = db.session.get(Subscription, 1)
        assert (sub.status, sub.retry_count, sub.past_due_since) == ("active", 0, None)
        assert sub.current_period_end == following
        # The next period is scheduled as usual; the declined period gets no retry.
        assert [r.period_start for r in db.session.execute(
            db.select(Payment).where(Payment.status == "scheduled")).scalars()] == [following]


def test_a_late_approval_of_a_period_already_paid_is_refunded(app, api, order):
    _, following = two_attempts_at_one_period(app)
    held_attempt_decided(api, "paid")
    cancel = api.post(f"{API}/payments/cancel", json={"code": 0, "message": None,
                                                       "response": iamport_payment(status="cancelled")})
    api.post(f"{API}/subscribe/payments/schedule", json=OK_LIST)
    with app.app_context():
        billing.verify_payment("imp_held")
    with app.app_context():
        sub = db.session.get(Subscription, 1)
        assert sub.current_period_end == following  # one period, paid once
        assert sub.status == "active"
    assert [json.loads(c.request.body)["imp_uid"] for c in cancel.calls] == ["imp_held"]


def test_a_renewal_iamport_never_got_is_sent_again_at_a_time_still_ahead(app, api, order):
    """The schedule's first sending failed; when reconcile sends it again its time has passed,
    which iamport would refuse: the same attempt is sent, a little ahead of now."""
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    active_until(app, end)
    api.post(f"{API}/subscribe/payments/schedule", status=500, json={"code": -1, "message": "down"})
    with app.app_context():
        uid = billing.ensure_schedule(1).merchant_uid
    age_records(app, timedelta(minutes=21))  # the period ended 20 minutes ago
    api.replace(responses.POST, f"{API}/subscribe/payments/schedule", json=OK_LIST)
    api.get(f"{API}/subscribe/payments/schedule/{uid}", status=404,
            json={"code": 1, "message": "no such schedule", "response": None})
    api.get(f"{API}/payments/find/{uid}", status=404,
            json={"code": 1, "message": "no such payment", "response": None})
    now = datetime.now(UTC)
    with app.app_context():
        assert billing.reconcile(min_age=timedelta(0)).rescheduled == 1
    sent = [json.loads(c.request.body)["schedules"][0] for c in api.calls
            if c.request.url.endswith("/subscribe/payments/schedule")]
    assert [s["merchant_uid"] for s in sent] == [uid, uid]
    assert sent[-1]["schedule_at"] >= int((now + timedelta(minutes=4)).timestamp())
    [row] = renewals(app, status="scheduled")
    assert row.merchant_uid == uid and int(row.scheduled_at.timestamp()) == sent[-1]["schedule_at"]


def attempt(status: str, period: datetime | None, key: str = "cu_now", number: int = 0) -> Payment:
    """A renewal attempt held in memory only."""
    return Payment(merchant_uid=f"ren_{status}_{number}", amount=9, currency="USD", kind="renewal",
                   status=status, period_start=period, attempt=number, customer_uid=key)


MAR = datetime(2027, 3, 31, 10, tzinfo=UTC)
NINE = Decimal(9)
FEB = datetime(2027, 2, 28, 10, tzinfo=UTC)


def test_the_renewal_rule_keeps_the_periods_attempt_on_the_key_and_withdraws_the_rest():
    kept, other_period, other_key = (attempt("scheduled", MAR), attempt("scheduled", FEB, number=1),
                                     attempt("scheduled", MAR, key="cu_old", number=1))
    decision = billing.decide_renewals(MAR, "cu_now", NINE, [other_period, kept, other_key])
    assert decision.keep is kept
    assert decision.withdraw == (other_period, other_key)
    assert decision.create is None


def test_the_renewal_rule_replaces_the_periods_attempt_at_another_amount():
    old_price = attempt("scheduled", MAR, number=0)
    decision = billing.decide_renewals(MAR, "cu_now", Decimal(12), [old_price])
    assert (decision.keep, decision.withdraw, decision.create) == (None, (old_price,), 1)


def test_the_renewal_rule_waits_for_an_attempt_iamport_ran_or_is_dropping():
    for status in ("pending", "review", "withdrawing"):
        decision = billing.decide_renewals(MAR, "cu_now", NINE, [attempt(status, MAR)])
        assert (decision.keep, decision.withdraw, decision.create) == (None, (), None)


def test_the_renewal_rule_creates_the_next_attempt_after_the_periods_last():
    failed = [attempt("failed", MAR, number=0), attempt("failed", MAR, number=1)]
    assert billing.decide_renewals(MAR, "cu_now", NINE, failed).create == 2
    assert billing.decide_renewals(MAR, "cu_now", NINE, []).create == 0


def test_the_renewal_rule_withdraws_everything_when_no_renewal_is_wanted():
    scheduled = attempt("scheduled", MAR)
    decision = billing.decide_renewals(None, "cu_now", NINE, [scheduled])
    assert (decision.keep, decision.withdraw, decision.create) == (None, (scheduled,), None)


def test_renewals_charge_the_subscribers_own_price_not_the_plans_new_list_price(app, api, order):
    start = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)
    subscribe_at(app, api, start)
    with app.app_context():
        sub = db.session.get(Subscription, 1)
        sub.plan.price = 12  # a new list price binds a subscriber only with their consent
        db.session.commit()
    [row] = renewals(app, status="scheduled")
    assert row.amount == 9
    assert run_renewal(app, api, row, 0).status == "paid"
    [following] = renewals(app, status="scheduled")
    assert following.amount == 9
    sent = [json.loads(call.request.body)["schedules"] for call in api.calls
            if call.request.url.endswith("/subscribe/payments/schedule")]
    assert [s["amount"] for batch in sent for s in batch] == [9, 9]


def test_a_new_price_of_the_subscriber_replaces_the_schedule_iamport_holds(app, api, order):
    subscribe_at(app, api, datetime.now(UTC) - timedelta(days=3))
    [before] = renewals(app, status="scheduled")
    with app.app_context():
        db.session.get(Subscription, 1).price = Decimal(12)
        db.session.commit()
        kept = billing.ensure_schedule(1)
        assert kept is not None and kept.amount == 12
    sent, withdrawn = schedule_calls(api)
    assert withdrawn == [before.merchant_uid]
    assert sent == [before.merchant_uid, kept.merchant_uid]
    [after] = renewals(app, status="scheduled")
    assert after.merchant_uid == kept.merchant_uid and after.period_start == before.period_start
