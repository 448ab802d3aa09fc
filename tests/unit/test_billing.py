"""verify_payment's verdicts and its once-only recording, with iamport mocked below the client."""

from __future__ import annotations

import threading

import pytest
import responses
from sqlalchemy import func

from storefront import billing
from storefront.extensions import db
from storefront.models import Payment, Subscription
from tests.support.iamport_mock import (
    API, iamport_payment, key_unknown, serve_payment, unschedule_revokes, unscheduled_uids,
)


def stored(app, merchant_uid="sub_test_1"):
    with app.app_context():
        payment = db.session.execute(
            db.select(Payment).where(Payment.merchant_uid == merchant_uid)).scalar_one()
        return payment.status, payment.fail_reason, payment.subscription.status


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({}, "paid"),
        ({"status": "failed", "fail_reason": "Insufficient funds"}, "failed"),
        ({"status": "failed", "fail_reason": "Payment held for risk review"}, "review"),
        # An order iamport knows and nobody paid (a window opened and left) stays open.
        ({"status": "ready"}, "pending"),
    ],
)
def test_judge(app, order, overrides, status):
    with app.app_context():
        payment = billing.payment_by_merchant_uid(order)
        assert billing.judge(payment, iamport_payment(**overrides)).status == status


def test_paid_first_payment_activates_the_subscription(app, api, order):
    serve_payment(api)
    key_unknown(api)
    with app.app_context():
        payment = billing.verify_payment("imp_1")
        assert payment.status == "paid"
        assert payment.imp_uid == "imp_1"
        sub = payment.subscription
        assert sub.status == "active"
        assert sub.customer_uid == "cu_1_abc"
        assert sub.buyer_name == "Ada Lovelace"
        assert sub.current_period_start.timestamp() == 1790000000
        assert sub.current_period_end > sub.current_period_start
        assert sub.billing_key_ready_at is None
        assert isinstance(payment.provider_response, dict)
    assert [c.request.headers["Authorization"] for c in api.calls if "/payments/" in c.request.url] == ["Bearer tok"]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, None),
        ({"status": "failed"}, None),
        ({"amount": 1}, "1 instead of 9.00"),
        ({"amount": "9.001"}, "9.001 instead of 9.00"),
        ({"currency": "KRW"}, "in KRW instead of USD"),
        ({"customer_uid": "cu_other"}, "with another billing key"),
    ],
)
def test_mismatch_reason(app, order, overrides, reason):
    with app.app_context():
        payment = billing.payment_by_merchant_uid(order)
        assert billing.mismatch_reason(payment, iamport_payment(**overrides)) == reason


def test_a_second_sync_changes_nothing(app, api, order):
    serve_payment(api)
    key_unknown(api)
    with app.app_context():
        first = billing.verify_payment("imp_1")
        end = first.subscription.current_period_end
        updated = first.updated_at
    with app.app_context():
        again = billing.verify_payment("imp_1")
        assert again.subscription.current_period_end == end
        assert again.updated_at == updated


def test_failed_then_late_paid_is_honoured(app, api, order):
    serve_payment(api, status="failed", fail_reason="Insufficient funds")
    with app.app_context():
        assert billing.verify_payment("imp_1").status == "failed"
    api.replace(responses.GET, f"{API}/payments/imp_1",
                json={"code": 0, "message": None, "response": iamport_payment()})
    key_unknown(api)
    with app.app_context():
        payment = billing.verify_payment("imp_1")
        assert payment.status == "paid"
        assert payment.fail_reason is None
        assert payment.subscription.status == "active"


def test_paid_is_not_undone_by_a_stale_failed(app, api, order):
    serve_payment(api)
    key_unknown(api)
    with app.app_context():
        billing.verify_payment("imp_1")
    api.replace(responses.GET, f"{API}/payments/imp_1", json={"code": 0, "message": None,
                "response": iamport_payment(status="failed", fail_reason="stale")})
    assert stored(app)[0] == "paid"
    with app.app_context():
        assert billing.verify_payment("imp_1").status == "paid"


def test_a_payment_of_no_subscription_is_still_recorded(app, api, order):
    # No flow makes one, but the schema allows it: the joined lock must not make it unknown.
    with app.app_context():
        payment = billing.payment_by_merchant_uid(order)
        sub = payment.subscription
        payment.subscription = None
        db.session.delete(sub)
        db.session.commit()
    serve_payment(api)
    with app.app_context():
        payment = billing.verify_payment("imp_1")
        assert (payment.status, payment.subscription_id) == ("paid", None)


def test_unknown_merchant_uid_is_refused(app, api, order):
    serve_payment(api, merchant_uid="someone_elses")
    with app.app_context(), pytest.raises(billing.UnknownPayment):
        billing.verify_payment("imp_1")


def test_concurrent_syncs_apply_once(app, api, order, activations):
    serve_payment(api)
    key_unknown(api)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def deliver():
        try:
            with app.app_context():
                barrier.wait()
                billing.verify_payment("imp_1")
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(activations) == 1
    with app.app_context():
        assert db.session.execute(db.select(func.count(Payment.id))).scalar_one() == 1
        payment = billing.payment_by_merchant_uid(order)
        assert payment.status == "paid"
        assert payment.subscription.status == "active"


def test_late_paid_renewal_after_a_failure_is_honoured_and_retries_stop(app, api, order):
    """PAYMENTWALL's review: a renewal first reported failed is approved later."""
    from datetime import timedelta

    from storefront.formatting import shop_zone
    from storefront.models import utcnow
    from storefront.periods import add_interval

    start = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    with app.app_context():
        end = add_interval(start, "month", zone=shop_zone())
        payment = billing.payment_by_merchant_uid(order)
        sub = payment.subscription
        sub.status, sub.customer_uid = "active", "cu_1_abc"
        sub.current_period_start, sub.current_period_end = start, end
        sub.billing_key_ready_at = start
        sub.buyer_email, sub.buyer_name = "ada@example.com", "Ada Lovelace"
        payment.status = "paid"
        renewal = Payment(merchant_uid="ren_1_due_0", user_id=payment.user_id, subscription=sub,
                          amount=payment.amount, currency="USD", kind="renewal", status="scheduled",
                          customer_uid="cu_1_abc", scheduled_at=sub.current_period_end,
                          period_start=sub.current_period_end, attempt=0)
        db.session.add(renewal)
        db.session.commit()
    renewal_info = dict(iamport_payment(), imp_uid="imp_ren", merchant_uid="ren_1_due_0",
                        customer_uid_usage="payment.scheduled")
    failed_at = int(end.timestamp()) + 300
    api.get(f"{API}/payments/imp_ren", json={"code": 0, "message": None, "response": dict(
        renewal_info, status="failed", fail_reason="Payment held for risk review", failed_at=failed_at,
        paid_at=0)})
    scheduled_calls = api.post(f"{API}/subscribe/payments/schedule",
                               json={"code": 0, "message": None, "response": []})
    unschedule_revokes(api)
    with app.app_context():
        # A held renewal is not yet a failure: no retry, still active.
        assert billing.verify_payment("imp_ren").status == "review"
        assert db.session.get(Subscription, 1).status == "active"
    api.replace(responses.GET, f"{API}/payments/imp_ren", json={"code": 0, "message": None,
                "response": dict(renewal_info, status="failed", fail_reason="Card declined",
                                 failed_at=failed_at, paid_at=0)})
    with app.app_context():
        assert billing.verify_payment("imp_ren").status == "failed"
        sub = db.session.get(Subscription, 1)
        assert (sub.status, sub.retry_count) == ("past_due", 1)
        [retry] = db.session.execute(db.select(Payment).where(Payment.status == "scheduled")).scalars()
        assert retry.scheduled_at.timestamp() == failed_at + 86400
    assert scheduled_calls.call_count == 1
    paid_at = failed_at + 3600
    api.replace(responses.GET, f"{API}/payments/imp_ren", json={"code": 0, "message": None,
                "response": dict(renewal_info, paid_at=paid_at)})
    with app.app_context():
        assert billing.verify_payment("imp_ren").status == "paid"
        sub = db.session.get(Subscription, 1)
        assert (sub.status, sub.retry_count, sub.past_due_since) == ("active", 0, None)
        assert sub.current_period_start == end
        assert sub.current_period_end == add_interval(end, "month", zone=shop_zone())
        statuses = dict(db.session.execute(db.select(Payment.merchant_uid, Payment.status)).all())
        assert statuses[retry.merchant_uid] == "revoked"
    assert unscheduled_uids(api) == [[retry.merchant_uid]]


def test_an_open_order_expires_by_the_shops_one_clock(app, api, order, monkeypatch):
    """Money, calendars and deadlines read one clock (storefront.clock): moved on two hours, the
    order opened at checkout is no longer offered, and a new one is opened."""
    from datetime import timedelta

    from storefront import clock
    from storefront.models import Plan, User

    api.post(f"{API}/payments/prepare", json={"code": 0, "message": None, "response": {"amount": 9}})
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-monthly")).scalar_one()
        assert billing.open_checkout(user, plan, "2026-12-01/en").merchant_uid == order
        two_hours_later = clock.now() + timedelta(hours=2)
        monkeypatch.setattr(clock, "now", lambda: two_hours_later)
        reopened = billing.open_checkout(user, plan, "2026-12-01/en")
        assert reopened.merchant_uid != order
        assert reopened.created_at == two_hours_later


def test_a_renewal_declined_after_the_shopper_asked_to_end_ends_the_subscription(app, order):
    """Held for review, then cancelled at the period's end, then declined: the shopper asked for
    no more periods and this one went unpaid, so it ends (never past due with nothing to retry)."""
    from datetime import timedelta

    from storefront import clock
    from storefront.models import RetiredKey

    with app.app_context():
        payment = billing.payment_by_merchant_uid(order)
        sub = payment.subscription
        ended = clock.now().replace(microsecond=0) + timedelta(minutes=1)
        sub.status, sub.customer_uid, sub.billing_key_ready_at = "active", "cu_1_abc", clock.now()
        sub.current_period_start, sub.current_period_end = ended - timedelta(days=30), ended
        sub.buyer_email, sub.buyer_name = "ada@example.com", "Ada Lovelace"
        payment.status, payment.imp_uid = "paid", "imp_1"
        db.session.add(Payment(merchant_uid="ren_1", user_id=payment.user_id, subscription=sub,
                               amount=payment.amount, currency="USD", kind="renewal", status="scheduled",
                               customer_uid="cu_1_abc", scheduled_at=ended, period_start=ended, attempt=0,
                               schedule_taken_at=clock.now()))
        db.session.commit()
        ran = dict(iamport_payment(), imp_uid="imp_ren", merchant_uid="ren_1",
                   customer_uid_usage="payment.scheduled", status="failed", paid_at=0)
        billing.record_payment(dict(ran, fail_reason="Payment held for risk review"), carry_out_now=False)
        billing.cancel(db.session.get(Subscription, sub.id), at_period_end=True)
        billing.record_payment(dict(ran, fail_reason="Declined after risk review"), carry_out_now=False)
        sub = db.session.get(Subscription, sub.id, populate_existing=True)
        assert (sub.status, sub.canceled_at) == ("canceled", ended)
        assert [key.customer_uid for key in db.session.execute(db.select(RetiredKey)).scalars()] == ["cu_1_abc"]


def test_a_renewal_on_the_old_key_paid_after_a_card_change_never_touches_the_new_key(app, api, order):
    """iamport ran the renewal on the old card as the card changed: it buys its period, and the
    subscription stays on the new card (the old code put it back on the old, deleted key)."""
    from datetime import timedelta

    from storefront import clock
    from storefront.models import RetiredKey

    with app.app_context():
        first = billing.payment_by_merchant_uid(order)
        sub = first.subscription
        end = clock.now().replace(microsecond=0) + timedelta(days=20)
        first.status, first.imp_uid = "paid", "imp_1"
        db.session.add(Payment(merchant_uid="card_1", user_id=first.user_id, subscription=sub,
                               amount=first.amount, currency="USD", kind="new_card", status="paid",
                               customer_uid="cu_new", imp_uid="imp_card"))
        db.session.add(Payment(merchant_uid="ren_old", user_id=first.user_id, subscription=sub,
                               amount=first.amount, currency="USD", kind="renewal", status="revoked",
                               customer_uid="cu_1_abc", scheduled_at=end - timedelta(days=30),
                               period_start=end - timedelta(days=30), attempt=0))
        sub.status, sub.customer_uid, sub.billing_key_ready_at = "active", "cu_new", clock.now()
        sub.current_period_start, sub.current_period_end = end - timedelta(days=60), end
        sub.billing_anchor = end - timedelta(days=60)
        sub.buyer_email, sub.buyer_name = "ada@example.com", "Ada Lovelace"
        db.session.commit()
        ran = dict(iamport_payment(), imp_uid="imp_ren_old", merchant_uid="ren_old",
                   customer_uid="cu_1_abc", customer_uid_usage="payment.scheduled")
        billing.record_payment(ran, carry_out_now=False)
        sub = db.session.get(Subscription, sub.id, populate_existing=True)
        assert sub.customer_uid == "cu_new"
        assert sub.current_period_end > end  # the period it paid for
        retired = [key.customer_uid for key in db.session.execute(db.select(RetiredKey)).scalars()]
        assert "cu_new" not in retired
