"""`flask billing reconcile` tells cron when it could not do its work: a non-zero exit and what failed."""

from __future__ import annotations

import socket
from datetime import timedelta

from storefront import billing
from storefront.extensions import db
from storefront.models import Payment, Subscription, SubscriptionEvent, utcnow
from tests.support.records import subscription
from tests.support.subscribing import pay_a_second_window, subscribe


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_reconcile_fails_when_iamport_cannot_be_reached(app_factory):
    app = app_factory(IAMPORT_API_URL=f"http://127.0.0.1:{closed_port()}", IAMPORT_READ_RETRIES=0)
    result = app.test_cli_runner().invoke(args=["billing", "reconcile"])
    assert result.exit_code != 0
    assert "could not reach iamport" in result.output
    assert "settled" not in result.output


def test_reconcile_fails_when_lookups_fail_and_passes_once_they_answer(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    sub = subscription(shop, sub_id)
    with shop.context():
        db.session.add(Payment(merchant_uid="rep_lost_1", user_id=sub.user_id, subscription_id=sub_id,
                               amount=9, currency="USD", kind="repeat", customer_uid=sub.customer_uid))
        db.session.commit()
    runner = shop.app.test_cli_runner()
    # The client holds a token already, so only the lookups meet the faults.
    assert runner.invoke(args=["billing", "reconcile", "--min-age", "0"]).exit_code == 0
    shop.sandbox.set_faults(error_rate=1)
    try:
        failed = runner.invoke(args=["billing", "reconcile", "--min-age", "0"])
    finally:
        shop.sandbox.set_faults(error_rate=0)
    assert failed.exit_code != 0, failed.output
    assert "still pending 1" in failed.output
    assert "calls to iamport failed" in failed.output
    again = runner.invoke(args=["billing", "reconcile", "--min-age", "0"])
    assert again.exit_code == 0, again.output


def test_reconcile_fails_while_a_live_subscription_has_stopped_renewing(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    with shop.context():
        sub = db.session.get(Subscription, sub_id)
        for renewal in sub.payments:
            if renewal.kind == "renewal":
                # Its events go with it (a foreign key on PostgreSQL).
                db.session.execute(db.delete(SubscriptionEvent).where(SubscriptionEvent.payment_id == renewal.id))
                db.session.delete(renewal)
        # Its key is gone at the PG: nothing can confirm it, so nothing is scheduled.
        sub.customer_uid, sub.billing_key_ready_at = "cu_gone_at_the_pg", None
        sub.current_period_end = utcnow() - timedelta(days=2)
        db.session.commit()
    result = shop.app.test_cli_runner().invoke(args=["billing", "reconcile", "--min-age", "0"])
    assert result.exit_code != 0
    assert f"subscription {sub_id}: past its paid-until date with no renewal open" in result.output


def test_reconcile_fails_while_iamport_does_not_take_a_renewal(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    with shop.context():
        [renewal] = [p for p in db.session.get(Subscription, sub_id).payments if p.kind == "renewal"]
        renewal.schedule_taken_at = None  # its schedule is to be sent again
        db.session.commit()
        merchant_uid = renewal.merchant_uid
    shop.sandbox.set_faults(error_rate=1)
    try:
        result = shop.app.test_cli_runner().invoke(args=["billing", "reconcile", "--min-age", "0"])
    finally:
        shop.sandbox.set_faults(error_rate=0)
    assert result.exit_code != 0
    assert f"schedule of renewal {merchant_uid}: not taken by iamport" in result.output


def test_reconcile_fails_while_a_refund_is_owed_for_more_than_a_day(shop):
    shop.sandbox.set_delays(cancel_delay=10 * 86400)  # PAYMENTWALL takes its time
    shopper = shop.shopper()
    subscribe(shop, shopper)
    second = pay_a_second_window(shop, shopper)
    with shop.context():
        billing.verify_payment(second["imp_uid"])
        report = billing.reconcile(min_age=timedelta(0))
    assert report.refunds_owed == 1 and not [f for f in report.failures if "refund" in f]
    with shop.context():
        late = billing.reconcile(now=utcnow() + timedelta(days=1, minutes=1), min_age=timedelta(0))
    assert [f for f in late.failures if f.startswith(f"refund of {second['imp_uid']}")]
