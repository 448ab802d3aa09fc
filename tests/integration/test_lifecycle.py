"""The subscription's life over real HTTP: charge now, renewals and retries, cancel, resume, new card."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from storefront import billing
from storefront.iamport import IamportClient
from storefront.models import utcnow
from storefront.periods import next_period_end
from tests.support.records import DAY, iamport_schedule, key_exists, payments, scheduled, subscription
from tests.support.sandbox import RENEWAL_DECLINE_CARD, window_result
from tests.support.shop import CHARGE_TOKEN, webhook
from tests.support.subscribing import subscribe
from tests.support.waiting import wait_until

# The shop fixture keeps SHOP_TIMEZONE's default.
SHOP_ZONE = ZoneInfo("Asia/Seoul")


def test_charge_now_pays_the_next_period_and_moves_the_renewal(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    before = subscription(shop, sub_id)
    old_schedule = scheduled(shop, sub_id)[0]
    assert old_schedule.scheduled_at == before.current_period_end
    assert iamport_schedule(shop, old_schedule.merchant_uid)["schedule_status"] == "scheduled"

    response = shopper.charge_now(sub_id)
    assert "Charged $9.00" in response.text
    after = subscription(shop, sub_id)
    assert after.current_period_end == next_period_end(before.billing_anchor, before.current_period_end,
                                                       "month", zone=SHOP_ZONE)
    repeat = payments(shop, sub_id, kind="repeat")
    assert [p.status for p in repeat] == ["paid"]
    assert repeat[0].customer_uid == before.customer_uid
    [new_schedule] = scheduled(shop, sub_id)
    assert new_schedule.scheduled_at == after.current_period_end
    assert iamport_schedule(shop, old_schedule.merchant_uid)["schedule_status"] == "revoked"
    assert iamport_schedule(shop, new_schedule.merchant_uid)["schedule_status"] == "scheduled"
    # iamport's record carries the e-mail and name the key was issued with.
    charged = shop.sandbox.payment(repeat[0].imp_uid)
    assert (charged["buyer_email"], charged["buyer_name"]) == ("ada@example.com", "Ada Lovelace")
    assert charged["customer_uid_usage"] == "payment"
    page = shopper.get("/account")
    assert page.text.count("badge badge-paid") == 2


def test_charge_now_waits_for_the_billing_key(shop):
    shop.sandbox.set_delays(pingback_delay=60)
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper, wait_ready=False)
    page = shopper.get("/account")
    assert "still being activated" in page.text
    assert "activating" in page.text
    response = shopper.charge_now(sub_id)
    assert "still being activated" in response.text
    assert payments(shop, sub_id, kind="repeat") == []


def test_a_resubmitted_form_charges_once(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    token = CHARGE_TOKEN.search(shopper.get(f"/account/subscriptions/{sub_id}/charge").text).group(1)
    barrier = threading.Barrier(6)
    results = []

    def post():
        barrier.wait()
        results.append(shopper.charge_now(sub_id, token=token).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 6
    assert shopper.charge_now(sub_id, token=token).status_code == 200
    [repeat] = payments(shop, sub_id, kind="repeat")
    listed = shop.sandbox.api("GET", f"/subscribe/customers/{repeat.customer_uid}/payments")
    usages = [p["customer_uid_usage"] for p in listed.json()["response"]["list"]]
    assert usages.count("payment") == 1


def test_declined_charge_shows_the_reason(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper, card=RENEWAL_DECLINE_CARD)
    response = shopper.charge_now(sub_id)
    assert "The charge was declined: Card declined: insufficient funds." in response.text
    assert [p.status for p in payments(shop, sub_id, kind="repeat")] == ["failed"]
    assert subscription(shop, sub_id).status == "active"


def test_timed_out_charge_stays_pending_and_reconcile_settles_it(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    shop.sandbox.set_webhooks(drop_rate=1.0)
    shop.sandbox.set_faults(hang_rate=1.0, hang_seconds=3.0)
    response = shopper.charge_now(sub_id)
    assert "will be confirmed shortly" in response.text
    assert "you will not be charged twice" in response.text
    [pending] = payments(shop, sub_id, kind="repeat")
    assert pending.status == "pending"
    shop.sandbox.set_faults(hang_rate=0.0)
    with shop.context():
        report = billing.reconcile()
    assert report.settled == 1
    assert [p.status for p in payments(shop, sub_id, kind="repeat")] == ["paid"]
    with shop.context():
        assert billing.reconcile().settled == 0  # idempotent


def test_reconcile_after_a_lost_webhook_and_callback(shop):
    shop.sandbox.set_webhooks(drop_rate=1.0)
    shopper = shop.shopper()
    params = shopper.open_checkout()
    window_result(shopper.pay_in_window(params).text)  # the callback never reaches us
    merchant_uid = params["pay"]["merchant_uid"]
    with shop.context():
        report = billing.reconcile()
        assert report.settled == 1
    with shop.context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        assert payment.status == "paid" and payment.subscription.status == "active"
    wait_until(lambda: _reconciled_ready(shop, payment.subscription_id), timeout=5,
               message="reconcile to confirm the key and schedule the renewal")


def _reconciled_ready(shop, sub_id):
    with shop.context():
        billing.reconcile()
    return bool(scheduled(shop, sub_id))


def test_reconciles_audit_recreates_a_schedule_revoked_at_iamport(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    [row] = scheduled(shop, sub_id)
    shop.sandbox.api("POST", "/subscribe/payments/unschedule",
                     json={"customer_uid": row.customer_uid, "merchant_uid": [row.merchant_uid]})
    with shop.context():
        # A run without the audit asks iamport nothing about a schedule it took.
        assert billing.reconcile().rescheduled == 0
        report = billing.reconcile(audit=True)
    assert (report.revoked_at_iamport, report.rescheduled, report.failures) == (1, 1, [])
    [fresh] = scheduled(shop, sub_id)
    assert fresh.merchant_uid != row.merchant_uid
    assert iamport_schedule(shop, fresh.merchant_uid)["schedule_status"] == "scheduled"


def test_two_reconcile_runs_at_once_settle_each_payment_once(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    shop.sandbox.set_webhooks(drop_rate=1.0)
    shop.sandbox.set_faults(hang_rate=1.0, hang_seconds=2.2)
    for _ in range(3):
        shopper.charge_now(sub_id)
    shop.sandbox.set_faults(hang_rate=0.0)
    assert [p.status for p in payments(shop, sub_id, kind="repeat")] == ["pending"] * 3
    end_before = subscription(shop, sub_id).current_period_end
    reports = []

    def run():
        with shop.context():
            reports.append(billing.reconcile())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.settled for r in reports) == 3
    assert [p.status for p in payments(shop, sub_id, kind="repeat")] == ["paid"] * 3
    anchor, end = subscription(shop, sub_id).billing_anchor, end_before
    for _ in range(3):
        end = next_period_end(anchor, end, "month", zone=SHOP_ZONE)
    assert subscription(shop, sub_id).current_period_end == end


def test_renewal_runs_on_schedule_and_schedules_the_next(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    before = subscription(shop, sub_id)
    [first] = scheduled(shop, sub_id)
    shop.sandbox.advance(32 * DAY)
    wait_until(lambda: payments(shop, sub_id, kind="renewal", status="paid"), timeout=6,
               message="the renewal webhook")
    after = subscription(shop, sub_id)
    assert after.status == "active"
    assert after.current_period_start == before.current_period_end
    assert after.current_period_end == next_period_end(before.billing_anchor, before.current_period_end,
                                                       "month", zone=SHOP_ZONE)
    wait_until(lambda: scheduled(shop, sub_id), timeout=5, message="the next schedule")
    [following] = scheduled(shop, sub_id)
    assert following.scheduled_at == after.current_period_end
    assert following.merchant_uid != first.merchant_uid


def test_failed_renewal_is_retried_three_times_then_canceled(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper, card=RENEWAL_DECLINE_CARD)
    customer_uid = subscription(shop, sub_id).customer_uid
    shop.sandbox.advance(32 * DAY)
    previous = 0
    for attempt, days in enumerate([1, 3, 5], start=1):
        wait_until(lambda: subscription(shop, sub_id).retry_count == attempt, timeout=6,
                   message=f"failure {attempt}")
        sub = subscription(shop, sub_id)
        assert sub.status == "past_due"
        wait_until(lambda: scheduled(shop, sub_id), timeout=5, message=f"retry {attempt}")
        [retry] = scheduled(shop, sub_id)
        assert retry.scheduled_at == sub.past_due_since + timedelta(days=days)
        wait_until(lambda: shop.sandbox.api(
            "GET", f"/subscribe/payments/schedule/{retry.merchant_uid}").ok,
            timeout=5, message=f"retry {attempt} registered at iamport")
        # On to the retry's time: 1, 3 and 5 days after the first failure.
        shop.sandbox.advance((days - previous) * DAY + 60)
        previous = days
    wait_until(lambda: subscription(shop, sub_id).status == "canceled", timeout=6,
               message="cancellation after the last retry")
    assert len(payments(shop, sub_id, kind="renewal", status="failed")) == 4
    wait_until(lambda: not key_exists(shop, customer_uid), timeout=5, message="key deletion")
    assert scheduled(shop, sub_id) == []


def test_cancel_at_period_end_then_resume(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    [row] = scheduled(shop, sub_id)
    response = shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "period_end"})
    assert "You keep access until then" in response.text
    assert "ends on" in response.text
    assert subscription(shop, sub_id).cancel_at_period_end is True
    assert scheduled(shop, sub_id) == []
    assert iamport_schedule(shop, row.merchant_uid)["schedule_status"] == "revoked"

    response = shopper.post_form(f"/account/subscriptions/{sub_id}/resume", {})
    assert "renews as before" in response.text
    sub = subscription(shop, sub_id)
    assert sub.cancel_at_period_end is False
    [fresh] = scheduled(shop, sub_id)
    assert fresh.scheduled_at == sub.current_period_end


def test_a_cancel_while_the_renewal_is_on_its_way_to_iamport_withdraws_it(shop, monkeypatch):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "period_end"})
    send = IamportClient.schedule_payments
    cancels = []

    def cancel_first(client, customer_uid, schedules):
        # The shopper cancels again after resuming: the cancel finds nothing at iamport to
        # withdraw yet, because the resume's schedule is still on its way there.
        if not cancels:
            cancels.append(shopper.post_form(f"/account/subscriptions/{sub_id}/cancel",
                                             {"when": "period_end"}))
        return send(client, customer_uid, schedules)

    monkeypatch.setattr(IamportClient, "schedule_payments", cancel_first)
    shopper.post_form(f"/account/subscriptions/{sub_id}/resume", {})
    assert "You keep access until then" in cancels[0].text
    assert subscription(shop, sub_id).cancel_at_period_end is True
    assert scheduled(shop, sub_id) == []
    [sent] = payments(shop, sub_id, kind="renewal", status="revoked")[-1:]
    assert iamport_schedule(shop, sent.merchant_uid)["schedule_status"] == "revoked"


def test_cancel_at_period_end_deletes_the_key_when_the_period_ends(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "period_end"})
    sub = subscription(shop, sub_id)
    with shop.context():
        assert billing.end_finished_periods(now=utcnow()) == 0
        assert billing.end_finished_periods(now=sub.current_period_end + timedelta(seconds=1)) == 1
        billing.carry_out(sub_id)
    assert subscription(shop, sub_id).status == "canceled"
    assert not key_exists(shop, sub.customer_uid)


def test_cancel_now(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    [row] = scheduled(shop, sub_id)
    customer_uid = subscription(shop, sub_id).customer_uid
    response = shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"})
    assert "cancelled and your card removed" in response.text
    assert subscription(shop, sub_id).status == "canceled"
    assert iamport_schedule(shop, row.merchant_uid)["schedule_status"] == "revoked"
    assert not key_exists(shop, customer_uid)


def test_new_card_replaces_the_key_and_moves_the_schedule(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    before = subscription(shop, sub_id)
    [old_row] = scheduled(shop, sub_id)
    params = shopper.open_card_change(sub_id)
    assert params["pay"]["customer_uid"] != before.customer_uid
    rsp = window_result(shopper.pay_in_window(params, card="4000 0000 0000 0002").text)
    assert shopper.complete(params, rsp["imp_uid"]).json()["status"] == "paid"
    after = subscription(shop, sub_id)
    assert after.customer_uid == params["pay"]["customer_uid"]
    assert after.current_period_end == next_period_end(before.billing_anchor, before.current_period_end,
                                                       "month", zone=SHOP_ZONE)
    wait_until(lambda: not key_exists(shop, before.customer_uid), timeout=5, message="old key deleted")
    assert iamport_schedule(shop, old_row.merchant_uid)["schedule_status"] == "revoked"
    wait_until(lambda: scheduled(shop, sub_id), timeout=6, message="schedule on the new key")
    [new_row] = scheduled(shop, sub_id)
    assert new_row.customer_uid == after.customer_uid
    account = shopper.get("/account").text
    assert "ending in 0002" in account and "400000******0002" not in account


@pytest.mark.parametrize("action", ["charge", "cancel", "withdraw", "resume", "card"])
def test_another_users_subscription_is_404(shop, action):
    owner = shop.shopper()
    sub_id = subscribe(shop, owner, wait_ready=False)
    other = shop.shopper(email="grace@example.com", first="Grace", last="Hopper")
    path = f"/account/subscriptions/{sub_id}/{action}"
    # Each shows a page (confirmation or window) on GET and acts on POST.
    assert other.get(path).status_code == 404
    assert other.post_form(path, {"when": "now", "charge_token": "t" * 24}).status_code == 404
    assert subscription(shop, sub_id).status == "active"


def test_account_history_is_paginated_newest_first(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    for _ in range(11):
        shopper.charge_now(sub_id)
    first_page = shopper.get("/account").text
    assert first_page.count("<tr data-merchant-uid") == 10
    assert "Page 1 of 2" in first_page
    second = shopper.get("/account?page=2").text
    assert second.count("<tr data-merchant-uid") == 2
    assert "First payment" in second and "First payment" not in first_page
    assert shopper.get("/account?page=abc").status_code == 200


def test_a_strangers_payment_on_a_renewal_order_id_never_charges_the_subscriber_twice(shop):
    """A stranger pays $1 on the renewal's order id with their own card and sends the webhook."""
    victim = shop.shopper()
    sub_id = subscribe(shop, victim)
    [renewal] = scheduled(shop, sub_id)
    victim_key = subscription(shop, sub_id).customer_uid
    opened = shop.sandbox.open_window({
        "pg": "paymentwall", "pay_method": "card", "merchant_uid": renewal.merchant_uid,
        "name": "Basic", "amount": 1, "currency": "USD", "buyer_email": "mallory@example.com",
        "buyer_name": "Mallory Doe", "customer_uid": "cu_mallory_1",
        "notice_url": f"{shop.url}/iamport/webhook"}, mode="pc", imp_code=shop.sandbox.imp_code,
        origin="http://127.0.0.1:9")
    assert opened["ok"], opened
    stranger = window_result(shop.sandbox.submit_window(opened["window_url"]).text)
    assert stranger["imp_uid"]
    webhook(shop, stranger["imp_uid"], renewal.merchant_uid)
    wait_until(lambda: shop.sandbox.payment(stranger["imp_uid"])["status"] == "cancelled", timeout=6,
               message="the stranger's $1 to be refunded")
    [still] = scheduled(shop, sub_id)
    assert still.merchant_uid == renewal.merchant_uid and still.imp_uid is None
    assert subscription(shop, sub_id).status == "active"

    with shop.context():
        billing.reconcile(min_age=timedelta(0))
    shop.sandbox.advance(32 * DAY)
    wait_until(lambda: payments(shop, sub_id, kind="renewal", status="paid"), timeout=6,
               message="the renewal webhook")
    with shop.context():
        billing.reconcile(min_age=timedelta(0))
    listed = shop.sandbox.api("GET", f"/subscribe/customers/{victim_key}/payments").json()["response"]
    charged = [p for p in listed["list"] if p["status"] in ("paid", "cancelled")
               and p["customer_uid_usage"] != "issue"]
    assert len(charged) == 1, charged
    assert [p.imp_uid for p in payments(shop, sub_id, kind="renewal", status="paid")] == \
        [charged[0]["imp_uid"]]


def test_a_card_change_has_its_own_kind_and_words(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    params = shopper.open_card_change(sub_id)
    rsp = window_result(shopper.pay_in_window(params, card="4000 0000 0000 0002").text)
    done = shopper.complete(params, rsp["imp_uid"]).json()
    assert done["status"] == "paid"
    [change] = payments(shop, sub_id, kind="new_card")
    assert change.merchant_uid == params["pay"]["merchant_uid"] and change.status == "paid"
    assert payments(shop, sub_id, kind="repeat") == []
    # Its result page says what happened: a new card, which paid one more period.
    result = shopper.get(done["redirect"]).text
    assert "New card on file" in result
    assert "it paid one more month" in result
    assert "You are subscribed to" not in result
    # The history names it as a card change, not as "Charge now".
    history = shopper.get("/account").text
    row = re.search(rf'<tr data-merchant-uid="{change.merchant_uid}">(.*?)</tr>', history, re.S).group(1)
    assert "New card" in row and "Charge now" not in row
