"""The plan and checkout pages through the Flask client: the consent to recurring payment, VAT, the
SDK's language, a subscriber on their own plan's page, a result that is not the shopper's."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import requests

from storefront.payment_window import CONSENT_VERSION, sdk_params
from storefront.cli import seed_plans
from storefront.extensions import db
from storefront.formatting import date_long, shop_zone
from storefront.models import Payment, Plan, Refund, Subscription, User, utcnow
from storefront.periods import add_interval
from tests.support.i18n import KOREAN, english_left
from tests.support.iamport_mock import API, iamport_payment

UTC = timezone.utc
# What the checkout page's script sends once the box is ticked: the consent's version and the
# price the page showed (Basic, $9.00).
AGREED = {"consent": CONSENT_VERSION, "amount": "9.00", "currency": "USD"}


def rows(app) -> tuple[int, int]:
    with app.app_context():
        return (len(db.session.execute(db.select(Subscription)).scalars().all()),
                len(db.session.execute(db.select(Payment)).scalars().all()))


@pytest.fixture
def shopper(app, auth):
    """Ada, logged in, no subscription; the demo plans on sale."""
    assert auth.register().status_code == 302
    with app.app_context():
        seed_plans()


def subscribe_ada(app, status: str = "active") -> int:
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-monthly")).scalar_one()
        now = datetime.now(UTC)
        sub = Subscription(user=user, plan=plan, status=status, customer_uid="cu_1_abc",
                           current_period_start=now, current_period_end=now + timedelta(days=30))
        payment = Payment(merchant_uid="sub_ada_1", user=user, subscription=sub, amount=plan.price,
                          currency=plan.currency, kind="first", customer_uid="cu_1_abc",
                          status="paid", imp_uid="imp_ada_1")
        db.session.add_all([sub, payment])
        db.session.commit()
        return sub.id


@pytest.mark.parametrize(("headers", "language"), [(KOREAN, "ko"), ({}, "en")])
def test_the_payment_window_is_asked_for_in_the_pages_language(app, order, headers, language):
    with app.test_request_context(headers=headers):
        payment = db.session.execute(db.select(Payment).where(Payment.merchant_uid == order)).scalar_one()
        assert sdk_params(payment)["pay"]["language"] == language


def test_the_checkout_page_asks_for_consent_and_opens_no_order(client, app, shopper, api):
    page = client.get("/checkout/basic-monthly")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    box = re.search(r'<input[^>]*id="consent"[^>]*>', text).group(0)
    assert 'type="checkbox"' in box and "checked" not in box
    consent = re.search(r'<label for="consent"[^>]*>(.*?)</label>', text, re.S).group(1)
    with app.test_request_context():
        first_renewal = date_long(add_interval(utcnow(), "month", zone=shop_zone()))
    assert "$9.00" in consent and "every month" in consent and first_renewal in consent
    assert "cancel" in consent and "account" in consent
    assert f'"consent_version": "{CONSENT_VERSION}"' in text
    # Nothing is written and iamport hears nothing until the shopper consents.
    assert rows(app) == (0, 0)
    assert not [c for c in api.calls if "/payments/prepare" in c.request.url]


@pytest.mark.parametrize("body", [{}, {"consent": False}, {"consent": ""}, {"consent": None},
                                  {"consent": ["2026"]}, {"consent": "yes"}])
def test_no_order_is_opened_without_consent(client, app, shopper, api, body):
    response = client.post("/checkout/basic-monthly", json=body)
    assert response.status_code in (400, 409)
    assert "recurring payment" in response.json["error"]["message"]
    assert rows(app) == (0, 0)
    assert not [c for c in api.calls if "/payments/prepare" in c.request.url]


def test_an_order_is_opened_with_consent_and_the_consent_recorded(client, app, shopper, api):
    api.post(re.compile(r".*/payments/prepare$"), json={"code": 0, "message": None, "response": {
        "merchant_uid": "x", "amount": 9}})
    before = datetime.now(UTC)
    response = client.post("/checkout/basic-monthly", json=AGREED)
    assert response.status_code == 200, response.data[:300]
    merchant_uid = response.json["pay"]["merchant_uid"]
    with app.app_context():
        payment = db.session.execute(db.select(Payment).where(Payment.merchant_uid == merchant_uid)).scalar_one()
        assert payment.prepared_at is not None
        # The version of the text, and the language it was read in.
        assert payment.subscription.consent_version == f"{CONSENT_VERSION}/en"
        assert payment.subscription.consent_at >= before.replace(microsecond=0)


def test_no_order_is_opened_at_a_price_other_than_the_one_shown(client, app, shopper, api):
    # The consent named an amount; a price changed since the page was loaded is not agreed to.
    for shown in [{"amount": "8.00"}, {"currency": "KRW"}, {"amount": None}, {"amount": "nine"}]:
        response = client.post("/checkout/basic-monthly", json={**AGREED, **shown})
        assert response.status_code in (400, 409), shown
        assert rows(app) == (0, 0)
    changed = client.post("/checkout/basic-monthly", json={**AGREED, "amount": "8.00"})
    assert changed.status_code == 409
    assert "price" in changed.json["error"]["message"]
    assert not [c for c in api.calls if "/payments/prepare" in c.request.url]


@pytest.mark.parametrize("consent", [True, 1, ["x"], {"a": 1}])
def test_a_consent_that_is_no_version_of_the_text_is_bad_input(client, app, shopper, consent):
    response = client.post("/checkout/basic-monthly", json={**AGREED, "consent": consent})
    assert response.status_code == 400
    assert rows(app) == (0, 0)


def test_opening_an_order_logged_out_answers_what_the_script_can_read(client, app):
    with app.app_context():
        seed_plans()
    response = client.post("/checkout/basic-monthly", json=AGREED,
                           headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.json["redirect"].startswith("/auth/login?next=")
    assert rows(app) == (0, 0)


def test_a_refused_order_is_explained_on_the_account_page_it_sends_to(client, app, shopper):
    subscribe_ada(app)
    response = client.post("/checkout/basic-monthly", json=AGREED)
    assert response.status_code == 409
    assert response.json["redirect"] == "/account"
    assert "You already subscribe to Basic." in client.get("/account").get_data(as_text=True)


def test_a_subscriber_is_told_they_are_subscribed_on_their_plans_page(client, app, shopper):
    subscribe_ada(app)
    text = client.get("/plans/basic-monthly").get_data(as_text=True)
    assert "You are subscribed to Basic" in text
    assert 'href="/account"' in text
    assert "/checkout/basic-monthly" not in text
    # Another plan is a plan change, never a second checkout (one live subscription per shopper).
    other = client.get("/plans/premium-monthly").get_data(as_text=True)
    assert "/checkout/premium-monthly" not in other
    assert "Change to this plan" in other


def test_a_result_of_another_account_says_so_to_a_logged_in_shopper(client, app, order, auth):
    auth.register(email="grace@example.com", first_name="Grace", last_name="Hopper")
    page = client.get(f"/checkout/result/{order}")
    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert "This payment is not on your account." in text
    assert "Please log in to see" not in text
    assert 'href="/account"' in text
    # The same answer for an order that does not exist: nothing says which orders are real.
    other = client.get("/checkout/result/sub_nope").get_data(as_text=True)
    assert re.search(r"<h1>(.*?)</h1>", other, re.S).group(1) == re.search(r"<h1>(.*?)</h1>", text, re.S).group(1)


@pytest.mark.parametrize(("include", "english", "korean"), [
    (True, "VAT included", "부가세 포함"), (False, "VAT excluded", "부가세 별도")])
def test_prices_say_whether_vat_is_included(app_factory, include, english, korean):
    app = app_factory(PRICES_INCLUDE_VAT=include)
    with app.app_context():
        seed_plans()
    client = app.test_client()
    for path in ("/", "/plans/basic-monthly"):
        assert english in client.get(path).get_data(as_text=True), path
        assert korean in client.get(path, headers=KOREAN).get_data(as_text=True), path


def test_the_shop_pages_are_korean_throughout(client, app, shopper):
    client.get("/account")  # reads the sign-up's welcome, which is not these pages' text
    # The account keeps the language it signed up in (English here): the switch changes it.
    client.post("/language", data={"language": "ko", "next": "/"})
    pages = {path: client.get(path, headers=KOREAN) for path in
             ("/", "/plans/basic-monthly", "/checkout/basic-monthly")}
    for path, page in pages.items():
        assert page.status_code == 200, path
        assert english_left(page.get_data(as_text=True), {"Ada", "Lovelace"}) == [], path
    subscribe_ada(app)
    for path in ("/plans/basic-monthly", "/checkout/result/sub_ada_1"):
        page = client.get(path, headers=KOREAN)
        assert page.status_code == 200, path
        # The order number (sub_ada_1) is a code, shown as it is.
        assert english_left(page.get_data(as_text=True), {"sub", "ada"}) == [], path


@pytest.mark.parametrize(("headers", "words"), [
    ({}, "Your payment was not accepted. Refunded: this payment did not match the order, so it "
         "was not needed."),
    (KOREAN, "결제가 승인되지 않았습니다. 환불 사유: 주문과 맞지 않는 결제여서 필요하지 않았습니다."),
])
def test_a_payment_on_another_project_is_refused_without_naming_the_projects(client, app, order, auth,
                                                                             api, headers, words):
    """Live mode refuses a payment made on another PAYMENTWALL project; its stored reason names
    both projects, which the callback's answer and the mobile return's message must not."""
    app.config.update(IAMPORT_MODE="live", IAMPORT_PG="paymentwall.mid_ours_4815",
                      IAMPORT_ACCEPTED_MIDS=["mid_ours_4815"])
    info = iamport_payment(pg_id="mid_other_2342")
    api.get(f"{API}/payments/imp_1", json={"code": 0, "message": None, "response": info})
    api.post(f"{API}/payments/cancel", json={"code": 0, "message": None, "response": dict(
        info, status="cancelled", cancel_amount=9)})
    assert auth.login().status_code == 302
    with client.session_transaction() as session:
        session.pop("_flashes", None)  # the log-in's welcome
    answer = client.post("/checkout/complete", json={"imp_uid": "imp_1", "merchant_uid": "sub_test_1"},
                         headers=headers)
    assert answer.json["status"] == "refused"
    assert answer.json["message"] == words
    back = client.get("/checkout/return?imp_uid=imp_1&merchant_uid=sub_test_1", headers=headers)
    assert back.status_code == 302
    with client.session_transaction() as session:
        flashed = [message for _, message in session.get("_flashes", [])]
    assert flashed == [words]
    for told in (answer.get_data(as_text=True), *flashed):
        assert "mid_other_2342" not in told and "mid_ours_4815" not in told
    with app.app_context():
        [refund] = db.session.execute(db.select(Refund)).scalars()
        # The logs and audits keep the whole reason.
        assert refund.reason == ("Refunded: this payment was made on PAYMENTWALL project "
                                 "mid_other_2342, not mid_ours_4815.")


def set_order(app, merchant_uid: str, **values) -> None:
    with app.app_context():
        payment = db.session.execute(
            db.select(Payment).where(Payment.merchant_uid == merchant_uid)).scalar_one()
        for name, value in values.items():
            setattr(payment, name, value)
        db.session.commit()


def test_the_status_of_a_result_is_read_from_our_records_only(client, app, order, auth, api):
    auth.login()
    set_order(app, order, status="review", imp_uid="imp_held_1")
    status = client.get(f"/checkout/result/{order}/status")
    assert status.status_code == 200
    assert status.headers["Cache-Control"] == "no-store"
    assert status.json == {"status": "review", "reason": None}
    # The result page itself looks the order up at iamport; its status never does.
    assert [c.request.url for c in api.calls] == []


@pytest.mark.parametrize(("headers", "stored", "shown"), [
    ({}, "The card was declined.", "The card was declined."),
    (KOREAN, "The card was declined.", "카드 승인이 거절되었습니다."),
    # A PG's own message as it came (iamport's record gives it in the window's language).
    (KOREAN, "카드 승인이 거절되었습니다. 보안코드(CVC)를 확인해 주십시오.",
     "카드 승인이 거절되었습니다. 보안코드(CVC)를 확인해 주십시오."),
    # None stored: the page's own words.
    ({}, None, "The card was declined."),
])
def test_the_status_of_a_failed_payment_gives_the_reason_in_the_shoppers_words(
        client, app, order, auth, headers, stored, shown):
    auth.login()
    set_order(app, order, status="failed", fail_reason=stored)
    state = client.get(f"/checkout/result/{order}/status", headers=headers).json
    assert state == {"status": "failed", "reason": shown}


def test_the_status_of_a_result_is_the_owners_only(client, app, order, auth):
    # The page's script asks for JSON and reads the answer: never the log-in page.
    asks = {"Accept": "application/json"}
    logged_out = client.get(f"/checkout/result/{order}/status", headers=asks)
    assert logged_out.status_code == 401 and logged_out.json["error"]["status"] == 401
    assert logged_out.headers["Cache-Control"] == "no-store"
    auth.register(email="grace@example.com", first_name="Grace", last_name="Hopper")
    for uid in (order, "sub_nope", "..", "a" * 65):
        answer = client.get(f"/checkout/result/{uid}/status", headers=asks)
        assert answer.status_code == 404, uid
        assert answer.json["error"]["message"].startswith("This payment is not on your account")


@pytest.mark.parametrize("kind", ["first", "new_card"])
def test_a_result_under_review_follows_its_status_and_can_be_checked_without_a_script(
        client, app, order, auth, api, kind):
    auth.login()
    set_order(app, order, status="review", kind=kind)
    # The page asks iamport, which does not answer now: the page shows what we hold.
    api.get(f"{API}/payments/find/{order}", body=requests.ConnectionError("iamport is down"))
    text = client.get(f"/checkout/result/{order}").get_data(as_text=True)
    section = re.search(r'<section class="panel narrow result[^>]*>', text).group(0)
    assert f'data-follow-url="/checkout/result/{order}/status"' in section
    assert 'data-follow-field="status"' in section and 'data-follow-value="review"' in section
    assert re.search(rf'<a [^>]*href="/checkout/result/{order}"[^>]*>\s*Check again\s*</a>', text)
    assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+"></noscript>', text)
    assert "js/follow.js" in text
    korean = client.get(f"/checkout/result/{order}", headers=KOREAN).get_data(as_text=True)
    assert english_left(korean, {"sub", "test"}) == []


def test_a_settled_result_follows_nothing(client, app, order, auth):
    auth.login()
    set_order(app, order, status="paid", imp_uid="imp_paid_1")
    with app.app_context():
        payment = db.session.execute(db.select(Payment).where(Payment.merchant_uid == order)).scalar_one()
        payment.subscription.status = "active"
        payment.subscription.current_period_end = utcnow() + timedelta(days=30)
        db.session.commit()
    text = client.get(f"/checkout/result/{order}").get_data(as_text=True)
    assert "data-follow-url" not in text and 'http-equiv="refresh"' not in text
