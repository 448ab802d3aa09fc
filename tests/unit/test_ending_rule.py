"""The one rule for ending now (billing.ending): withdrawal in full, after it the unused whole days
per payment (newest first, at what was paid, within each balance) or nothing; and the terms page
that says it, from the settings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

import pytest

from storefront.billing.ending import refund_on_ending_now, withdrawal_ends
from storefront.cli import seed_plans
from storefront.extensions import db
from storefront.mail import message_id
from storefront.models import OutboxMessage, Payment, Plan, Refund, Subscription, User
from tests.support.i18n import KOREAN

# 1 Dec 2026 10:00 in Seoul; the first month paid, then "Charge now" paid January in advance.
PAID = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
JANUARY = datetime(2027, 1, 1, 1, 0, tzinfo=UTC)
FEBRUARY = datetime(2027, 2, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def make(app_factory):
    def build(**settings):
        app = app_factory(**settings)
        with app.app_context():
            seed_plans()
            user = User(email="ada@example.com", first_name="Ada", last_name="Lovelace")
            user.set_password("correct horse")
            plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-krw-monthly")).scalar_one()
            sub = Subscription(user=user, plan=plan, status="active", customer_uid="cu_1",
                               billing_anchor=PAID, current_period_start=PAID, current_period_end=FEBRUARY)
            db.session.add_all([user, sub])
            for n, kind in enumerate(("first", "repeat")):
                db.session.add(Payment(merchant_uid=f"m{n}", imp_uid=f"imp_{n}", user=user, subscription=sub,
                                       amount=Decimal("9900"), currency="KRW", kind=kind, status="paid",
                                       paid_at=PAID.replace(minute=n)))
            db.session.commit()
        return app
    return build


def ending(app, now: datetime) -> tuple[str, list[tuple[str, Decimal]], int]:
    with app.app_context():
        sub = db.session.execute(db.select(Subscription)).scalar_one()
        rule = refund_on_ending_now(sub, now)
        return rule.basis, [(p.merchant_uid, share) for p, share in rule.parts], rule.days


def test_within_the_window_every_payment_is_refunded_in_full(make):
    app = make()
    assert ending(app, datetime(2026, 12, 5, tzinfo=UTC)) == (
        "withdrawal", [("m1", Decimal("9900")), ("m0", Decimal("9900"))], 0)


def test_after_the_window_the_unused_whole_days_newest_payment_first(make):
    app = make()
    # 20 Dec 12:00 in Seoul: January (31 days) is wholly unused; of December (31 days), 21 Dec
    # to 31 Dec, 11 days.
    now = datetime(2026, 12, 20, 3, 0, tzinfo=UTC)
    december = (Decimal(9900) * 11 / 31).quantize(Decimal(1), rounding=ROUND_DOWN)
    assert ending(app, now) == ("unused_days", [("m1", Decimal("9900")), ("m0", december)], 42)


def test_a_payment_refunded_in_part_gives_at_most_its_balance(make):
    app = make(WITHDRAWAL_DAYS=0)
    with app.app_context():
        db.session.add(Refund(request_key="staff:x", imp_uid="imp_1", merchant_uid="m1", payment_id=2,
                              amount=Decimal("9000"), currency="KRW", reason="r"))
        db.session.commit()
    # 1 Jan 2027 11:00 in Seoul: January from the 2nd is unused, 30 of 31 days.
    basis, parts, _ = ending(app, datetime(2027, 1, 1, 2, 0, tzinfo=UTC))
    assert parts == [("m1", Decimal("900"))]


def test_a_payment_refunded_in_full_still_paid_its_period(make):
    """January's "Charge now" refunded in full by staff: December's payment still paid December
    only, so ending on 20 December refunds its 11 unused days, not the whole of it for January."""
    app = make(WITHDRAWAL_DAYS=0)
    with app.app_context():
        january = db.session.execute(db.select(Payment).where(Payment.merchant_uid == "m1")).scalar_one()
        january.status, january.refunded_amount = "cancelled", Decimal("9900")
        db.session.add(Refund(request_key="staff:y", imp_uid="imp_1", merchant_uid="m1", payment_id=january.id,
                              amount=Decimal("9900"), currency="KRW", reason="r", status="done"))
        db.session.commit()
    december = (Decimal(9900) * 11 / 31).quantize(Decimal(1), rounding=ROUND_DOWN)
    assert ending(app, datetime(2026, 12, 20, 3, 0, tzinfo=UTC)) == ("unused_days", [("m0", december)], 11)


def test_a_payment_the_shop_gave_back_paid_no_period(make):
    """A renewal refunded by the shop itself (its period paid already by another attempt) paid
    no period: January is the repeat's, December the first payment's."""
    app = make(WITHDRAWAL_DAYS=0)
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        sub = db.session.execute(db.select(Subscription)).scalar_one()
        db.session.add(Payment(merchant_uid="m2", imp_uid="imp_2", user=user, subscription=sub,
                               amount=Decimal("9900"), currency="KRW", kind="renewal", status="cancelled",
                               refunded_amount=Decimal("9900"), paid_at=PAID.replace(minute=5)))
        db.session.add(Refund(request_key="full:imp_2", imp_uid="imp_2", merchant_uid="m2",
                              amount=Decimal("9900"), currency="KRW", reason="r", status="done"))
        db.session.commit()
    december = (Decimal(9900) * 11 / 31).quantize(Decimal(1), rounding=ROUND_DOWN)
    assert ending(app, datetime(2026, 12, 20, 3, 0, tzinfo=UTC)) == (
        "unused_days", [("m1", Decimal("9900")), ("m0", december)], 42)


def test_refund_none_refunds_nothing_after_the_window(make):
    app = make(REFUND_ON_CANCEL_NOW="none")
    assert ending(app, datetime(2026, 12, 20, tzinfo=UTC)) == ("none", [], 0)
    # Within the window the law's withdrawal still refunds in full.
    assert ending(app, datetime(2026, 12, 2, tzinfo=UTC))[0] == "withdrawal"


def test_the_window_runs_from_the_contract_mail_when_it_was_sent_later(make):
    app = make()
    with app.app_context():
        sub = db.session.execute(db.select(Subscription)).scalar_one()
        # Without the mail sent: to the end of 8 December in Seoul (the first day not counted).
        assert withdrawal_ends(sub) == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
        db.session.add(OutboxMessage(message_id=message_id("contract", f"subscription-{sub.id}"),
                                     kind="contract", to_address="ada@example.com", language="en",
                                     subject="s", text_body="t", html_body="h",
                                     sent_at=datetime(2026, 12, 3, 5, 0, tzinfo=UTC)))
        db.session.commit()
        assert withdrawal_ends(sub) == datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    assert ending(app, datetime(2026, 12, 10, 14, 59, tzinfo=UTC))[0] == "withdrawal"
    assert ending(app, datetime(2026, 12, 10, 15, 0, tzinfo=UTC))[0] == "unused_days"


def test_the_window_stays_open_while_the_contract_mail_is_still_to_be_sent(make):
    """The window runs from the later of the payment and the mail: a mail still queued (the
    mail server failing) has not started it; one dropped, never to be sent, leaves the payment."""
    app = make()
    late = datetime(2026, 12, 20, 3, 0, tzinfo=UTC)
    with app.app_context():
        sub = db.session.execute(db.select(Subscription)).scalar_one()
        mail = OutboxMessage(message_id=message_id("contract", f"subscription-{sub.id}"), kind="contract",
                             to_address="ada@example.com", language="en", subject="s", text_body="t",
                             html_body="h", attempts=5, last_error="connection refused")
        db.session.add(mail)
        db.session.commit()
    assert ending(app, late)[0] == "withdrawal"
    with app.app_context():
        db.session.execute(db.update(OutboxMessage).values(dropped_at=datetime(2026, 12, 2, tzinfo=UTC)))
        db.session.commit()
    assert ending(app, late)[0] == "unused_days"


def test_no_window_when_withdrawal_is_off(make):
    app = make(WITHDRAWAL_DAYS=0)
    assert ending(app, datetime(2026, 12, 1, 2, 0, tzinfo=UTC))[0] == "unused_days"


@pytest.mark.parametrize(("settings", "english", "korean"), [
    ({}, ["within 7 days", '"Withdraw" button', "unused whole days"],
     ["7일 이내", '"청약철회" 버튼', "사용하지 않은 날수"]),
    ({"WITHDRAWAL_DAYS": 0, "REFUND_ON_CANCEL_NOW": "none"},
     ["exclude withdrawal", "the unused time is not refunded"],
     ["청약철회를 제한합니다", "남은 이용 기간은 환불하지 않습니다"]),
])
def test_the_terms_say_the_settings(app_factory, settings, english, korean):
    app = app_factory(**settings)
    client = app.test_client()
    en = client.get("/terms", headers={"Accept-Language": "en"}).get_data(as_text=True)
    ko = client.get("/terms", headers=KOREAN).get_data(as_text=True)
    assert all(text in en for text in english), en
    assert all(text in ko for text in korean), ko


@pytest.mark.parametrize(("language", "subject", "body"), [
    ("en", "You have withdrawn from", "withdrew from"),
    ("ko", "청약철회", "청약철회"),
])
def test_the_withdrawals_mail_says_it_was_a_withdrawal(make, language, subject, body):
    from storefront.billing.ending import end_now

    app = make()
    with app.test_request_context():
        user = db.session.execute(db.select(User)).scalar_one()
        user.locale = language
        sub = db.session.execute(db.select(Subscription)).scalar_one()
        end_now(sub, withdrawal=True)
        [mail] = db.session.execute(db.select(OutboxMessage).where(OutboxMessage.kind == "cancelled")).scalars()
        assert subject in mail.subject
        assert body in mail.text_body and body in mail.html_body
        assert "refund" in mail.text_body if language == "en" else "환불" in mail.text_body
