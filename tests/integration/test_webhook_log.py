"""The webhook log: every webhook received leaves a row with what it led to, kept WEBHOOK_LOG_DAYS, shown to staff."""

from __future__ import annotations

import json
from datetime import timedelta

import requests

from storefront import billing, clock
from storefront.extensions import db
from storefront.models import AuditEntry, SubscriptionEvent, User, WebhookReceipt
from tests.support.self_service import log_in
from tests.support.shop import webhook
from tests.support.staff import TOKEN, confirm
from tests.support.subscribing import pay_a_second_window


def receipts(app) -> list[WebhookReceipt]:
    with app.app_context():
        rows = list(db.session.execute(db.select(WebhookReceipt).order_by(WebhookReceipt.id)).scalars())
        for row in rows:
            db.session.expunge(row)
        return rows


def test_each_webhook_leaves_a_row_with_its_outcome(shop, two):
    _, _, (merchant_uid, imp_uid, sub_id), _ = two
    before = len(receipts(shop.app))  # the sandbox's own webhooks of the two checkouts
    assert before >= 2
    assert webhook(shop, "imp_nosuchpayment0", "sub_none").status_code == 200
    assert webhook(shop, imp_uid, merchant_uid).status_code == 200
    response = requests.post(f"{shop.url}/iamport/webhook", json={"merchant_uid": "x"}, timeout=10)
    assert response.status_code == 400
    rows = receipts(shop.app)[before:]
    assert [row.outcome for row in rows] == ["unknown_order", "recorded", "bad_request"]
    unknown, good, bad = rows
    assert (unknown.imp_uid, unknown.merchant_uid, unknown.subscription_id) == (
        "imp_nosuchpayment0", "sub_none", None)
    assert (good.imp_uid, good.merchant_uid, good.subscription_id) == (imp_uid, merchant_uid, sub_id)
    assert good.remote_addr == "127.0.0.1"
    assert good.body["imp_uid"] == imp_uid and good.body["status"] == "paid"
    assert bad.body == {"merchant_uid": "x"}


def test_a_refused_address_is_logged_as_refused(app_factory):
    app = app_factory(WEBHOOK_ALLOWED_IPS=["10.1.2.3"])
    response = app.test_client().post("/iamport/webhook", json={"imp_uid": "imp_1", "merchant_uid": "m_1"})
    assert response.status_code == 403
    [row] = receipts(app)
    assert (row.outcome, row.imp_uid, row.remote_addr) == ("refused", "imp_1", "127.0.0.1")


def test_a_body_too_big_for_the_log_is_cut(app_factory):
    app = app_factory(WEBHOOK_ALLOWED_IPS=["10.1.2.3"])
    app.test_client().post("/iamport/webhook", data={"imp_uid": "imp_1", "pad": "x" * 7000})
    [row] = receipts(app)
    assert len(str(row.body)) < 5000


def test_reconcile_purges_rows_older_than_the_setting(shop):
    shop.app.config["WEBHOOK_LOG_DAYS"] = 30
    with shop.context():
        now = clock.now()
        for days in (31, 29, 0):
            db.session.add(WebhookReceipt(received_at=now - timedelta(days=days), remote_addr="127.0.0.1",
                                          body={}, imp_uid=f"imp_{days}", outcome="recorded"))
        db.session.commit()
        billing.reconcile()
    assert [row.imp_uid for row in receipts(shop.app)] == ["imp_29", "imp_0"]


def make_staff(app, email="ada@example.com"):
    """Make the account staff (the session it has, a shopper's, then ends: log in again)."""
    with app.app_context():
        db.session.execute(db.update(User).where(User.email == email).values(is_staff=True))
        db.session.commit()


def seed(app):
    with app.app_context():
        now = clock.now()
        for number, outcome in enumerate(["recorded", "error", "unknown_order"]):
            db.session.add(WebhookReceipt(received_at=now - timedelta(minutes=10 - number),
                                          remote_addr="52.78.100.19", body={"imp_uid": f"imp_log{number}"},
                                          imp_uid=f"imp_log{number}", merchant_uid=f"sub_log{number}",
                                          outcome=outcome))
        db.session.commit()
        return db.session.execute(db.select(WebhookReceipt.id).where(
            WebhookReceipt.imp_uid == "imp_log1")).scalar_one()


def test_the_log_is_not_found_for_a_shopper(app, client, auth):
    row_id = seed(app)
    assert client.get("/admin/webhooks").status_code == 404
    auth.register()
    assert client.get("/admin/webhooks").status_code == 404
    assert client.get(f"/admin/webhooks/{row_id}").status_code == 404
    assert client.post(f"/admin/webhooks/{row_id}/verify").status_code == 404


def test_staff_read_the_log_newest_first_filter_it_and_open_an_entry(app, client, auth):
    row_id = seed(app)
    auth.register()
    make_staff(app)
    auth.logout()
    auth.login()
    page = client.get("/admin/webhooks").get_data(as_text=True)
    assert page.index("imp_log2") < page.index("imp_log1") < page.index("imp_log0")
    assert "52.78.100.19" in page and "Unknown order" in page
    errors = client.get("/admin/webhooks?outcome=error").get_data(as_text=True)
    assert "imp_log1" in errors and "imp_log0" not in errors
    assert client.get("/admin/webhooks?outcome=nonsense").status_code == 400
    assert client.get("/admin/webhooks?page=0").status_code == 400
    detail = client.get(f"/admin/webhooks/{row_id}")
    assert detail.status_code == 200 and "sub_log1" in detail.get_data(as_text=True)
    assert client.get("/admin/webhooks/999999").status_code == 404
    # No iamport answers beside this app: the result says so, and nothing breaks.
    form = client.get(f"/admin/webhooks/{row_id}/verify").get_data(as_text=True)
    again = client.post(f"/admin/webhooks/{row_id}/verify", follow_redirects=True,
                        data={"token": TOKEN.search(form).group(1), "reason": "iamport retried?"})
    assert again.status_code == 200
    assert "iamport did not answer" in again.get_data(as_text=True)


def test_the_log_pages_in_sql(app, client, auth):
    with app.app_context():
        now = clock.now()
        db.session.add_all([WebhookReceipt(received_at=now - timedelta(seconds=n), remote_addr="1.1.1.1",
                                           body={}, imp_uid=f"imp_p{n:03d}", outcome="recorded")
                            for n in range(60)])
        db.session.commit()
    auth.register()
    make_staff(app)
    auth.logout()
    auth.login()
    first = client.get("/admin/webhooks").get_data(as_text=True)
    second = client.get("/admin/webhooks?page=2").get_data(as_text=True)
    assert "imp_p000" in first and "imp_p059" not in first
    assert "imp_p059" in second and "imp_p000" not in second


def test_staff_verify_a_webhook_again_over_http(shop, two):
    ada, _, (merchant_uid, imp_uid, sub_id), _ = two
    make_staff(shop.app)
    log_in(shop, ada.http, ada.email)
    [row] = [r for r in receipts(shop.app) if r.imp_uid == imp_uid][:1]
    page = ada.get(f"/admin/webhooks/{row.id}")
    assert page.status_code == 200 and f'href="/admin/webhooks/{row.id}/verify"' in page.text
    # Without the form's CSRF token nothing is done.
    refused = ada.http.post(f"{shop.url}/admin/webhooks/{row.id}/verify", timeout=10)
    assert refused.status_code == 400
    # Confirmed with a reason, as every action at iamport: then audited, with its outcome.
    answer, _ = confirm(ada, f"/admin/webhooks/{row.id}/verify", reason="the customer says it is paid")
    assert answer.status_code == 200 and "/admin/audit/" in answer.url
    assert "Nothing to change" in answer.text and f"{imp_uid} → {merchant_uid}: paid" in answer.text
    with shop.context():
        [entry] = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "verify")).scalars()
        assert (entry.actor_email, entry.outcome, entry.target_type, entry.target_id, entry.reason) == \
            (ada.email, "unchanged", "webhook", row.id, "the customer says it is paid")
    ada.use_language("ko")
    korean = ada.get("/admin/webhooks?outcome=recorded")
    assert "웹훅 기록" in korean.text and "기록됨" in korean.text


def test_what_verify_again_changes_is_on_the_timeline_caused_by_staff(shop, two):
    ada, _, (_, _, sub_id), _ = two
    make_staff(shop.app)
    log_in(shop, ada.http, ada.email)
    second = pay_a_second_window(shop, ada)  # paid at iamport, its webhook lost
    with shop.context():
        receipt = WebhookReceipt(received_at=clock.now(), remote_addr="127.0.0.1", body={},
                                 imp_uid=second["imp_uid"], outcome="error")
        db.session.add(receipt)
        db.session.commit()
        receipt_id = receipt.id
    answer, _ = confirm(ada, f"/admin/webhooks/{receipt_id}/verify")
    assert "sub_second_window: paid" in answer.text
    with shop.context():
        story = db.session.execute(
            db.select(SubscriptionEvent.kind, SubscriptionEvent.cause)
            .where(SubscriptionEvent.subscription_id == sub_id, SubscriptionEvent.cause == "staff")
            .order_by(SubscriptionEvent.id)).all()
    # The second payment is recorded, and owed back (the plan was bought already).
    assert [tuple(row) for row in story][:2] == [("payment_paid", "staff"), ("refund_owed", "staff")]


def test_a_webhook_anyone_can_send_keeps_only_iamports_fields(shop):
    """Refused, malformed and unknown webhooks cost the log a few short fields, not their body."""
    padding = "y" * 3000
    requests.post(f"{shop.url}/iamport/webhook", timeout=15,
                  json={"imp_uid": "imp_nobody_knows", "merchant_uid": "x" * 500, "junk": padding})
    with shop.context():
        [row] = db.session.execute(db.select(WebhookReceipt)).scalars()
        assert row.outcome == "unknown_order"
        assert row.body == {"imp_uid": "imp_nobody_knows", "merchant_uid": "x" * 64}


def test_a_long_body_of_a_real_payment_is_cut_to_the_limit_in_bytes():
    from storefront.webhook_log import BODY_LIMIT, body_fields

    kept = body_fields({"imp_uid": "imp_1", "junk": "\u0001" * 8000}, "recorded")
    assert len(json.dumps(kept).encode()) <= BODY_LIMIT
