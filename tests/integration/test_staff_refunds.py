"""Refunds by staff, in full or in part, over real HTTP to the sandbox: what iamport is sent, what
its record then shows, what our payment and the customer's mail say."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from flask_babel import force_locale

from storefront import billing, mail
from storefront.extensions import db
from storefront.models import Payment, Refund
from tests.support.records import registered
from tests.support.shop import webhook
from tests.support.subscribing import pay_first
from tests.support.waiting import wait_until

WON_PLAN = "basic-krw-monthly"
HALF = Decimal("4950")
REASON = "The customer asked for it by phone."


@pytest.fixture
def cancels(shop, monkeypatch):
    """Every POST /payments/cancel the shop sends (they still reach the sandbox)."""
    client = shop.app.extensions["iamport"]
    sent: list[dict] = []
    real = client.cancel_payment

    def counted(imp_uid, *args, **kwargs):
        sent.append({"imp_uid": imp_uid, **kwargs})
        return real(imp_uid, *args, **kwargs)

    monkeypatch.setattr(client, "cancel_payment", counted)
    return sent


def paid_in_won(shop):
    """A shopper on the won plan, their first payment of 9,900 won paid."""
    shopper = shop.shopper()
    merchant_uid, imp_uid, sub_id = pay_first(shop, shopper, WON_PLAN)
    wait_until(lambda: registered(shop, sub_id), timeout=6, message="the first renewal schedule")
    return shopper, merchant_uid, imp_uid


def refund(shop, merchant_uid: str, amount, reason: str = REASON, key: str | None = None) -> int:
    """What the back office's page does: write the refund, commit, then carry it out."""
    with shop.context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        written = billing.refund_by_staff(payment, amount, reason, request_key=key)
        db.session.commit()
        refund_id = written.id
        billing.carry_out(payment.subscription_id)
        mail.send_due()
    return refund_id


def our_payment(shop, merchant_uid: str) -> tuple[str, Decimal]:
    with shop.context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        return payment.status, payment.refunded_amount


def refund_rows(shop) -> list[tuple[Decimal, str, bool]]:
    with shop.context():
        return [(r.amount, r.status, r.requested_at is not None)
                for r in db.session.execute(db.select(Refund).order_by(Refund.id)).scalars()]


def refund_mails(shop, to: str) -> list[dict]:
    return [m for m in shop.sandbox.mail(to) if m["subject"].startswith("Refund of")]


def history_row(shopper, merchant_uid: str) -> str:
    page = shopper.get("/account").text
    start = page.index(merchant_uid) if merchant_uid in page else page.index("<table")
    return page[start:page.index("</tr>", start)]


def test_half_a_payment_then_the_rest(shop, cancels):
    shop.sandbox.set_delays(cancel_delay=0)
    shopper, merchant_uid, imp_uid = paid_in_won(shop)

    refund(shop, merchant_uid, HALF)
    at_iamport = shop.sandbox.payment(imp_uid)
    assert (at_iamport["status"], at_iamport["cancel_amount"]) == ("paid", 4950)
    assert [(c["amount"], c["checksum"]) for c in cancels] == [(HALF, Decimal("9900"))]
    assert our_payment(shop, merchant_uid) == ("paid", HALF)
    assert refund_rows(shop) == [(HALF, "done", True)]
    with shop.context():
        # Still paid for its period: the subscription goes on.
        assert billing.payment_by_merchant_uid(merchant_uid).subscription.status == "active"
    row = history_row(shopper, merchant_uid)
    assert "partially refunded" in row and "₩4,950 of it refunded." in row
    [half] = wait_until(lambda: refund_mails(shop, shopper.email), message="the refund mail")
    assert half["subject"] == "Refund of ₩4,950"
    assert "₩4,950 of your payment of ₩9,900" in half["text"]
    assert merchant_uid in half["text"]

    refund(shop, merchant_uid, HALF)  # the rest: two refunds of equal amounts
    at_iamport = shop.sandbox.payment(imp_uid)
    assert (at_iamport["status"], at_iamport["cancel_amount"]) == ("cancelled", 9900)
    assert [h["amount"] for h in at_iamport["cancel_history"]] == [4950, 4950]
    assert [c["checksum"] for c in cancels] == [Decimal("9900"), HALF]
    assert our_payment(shop, merchant_uid) == ("cancelled", Decimal("9900"))
    assert refund_rows(shop) == [(HALF, "done", True), (HALF, "done", True)]
    row = history_row(shopper, merchant_uid)
    assert "refunded" in row and "partially" not in row
    mails = wait_until(lambda: len(m := refund_mails(shop, shopper.email)) == 2 and m,
                       message="the second refund mail")
    assert "the rest of your payment of ₩9,900" in mails[0]["text"]


def test_paymentwall_confirms_later_and_a_second_webhook_counts_nothing(shop, cancels):
    shop.sandbox.set_delays(cancel_delay=1.0)
    shopper, merchant_uid, imp_uid = paid_in_won(shop)

    refund(shop, merchant_uid, HALF)
    # Asked, not done: iamport's record shows nothing returned yet.
    assert refund_rows(shop) == [(HALF, "owed", True)]
    assert our_payment(shop, merchant_uid) == ("paid", Decimal(0))
    # The balance counts the refund asked: no more than the other half may be asked now.
    with shop.context(), pytest.raises(billing.ActionRefused):
        billing.refund_by_staff(billing.payment_by_merchant_uid(merchant_uid), HALF + 1, REASON)
    assert len(cancels) == 1

    # PAYMENTWALL confirms; its webhook makes the shop look the payment up.
    wait_until(lambda: shop.sandbox.payment(imp_uid)["cancel_amount"] == 4950, timeout=8,
               message="PAYMENTWALL's confirmation")
    wait_until(lambda: refund_rows(shop) == [(HALF, "done", True)], timeout=8,
               message="the refund recorded done")
    assert our_payment(shop, merchant_uid) == ("paid", HALF)

    # The same cancellation told again, and looked up again: counted once.
    assert webhook(shop, imp_uid, merchant_uid, status="cancelled").status_code == 200
    with shop.context():
        billing.reconcile()
    wait_until(lambda: len(refund_mails(shop, shopper.email)) == 1, message="the refund mail")
    assert our_payment(shop, merchant_uid) == ("paid", HALF)
    assert refund_rows(shop) == [(HALF, "done", True)]
    assert len(refund_mails(shop, shopper.email)) == 1
    assert len(cancels) == 1


@pytest.mark.parametrize("amount", [
    Decimal("9901"),        # over the balance
    Decimal("4950.5"),      # a fraction of a won
    Decimal("0"),
    Decimal("-100"),
    "4950",                 # not a Decimal
    "lots",
    Decimal("NaN"),
    4950.0,
])
def test_a_bad_amount_is_refused_before_iamport_hears_of_it(shop, cancels, amount):
    shop.sandbox.set_delays(cancel_delay=0)
    _, merchant_uid, imp_uid = paid_in_won(shop)
    with shop.context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        with pytest.raises(billing.ActionRefused) as refused:
            billing.refund_by_staff(payment, amount, REASON)
        db.session.commit()
        assert str(refused.value)
        billing.carry_out(payment.subscription_id)
    assert refund_rows(shop) == []
    assert cancels == []
    at_iamport = shop.sandbox.payment(imp_uid)
    assert (at_iamport["cancel_amount"], at_iamport["cancel_history"]) == (0, [])


def test_refusals_say_why_in_korean_and_need_a_reason_and_a_paid_payment(shop, cancels):
    _, merchant_uid, _ = paid_in_won(shop)
    with shop.context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        with force_locale("ko"), pytest.raises(billing.ActionRefused) as refused:
            billing.refund_by_staff(payment, Decimal("9901"), REASON)
        assert str(refused.value) == "이 결제에서 더 환불할 수 있는 금액은 최대 9,900원입니다."
        with pytest.raises(billing.ActionRefused):
            billing.refund_by_staff(payment, HALF, "   ")
        renewal = db.session.execute(db.select(Payment).where(
            Payment.subscription_id == payment.subscription_id, Payment.kind == "renewal")).scalars().first()
        assert renewal is not None and renewal.status == "scheduled"
        with pytest.raises(billing.ActionRefused):
            billing.refund_by_staff(renewal, Decimal("100"), REASON)
    assert refund_rows(shop) == [] and cancels == []


def test_the_same_request_twice_is_one_refund_and_one_cancel(shop, cancels):
    shop.sandbox.set_delays(cancel_delay=0)
    shopper, merchant_uid, imp_uid = paid_in_won(shop)
    first = refund(shop, merchant_uid, Decimal("1000"), key="form-token-1")
    second = refund(shop, merchant_uid, Decimal("1000"), key="form-token-1")
    assert first == second
    assert refund_rows(shop) == [(Decimal("1000"), "done", True)]
    assert len(cancels) == 1
    assert shop.sandbox.payment(imp_uid)["cancel_amount"] == 1000
    assert our_payment(shop, merchant_uid) == ("paid", Decimal("1000"))


def test_a_korean_shopper_is_told_the_part_refunded_in_korean(shop):
    shop.sandbox.set_delays(cancel_delay=0)
    shopper, merchant_uid, _ = paid_in_won(shop)
    shopper.use_language("ko")
    refund(shop, merchant_uid, Decimal("3000"))
    [mail_ko] = wait_until(lambda: [m for m in shop.sandbox.mail(shopper.email) if "환불" in m["subject"]],
                           message="the refund mail in Korean")
    assert "결제하신 9,900원 중 3,000원 환불을 카드로 처리했습니다" in mail_ko["text"]
    assert "나머지 금액 6,900원" in mail_ko["text"]
    row = history_row(shopper, merchant_uid)
    assert "부분 환불" in row and "3,000원 환불되었습니다." in row


def test_two_staff_refunds_at_once_never_owe_more_than_was_paid(shop, cancels):
    """The second refund's balance is read only once the first is committed (on SQLite too,
    where SELECT … FOR UPDATE locks nothing): 6,000 + 6,000 of 9,900 is refused, not owed."""
    _, merchant_uid, _ = paid_in_won(shop)
    first_written, second_done = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def second() -> None:
        with shop.context():
            payment = billing.payment_by_merchant_uid(merchant_uid)
            try:
                billing.refund_by_staff(payment, Decimal("6000"), REASON)
                db.session.commit()
                outcome["second"] = "owed"
            except billing.ActionRefused as exc:
                db.session.rollback()
                outcome["second"] = str(exc)
            finally:
                second_done.set()

    with shop.context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        billing.refund_by_staff(payment, Decimal("6000"), REASON)  # written, not committed
        first_written.set()
        worker = threading.Thread(target=second)
        worker.start()
        # The second waits for this transaction: it has not decided anything yet.
        assert not second_done.wait(0.3)
        db.session.commit()
    worker.join(10)
    assert outcome["second"] == "At most ₩3,900 of this payment can still be refunded."
    assert [amount for amount, _, _ in refund_rows(shop)] == [Decimal("6000")]
