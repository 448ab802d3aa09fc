"""Mail the billing events owe the customer, as it arrives at the sandbox's SMTP server."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from storefront import billing, clock, jobs
from storefront.billing import notices
from storefront.extensions import db
from storefront.mail import send_due
from storefront.models import OutboxMessage, Payment
from tests.support.records import DAY, payments, scheduled, subscription
from tests.support.sandbox import RENEWAL_DECLINE_CARD, window_result
from tests.support.shop import webhook
from tests.support.subscribing import pay_a_second_window, pay_first, subscribe
from tests.support.waiting import wait_until

# The shop fixture keeps SHOP_TIMEZONE's default.
SEOUL = ZoneInfo("Asia/Seoul")


def subjects(shop, to: str) -> list[str]:
    return [message["subject"] for message in shop.sandbox.mail(to)]


def one(shop, to: str, starting: str) -> dict:
    """The one message to `to` whose subject starts so (waiting for it to arrive)."""
    found = wait_until(lambda: [m for m in shop.sandbox.mail(to) if m["subject"].startswith(starting)],
                       message=f"a mail '{starting}…' to {to}")
    assert len(found) == 1, [m["subject"] for m in found]
    return found[0]


def in_korean(shopper) -> None:
    """The shopper picks 한국어 on the switch, which the account keeps for its mail."""
    page = shopper.get("/account")
    response = shopper.http.post(f"{shopper.shop.url}/language", timeout=10, data={
        "csrf_token": shopper.csrf(page.text), "language": "ko", "next": "/account"})
    assert response.status_code == 200


def test_a_subscription_mails_its_contract_and_a_receipt(shop):
    shopper = shop.shopper()
    merchant_uid, imp_uid, sub_id = pay_first(shop, shopper)
    contract = one(shop, shopper.email, "Your subscription to Basic")
    receipt = one(shop, shopper.email, "Receipt: $9.00 for Basic")
    sub = subscription(shop, sub_id)

    assert "Dear Ada Lovelace," in contract["text"]
    assert "$9.00 every month (VAT included)" in contract["text"]
    assert sub.consent_version in contract["text"]
    assert "first on" in contract["text"] and "How to cancel" in contract["text"]
    assert f"{shop.url}/account" in contract["html"]

    assert merchant_uid in receipt["text"]
    assert "Card ending in 4242" in receipt["text"] or "ending in 4242" in receipt["text"]
    receipt_url = shop.sandbox.payment(imp_uid)["receipt_url"]
    assert receipt_url and receipt_url in receipt["text"]
    assert "Period paid" in receipt["text"]
    # The footer carries the business details the law asks for.
    assert "Business registration no." in receipt["text"]
    assert "<html" in receipt["html"] and merchant_uid in receipt["html"]

    # However often the payment is recorded, it has one receipt.
    for _ in range(3):
        assert webhook(shop, imp_uid, merchant_uid).status_code == 200
    with shop.context():
        billing.reconcile()
    assert subjects(shop, shopper.email).count(receipt["subject"]) == 1


def test_a_korean_shopper_gets_korean_mail(shop):
    shopper = shop.shopper(email="gildong@example.com", first="길동", last="홍")
    in_korean(shopper)
    pay_first(shop, shopper)
    # The plan by its Korean name, the money as Korean pages write it.
    contract = one(shop, shopper.email, "베이직 구독 계약 내용")
    assert "홍길동 님" in contract["text"]
    assert "해지 방법" in contract["text"]
    receipt = one(shop, shopper.email, "[영수증] 베이직 US$9.00 결제")
    assert "결제한 이용 기간" in receipt["text"]


def test_the_renewal_notice_comes_days_before_and_once(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    renews_at = subscription(shop, sub_id).current_period_end
    with shop.context():
        # Eight days before: not yet.
        billing.reconcile(now=renews_at - timedelta(days=8))
    assert not [s for s in subjects(shop, shopper.email) if "renews on" in s]
    with shop.context():
        report = billing.reconcile(now=renews_at - timedelta(days=7))
        assert report.notices_queued == 1
        assert billing.reconcile(now=renews_at - timedelta(days=6)).notices_queued == 0
    notice = one(shop, shopper.email, "Basic renews on")
    assert "$9.00" in notice["text"] and "ending in 4242" in notice["text"]
    assert "cancel on your account page before" in notice["text"]
    assert f"{shop.url}/account" in notice["text"]


def test_a_notice_unsent_by_its_renewal_is_dropped_and_reported(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    renews_at = subscription(shop, sub_id).current_period_end
    shop.sandbox.set_faults(mail_refuse=True)
    with shop.context():
        report = billing.reconcile(now=renews_at - timedelta(days=7))
        assert report.notices_queued == 1 and report.mails_sent == 0
        notice = db.session.execute(
            db.select(OutboxMessage).where(OutboxMessage.kind == "renewal_notice")).scalar_one()
        assert notice.attempts == 1 and "451" in notice.last_error
        # Its renewal comes (the shop's clock past it) before the mail server is back.
        notice.expires_at = notice.created_at - timedelta(seconds=1)
        notice_id = notice.id
        db.session.commit()
    shop.sandbox.set_faults(mail_refuse=False)
    with shop.context():
        report = billing.reconcile()
        assert any("not sent before it expired" in failure for failure in report.failures)
        assert db.session.get(OutboxMessage, notice_id).dropped_at is not None
    assert not [s for s in subjects(shop, shopper.email) if "renews on" in s]


def test_mail_that_keeps_failing_fails_the_periodic_job_then_goes_out(shop):
    shopper = shop.shopper()
    shop.sandbox.set_faults(mail_refuse=True)
    pay_first(shop, shopper)
    with shop.context():
        # The contract and the receipt were tried after the answer, and refused.
        wait_until(lambda: db.session.execute(
            db.select(sa.func.count()).where(OutboxMessage.attempts >= 1,
                                             OutboxMessage.last_error.is_not(None))).scalar_one() == 2,
            message="the first attempts after the answer")
        for attempt in range(2):
            # Past each backoff, as the periodic job would run hours later.
            db.session.execute(db.update(OutboxMessage).values(next_attempt_at=OutboxMessage.created_at))
            db.session.commit()
            report = billing.reconcile()
        assert [f for f in report.failures if f.startswith("mail ")], report.failures
        shop.sandbox.set_faults(mail_refuse=False)
        db.session.execute(db.update(OutboxMessage).values(next_attempt_at=OutboxMessage.created_at))
        db.session.commit()
        report = billing.reconcile()
        assert report.mails_sent == 2 and report.failures == []
    # The contract and the receipt, after the sign-up's confirmation of the address.
    assert len(shop.sandbox.mail(shopper.email)) == 3


FAILED = {"en": ("Your payment for Basic failed", "Next try"),
          "ko": ("베이직 결제에 실패했습니다", "다음 결제 시도")}


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_failed_renewal_mails_the_next_try_and_a_link_to_a_new_card(shop, language):
    shopper = shop.shopper()
    if language == "ko":
        in_korean(shopper)
    sub_id = subscribe(shop, shopper, card=RENEWAL_DECLINE_CARD)
    shop.sandbox.advance(32 * DAY)
    wait_until(lambda: subscription(shop, sub_id).retry_count == 1, timeout=6, message="failure 1")
    subject, next_try = FAILED[language]
    failed = one(shop, shopper.email, subject)
    assert next_try in failed["text"]
    assert f"{shop.url}/account/subscriptions/{sub_id}/card" in failed["text"]
    # The reason in the shopper's words, not a code.
    [declined] = payments(shop, sub_id, kind="renewal", status="failed")
    assert declined.fail_reason
    assert "F" + "1001" not in failed["text"]


RESUMED = {"en": "Your subscription to Basic goes on", "ko": "베이직 구독이 계속됩니다"}
CANCELLED = {"en": ("Your subscription to Basic is cancelled", "You keep access until"),
             "ko": ("베이직 구독이 해지되었습니다", "계속 이용하실 수 있으며")}


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_cancel_mails_what_happens_next_once(shop, language):
    shopper = shop.shopper()
    if language == "ko":
        in_korean(shopper)
    sub_id = subscribe(shop, shopper)
    shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "period_end"})
    # A second click changes nothing and mails nothing.
    shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "period_end"})
    subject, access = CANCELLED[language]
    cancelled = one(shop, shopper.email, subject)
    assert access in cancelled["text"]
    with shop.context():
        billing.reconcile()
    assert subjects(shop, shopper.email).count(subject) == 1
    # Taken back: renewals charge again, which the shopper is told in writing.
    shopper.post_form(f"/account/subscriptions/{sub_id}/resume", {})
    resumed = one(shop, shopper.email, RESUMED[language])
    assert ("4242" in resumed["text"]) and ("$9.00" in resumed["text"] or "US$9.00" in resumed["text"])


def test_two_hosts_sending_at_once_send_each_message_once(shop):
    with shop.context():
        for number in range(24):
            db.session.add(OutboxMessage(
                message_id=f"<test.{number}@shop.example>", kind="test", to_address="many@example.com",
                language="en", subject=f"Message {number}", text_body=f"Body {number}\n",
                html_body=f"<p>Body {number}</p>"))
        db.session.commit()
    barrier = threading.Barrier(3)
    sent = []

    def host() -> None:
        with shop.app.app_context():
            barrier.wait()
            while (report := send_due(limit=4)).sent:
                sent.append(report.sent)

    threads = [threading.Thread(target=host) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    arrived = sorted(message["subject"] for message in shop.sandbox.mail("many@example.com"))
    assert arrived == sorted(f"Message {number}" for number in range(24))
    assert sum(sent) == 24
    with shop.context():
        assert db.session.execute(
            db.select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None))).all() == []


def test_a_new_card_mails_the_card_and_a_receipt_for_its_period(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    params = shopper.open_card_change(sub_id)
    rsp = window_result(shopper.pay_in_window(params, card="4000 0000 0000 0002").text)
    assert shopper.complete(params, rsp["imp_uid"]).json()["status"] == "paid"
    changed = one(shop, shopper.email, "Your card for Basic was changed")
    assert "ending in 0002" in changed["text"]
    receipts = [m for m in shop.sandbox.wait_for_mail(shopper.email, count=4)
                if m["subject"].startswith("Receipt:")]
    assert len(receipts) == 2
    assert params["pay"]["merchant_uid"] in receipts[0]["text"]


def test_money_given_back_is_mailed_with_its_amount(shop):
    shop.sandbox.set_delays(cancel_delay=0)
    shopper = shop.shopper()
    subscribe(shop, shopper)
    second = pay_a_second_window(shop, shopper)
    with shop.context():
        billing.verify_payment(second["imp_uid"])
        billing.reconcile()  # the periodic job sends what the outbox holds
    refunded = one(shop, shopper.email, "Refund of $9.00")
    assert second["merchant_uid"] in refunded["text"]
    assert "3 to 7 business days" in refunded["text"]
    # Bought twice by mistake: the refund names why, in the shopper's words.
    assert "Reason" in refunded["text"]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_clock_moved_to_the_notice_day_brings_the_notice(shop, language):
    shopper = shop.shopper()
    if language == "ko":
        in_korean(shopper)
    sub_id = subscribe(shop, shopper)
    renews_at = subscription(shop, sub_id).current_period_end
    with shop.context():
        clock.refresh()
        to_notice_day = renews_at - timedelta(days=7) - clock.now()
    shop.sandbox.advance(to_notice_day.total_seconds() + 60)
    with shop.context():
        report = jobs.periodic()
    assert report.notices_queued == 1
    notice = one(shop, shopper.email, "Basic renews on" if language == "en" else "베이직 정기결제 예정 안내")
    card = "ending in 4242" if language == "en" else "끝자리 4242"
    assert card in notice["text"]


ENDED = {
    "en": {"ended": "Your subscription to Basic has ended", "failed": "Your payment for Basic failed",
           "last": "This is the last try", "notice": "renews on",
           "paid_until": lambda day: f"You had paid until {day.day} {day:%B %Y}."},
    "ko": {"ended": "베이직 구독이 종료되었습니다", "failed": "베이직 결제에 실패했습니다",
           "last": "이번이 마지막 결제 시도입니다", "notice": "정기결제 예정 안내",
           "paid_until": lambda day: f"결제하신 이용 기한은 {day.year}년 {day.month}월 {day.day}일까지였습니다."},
}


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_last_failed_retry_mails_the_end_and_how_to_come_back(shop, language):
    words = ENDED[language]
    shopper = shop.shopper()
    if language == "ko":
        in_korean(shopper)
    sub_id = subscribe(shop, shopper, card=RENEWAL_DECLINE_CARD)
    paid_until = subscription(shop, sub_id).current_period_end
    shop.sandbox.advance(32 * DAY)
    previous = 0
    for attempt, days in enumerate([1, 3, 5], start=1):
        wait_until(lambda: subscription(shop, sub_id).retry_count == attempt, timeout=6,
                   message=f"failure {attempt}")
        wait_until(lambda: [row for row in scheduled(shop, sub_id) if row.schedule_taken_at],
                   timeout=6, message=f"retry {attempt} at iamport")
        shop.sandbox.advance((days - previous) * DAY + 60)
        previous = days
    wait_until(lambda: subscription(shop, sub_id).status == "canceled", timeout=6, message="the end")
    ended = one(shop, shopper.email, words["ended"])
    assert f"{shop.url}/plans/basic-monthly" in ended["text"]
    assert words["paid_until"](paid_until.astimezone(SEOUL)) in ended["text"]
    # Each failed try mailed once; the retries have no renewal notice of their own.
    failed = [m for m in shop.sandbox.mail(shopper.email) if m["subject"] == words["failed"]]
    assert len(failed) == 3
    # Newest first: the third says the try it names is the last.
    assert words["last"] in failed[0]["text"]
    assert not any(words["last"] in m["text"] for m in failed[1:])
    assert not [s for s in subjects(shop, shopper.email) if words["notice"] in s]


def test_a_korean_shopper_is_told_of_a_new_card_and_a_refund_in_korean(shop):
    shop.sandbox.set_delays(cancel_delay=0)
    shopper = shop.shopper()
    in_korean(shopper)
    sub_id = subscribe(shop, shopper)
    params = shopper.open_card_change(sub_id)
    rsp = window_result(shopper.pay_in_window(params, card="4000 0000 0000 0002").text)
    assert shopper.complete(params, rsp["imp_uid"]).json()["status"] == "paid"
    changed = one(shop, shopper.email, "베이직 결제 카드가 변경되었습니다")
    assert "끝자리 0002" in changed["text"]
    second = pay_a_second_window(shop, shopper)
    with shop.context():
        billing.verify_payment(second["imp_uid"])
        billing.reconcile()
    refunded = one(shop, shopper.email, "US$9.00 환불 안내")
    assert second["merchant_uid"] in refunded["text"] and "영업일" in refunded["text"]


def test_a_cause_queued_by_two_transactions_at_once_fails_neither(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    [renewal] = scheduled(shop, sub_id)  # a payment with no receipt yet
    first_queued = threading.Event()
    results = {}

    def record(name: str, first: bool) -> None:
        with shop.app.app_context():
            payment = db.session.get(Payment, renewal.id)
            if not first:
                first_queued.wait(10)
            sub = payment.subscription
            notices.receipt(payment, sub, {}, sub.current_period_start, sub.current_period_end)
            sub.user.first_name = f"Ada-{name}"  # the change the receipt belongs to
            if first:
                first_queued.set()
                time.sleep(0.3)  # the other transaction meets this row uncommitted
            db.session.commit()
            results[name] = True

    threads = [threading.Thread(target=record, args=("one", True)),
               threading.Thread(target=record, args=("two", False))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with shop.context():
        rows = db.session.execute(db.select(OutboxMessage).where(
            OutboxMessage.message_id.like(f"<receipt.payment-{renewal.id}@%"))).scalars().all()
        assert len(rows) == 1
        # Both changes committed: the second one's mail was simply queued already.
        assert db.session.get(Payment, renewal.id).user.first_name == "Ada-two"
    assert set(results) == {"one", "two"}


def test_an_address_refused_for_good_is_dropped_and_named_once(shop):
    with shop.context():
        db.session.add(OutboxMessage(message_id="<test.ghost@shop.example>", kind="test",
                                     to_address="ghost@nomailbox.test", language="en",
                                     subject="Hello", text_body="Hello\n", html_body="<p>Hello</p>"))
        db.session.commit()
        first = billing.reconcile()
        assert [f for f in first.failures if "refused for good" in f and "ghost" in f], first.failures
        row = db.session.execute(db.select(OutboxMessage)).scalar_one()
        assert row.dropped_at is not None and row.attempts == 1 and "550" in row.last_error
        # Not retried, and named only in the run that dropped it: cron's alarm does not stay on.
        assert billing.reconcile().failures == []
    assert shop.sandbox.mail("ghost@nomailbox.test") == []


def test_a_cancel_drops_the_notice_not_yet_sent(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    renews_at = subscription(shop, sub_id).current_period_end
    shop.sandbox.set_faults(mail_refuse=True)
    with shop.context():
        assert billing.reconcile(now=renews_at - timedelta(days=7)).notices_queued == 1
    shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "period_end"})
    shop.sandbox.set_faults(mail_refuse=False)
    with shop.context():
        db.session.execute(db.update(OutboxMessage).values(next_attempt_at=OutboxMessage.created_at))
        db.session.commit()
        billing.reconcile()
        notice = db.session.execute(
            db.select(OutboxMessage).where(OutboxMessage.kind == "renewal_notice")).scalar_one()
        assert notice.dropped_at is not None and notice.sent_at is None
    assert not [s for s in subjects(shop, shopper.email) if "renews on" in s]
    one(shop, shopper.email, "Your subscription to Basic is cancelled")


def test_the_notice_names_what_the_scheduled_renewal_will_charge(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    [renewal] = scheduled(shop, sub_id)
    with shop.context():
        # The plan's price changed after the renewal was scheduled: iamport charges the schedule's.
        plan = db.session.get(Payment, renewal.id).subscription.plan
        plan.price = plan.price + 5
        db.session.commit()
        billing.reconcile(now=renewal.scheduled_at - timedelta(days=7))
    notice = one(shop, shopper.email, "Basic renews on")
    assert "$9.00" in notice["text"] and "$14.00" not in notice["text"]
