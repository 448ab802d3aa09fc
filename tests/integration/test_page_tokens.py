"""Tokens and pages that make records: a "Charge now" token works only where it was issued, the
new-card page opens its order only when pay is pressed, and order ids made of dots never reach
iamport."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from decimal import Decimal

import pytest

from storefront.extensions import db
from storefront.models import Payment, Subscription
from tests.support.records import payments, registered
from tests.support.sandbox import window_result
from tests.support.shop import confirmation, webhook
from tests.support.subscribing import subscribe
from tests.support.waiting import wait_until


def post_charge(shopper, sub_id: int, csrf: str, token: str):
    return shopper.http.post(f"{shopper.shop.url}/account/subscriptions/{sub_id}/charge",
                             data={"csrf_token": csrf, "charge_token": token},
                             allow_redirects=False, timeout=30)


def again_charges(shop, customer_uid: str) -> list[dict]:
    listed = shop.sandbox.api("GET", f"/subscribe/customers/{customer_uid}/payments").json()
    return [p for p in listed["response"]["list"] if p["customer_uid_usage"] == "payment"]


def test_a_token_the_shop_never_issued_charges_nothing(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    csrf, _ = confirmation(shopper, sub_id)
    response = post_charge(shopper, sub_id, csrf, "made-up-but-well-formed-token")
    assert response.status_code == 400
    assert "reload" in response.text.lower()
    assert payments(shop, sub_id, kind="repeat") == []
    assert again_charges(shop, payments(shop, sub_id)[0].customer_uid) == []


def test_another_shoppers_token_neither_charges_nor_finds_their_charge(shop, two):
    ada, grace, (_, _, ada_sub), (_, _, grace_sub) = two
    ada_csrf, ada_token = confirmation(ada, ada_sub)
    assert post_charge(ada, ada_sub, ada_csrf, ada_token).status_code == 303
    [ada_charge] = payments(shop, ada_sub, kind="repeat")
    assert ada_charge.status == "paid"

    grace_csrf, _ = confirmation(grace, grace_sub)
    response = post_charge(grace, grace_sub, grace_csrf, ada_token)
    assert response.status_code == 400
    # Grace is told nothing about Ada's charge and is not charged herself.
    account = grace.get("/account").text
    assert "already submitted" not in account
    assert payments(shop, grace_sub, kind="repeat") == []


def test_a_token_of_one_subscription_does_not_charge_another(shop):
    shopper = shop.shopper()
    basic = subscribe(shop, shopper)
    # A shopper with two live subscriptions holds them from before one live subscription per
    # shopper was the rule: Basic is set aside while Premium is bought, then flagged as held.
    with shop.context():
        db.session.get(Subscription, basic).status = "canceled"
        db.session.commit()
    params = shopper.open_checkout("premium-monthly")
    rsp = window_result(shopper.pay_in_window(params).text)
    assert shopper.complete(params, rsp["imp_uid"]).json()["status"] == "paid"
    with shop.context():
        held = db.session.get(Subscription, basic)
        held.status, held.kept_before_one_live = "active", True
        db.session.commit()
    with shop.context():
        premium = db.session.execute(db.select(Payment.subscription_id).where(
            Payment.merchant_uid == params["pay"]["merchant_uid"])).scalar_one()
    wait_until(lambda: registered(shop, premium), timeout=6, message="the premium renewal schedule")
    csrf, basic_token = confirmation(shopper, basic)
    assert post_charge(shopper, premium, csrf, basic_token).status_code == 400
    assert payments(shop, premium, kind="repeat") == []
    # On its own subscription the same token charges, once.
    assert post_charge(shopper, basic, csrf, basic_token).status_code == 303
    assert post_charge(shopper, basic, csrf, basic_token).status_code == 303
    assert [p.status for p in payments(shop, basic, kind="repeat")] == ["paid"]


def prepared_at_iamport(shop) -> list[str]:
    """The merchant_uids whose amount the sandbox holds from `POST /payments/prepare`."""
    path = shop.sandbox.sandbox.settings.database_path
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as sandbox_db:
        rows = sandbox_db.execute("SELECT merchant_uid FROM prepared ORDER BY rowid")
        return [merchant_uid for (merchant_uid,) in rows]


def test_the_new_card_page_opens_no_order_and_its_pay_button_opens_one(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    before = [p.merchant_uid for p in payments(shop, sub_id)]
    prepared = prepared_at_iamport(shop)
    for _ in range(3):
        page = shopper.get(f"/account/subscriptions/{sub_id}/card")
        assert page.status_code == 200
        assert "$9.00" in page.text and '"pay":' not in page.text
    # A GET changes nothing: no order here, nothing registered at iamport.
    assert [p.merchant_uid for p in payments(shop, sub_id)] == before
    assert prepared_at_iamport(shop) == prepared

    params = shopper.window_page(f"/account/subscriptions/{sub_id}/card")
    # The POST needs the page's CSRF token, as the checkout's does.
    forged = shopper.http.post(f"{shop.url}{params['order_url']}",
                               json={"amount": params["amount"], "currency": params["currency"]},
                               headers={"Accept": "application/json"}, timeout=15)
    assert forged.status_code == 400
    assert "form expired" in forged.json()["error"]["message"]
    assert [p.merchant_uid for p in payments(shop, sub_id)] == before

    # Pressing pay opens the order, registered with its amount; pressing it again reuses it.
    answers = [shopper.open_order(params) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    merchant_uids = {a.json()["pay"]["merchant_uid"] for a in answers}
    assert len(merchant_uids) == 1, merchant_uids
    [merchant_uid] = merchant_uids
    assert merchant_uid.startswith("card_")
    [opened] = [p for p in payments(shop, sub_id) if p.merchant_uid not in before]
    assert (opened.merchant_uid, opened.kind, opened.status) == (merchant_uid, "new_card", "pending")
    assert prepared_at_iamport(shop) == [*prepared, merchant_uid]
    registered_amount = shop.sandbox.api("GET", f"/payments/prepare/{merchant_uid}").json()
    assert registered_amount["response"]["amount"] == 9


def test_the_new_card_is_not_opened_at_a_price_other_than_the_one_shown(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    before = [p.merchant_uid for p in payments(shop, sub_id)]
    params = shopper.window_page(f"/account/subscriptions/{sub_id}/card")
    with shop.context():
        # The plan's price changes while the page is open.
        payment = db.session.execute(db.select(Payment).where(
            Payment.merchant_uid == before[0])).scalar_one()
        payment.subscription.plan.price = Decimal("12.00")
        db.session.commit()
    answer = shopper.open_order(params)
    assert answer.status_code == 409
    assert "price of this plan has changed" in answer.json()["error"]["message"]
    assert [p.merchant_uid for p in payments(shop, sub_id)] == before


@pytest.mark.parametrize("uid", ["..", ".", "...", "..:.."])
def test_ids_made_only_of_dots_are_refused_before_iamport(shop, uid):
    shopper = shop.shopper()
    params = shopper.open_checkout()
    response = shopper.complete(params, imp_uid=uid)
    assert response.status_code == 400
    response = shopper.complete(params, imp_uid="imp_x", merchant_uid=uid)
    assert response.status_code in (400, 404)
    assert webhook(shop, uid, "sub_x").status_code == 400
    assert shopper.get(f"/checkout/return?imp_uid={uid}&merchant_uid={uid}").status_code in (400, 404)


def test_a_token_from_before_a_log_out_charges_nothing_after_it(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    _, token = confirmation(shopper, sub_id)
    page = shopper.get("/account")
    shopper.http.post(f"{shop.url}/auth/logout", data={"csrf_token": shopper.csrf(page.text)}, timeout=10)
    login = shopper.get("/auth/login")
    assert shopper.http.post(f"{shop.url}/auth/login", data={
        "csrf_token": shopper.csrf(login.text), "email": shopper.email, "password": "correct horse",
    }, timeout=10).url.endswith("/account")
    csrf, _ = confirmation(shopper, sub_id)
    assert post_charge(shopper, sub_id, csrf, token).status_code == 400
    assert payments(shop, sub_id, kind="repeat") == []
