"""Staff refund a payment in part from its page, and cancel a subscription for the customer, over real HTTP to the sandbox: confirmed, audited, done once, refused with a message."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import pytest

from storefront import billing
from storefront.extensions import db
from storefront.models import AuditEntry, Payment, Refund, Subscription
from tests.support.i18n import english_left
from tests.support.records import registered
from tests.support.staff import TOKEN, calls, confirm, staff_member
from tests.support.subscribing import pay_first
from tests.support.waiting import wait_until

WON_PLAN = "basic-krw-monthly"


@pytest.fixture
def paid(shop):
    """Ada on the won plan (9,900 won paid, the renewal scheduled), and Sam, staff, logged in."""
    shop.sandbox.set_delays(cancel_delay=0)
    ada = shop.shopper()
    merchant_uid, imp_uid, sub_id = pay_first(shop, ada, WON_PLAN)
    wait_until(lambda: registered(shop, sub_id), timeout=6, message="the first renewal schedule")
    with shop.context():
        payment_id = billing.payment_by_merchant_uid(merchant_uid).id
    return ada, staff_member(shop), merchant_uid, imp_uid, sub_id, payment_id


def refunds(shop) -> list[tuple[Decimal, str]]:
    with shop.context():
        return [(r.amount, r.status) for r in db.session.execute(db.select(Refund).order_by(Refund.id)).scalars()]


def entries(shop, action: str) -> list[tuple[str, int, str, str]]:
    with shop.context():
        return [(e.target_type, e.target_id, e.outcome, e.reason) for e in db.session.execute(
            db.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).scalars()]


def test_staff_refund_half_from_the_payment_page(shop, paid, monkeypatch):
    ada, sam, merchant_uid, imp_uid, sub_id, payment_id = paid
    page = sam.get(f"/admin/payments/{payment_id}").text
    assert f'href="/admin/payments/{payment_id}/refund"' in page
    cancels = calls(shop, monkeypatch, "POST", "/payments/cancel")
    answer, _ = confirm(sam, f"/admin/payments/{payment_id}/refund", reason="charged twice, says the customer",
                        amount="4,950", ending="keep")
    assert answer.status_code == 200 and answer.url.endswith(f"/admin/payments/{payment_id}")
    assert "₩4,950" in answer.text
    assert len(cancels) == 1
    assert shop.sandbox.payment(imp_uid)["cancel_amount"] == 4950
    assert refunds(shop) == [(Decimal("4950"), "done")]
    assert "partially refunded" in sam.get(f"/admin/payments/{payment_id}").text
    assert entries(shop, "refund") == [("payment", payment_id, "ok", "charged twice, says the customer")]
    with shop.context():
        assert db.session.get(Payment, payment_id).subscription.status == "active"
    mails = wait_until(lambda: [m for m in shop.sandbox.mail(ada.email) if m["subject"] == "Refund of ₩4,950"],
                       message="the refund mail")
    assert len(mails) == 1
    # The order's result page still reads as paid: staff's refund is not a payment given back
    # for being another's, and its reason is not shown as the card's.
    result = unescape(ada.get(f"/checkout/result/{merchant_uid}").text)
    assert "given back" not in result and "declined" not in result


@pytest.mark.parametrize("amount, message", [
    ("9,901", "At most ₩9,900 of this payment can still be refunded."),
    ("0", "The amount to refund must be more than zero."),
    ("-5", "The amount to refund must be more than zero."),
    ("49.5", "An amount in KRW cannot have a fraction of ₩1."),
    ("lots", "Enter the amount to refund as a number."),
    ("", "Enter the amount to refund as a number."),
    ("1e400", "At most ₩9,900 of this payment can still be refunded."),
    ("Infinity", "Enter the amount to refund as a number."),
])
def test_a_bad_amount_gets_a_message_and_nothing_reaches_iamport(shop, paid, monkeypatch, amount, message):
    _, sam, _, imp_uid, _, payment_id = paid
    cancels = calls(shop, monkeypatch, "POST", "/payments/cancel")
    answer, _ = confirm(sam, f"/admin/payments/{payment_id}/refund", amount=amount, ending="keep")
    assert answer.status_code == 400
    assert message in unescape(answer.text)
    assert cancels == [] and refunds(shop) == [] and entries(shop, "refund") == []
    assert shop.sandbox.payment(imp_uid)["cancel_amount"] == 0


def test_a_double_submission_refunds_once(shop, paid, monkeypatch):
    _, sam, _, _, _, payment_id = paid
    cancels = calls(shop, monkeypatch, "POST", "/payments/cancel")
    path = f"/admin/payments/{payment_id}/refund"
    first, token = confirm(sam, path, amount="1000", ending="keep")
    again, _ = confirm(sam, path, token=token, amount="1000", ending="keep")
    assert first.status_code == 200
    assert "already done" in again.text.lower()
    assert refunds(shop) == [(Decimal("1000"), "done")] and len(cancels) == 1
    assert len(entries(shop, "refund")) == 1


def test_a_refund_that_also_ends_the_subscription_now(shop, paid):
    ada, sam, _, _, sub_id, payment_id = paid
    answer, _ = confirm(sam, f"/admin/payments/{payment_id}/refund", amount="9900", ending="now")
    assert answer.status_code == 200
    with shop.context():
        payment = db.session.get(Payment, payment_id)
        assert (payment.status, payment.subscription.status) == ("cancelled", "canceled")
    assert wait_until(lambda: [m for m in shop.sandbox.mail(ada.email) if "cancel" in m["subject"].lower()],
                      message="the cancellation mail")


def test_staff_cancel_now_for_the_customer_with_the_pro_rata_refund(shop, paid, monkeypatch):
    ada, sam, _, imp_uid, sub_id, _ = paid
    page = sam.get(f"/admin/subscriptions/{sub_id}/cancel")
    assert page.status_code == 200 and "Refund offered with a cancel now" in page.text
    cancels = calls(shop, monkeypatch, "POST", "/payments/cancel")
    answer, _ = confirm(sam, f"/admin/subscriptions/{sub_id}/cancel", reason="moving abroad",
                        when="now", refund="5000")
    assert answer.status_code == 200 and answer.url.endswith(f"/admin/subscriptions/{sub_id}")
    with shop.context():
        ended = db.session.get(Subscription, sub_id)
        assert (ended.status, ended.ended_reason) == ("canceled", "cancelled")
    assert len(cancels) == 1 and shop.sandbox.payment(imp_uid)["cancel_amount"] == 5000
    assert entries(shop, "cancel") == [("subscription", sub_id, "ok", "moving abroad")]
    assert wait_until(lambda: [m for m in shop.sandbox.mail(ada.email) if "cancel" in m["subject"].lower()],
                      message="the cancellation mail")


def test_staff_cancel_at_period_end_refunds_nothing(shop, paid, monkeypatch):
    _, sam, _, _, sub_id, _ = paid
    cancels = calls(shop, monkeypatch, "POST", "/payments/cancel")
    answer, _ = confirm(sam, f"/admin/subscriptions/{sub_id}/cancel", when="period_end", refund="5000")
    assert answer.status_code == 200
    with shop.context():
        sub = db.session.get(Subscription, sub_id)
        assert (sub.status, sub.cancel_at_period_end) == ("active", True)
    assert cancels == [] and refunds(shop) == []


def test_staff_cancel_refund_over_what_was_paid_is_refused_and_nothing_changes(shop, paid):
    _, sam, _, _, sub_id, _ = paid
    answer, _ = confirm(sam, f"/admin/subscriptions/{sub_id}/cancel", when="now", refund="20000")
    assert answer.status_code == 400
    assert "At most ₩9,900 of this subscription's payments can still be refunded." in unescape(answer.text)
    with shop.context():
        assert db.session.get(Subscription, sub_id).status == "active"
    assert refunds(shop) == [] and entries(shop, "cancel") == []


def test_the_refund_and_cancel_pages_in_korean(shop, paid):
    _, sam, merchant_uid, _, sub_id, payment_id = paid
    sam.use_language("ko")
    refund_page = sam.get(f"/admin/payments/{payment_id}/refund").text
    assert "환불 가능한 잔액" in refund_page and "9,900원" in refund_page
    order_id_words = set(re.findall(r"[A-Za-z]+", merchant_uid))
    assert english_left(refund_page, {"Sam", "Staff", "Ada", "Lovelace"} | order_id_words) == []
    cancel_page = sam.get(f"/admin/subscriptions/{sub_id}/cancel").text
    assert "지금 해지할 때 제안하는 환불 금액" in cancel_page
    assert english_left(cancel_page, {"Sam", "Staff", "Ada", "Lovelace"}) == []
    answer, _ = confirm(sam, f"/admin/payments/{payment_id}/refund", amount="99999", ending="keep")
    assert "이 결제에서 더 환불할 수 있는 금액은 최대 9,900원입니다." in answer.text


def test_a_cancel_racing_another_change_says_so_and_changes_nothing(shop, paid, monkeypatch):
    _, sam, _, _, sub_id, _ = paid
    from storefront.admin import money_actions

    def changed_meanwhile(subscription):
        # Another change of the subscription commits while staff's request is under way.
        with db.engine.begin() as other:
            other.execute(db.update(Subscription).where(Subscription.id == sub_id)
                          .values(version=Subscription.version + 1))
        return Decimal(0)

    page = sam.get(f"/admin/subscriptions/{sub_id}/cancel")
    monkeypatch.setattr(money_actions, "pro_rata_refund", changed_meanwhile)
    token = TOKEN.search(page.text).group(1)
    answer = sam.http.post(f"{shop.url}/admin/subscriptions/{sub_id}/cancel", timeout=30, data={
        "csrf_token": sam.csrf(page.text), "token": token, "reason": "r", "when": "period_end"})
    assert answer.status_code == 409
    assert "The subscription changed meanwhile" in answer.text
    with shop.context():
        assert db.session.get(Subscription, sub_id).cancel_at_period_end is False
    assert entries(shop, "cancel") == []
