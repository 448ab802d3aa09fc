"""Deleting the account: subscriptions end now, keys deleted at iamport, personal data erased,
payment records kept under the user's id; money still open finishes first."""

from __future__ import annotations

from storefront import billing
from storefront.extensions import db
from storefront.models import OutboxMessage, Payment, PaymentStatus, Refund, Subscription, User
from tests.support.i18n import KOREAN
from tests.support.records import key_exists, payments, subscription
from tests.support.sandbox import window_result
from tests.support.self_service import browser, log_in, logged_in, sign_up, submit
from tests.support.shop import Shopper
from tests.support.subscribing import subscribe


def test_deleting_ends_subscriptions_erases_the_person_and_keeps_the_records(shop, sandbox):
    http = sign_up(shop, "ada@example.com")
    ada = Shopper(shop, http, "ada@example.com")
    sub_id = subscribe(shop, ada)
    key = subscription(shop, sub_id).customer_uid
    sandbox.wait_for_mail("ada@example.com")
    first = payments(shop, sub_id, kind="first")[0]

    page = http.get(f"{shop.url}/account/delete", timeout=10)
    assert page.status_code == 200 and "ends now, with no further charge" in page.text
    wrong = submit(shop, http, "/account/delete", {"current": "not it"})
    assert wrong.status_code == 400 and "The current password is wrong." in wrong.text
    done = submit(shop, http, "/account/delete", {"current": "correct horse"})
    assert done.status_code == 200 and "Your account is deleted." in done.text
    assert not logged_in(shop, http)

    ended = subscription(shop, sub_id)
    assert ended.status == "canceled" and ended.buyer_email is None and ended.buyer_name is None
    assert not key_exists(shop, key)  # deleted at iamport
    assert payments(shop, sub_id, kind="renewal", status="scheduled") == []
    with shop.context():
        user = db.session.get(User, 1)
        # The address is replaced by a random one (whose hex may spell "ada" by chance).
        assert user.erased_at is not None and "ada@example.com" not in user.email.lower()
        assert user.email.endswith("@erased.invalid")
        assert user.first_name == "" and user.last_name == "" and not user.check_password("correct horse")
        kept = db.session.get(Payment, first.id)
        assert (kept.amount, kept.merchant_uid, kept.paid_at, kept.user_id) == (
            first.amount, first.merchant_uid, first.paid_at, 1)
        assert kept.buyer_email is None and "buyer_email" not in (kept.provider_response or {})
        assert "ada@example.com" not in str(kept.provider_response)
        rows = db.session.execute(db.select(OutboxMessage).where(OutboxMessage.user_id == 1)).scalars().all()
        assert rows and all(row.to_address == "" and row.text_body == "" and not row.is_open
                            for row in rows)
    assert log_in(shop, browser(shop), "ada@example.com").status_code == 401
    # The address is free again.
    again = sign_up(shop, "ada@example.com")
    assert logged_in(shop, again)


def test_money_under_way_is_finished_first(shop, sandbox):
    http = sign_up(shop, "ada@example.com", KOREAN)
    ada = Shopper(shop, http, "ada@example.com")
    sub_id = subscribe(shop, ada)
    with shop.context():
        payment = db.session.execute(db.select(Payment).where(Payment.subscription_id == sub_id,
                                                              Payment.kind == "first")).scalar_one()
        payment.status = PaymentStatus.REVIEW
        db.session.commit()
    page = http.get(f"{shop.url}/account/delete", timeout=10)
    assert page.status_code == 200 and 'data-testid="money-open"' in page.text
    assert "진행 중인 결제 또는 환불이 있습니다" in page.text
    refused = http.post(f"{shop.url}/account/delete", data={
        "csrf_token": page.text.split('name="csrf-token" content="')[1].split('"')[0],
        "current": "correct horse"}, timeout=10)
    assert refused.status_code == 409
    with shop.context():
        assert db.session.get(User, 1).erased_at is None
        assert db.session.get(Subscription, sub_id).status == "active"


def test_a_window_paid_after_the_deletion_is_refunded_and_keeps_no_person(shop, sandbox):
    http = sign_up(shop, "ada@example.com")
    ada = Shopper(shop, http, "ada@example.com")
    params = ada.open_checkout()  # a window left open in another tab
    submit(shop, http, "/account/delete", {"current": "correct horse"})
    sandbox.set_webhooks(drop_rate=1.0)
    rsp = window_result(ada.pay_in_window(params).text)
    with shop.context():
        billing.verify_payment(rsp["imp_uid"])
        billing.reconcile()
        paid = billing.payment_by_merchant_uid(params["pay"]["merchant_uid"])
        assert paid.status in ("paid", "cancelled")
        assert "ada@example.com" not in str(paid.provider_response)
        assert "Lovelace" not in str(paid.provider_response)
        # Its refund is owed (or done), and no mail is written to the erased address.
        assert db.session.execute(db.select(Refund).where(Refund.imp_uid == rsp["imp_uid"])).scalar_one()
        assert not [row for row in db.session.execute(db.select(OutboxMessage)).scalars()
                    if row.is_open]
