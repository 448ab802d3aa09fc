"""A card declined in the payment window on a phone: the mobile return sends the shopper back to the
checkout, which says why in the shopper's words and keeps the consent given on that order."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from storefront.cli import seed_plans
from storefront.extensions import db
from storefront.models import Payment, utcnow
from storefront.payment_window import CONSENT_VERSION
from tests.support.i18n import KOREAN
from tests.support.iamport_mock import serve_payment

CVV_DECLINE = "Card declined: please check the CVV code"
BACK = "/checkout/return?imp_uid=imp_1&merchant_uid=sub_test_1&imp_success=false&error_code=F400&error_msg=x"


@pytest.fixture
def declined(app, api, order, auth):
    """Ada, logged in, consented to Basic monthly's recurring payment on order sub_test_1, whose
    card iamport declined; the plans on sale."""
    with app.app_context():
        seed_plans()
        payment = db.session.execute(db.select(Payment).where(Payment.merchant_uid == order)).scalar_one()
        payment.subscription.consent_version = f"{CONSENT_VERSION}/en"
        payment.subscription.consent_at = utcnow()
        db.session.commit()
    serve_payment(api, status="failed", fail_reason=CVV_DECLINE, paid_at=0, buyer_tel="010-1234-5678",
                  buyer_addr='Seoul "Gangnam"', buyer_postcode=None)
    assert auth.login().status_code == 302
    return order


def status_box(text: str) -> tuple[str, str]:
    """The checkout page's status box: its opening tag and its text."""
    tag, said = re.search(r'(<div id="checkout-status"[^>]*>)(.*?)</div>', text, re.S).groups()
    return tag, said.strip()


def consent_box(text: str) -> str:
    return re.search(r'<input type="checkbox" id="consent"[^>]*>', text).group(0)


def change_order(app, **values) -> None:
    with app.app_context():
        payment = db.session.execute(db.select(Payment).where(Payment.merchant_uid == "sub_test_1")).scalar_one()
        for name, value in values.items():
            setattr(payment.subscription if name.startswith("consent") else payment, name, value)
        db.session.commit()


def test_a_decline_on_a_phone_returns_to_the_checkout_with_the_reason_and_the_consent(client, app, declined):
    back = client.get(BACK)
    assert back.status_code == 302
    assert back.location == "/checkout/basic-monthly?declined=sub_test_1"
    text = client.get(back.location).get_data(as_text=True)
    tag, said = status_box(text)
    assert "hidden" not in tag and "checkout-error" in tag
    assert said == (f"The payment did not go through: {CVV_DECLINE} Nothing was charged; you can "
                    "pay again with the same or another card.")
    assert " checked" in consent_box(text)
    # The details given to the window, as iamport's record of the order holds them.
    assert re.search(r'<input id="buyer_tel"[^>]* value="010-1234-5678">', text)
    assert re.search(r'<input id="buyer_addr"[^>]* value="Seoul &#34;Gangnam&#34;">', text)
    assert re.search(r'<input id="buyer_postcode"[^>]* value="">', text)
    # No order is offered on the page: the pay button opens a new one.
    assert re.search(r'<div id="order-row" hidden>', text)
    with app.app_context():
        assert db.session.execute(db.select(Payment).where(Payment.merchant_uid == declined)).scalar_one().status == "failed"


def test_the_reason_is_in_korean_on_a_korean_page(client, app, declined):
    # Our own reason, stored in English, in the page's language.
    change_order(app, status="failed", fail_reason="The card was declined.")
    text = client.get("/checkout/basic-monthly?declined=sub_test_1", headers=KOREAN).get_data(as_text=True)
    assert status_box(text)[1] == ("결제되지 않았습니다: 카드 승인이 거절되었습니다. 결제된 금액은 없으며, "
                                   "같은 카드나 다른 카드로 다시 결제하실 수 있습니다.")
    assert " checked" in consent_box(text)


def test_the_reason_is_text_never_markup(client, app, declined):
    change_order(app, status="failed", fail_reason='<img src=x onerror="alert(1)">')
    text = client.get("/checkout/basic-monthly?declined=sub_test_1").get_data(as_text=True)
    assert "<img src=x" not in text
    assert "&lt;img src=x onerror=" in status_box(text)[1]


@pytest.mark.parametrize("changed", [
    # The consent was given to another text of the consent, or to another price.
    {"consent_version": "2020-01-01/en"},
    {"amount": 7},
])
def test_a_consent_to_something_else_is_not_kept(client, app, declined, changed):
    change_order(app, status="failed", fail_reason=CVV_DECLINE, **changed)
    text = client.get("/checkout/basic-monthly?declined=sub_test_1").get_data(as_text=True)
    assert CVV_DECLINE in status_box(text)[1]
    assert " checked" not in consent_box(text)


@pytest.mark.parametrize(("marker", "changed"), [
    ("sub_test_1", {"status": "pending"}),  # not declined
    ("sub_test_1", {"status": "paid", "kind": "renewal"}),  # not a checkout's order
    ("sub_test_1", {"created_at": utcnow() - timedelta(hours=2)}),  # older than ORDER_EXPIRES
    ("sub_nope", {}),
    ("..", {}),
    ("a" * 65, {}),
])
def test_a_marker_of_anything_else_leaves_the_ordinary_checkout(client, app, declined, marker, changed):
    change_order(app, status="failed", fail_reason=CVV_DECLINE)
    change_order(app, **changed)
    answer = client.get(f"/checkout/basic-monthly?declined={marker}")
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    tag, said = status_box(text)
    assert "hidden" in tag and said == ""
    assert " checked" not in consent_box(text)


def test_a_marker_of_another_plan_or_shopper_leaves_the_ordinary_checkout(client, app, auth, declined):
    change_order(app, status="failed", fail_reason=CVV_DECLINE)
    other_plan = client.get("/checkout/premium-monthly?declined=sub_test_1").get_data(as_text=True)
    assert "hidden" in status_box(other_plan)[0]
    assert " checked" not in consent_box(other_plan)
    auth.logout()
    auth.register(email="grace@example.com", first_name="Grace", last_name="Hopper")
    theirs = client.get("/checkout/basic-monthly?declined=sub_test_1").get_data(as_text=True)
    assert "hidden" in status_box(theirs)[0] and CVV_DECLINE not in theirs
    assert " checked" not in consent_box(theirs)


def test_a_decline_on_a_plan_already_bought_goes_to_the_result(client, app, declined):
    """The shopper subscribed meanwhile (another tab): no checkout to go back to."""
    with app.app_context():
        payment = db.session.execute(db.select(Payment).where(Payment.merchant_uid == declined)).scalar_one()
        payment.subscription.status = "active"
        db.session.commit()
    back = client.get(BACK)
    assert back.status_code == 302 and back.location == f"/checkout/result/{declined}"


def test_the_result_pages_try_again_keeps_what_the_checkout_keeps(client, app, declined):
    """A declined order's result (from the account's history, say) goes back the same way."""
    change_order(app, status="failed", fail_reason=CVV_DECLINE)
    text = client.get("/checkout/result/sub_test_1").get_data(as_text=True)
    assert re.search(r'<a class="button" href="/checkout/basic-monthly\?declined=sub_test_1">\s*Try again\s*</a>', text)
