"""Item 12 over real HTTP to the sandbox: staff verify a payment again, every open payment of a
subscription, and send a renewal's schedule again; each confirmed, audited, and done once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from storefront import billing
from storefront.extensions import db
from storefront.models import AuditEntry
from tests.support.records import iamport_schedule, payments, scheduled
from tests.support.sandbox import window_result
from tests.support.shop import Shop
from tests.support.staff import STAFF, TOKEN, calls, confirm, staff_member
from tests.support.subscribing import subscribe

def audit(shop: Shop, action: str) -> list[AuditEntry]:
    with shop.context():
        rows = list(db.session.execute(
            db.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).scalars())
        db.session.expunge_all()
        return rows


def paid_without_news(shop: Shop) -> tuple[str, int]:
    """Ada pays a checkout whose callback and webhook never reach the shop: our order stays
    pending, with no imp_uid; returns its order id and subscription id."""
    shop.sandbox.set_webhooks(drop_rate=1.0)
    ada = shop.shopper()
    params = ada.open_checkout()
    assert window_result(ada.pay_in_window(params).text)["success"]
    merchant_uid = params["pay"]["merchant_uid"]
    with shop.context():
        payment = billing.payment_by_merchant_uid(merchant_uid)
        assert (payment.status, payment.imp_uid) == ("pending", None)
        return merchant_uid, payment.id, payment.subscription_id


def test_verify_again_records_a_payment_by_its_order_id_once(shop, monkeypatch):
    merchant_uid, payment_id, _ = paid_without_news(shop)
    sam = staff_member(shop)
    lookups = calls(shop, monkeypatch, "GET", "/payments/find/")
    response, token = confirm(sam, f"/admin/payments/{payment_id}/verify", reason="Ada says she paid")
    assert response.status_code == 200
    assert "pending → paid" in response.text
    with shop.context():
        assert billing.payment_by_merchant_uid(merchant_uid).status == "paid"
    [entry] = audit(shop, "verify")
    assert (entry.actor_email, entry.target_type, entry.target_id, entry.reason, entry.outcome) == \
        (STAFF, "payment", payment_id, "Ada says she paid", "changed")
    assert entry.token == token and entry.remote_addr == "127.0.0.1"

    # The same form again (a double click, the back button): shown what was done, done once.
    again, _ = confirm(sam, f"/admin/payments/{payment_id}/verify", token=token)
    assert again.status_code == 200
    assert "already done" in again.text and "pending → paid" in again.text
    assert len(lookups) == 1
    assert len(audit(shop, "verify")) == 1


def test_verify_again_every_open_payment_of_a_subscription(shop, monkeypatch):
    merchant_uid, _, sub_id = paid_without_news(shop)
    sam = staff_member(shop)
    response, token = confirm(sam, f"/admin/subscriptions/{sub_id}/verify")
    assert response.status_code == 200
    with shop.context():
        assert billing.payment_by_merchant_uid(merchant_uid).status == "paid"
    [entry] = audit(shop, "verify")
    assert (entry.target_type, entry.target_id, entry.outcome) == ("subscription", sub_id, "changed")
    assert merchant_uid in entry.detail
    lookups = calls(shop, monkeypatch, "GET", "/payments/")
    again, _ = confirm(sam, f"/admin/subscriptions/{sub_id}/verify", token=token)
    assert "already done" in again.text
    assert lookups == []


def test_send_the_schedule_again_when_iamport_does_not_hold_it(shop, monkeypatch):
    ada = shop.shopper()
    sub_id = subscribe(shop, ada)
    [row] = scheduled(shop, sub_id)
    shop.sandbox.api("POST", "/subscribe/payments/unschedule",
                     json={"customer_uid": row.customer_uid, "merchant_uid": [row.merchant_uid]})
    sam = staff_member(shop)
    sent = calls(shop, monkeypatch, "POST", "/subscribe/payments/schedule")
    response, token = confirm(sam, f"/admin/subscriptions/{sub_id}/schedule", reason="renewal missing")
    assert response.status_code == 200
    [fresh] = scheduled(shop, sub_id)
    assert iamport_schedule(shop, fresh.merchant_uid)["schedule_status"] == "scheduled"
    assert fresh.schedule_taken_at is not None
    [entry] = audit(shop, "resend_schedule")
    assert (entry.actor_email, entry.target_type, entry.target_id, entry.reason, entry.outcome) == \
        (STAFF, "subscription", sub_id, "renewal missing", "scheduled")
    assert fresh.merchant_uid in entry.detail

    again, _ = confirm(sam, f"/admin/subscriptions/{sub_id}/schedule", token=token)
    assert "already done" in again.text
    assert len(sent) == 1
    assert len(scheduled(shop, sub_id)) == 1 and len(audit(shop, "resend_schedule")) == 1


def test_the_password_given_again_lets_the_action_through(shop):
    ada = shop.shopper()
    sub_id = subscribe(shop, ada)
    sam = staff_member(shop)
    path = f"/admin/subscriptions/{sub_id}/schedule"
    # The log-in was 20 minutes ago (the session's own record of it, set as the shop would).
    [cookie] = [cookie for cookie in sam.http.cookies if cookie.name == "session"]
    serializer = shop.app.session_interface.get_signing_serializer(shop.app)
    data = serializer.loads(cookie.value)
    data["staff_login_at"] = time.time() - 20 * 60
    cookie.value = serializer.dumps(data)
    page = sam.get(path)
    assert 'name="password"' in page.text
    response, _ = confirm(sam, path, password="correct horse")
    assert response.status_code == 200
    [entry] = audit(shop, "resend_schedule")
    assert entry.outcome == "held"  # iamport held it already: nothing was sent
    # The password refreshed the log-in: the next action asks for it no more.
    assert 'name="password"' not in sam.get(path).text
    assert len(payments(shop, sub_id, kind="renewal")) == 1


def test_two_submissions_of_one_form_at_the_same_moment_act_once(shop, monkeypatch):
    merchant_uid, payment_id, _ = paid_without_news(shop)
    sam = staff_member(shop)
    lookups = calls(shop, monkeypatch, "GET", "/payments/find/")
    path = f"/admin/payments/{payment_id}/verify"
    page = sam.get(path)
    data = {"csrf_token": sam.csrf(page.text), "token": TOKEN.search(page.text).group(1),
            "reason": "double click"}
    # Two tabs of one browser: the same cookies, each its own connection.
    twin = requests.Session()
    twin.cookies.update(sam.http.cookies)
    shop.sessions.append(twin)
    start = threading.Barrier(2)

    def submit(http: requests.Session) -> requests.Response:
        start.wait()
        return http.post(f"{shop.url}{path}", data=data, timeout=30)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(submit, [sam.http, twin]))
    assert [answer.status_code for answer in answers] == [200, 200]
    assert sum("already done" in answer.text for answer in answers) == 1
    assert len(lookups) == 1
    [entry] = audit(shop, "verify")
    assert entry.outcome == "changed"
    with shop.context():
        assert billing.payment_by_merchant_uid(merchant_uid).status == "paid"
