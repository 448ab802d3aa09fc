"""A subscription's and a payment's page in the back office, over HTTP on the sandbox: our record, iamport's, and what staff read when iamport is silent."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
import requests

from storefront.extensions import db
from storefront.models import Payment, Refund, RefundStatus, Subscription, User
from tests.support.records import payments, scheduled
from tests.support.sandbox import GOOD_CARD
from tests.support.self_service import log_in
from tests.support.shop import Shop, Shopper, make_shop
from tests.support.subscribing import pay_first
from tests.support.waiting import wait_until

TAGS = re.compile(r"<[^>]+>")
TOO_LARGE = 2**31


def staff(shop: Shop, language: str = "en") -> Shopper:
    """A logged-in staff member (an account made staff in the database, as the CLI does)."""
    member = shop.shopper(email="staff@example.com", first="Sam", last="Staff")
    with shop.context():
        user = db.session.execute(db.select(User).where(User.email == "staff@example.com")).scalar_one()
        user.is_staff = True
        db.session.commit()
    # The session opened at sign-up is a shopper's: staff log in afresh (staff sessions are held tighter).
    assert log_in(shop, member.http, "staff@example.com").url.endswith("/account")
    if language != "en":
        member.use_language(language)
    return member


def text_of(html: str) -> str:
    """A page's visible words, tags dropped and spaces collapsed."""
    return " ".join(unescape(TAGS.sub(" ", html)).split())


def english_date(moment) -> str:
    """A moment's date in the shop's zone as English pages write it ("5 January 2027")."""
    local = moment.astimezone(ZoneInfo("Asia/Seoul"))
    return f"{local.day} {local:%B} {local.year}"


def set_payment(shop: Shop, payment_id: int, **values) -> None:
    with shop.context():
        row = db.session.get(Payment, payment_id)
        for key, value in values.items():
            setattr(row, key, value)
        db.session.commit()


# -- the subscription's page -------------------------------------------------------------------

def test_the_subscription_page_shows_customer_plan_card_consent_and_next_renewal(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop)
    with shop.context():
        sub = db.session.get(Subscription, sub_id)
        consent_version = sub.consent_version
    renewal = scheduled(shop, sub_id)[0]
    assert renewal.schedule_taken_at is not None

    page = member.get(f"/admin/subscriptions/{sub_id}")
    assert page.status_code == 200, page.text[:500]
    words = text_of(page.text)
    assert "Ada Lovelace" in words and "ada@example.com" in words
    assert "Basic" in words
    assert "active" in words
    assert f"ending in {GOOD_CARD[-4:]}" in words
    assert consent_version and consent_version in words
    assert renewal.merchant_uid in words
    assert "$9.00" in words
    assert english_date(renewal.scheduled_at) in words
    assert "Taken by iamport" in words
    # Every payment of it, linking to its page.
    for row in payments(shop, sub_id):
        assert f'href="/admin/payments/{row.id}"' in page.text
    # The timeline has its place on the page.
    assert "Timeline" in words
    # Only the one asked for: Grace's plan and address are not on Ada's page.
    assert "grace@example.com" not in words


def test_a_renewal_iamport_has_not_taken_says_so(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop)
    renewal = scheduled(shop, sub_id)[0]
    set_payment(shop, renewal.id, schedule_taken_at=None)
    words = text_of(member.get(f"/admin/subscriptions/{sub_id}").text)
    assert "Not taken by iamport yet" in words
    assert "Taken by iamport" not in words


def test_check_at_iamport_shows_its_answer(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop)
    page = member.get(f"/admin/subscriptions/{sub_id}", params={"check": "iamport"})
    assert page.status_code == 200, page.text[:500]
    words = text_of(page.text)
    assert "iamport holds this renewal's schedule and runs it when it is due." in words


def test_check_at_iamport_when_iamport_does_not_answer(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop)
    shop.sandbox.set_faults(error_rate=1)
    page = member.get(f"/admin/subscriptions/{sub_id}", params={"check": "iamport"})
    shop.sandbox.set_faults(error_rate=0)
    assert page.status_code == 200, page.text[:500]
    assert "iamport did not answer" in text_of(page.text)


def test_check_at_iamport_when_it_holds_no_schedule(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop)
    renewal = scheduled(shop, sub_id)[0]
    set_payment(shop, renewal.id, merchant_uid="renewal_iamport_never_saw")
    page = member.get(f"/admin/subscriptions/{sub_id}", params={"check": "iamport"})
    assert page.status_code == 200, page.text[:500]
    assert "iamport holds no schedule for this renewal" in text_of(page.text)


def test_the_subscription_page_in_korean(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop, "ko")
    page = member.get(f"/admin/subscriptions/{sub_id}")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "다음 정기결제" in words and "정기결제 동의" in words
    assert "포트원 예약 완료" in words
    shop.sandbox.set_faults(error_rate=1)
    checked = text_of(member.get(f"/admin/subscriptions/{sub_id}", params={"check": "iamport"}).text)
    shop.sandbox.set_faults(error_rate=0)
    assert "포트원이 응답하지 않았습니다" in checked


# -- the payment's page ------------------------------------------------------------------------

def first_payment(shop: Shop, sub_id: int) -> Payment:
    return payments(shop, sub_id, kind="first", status="paid")[0]


def test_the_payment_page_shows_ours_beside_iamports(shop, two):
    _, _, (merchant_uid, imp_uid, sub_id), _ = two
    member = staff(shop)
    paid = first_payment(shop, sub_id)
    page = member.get(f"/admin/payments/{paid.id}")
    assert page.status_code == 200, page.text[:500]
    words = text_of(page.text)
    assert merchant_uid in words and imp_uid in words
    # Ours and iamport's, both $9.00; nothing differs.
    assert words.count("$9.00") >= 2
    assert "Differs" not in words
    assert f'href="/admin/subscriptions/{sub_id}"' in page.text
    # iamport's receipt, opened without handing it our page.
    receipt = shop.sandbox.payment(imp_uid)["receipt_url"]
    assert receipt.startswith("http")
    assert re.search(rf'<a [^>]*href="{re.escape(receipt)}"[^>]*rel="noopener noreferrer"', page.text)


def test_a_difference_from_iamport_is_flagged(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop)
    paid = first_payment(shop, sub_id)
    set_payment(shop, paid.id, amount=Decimal("8.00"))
    words = text_of(member.get(f"/admin/payments/{paid.id}").text)
    assert "$8.00" in words and "$9.00" in words
    assert "Differs" in words


def test_iamports_cancel_history_and_our_refunds_are_shown(shop, two):
    _, _, (merchant_uid, imp_uid, sub_id), _ = two
    member = staff(shop)
    paid = first_payment(shop, sub_id)
    cancelled = shop.sandbox.api("POST", "/payments/cancel",
                                 json={"imp_uid": imp_uid, "amount": 4, "reason": "half by hand"})
    assert cancelled.status_code == 200, cancelled.text
    # PAYMENTWALL confirms a cancel a little later.
    wait_until(lambda: shop.sandbox.payment(imp_uid)["cancel_amount"] > 0, timeout=10,
               message="the cancel confirmed")
    with shop.context():
        db.session.add(Refund(imp_uid=imp_uid, merchant_uid=merchant_uid, payment_id=paid.id,
                              amount=Decimal("4.00"), currency="USD", reason="asked by the customer",
                              status=RefundStatus.OWED))
        db.session.commit()
    words = text_of(member.get(f"/admin/payments/{paid.id}").text)
    assert "half by hand" in words  # iamport's cancel history
    assert "asked by the customer" in words  # our refund
    assert "$4.00" in words
    assert "Differs" in words  # iamport cancelled $4.00, our record says nothing of it


def test_the_payment_page_when_iamport_does_not_answer(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop)
    paid = first_payment(shop, sub_id)
    shop.sandbox.set_faults(error_rate=1)
    page = member.get(f"/admin/payments/{paid.id}")
    shop.sandbox.set_faults(error_rate=0)
    assert page.status_code == 200, page.text[:500]
    words = text_of(page.text)
    assert "iamport did not answer" in words
    assert "$9.00" in words  # our record is still there


def test_the_payment_page_waits_for_iamport_less_than_the_shop_does(tmp_path, sandbox):
    """A shop that waits 30 s for iamport's answers; the page does not keep staff that long."""
    (tmp_path / "slow").mkdir()
    slow = make_shop(tmp_path / "slow", sandbox, IAMPORT_READ_TIMEOUT=30)
    try:
        _, _, sub_id = pay_first(slow, slow.shopper())
        paid = first_payment(slow, sub_id)
        member = staff(slow)
        member.get("/admin")  # the staff session is ready before iamport hangs
        sandbox.set_faults(hang_rate=1, hang_seconds=20)
        started = time.monotonic()
        page = member.get(f"/admin/payments/{paid.id}", timeout=40)
        waited = time.monotonic() - started
        sandbox.set_faults(hang_rate=0)
        assert page.status_code == 200, page.text[:500]
        assert "iamport did not answer" in text_of(page.text)
        # Three attempts of at most 3 s each (the page's wait), well before the hang ends.
        assert waited < 15
    finally:
        slow.stop()


def test_the_payment_page_when_iamport_has_no_such_payment(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop)
    paid = first_payment(shop, sub_id)
    with shop.context():
        db.session.get(Payment, paid.id).imp_uid = "imp_000000000001"
        db.session.commit()
    words = text_of(member.get(f"/admin/payments/{paid.id}").text)
    assert "iamport has no payment with this imp_uid" in words


def test_a_payment_without_imp_uid_says_so_without_asking(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop)
    renewal = scheduled(shop, sub_id)[0]
    # Were iamport asked, this would say it did not answer.
    shop.sandbox.set_faults(error_rate=1)
    page = member.get(f"/admin/payments/{renewal.id}")
    shop.sandbox.set_faults(error_rate=0)
    assert page.status_code == 200, page.text[:500]
    words = text_of(page.text)
    assert "no imp_uid yet" in words
    assert "iamport did not answer" not in words


def test_the_payment_page_in_korean(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop, "ko")
    paid = first_payment(shop, sub_id)
    words = text_of(member.get(f"/admin/payments/{paid.id}").text)
    assert "우리 기록" in words and "포트원의 기록" in words and "영수증" in words


# -- who gets what -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/admin/subscriptions/999999", f"/admin/subscriptions/{TOO_LARGE}", "/admin/subscriptions/abc",
    "/admin/subscriptions/-1", "/admin/payments/999999", f"/admin/payments/{TOO_LARGE}",
    "/admin/payments/abc", f"/admin/payments/{10**30}",
])
def test_unknown_ids_are_not_found(shop, path):
    member = staff(shop)
    assert member.get(path).status_code == 404


def test_the_customer_and_strangers_get_not_found(shop, two):
    ada, _, (_, _, sub_id), _ = two
    paid = first_payment(shop, sub_id)
    for path in (f"/admin/subscriptions/{sub_id}", f"/admin/payments/{paid.id}",
                 f"/admin/subscriptions/{sub_id}?check=iamport"):
        assert ada.get(path).status_code == 404
        assert requests.get(f"{shop.url}{path}", timeout=10).status_code == 404


def test_an_ended_subscription_of_an_erased_account_has_its_page(shop, two):
    _, _, (_, _, sub_id), _ = two
    member = staff(shop)
    with shop.context():
        sub = db.session.get(Subscription, sub_id)
        sub.user.erased_at = sub.created_at + timedelta(days=1)
        db.session.commit()
    page = member.get(f"/admin/subscriptions/{sub_id}")
    assert page.status_code == 200
    assert "Account erased" in text_of(page.text)
