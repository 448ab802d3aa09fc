"""The account pages through the Flask client: the charge confirmation, the history's dates."""

from __future__ import annotations

import re
from html import unescape
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from storefront.card import CARD_CONSENT_VERSION
from storefront.cli import seed_plans
from storefront.extensions import db
from storefront.models import Payment, Plan, Subscription, User
from tests.support.i18n import KOREAN

UTC = timezone.utc
PERIOD_END = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)


@pytest.fixture
def subscription_id(app, auth) -> int:
    """Ada, logged in, with an active $9 monthly subscription whose card is ready."""
    assert auth.register().status_code == 302
    with app.app_context():
        seed_plans()
        user = db.session.execute(db.select(User)).scalar_one()
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-monthly")).scalar_one()
        sub = Subscription(
            user=user, plan=plan, status="active", customer_uid="cu_1_abc",
            current_period_start=datetime(2026, 2, 15, 10, 0, tzinfo=UTC),
            current_period_end=PERIOD_END, buyer_email=user.email, buyer_name=user.buyer_name,
            billing_key_ready_at=datetime(2026, 2, 15, 10, 1, tzinfo=UTC),
            card_name="Sandbox Visa", card_number="400000******0001",
        )
        db.session.add(sub)
        db.session.commit()
        return sub.id


def test_charge_confirmation_shows_amount_card_and_paid_until(client, subscription_id):
    page = client.get(f"/account/subscriptions/{subscription_id}/charge")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "$9.00" in text
    assert "Sandbox Visa ending in 0001" in text
    # One month after today's paid-until date (15 March).
    assert "15 April 2026" in text
    assert 'name="charge_token"' in text


def test_charge_confirmation_keeps_the_billing_anchor_after_a_short_month(client, app, subscription_id):
    """Bought on 31 January: February's period ends on the 28th, and the next one on 31 March,
    which is the date the charge itself gives (not one month after 28 February)."""
    set_subscription(app, subscription_id, billing_anchor=datetime(2026, 1, 31, 10, 0, tzinfo=UTC),
                     current_period_start=datetime(2026, 1, 31, 10, 0, tzinfo=UTC),
                     current_period_end=datetime(2026, 2, 28, 10, 0, tzinfo=UTC))
    text = client.get(f"/account/subscriptions/{subscription_id}/charge").get_data(as_text=True)
    assert "31 March 2026 (now 28 February 2026)" in text
    assert "28 March 2026" not in text
    # The account keeps the language it signed up in (English here): the switch changes it.
    client.post("/language", data={"language": "ko", "next": "/"})
    korean = client.get(f"/account/subscriptions/{subscription_id}/charge",
                        headers=KOREAN).get_data(as_text=True)
    assert "2026년 3월 31일" in korean and "2026년 3월 28일" not in korean


def test_the_account_page_links_to_the_confirmation_and_charges_nothing(client, subscription_id):
    text = client.get("/account").get_data(as_text=True)
    assert f'href="/account/subscriptions/{subscription_id}/charge"' in text
    assert 'name="charge_token"' not in text


def test_charge_confirmation_of_a_refused_charge_goes_back_with_the_reason(client, app, subscription_id):
    with app.app_context():
        db.session.get(Subscription, subscription_id).cancel_at_period_end = True
        db.session.commit()
    page = client.get(f"/account/subscriptions/{subscription_id}/charge", follow_redirects=True)
    assert page.request.path == "/account"
    assert "resume it first" in page.get_data(as_text=True)


def test_charge_confirmation_of_someone_elses_subscription_is_404(client, auth, subscription_id):
    auth.logout()
    auth.register(email="grace@example.com", first_name="Grace", last_name="Hopper")
    assert client.get(f"/account/subscriptions/{subscription_id}/charge").status_code == 404


def history_dates(client) -> list[tuple[str, str]]:
    """(merchant_uid, date shown) of each history row, top to bottom."""
    text = client.get("/account").get_data(as_text=True)
    return re.findall(r'<tr data-merchant-uid="([^"]+)">\s*<td>([^<]*)</td>', text)


def add_payment(app, subscription_id: int, merchant_uid: str, **fields) -> None:
    with app.app_context():
        sub = db.session.get(Subscription, subscription_id)
        fields.setdefault("kind", "renewal")
        db.session.add(Payment(merchant_uid=merchant_uid, user_id=sub.user_id,
                               subscription_id=sub.id, amount=Decimal("9.00"), currency="USD",
                               customer_uid=sub.customer_uid, **fields))
        db.session.commit()


def test_failed_renewals_show_the_day_they_ran_newest_first(client, app, subscription_id):
    made = datetime(2025, 12, 1, 3, 0, tzinfo=UTC)
    add_payment(app, subscription_id, "sub_first", kind="first", status="paid",
                created_at=made, paid_at=made)
    # Written a period ahead, all on 1 December; iamport ran them on 1, 3 and 7 January. The
    # ids are out of step with the runs, so only the run date can give the order.
    for uid, day in (("ren_c", 7), ("ren_a", 1), ("ren_b", 3)):
        add_payment(app, subscription_id, uid, status="failed", fail_reason="Card declined",
                    created_at=made, scheduled_at=datetime(2026, 1, day, 3, 0, tzinfo=UTC))
    assert history_dates(client) == [
        ("ren_c", "7 January 2026, 12:00 KST"),
        ("ren_b", "3 January 2026, 12:00 KST"),
        ("ren_a", "1 January 2026, 12:00 KST"),
        ("sub_first", "1 December 2025, 12:00 KST"),
    ]


def test_history_ties_are_broken_newest_row_first(client, app, subscription_id):
    at = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    for uid in ("rep_1", "rep_2"):
        add_payment(app, subscription_id, uid, kind="repeat", status="paid", created_at=at, paid_at=at)
    assert [uid for uid, _ in history_dates(client)] == ["rep_2", "rep_1"]


def test_dates_are_shown_in_the_shops_time_zone(client, app, subscription_id):
    # 20:00 UTC on 31 January is 05:00 on 1 February in Seoul (UTC+9), the default zone.
    paid = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)
    add_payment(app, subscription_id, "rep_late", kind="repeat", status="paid", created_at=paid,
                paid_at=paid)
    [(uid, shown)] = history_dates(client)
    assert uid == "rep_late"
    assert shown.startswith("1 February 2026")
    # A moment shows its time with the zone, so it cannot be read as UTC.
    assert shown == "1 February 2026, 05:00 KST"
    assert "31 January" not in client.get("/account").get_data(as_text=True)


def test_the_cancel_message_gives_the_end_in_the_shops_time_zone(client, app, subscription_id):
    with app.app_context():
        # 16:00 UTC on the 15th is already the 16th in Seoul.
        db.session.get(Subscription, subscription_id).current_period_end = datetime(
            2027, 3, 15, 16, 0, tzinfo=UTC)
        db.session.commit()
    page = client.post(f"/account/subscriptions/{subscription_id}/cancel",
                       data={"when": "period_end"}, follow_redirects=True)
    assert "Your subscription ends on 16 March 2027." in page.get_data(as_text=True)


def test_a_card_change_while_iamport_is_silent_is_a_503_to_try_again(client, subscription_id, api):
    card = f"/account/subscriptions/{subscription_id}/card"
    # The page asks iamport nothing; only getToken answers when pay opens the order.
    assert client.get(card).status_code == 200
    assert len(api.calls) == 0
    script = client.post(card, json={"amount": "9.00", "currency": "USD", "consent": CARD_CONSENT_VERSION})
    assert script.status_code == 503
    assert script.json == {"error": {"status": 503, "message": "The payment service is not "
                                     "answering. Please try again in a minute."}}


@pytest.mark.parametrize("body", [None, [], "9.00", {"amount": "9.00", "currency": "USD"},
                                  {"amount": "nine", "currency": "USD", "consent": CARD_CONSENT_VERSION}])
def test_opening_a_card_change_without_the_price_shown_is_bad_input(client, app, subscription_id,
                                                                     api, body):
    card = f"/account/subscriptions/{subscription_id}/card"
    answer = client.post(card, json=body) if body is not None else client.post(card, data="x")
    assert answer.status_code == 400
    assert answer.json["error"]["message"]
    assert len(api.calls) == 0
    with app.app_context():
        assert db.session.execute(db.select(Payment)).first() is None


def test_the_card_change_page_of_an_ended_subscription_goes_back_with_the_reason(client, app,
                                                                                 subscription_id):
    set_subscription(app, subscription_id, status="canceled", canceled_at=PERIOD_END)
    page = client.get(f"/account/subscriptions/{subscription_id}/card", follow_redirects=True)
    assert page.request.path == "/account"
    assert "Only an active subscription can change card." in page.get_data(as_text=True)
    answer = client.post(f"/account/subscriptions/{subscription_id}/card",
                         json={"amount": "9.00", "currency": "USD", "consent": CARD_CONSENT_VERSION})
    assert answer.status_code == 409
    assert answer.json["redirect"] == "/account"
    with app.app_context():
        assert db.session.execute(db.select(Payment)).first() is None


# --------------------------------------------------------------------------- issue 18, items 9, 10, 12


def set_subscription(app, subscription_id: int, **fields) -> None:
    with app.app_context():
        sub = db.session.get(Subscription, subscription_id)
        for name, value in fields.items():
            setattr(sub, name, value)
        db.session.commit()


def test_the_card_is_shown_as_its_last_four_digits(client, subscription_id):
    for path in ("/account", f"/account/subscriptions/{subscription_id}/charge"):
        text = client.get(path).get_data(as_text=True)
        assert "Sandbox Visa ending in 0001" in text, path
        assert "400000******0001" not in text, path


def test_a_past_due_charge_now_pays_the_overdue_renewal(client, app, subscription_id):
    set_subscription(app, subscription_id, status="past_due", retry_count=1,
                     past_due_since=PERIOD_END)
    overview = unescape(client.get("/account").get_data(as_text=True))
    assert '"Charge now" pays the overdue renewal' in overview
    assert "in advance" not in overview
    confirm = client.get(f"/account/subscriptions/{subscription_id}/charge").get_data(as_text=True)
    assert "This pays your overdue renewal" in confirm
    assert "in advance" not in confirm
    # An active one still pays the next period in advance.
    set_subscription(app, subscription_id, status="active", retry_count=0, past_due_since=None)
    assert "pays your next period in advance" in client.get("/account").get_data(as_text=True)


def test_cancelling_now_says_what_is_refunded_before_it_is_confirmed(client, app, subscription_id):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from storefront.models import utcnow

    now = utcnow()
    start, end = now - timedelta(days=20, hours=1), now + timedelta(days=10, hours=1)
    set_subscription(app, subscription_id, current_period_start=start, current_period_end=end,
                     billing_anchor=start)
    with app.app_context():
        sub = db.session.get(Subscription, subscription_id)
        # Paid 20 days ago: the withdrawal period has passed.
        db.session.add(Payment(merchant_uid="first_paid_1", imp_uid="imp_first_1", user=sub.user,
                               subscription=sub, amount=Decimal("9.00"), currency="USD", kind="first",
                               status="paid", paid_at=start))
        db.session.commit()
    seoul = ZoneInfo("Asia/Seoul")
    first, last = start.astimezone(seoul).date(), end.astimezone(seoul).date()
    unused = (last - (now.astimezone(seoul).date() + timedelta(days=1))).days
    worth = (Decimal("9.00") * unused / (last - first).days).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    text = unescape(client.get(f"/account/subscriptions/{subscription_id}/cancel").get_data(as_text=True))
    assert f"${worth} will be refunded to your card: the value of the {unused} unused whole days" in text
    assert "Nothing is refunded" not in text


def test_cancelling_now_with_nothing_paid_says_nothing_is_refunded(client, subscription_id):
    text = client.get(f"/account/subscriptions/{subscription_id}/cancel").get_data(as_text=True)
    assert "Nothing is refunded" in text and "will be refunded" not in text


def test_a_cancelled_subscription_is_spelled_cancelled(client, app, subscription_id):
    set_subscription(app, subscription_id, status="canceled", canceled_at=PERIOD_END)
    text = client.get("/account").get_data(as_text=True)
    assert re.search(r'data-status="canceled">\s*cancelled\s*<', text)
    assert re.search(r">\s*canceled\s*<", text) is None


def test_the_status_of_an_activating_subscription_then_of_a_ready_one(client, app, subscription_id):
    set_subscription(app, subscription_id, billing_key_ready_at=None, card_name=None, card_number=None)
    page = client.get("/account").get_data(as_text=True)
    assert f'data-status-url="/account/subscriptions/{subscription_id}/status"' in page
    activating = client.get(f"/account/subscriptions/{subscription_id}/status")
    assert activating.status_code == 200
    assert activating.headers["Cache-Control"] == "no-store"
    assert activating.json["activating"] is True
    assert activating.json["charge_url"] is None
    set_subscription(app, subscription_id, billing_key_ready_at=PERIOD_END,
                     card_name="Sandbox Visa", card_number="400000******0001")
    ready = client.get(f"/account/subscriptions/{subscription_id}/status").json
    assert ready["activating"] is False
    assert ready["status"] == "active"
    assert ready["card"] == "Sandbox Visa ending in 0001"
    assert ready["charge_url"] == f"/account/subscriptions/{subscription_id}/charge"
    assert "in advance" in ready["caption"]


def test_the_status_is_only_the_owners(client, auth, subscription_id):
    auth.logout()
    assert client.get(f"/account/subscriptions/{subscription_id}/status").status_code == 401
    auth.register(email="grace@example.com", first_name="Grace", last_name="Hopper")
    assert client.get(f"/account/subscriptions/{subscription_id}/status").status_code == 404
    assert client.get(f"/account/subscriptions/{2**31}/status").status_code == 404


def test_a_card_change_opened_but_not_paid_is_not_in_the_history(client, app, subscription_id):
    with app.app_context():
        sub = db.session.get(Subscription, subscription_id)
        db.session.add(Payment(merchant_uid="card_unpaid_1", user=sub.user, subscription=sub,
                               amount=Decimal("9.00"), currency="USD", kind="new_card",
                               customer_uid="cu_1_new", status="pending"))
        db.session.add(Payment(merchant_uid="card_paid_1", user=sub.user, subscription=sub,
                               amount=Decimal("9.00"), currency="USD", kind="new_card",
                               customer_uid="cu_1_new2", status="paid",
                               paid_at=datetime(2026, 3, 1, tzinfo=UTC)))
        db.session.commit()
    rows = re.findall(r"<tr[^>]*>.*?</tr>", client.get("/account").get_data(as_text=True), re.S)
    history = [row for row in rows if "New card" in row]
    assert len(history) == 1
    assert 'data-merchant-uid="card_paid_1"' in history[0]


def test_a_subscription_ended_while_its_card_was_activating_is_not_activating(client, app,
                                                                              subscription_id):
    set_subscription(app, subscription_id, status="canceled", billing_key_ready_at=None,
                     canceled_at=PERIOD_END)
    state = client.get(f"/account/subscriptions/{subscription_id}/status").json
    assert state["activating"] is False
    assert state["charge_url"] is None


def test_stored_reasons_are_shown_in_the_pages_language(app):
    from storefront.wording import reason_shown
    from tests.support.i18n import KOREAN

    with app.test_request_context(headers=KOREAN):
        declined = reason_shown("The card was declined.")
        not_the_orders = reason_shown("Refunded: this payment was of another amount.")
    assert declined != "The card was declined." and "카드" in declined
    assert "Refunded" not in not_the_orders and "환불" in not_the_orders


def test_the_refunds_of_a_withdrawal_and_of_a_cancel_now_say_why_in_the_pages_language(app):
    # Stored in English with "청약철회" in it, the withdrawal's reason was shown as it is on
    # Korean pages (it has Hangul) and as "The payment was cancelled." on English ones.
    from storefront.billing.ending import UNUSED_DAYS_REASON, WITHDRAWAL_REASON
    from storefront.wording import reason_shown
    from tests.support.i18n import KOREAN

    with app.test_request_context(headers=KOREAN):
        korean = [reason_shown(reason, "cancelled") for reason in (WITHDRAWAL_REASON, UNUSED_DAYS_REASON)]
    with app.test_request_context(headers={"Accept-Language": "en"}):
        english = [reason_shown(reason, "cancelled") for reason in (WITHDRAWAL_REASON, UNUSED_DAYS_REASON)]
    assert [re.search(r"[A-Za-z]", text) for text in korean] == [None, None], korean
    assert "청약철회" in korean[0] and "환불" in korean[0]
    assert "환불" in korean[1] and korean[0] != korean[1]
    assert english == ["Withdrawal within the withdrawal period: refunded in full.",
                       "Cancelled now: the unused whole days refunded."]


def test_renewals_never_charged_are_not_in_the_history(client, app, subscription_id):
    """A renewal scheduled, being withdrawn or withdrawn charged nothing: no row, and no status
    word the pages do not have."""
    due = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
    for uid, status in (("ren_s", "scheduled"), ("ren_w", "withdrawing"), ("ren_r", "revoked")):
        add_payment(app, subscription_id, uid, status=status, scheduled_at=due)
    add_payment(app, subscription_id, "ren_paid", status="paid", scheduled_at=due, paid_at=due)
    assert [uid for uid, _ in history_dates(client)] == ["ren_paid"]
