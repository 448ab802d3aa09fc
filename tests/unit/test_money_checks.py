"""Payments that are not our order's, refunds owed and given back once, and states with a way out."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
import responses

from storefront import billing
from storefront.extensions import db
from storefront.models import Payment, Refund, RetiredKey, Subscription, utcnow
from tests.support.iamport_mock import API, iamport_payment, key_unknown, serve_payment


def envelope(response):
    return {"code": 0, "message": None, "response": response}


def refunds(app):
    with app.app_context():
        return [(r.imp_uid, r.status, r.amount) for r in
                db.session.execute(db.select(Refund).order_by(Refund.id)).scalars()]


def order_state(app, merchant_uid="sub_test_1"):
    with app.app_context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        return payment.status, payment.imp_uid, payment.subscription.status


def cancelled(info, amount=None):
    amount = info["amount"] if amount is None else amount
    return dict(info, status="cancelled", cancel_amount=amount,
                cancel_history=[{"amount": amount, "pg_tid": "t", "cancelled_at": 1790000100,
                                 "reason": "refund", "cancellation_id": "c1"}])


def active_subscription(app, order):
    """Make the order's subscription active on its key, paid with imp_1."""
    with app.app_context():
        payment = billing.payment_by_merchant_uid(order)
        sub = payment.subscription
        start = utcnow().replace(microsecond=0)
        sub.status, sub.customer_uid = "active", "cu_1_abc"
        sub.current_period_start, sub.current_period_end = start, start + timedelta(days=30)
        sub.billing_key_ready_at = start
        sub.buyer_email, sub.buyer_name = "ada@example.com", "Ada Lovelace"
        payment.status, payment.imp_uid = "paid", "imp_1"
        db.session.commit()
        return sub.id


def scheduled_renewal(app, sub_id, merchant_uid):
    """The subscription's next renewal, scheduled at iamport on its key."""
    with app.app_context():
        sub = db.session.get(Subscription, sub_id)
        db.session.add(Payment(
            merchant_uid=merchant_uid, user_id=sub.user_id, subscription=sub, amount=sub.plan.price,
            currency="USD", kind="renewal", status="scheduled", customer_uid="cu_1_abc",
            scheduled_at=sub.current_period_end, period_start=sub.current_period_end, attempt=0,
            schedule_taken_at=utcnow()))
        db.session.commit()


# --------------------------------------------------------------------------- item 2


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"sandbox": True}, "made on a test channel, which this shop does not accept"),
        ({"pg_provider": "html5_inicis"}, "made through html5_inicis, not PAYMENTWALL"),
        ({"pg_id": "mid2"}, "made on PAYMENTWALL project mid2, not mid1"),
    ],
)
def test_live_mode_refuses_test_channel_and_other_pg_payments(app, api, order, overrides, reason):
    app.config.update(IAMPORT_MODE="live", IAMPORT_PG="paymentwall.mid1", IAMPORT_ACCEPTED_MIDS=["mid1"])
    info = iamport_payment(**overrides)
    api.get(f"{API}/payments/imp_1", json=envelope(info))
    api.post(f"{API}/payments/cancel", json=envelope(cancelled(info)))
    with app.app_context():
        billing.verify_payment("imp_1")
        [refund] = db.session.execute(db.select(Refund)).scalars()
        assert refund.reason == f"Refunded: this payment was {reason}."
    assert order_state(app) == ("pending", None, "incomplete")
    assert refunds(app) == [("imp_1", "done", 9)]


def test_live_mode_takes_a_paymentwall_payment_on_its_mid(app, api, order):
    app.config.update(IAMPORT_MODE="live", IAMPORT_PG="paymentwall.mid1", IAMPORT_ACCEPTED_MIDS=["mid1"])
    serve_payment(api)
    key_unknown(api)
    with app.app_context():
        billing.verify_payment("imp_1")
    assert order_state(app) == ("paid", "imp_1", "active")


# --------------------------------------------------------------------------- item 4


def test_a_payment_of_another_amount_is_refunded_and_the_order_stays_open(app, api, order):
    stranger = iamport_payment(imp_uid="imp_stranger", amount=1, customer_uid="cu_theirs")
    api.get(f"{API}/payments/imp_stranger", json=envelope(stranger))
    cancel = api.post(f"{API}/payments/cancel", json=envelope(cancelled(stranger)))
    with app.app_context():
        billing.verify_payment("imp_stranger")
    assert order_state(app) == ("pending", None, "incomplete")
    assert refunds(app) == [("imp_stranger", "done", 1)]
    body = json.loads(cancel.calls[0].request.body)
    assert body["imp_uid"] == "imp_stranger" and float(body["checksum"]) == 1

    # The shopper's own payment on the same order is honoured afterwards.
    serve_payment(api)
    key_unknown(api)
    with app.app_context():
        assert billing.verify_payment("imp_1").status == "paid"
    assert order_state(app) == ("paid", "imp_1", "active")


def test_a_strangers_failed_payment_on_a_renewal_order_changes_nothing(app, api, order):
    sub_id = active_subscription(app, order)
    scheduled_renewal(app, sub_id, "ren_x_1")
    api.get(f"{API}/payments/imp_stranger", json=envelope(iamport_payment(
        imp_uid="imp_stranger", merchant_uid="ren_x_1", amount=1, customer_uid=None,
        status="failed", fail_reason="Card declined", paid_at=0)))
    with app.app_context():
        billing.verify_payment("imp_stranger")
        renewal = billing.payment_by_merchant_uid("ren_x_1")
        assert (renewal.status, renewal.imp_uid) == ("scheduled", None)
        sub = db.session.get(Subscription, sub_id)
        assert (sub.status, sub.retry_count) == ("active", 0)
    assert refunds(app) == []


# --------------------------------------------------------------------------- item 5


def test_a_refund_that_fails_stays_owed_and_reconcile_gives_it_back(app, api, order):
    stranger = iamport_payment(imp_uid="imp_stranger", amount=1, customer_uid="cu_theirs")
    lookup = api.get(f"{API}/payments/imp_stranger", json=envelope(stranger))
    # iamport refuses the cancel (code != 0): nothing reached the PG, so it is asked again.
    api.post(f"{API}/payments/cancel", json={"code": -1, "message": "PG down", "response": None})
    with app.app_context():
        billing.verify_payment("imp_stranger")
    assert refunds(app) == [("imp_stranger", "owed", 1)]

    api.replace(responses.POST, f"{API}/payments/cancel", json=envelope(cancelled(stranger)))
    with app.app_context():
        report = billing.reconcile(min_age=timedelta(0))
    assert refunds(app) == [("imp_stranger", "done", 1)]
    assert report.refunds_done == 1 and report.refunds_owed == 0
    assert lookup.call_count >= 2


def test_a_cancel_without_an_answer_is_never_sent_again_and_is_named_after_a_day(app, api, order):
    """A 500 may or may not have reached PAYMENTWALL, whose cancel then takes its time while
    iamport's record still shows the money: a second cancel could refund twice. The lookups go
    on; after a day still unreturned, reconcile names it for the operator."""
    stranger = iamport_payment(imp_uid="imp_stranger", amount=1, customer_uid="cu_theirs")
    api.get(f"{API}/payments/imp_stranger", json=envelope(stranger))
    cancel = api.post(f"{API}/payments/cancel", status=500,
                      json={"code": -1, "message": "PG down", "response": None})
    with app.app_context():
        billing.verify_payment("imp_stranger")
        soon = billing.reconcile(min_age=timedelta(0))
        late = billing.reconcile(now=utcnow() + timedelta(days=1, minutes=1), min_age=timedelta(0))
    assert cancel.call_count == 1
    assert refunds(app) == [("imp_stranger", "owed", 1)]
    assert not [f for f in soon.failures if "imp_stranger" in f]
    assert [f for f in late.failures if f.startswith("refund of imp_stranger")]
    # PAYMENTWALL confirms it: the next lookup finds it done.
    api.replace(responses.GET, f"{API}/payments/imp_stranger", json=envelope(cancelled(stranger)))
    with app.app_context():
        assert billing.reconcile(min_age=timedelta(0)).refunds_done == 1
    assert refunds(app) == [("imp_stranger", "done", 1)]


def test_a_refund_whose_answer_was_lost_is_not_sent_again(app, api, order):
    stranger = iamport_payment(imp_uid="imp_stranger", amount=1, customer_uid="cu_theirs")
    api.get(f"{API}/payments/imp_stranger", json=envelope(stranger))
    cancel = api.post(f"{API}/payments/cancel", body=requests.ConnectionError("reset"))
    with app.app_context():
        billing.verify_payment("imp_stranger")
    assert refunds(app) == [("imp_stranger", "owed", 1)]
    calls_before = cancel.call_count

    # iamport did refund it: its record now says so, and reconcile only reads that.
    api.replace(responses.GET, f"{API}/payments/imp_stranger", json=envelope(cancelled(stranger)))
    with app.app_context():
        billing.reconcile(min_age=timedelta(0))
    assert refunds(app) == [("imp_stranger", "done", 1)]
    assert cancel.call_count == calls_before


def test_a_second_charge_of_a_paid_order_is_stored_and_refunded(app, api, order):
    active_subscription(app, order)
    duplicate = iamport_payment(imp_uid="imp_2")
    api.get(f"{API}/payments/imp_2", json=envelope(duplicate))
    api.post(f"{API}/payments/cancel", json=envelope(cancelled(duplicate)))
    with app.app_context():
        billing.verify_payment("imp_2")
    assert order_state(app) == ("paid", "imp_1", "active")
    assert refunds(app) == [("imp_2", "done", 9)]


def test_a_refund_of_our_own_payment_is_recorded_only_from_iamports_answer(app, api, order):
    """A second paid checkout of a live plan is refunded; it is cancelled only once iamport says so."""
    active_subscription(app, order)
    with app.app_context():
        payment = billing.payment_by_merchant_uid(order)
        second = Payment(merchant_uid="sub_test_2", user_id=payment.user_id,
                         subscription_id=payment.subscription_id, amount=payment.amount,
                         currency="USD", kind="first", customer_uid="cu_1_second")
        db.session.add(second)
        db.session.commit()
    info = iamport_payment(imp_uid="imp_2", merchant_uid="sub_test_2", customer_uid="cu_1_second")
    api.get(f"{API}/payments/imp_2", json=envelope(info))
    api.post(f"{API}/payments/cancel", status=500, json={"code": -1, "message": "PG down",
                                                          "response": None})
    api.delete(f"{API}/subscribe/customers/cu_1_second", json=envelope({"customer_uid": "cu_1_second"}))
    with app.app_context():
        billing.verify_payment("imp_2")
        assert billing.payment_by_merchant_uid("sub_test_2").status == "paid"
    assert refunds(app) == [("imp_2", "owed", 9)]


# --------------------------------------------------------------------------- item 9


def test_another_charges_cancelled_never_changes_a_paid_order(app, api, order):
    active_subscription(app, order)
    api.get(f"{API}/payments/imp_2", json=envelope(cancelled(iamport_payment(imp_uid="imp_2"))))
    with app.app_context():
        billing.verify_payment("imp_2")
    assert order_state(app) == ("paid", "imp_1", "active")


# --------------------------------------------------------------------------- item 10


@pytest.mark.parametrize("status", ["pending", "review"])
def test_an_open_payment_that_iamport_reports_cancelled_is_closed(app, api, order, status):
    with app.app_context():
        payment = billing.payment_by_merchant_uid(order)
        payment.status = status
        payment.created_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    api.get(f"{API}/payments/find/sub_test_1", json=envelope(cancelled(iamport_payment())))
    with app.app_context():
        billing.reconcile(min_age=timedelta(0))
    assert order_state(app)[0] == "cancelled"


def test_a_billing_key_whose_deletion_failed_is_deleted_by_reconcile(app, api, order):
    sub_id = active_subscription(app, order)
    delete = api.delete(f"{API}/subscribe/customers/cu_1_abc", status=500,
                        json={"code": -1, "message": "PG down", "response": None})
    with app.app_context():
        billing.cancel(db.session.get(Subscription, sub_id), at_period_end=False)
        billing.carry_out(sub_id)
        [key] = db.session.execute(db.select(RetiredKey)).scalars()
        assert (key.customer_uid, key.deleted_at) == ("cu_1_abc", None)
    assert delete.call_count == 1
    deleted = api.replace(responses.DELETE, f"{API}/subscribe/customers/cu_1_abc",
                          json=envelope({"customer_uid": "cu_1_abc"}))
    with app.app_context():
        report = billing.reconcile(min_age=timedelta(0))
        [key] = db.session.execute(db.select(RetiredKey)).scalars()
        assert key.deleted_at is not None
    assert deleted.call_count == 1 and report.keys_deleted == 1


# --------------------------------------------------------------------------- item 4: no oracle


def test_the_return_route_does_not_tell_a_visitor_which_orders_exist(app, client, order):
    real = client.get("/checkout/return?merchant_uid=sub_test_1")
    made_up = client.get("/checkout/return?merchant_uid=sub_test_2")
    assert real.status_code == made_up.status_code == 302
    assert real.location.replace("sub_test_1", "ID") == made_up.location.replace("sub_test_2", "ID")


def test_live_mode_never_readies_a_billing_key_of_a_test_channel(app, api, order):
    sub_id = active_subscription(app, order)
    app.config.update(IAMPORT_MODE="live")
    api.get(f"{API}/subscribe/customers/cu_1_abc", json=envelope({
        "customer_uid": "cu_1_abc", "pg_provider": "paymentwall", "pg_id": "mid1", "sandbox": True,
        "card_name": "VISA", "inserted": 1790000000, "updated": 1790000000}))
    with app.app_context():
        sub = db.session.get(Subscription, sub_id)
        sub.billing_key_ready_at = None
        db.session.commit()
        assert billing.confirm_billing_key(sub) is False
        assert db.session.get(Subscription, sub_id).billing_key_ready_at is None


# --------------------------------------------------------------------------- round 3, item 11


def move_to_project(app, mid: str) -> None:
    """The shop moves to another PAYMENTWALL project (its settings change, its records stay)."""
    app.config.update(IAMPORT_MODE="live", IAMPORT_PG=f"paymentwall.{mid}", IAMPORT_ACCEPTED_MIDS=[mid])


def test_a_payment_recorded_before_a_change_of_project_is_never_refunded(app, api, client, order):
    move_to_project(app, "mid1")
    serve_payment(api)  # paid on project mid1
    key_unknown(api)
    with app.app_context():
        billing.verify_payment("imp_1")
    assert order_state(app) == ("paid", "imp_1", "active")
    move_to_project(app, "mid2")
    cancel = api.post(f"{API}/payments/cancel", json=envelope(cancelled(iamport_payment())))
    # A webhook for the old payment, and anyone's GET of the mobile return (an <img> will do).
    assert client.post("/iamport/webhook", json={"imp_uid": "imp_1", "merchant_uid": order}).status_code == 200
    assert client.get(f"/checkout/return?imp_uid=imp_1&merchant_uid={order}").status_code == 302
    assert cancel.call_count == 0
    assert refunds(app) == []
    assert order_state(app) == ("paid", "imp_1", "active")


def test_a_renewal_refused_after_a_change_of_project_fails_its_attempt_so_dunning_runs(app, api, order):
    sub_id = active_subscription(app, order)
    scheduled_renewal(app, sub_id, "ren_x_1")
    move_to_project(app, "mid2")
    ran = iamport_payment(imp_uid="imp_ren", merchant_uid="ren_x_1", customer_uid_usage="payment.scheduled")
    api.get(f"{API}/payments/imp_ren", json=envelope(ran))  # on project mid1
    api.post(f"{API}/payments/cancel", json=envelope(cancelled(ran)))
    with app.app_context():
        billing.verify_payment("imp_ren")
        renewal = billing.payment_by_merchant_uid("ren_x_1")
        assert renewal.status == "failed"
        sub = db.session.get(Subscription, sub_id)
        assert (sub.status, sub.retry_count) == ("past_due", 1)
    assert refunds(app) == [("imp_ren", "done", 9)]


# --------------------------------------------------------------------------- round 3, item 18


def test_reconcile_looks_an_order_up_by_iamports_id_once_it_has_one(app, api, order):
    """The order id finds only its newest attempt at iamport; the payment we recorded is the
    one held for review."""
    with app.app_context():
        payment = billing.payment_by_merchant_uid(order)
        payment.status, payment.imp_uid = "review", "imp_held"
        payment.held_until = utcnow() + timedelta(days=1)
        db.session.commit()
    held = iamport_payment(imp_uid="imp_held", status="failed", fail_reason="Held for risk review")
    by_id = api.get(f"{API}/payments/imp_held", json=envelope(held))
    with app.app_context():
        billing.reconcile(min_age=timedelta(0))
    assert by_id.call_count == 1
    assert not [c for c in api.calls if "/payments/find/" in c.request.url]


def test_reconcile_names_a_renewal_iamport_has_not_run_a_day_after_it_was_due(app, api, order):
    sub_id = active_subscription(app, order)
    scheduled_renewal(app, sub_id, "ren_x_1")
    with app.app_context():
        renewal = billing.payment_by_merchant_uid("ren_x_1")
        renewal.scheduled_at = utcnow() - timedelta(days=2)
        db.session.commit()
    api.get(f"{API}/payments/find/ren_x_1", status=404, json={"code": -1, "message": "none", "response": None})
    api.get(f"{API}/subscribe/payments/schedule/ren_x_1", json=envelope(
        {"merchant_uid": "ren_x_1", "schedule_status": "scheduled"}))
    with app.app_context():
        report = billing.reconcile(min_age=timedelta(0))
    assert "renewal ren_x_1: due a day ago and not run by iamport" in report.failures


def test_cancel_at_period_end_is_refused_once_the_period_has_ended(app, order):
    sub_id = active_subscription(app, order)
    with app.app_context():
        sub = db.session.get(Subscription, sub_id)
        sub.current_period_end = utcnow() - timedelta(minutes=5)  # its renewal is under way
        db.session.commit()
        with pytest.raises(billing.ActionRefused):
            billing.cancel(db.session.get(Subscription, sub_id), at_period_end=True)
        assert db.session.get(Subscription, sub_id).cancel_at_period_end is False


# --------------------------------------------------------------------------- round 3, item 20


def test_an_order_a_refused_payment_used_up_is_never_offered_again(app, api, order):
    """iamport holds the order id as paid (by someone else's amount), so its window would refuse
    it: the checkout opens a new order instead of handing this one back for an hour."""
    from storefront.models import Plan, User

    stranger = iamport_payment(imp_uid="imp_stranger", amount=1, customer_uid="cu_theirs")
    api.get(f"{API}/payments/imp_stranger", json=envelope(stranger))
    api.post(f"{API}/payments/cancel", json=envelope(cancelled(stranger)))
    api.post(f"{API}/payments/prepare", json=envelope({"amount": 9}))
    with app.app_context():
        billing.verify_payment("imp_stranger")
        assert billing.payment_by_merchant_uid(order).status == "pending"
        user = db.session.execute(db.select(User)).scalar_one()
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-monthly")).scalar_one()
        assert billing.open_checkout(user, plan, "2026-12-01/en").merchant_uid != order
