"""Plan changes over real HTTP to the sandbox: an upgrade charged pro rata, a downgrade at the period's end, iamport's schedule following the new price, and one live subscription per shopper."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

import pytest

from storefront.extensions import db
from storefront.models import Payment, PlanChange, Refund, Subscription
from tests.support.plan_changes import (
    CHANGE_TOKEN, change_plan, confirm_with_answer_lost, confirmation_page,
    iamport_scheduled, month_period_at, plan_slug, set_period, shop_now,
)
from tests.support.records import DAY, iamport_schedule, payments, scheduled, stored_payments, subscription
from tests.support.shop import make_shop
from tests.support.sandbox import RENEWAL_DECLINE_CARD, RENEWAL_REVIEW_APPROVE_CARD, window_result
from tests.support.subscribing import pay_first, subscribe
from tests.support.waiting import wait_until

CENT = Decimal("0.01")


def prorated(difference: Decimal, start, end, now) -> Decimal:
    """(new price − price paid) × time left ÷ the period's length, rounded down to the cent."""
    share = Decimal((end - now).total_seconds()) / Decimal((end - start).total_seconds())
    return (difference * share).quantize(CENT, rounding=ROUND_DOWN)


def test_an_upgrade_mid_period_charges_the_prorated_difference_and_moves_the_schedule(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    now = shop_now(shop)
    # 12.015 of 30 days left: $10 × 0.4005 = $4.005, half a cent away from either rounding.
    start, end = month_period_at(now, timedelta(days=12.015))
    set_period(shop, sub_id, start, end)
    [old] = scheduled(shop, sub_id)
    expected = prorated(Decimal("19.00") - Decimal("9.00"), start, end, shop_now(shop))
    assert expected == Decimal("4.00")

    preview = shopper.get(f"/account/subscriptions/{sub_id}/plans")
    assert "Premium" in preview.text and "$4.00" in preview.text
    response = change_plan(shopper, sub_id, "premium-monthly")
    assert "Your plan is now Premium" in response.text
    [charge] = payments(shop, sub_id, kind="change")
    assert (charge.status, charge.amount) == ("paid", expected)
    at_iamport = shop.sandbox.payment(charge.imp_uid)
    assert Decimal(str(at_iamport["amount"])) == expected
    assert at_iamport["customer_uid_usage"] == "payment"

    after = subscription(shop, sub_id)
    assert plan_slug(shop, sub_id) == "premium-monthly"
    assert after.price == Decimal("19.00")
    assert after.current_period_end == end  # the paid-until date stays
    [new] = scheduled(shop, sub_id)
    assert new.merchant_uid != old.merchant_uid
    assert (new.amount, new.scheduled_at) == (Decimal("19.00"), end)
    held = iamport_scheduled(shop, after.customer_uid)
    assert [(row["merchant_uid"], Decimal(str(row["amount"]))) for row in held] == [
        (new.merchant_uid, Decimal("19.00"))]
    assert shop.sandbox.api("GET", f"/subscribe/payments/schedule/{old.merchant_uid}"
                            ).json()["response"]["schedule_status"] == "revoked"
    mails = shop.sandbox.wait_for_mail(shopper.email, count=3)
    assert any("Your plan is now Premium" in mail["subject"] for mail in mails)


def test_an_upgrade_to_a_yearly_plan_starts_a_new_period_charged_less_the_unused_value(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    now = shop_now(shop)
    # 15.3 of 30 days left of $9: unused $4.59; $90 − $4.59 = $85.41.
    start, end = month_period_at(now, timedelta(days=15.3))
    set_period(shop, sub_id, start, end)
    at = shop_now(shop)
    share = Decimal((end - at).total_seconds()) / Decimal((end - start).total_seconds())
    expected = (Decimal("90.00") - Decimal("9.00") * share).quantize(CENT, rounding=ROUND_DOWN)
    response = change_plan(shopper, sub_id, "basic-yearly")
    assert f"Your plan is now Basic yearly. Charged ${expected}." in response.text
    [charge] = payments(shop, sub_id, kind="change", status="paid")
    assert charge.amount == expected
    after = subscription(shop, sub_id)
    assert plan_slug(shop, sub_id) == "basic-yearly"
    assert after.current_period_start == charge.paid_at
    assert timedelta(days=364) < after.current_period_end - after.current_period_start < timedelta(days=367)
    [new] = scheduled(shop, sub_id)
    assert (new.amount, new.scheduled_at) == (Decimal("90.00"), after.current_period_end)
    held = iamport_schedule(shop, new.merchant_uid)
    assert (held["schedule_status"], Decimal(str(held["amount"]))) == ("scheduled", Decimal("90.00"))
    assert held["schedule_at"] == int(after.current_period_end.timestamp())
    # The monthly renewal it replaced is withdrawn: nothing else is due within three months.
    assert iamport_scheduled(shop, after.customer_uid) == []


def test_a_declined_proration_changes_nothing(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper, card=RENEWAL_DECLINE_CARD)
    before = subscription(shop, sub_id)
    [old] = scheduled(shop, sub_id)
    response = change_plan(shopper, sub_id, "premium-monthly")
    assert "The charge was declined" in response.text
    assert "Your plan has not changed" in response.text
    assert [p.status for p in payments(shop, sub_id, kind="change")] == ["failed"]
    after = subscription(shop, sub_id)
    assert (after.plan_id, after.price, after.current_period_end) == (
        before.plan_id, before.price, before.current_period_end)
    assert [row.merchant_uid for row in scheduled(shop, sub_id)] == [old.merchant_uid]
    assert [row["merchant_uid"] for row in iamport_scheduled(shop, before.customer_uid)] == [old.merchant_uid]


def test_a_downgrade_charges_nothing_and_the_next_renewal_charges_the_lower_price(shop):
    shopper = shop.shopper()
    _, _, sub_id = pay_first(shop, shopper, "premium-monthly")
    wait_until(lambda: scheduled(shop, sub_id) and scheduled(shop, sub_id)[0].schedule_taken_at,
               timeout=6, message="the first renewal schedule")
    before = subscription(shop, sub_id)
    [old] = scheduled(shop, sub_id)
    assert old.amount == Decimal("19.00")
    consent = confirmation_page(shopper, sub_id, "basic-monthly").text
    consent = consent[consent.index('class="consent"'):consent.index("</label>")]
    assert "Nothing is charged now" in consent and "is charged to my card now" not in consent
    response = change_plan(shopper, sub_id, "basic-monthly")
    assert "Your plan changes to Basic" in response.text
    page = shopper.get("/account")
    assert "Changes to Basic on" in page.text
    # Until then the account shows the plan and price paid for now, and the lower next charge.
    assert "$19.00 / month" in page.text and "$9.00 on" in page.text
    assert payments(shop, sub_id, kind="change") == []
    waiting = subscription(shop, sub_id)
    assert plan_slug(shop, sub_id) == "premium-monthly" and waiting.price == Decimal("19.00")
    [new] = scheduled(shop, sub_id)
    assert (new.amount, new.scheduled_at) == (Decimal("9.00"), before.current_period_end)
    assert [(row["merchant_uid"], Decimal(str(row["amount"])))
            for row in iamport_scheduled(shop, before.customer_uid)] == [(new.merchant_uid, Decimal("9.00"))]

    shop.sandbox.advance(32 * DAY)
    wait_until(lambda: payments(shop, sub_id, kind="renewal", status="paid"), timeout=8,
               message="the renewal webhook")
    [renewal] = payments(shop, sub_id, kind="renewal", status="paid")
    assert renewal.amount == Decimal("9.00")
    assert Decimal(str(shop.sandbox.payment(renewal.imp_uid)["amount"])) == Decimal("9.00")
    after = subscription(shop, sub_id)
    assert (plan_slug(shop, sub_id), after.price, after.next_plan_id) == ("basic-monthly", Decimal("9.00"), None)
    wait_until(lambda: scheduled(shop, sub_id), timeout=6, message="the next schedule")
    assert scheduled(shop, sub_id)[0].amount == Decimal("9.00")


def test_a_waiting_downgrade_can_be_called_off_and_a_second_change_replaces_the_first(shop):
    shopper = shop.shopper()
    _, _, sub_id = pay_first(shop, shopper, "premium-monthly")
    wait_until(lambda: scheduled(shop, sub_id) and scheduled(shop, sub_id)[0].schedule_taken_at,
               timeout=6, message="the first renewal schedule")
    change_plan(shopper, sub_id, "basic-monthly")
    # The next period is Basic's from the renewal on: "Charge now" waits for the change.
    assert "call it off to charge now" in shopper.get("/account").text
    assert "call it off to charge now" in shopper.charge_now(sub_id).text
    assert payments(shop, sub_id, kind="repeat") == []
    response = shopper.post_form(f"/account/subscriptions/{sub_id}/plan-change/cancel", {})
    assert "called off" in response.text
    assert subscription(shop, sub_id).next_plan_id is None
    [row] = scheduled(shop, sub_id)
    assert row.amount == Decimal("19.00")
    change_plan(shopper, sub_id, "basic-monthly")
    change_plan(shopper, sub_id, "basic-monthly")
    with shop.context():
        statuses = sorted(db.session.execute(db.select(PlanChange.status).where(
            PlanChange.subscription_id == sub_id, PlanChange.status != "offered")).scalars())
    assert statuses == ["cancelled", "cancelled", "waiting"]


def test_a_confirmation_is_used_once_and_needs_consent(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    refused = change_plan(shopper, sub_id, "premium-monthly", consent=False)
    assert refused.status_code == 400 and "agree" in refused.text
    bad = change_plan(shopper, sub_id, "premium-monthly", token="not-a-token")
    assert bad.status_code == 400
    assert payments(shop, sub_id, kind="change") == []
    assert plan_slug(shop, sub_id) == "basic-monthly"


def test_a_subscriber_is_offered_a_plan_change_instead_of_a_second_checkout(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    page = shopper.get("/plans/premium-monthly")
    assert "Change to this plan" in page.text
    assert f"/account/subscriptions/{sub_id}/plans/premium-monthly" in page.text
    checkout = shopper.get("/checkout/premium-monthly")
    assert checkout.url.endswith(f"/account/subscriptions/{sub_id}/plans")
    other = shopper.get(f"/account/subscriptions/{sub_id}/plans")
    assert "another currency" in other.text  # the KRW plan: cancel, then subscribe
    krw = confirmation_page(shopper, sub_id, "basic-krw-monthly")
    assert "another currency" in krw.text


def test_a_first_payment_that_lands_while_another_subscription_is_live_is_refunded(shop):
    shopper = shop.shopper()
    # A checkout for Premium opened first, then Basic bought: paying the Premium window now
    # would make a second live subscription.
    premium = shopper.open_checkout("premium-monthly")
    sub_id = subscribe(shop, shopper)
    rsp = window_result(shopper.pay_in_window(premium).text)
    shopper.complete(premium, rsp["imp_uid"])
    [first] = stored_payments(shop.app, Payment.merchant_uid == premium["pay"]["merchant_uid"])
    assert first.status in ("paid", "cancelled")
    other = subscription(shop, first.subscription_id)
    assert other.status == "incomplete"
    wait_until(lambda: shop.sandbox.payment(rsp["imp_uid"])["status"] == "cancelled", timeout=6,
               message="the refund")
    assert subscription(shop, sub_id).status == "active"


def test_an_upgrade_held_for_review_waits_for_it_then_applies(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper, card=RENEWAL_REVIEW_APPROVE_CARD)
    shop.sandbox.set_delays(review_delay=60)
    response = change_plan(shopper, sub_id, "premium-monthly")
    assert "held for review" in response.text
    assert plan_slug(shop, sub_id) == "basic-monthly"
    assert "Your change to Premium waits for its charge" in response.text
    shop.sandbox.advance(61)  # the review decides
    wait_until(lambda: payments(shop, sub_id, kind="change", status="paid"), timeout=6,
               message="the review's approval")
    wait_until(lambda: plan_slug(shop, sub_id) == "premium-monthly", timeout=6, message="the change")
    assert subscription(shop, sub_id).price == Decimal("19.00")


def test_an_upgrade_paid_after_its_deadline_is_refunded_and_changes_nothing(shop):
    # The review decides after the change's deadline has passed: the deadline is set seconds
    # before the charge (iamport's paid_at is in whole seconds, so "at once" could still be in time).
    shop.app.config["REVIEW_DEADLINE"] = timedelta(seconds=-5)
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper, card=RENEWAL_REVIEW_APPROVE_CARD)
    [old] = scheduled(shop, sub_id)
    change_plan(shopper, sub_id, "premium-monthly")
    wait_until(lambda: [p for p in payments(shop, sub_id, kind="change") if p.status in ("paid", "cancelled")],
               timeout=6, message="the review's approval")
    [charge] = payments(shop, sub_id, kind="change")
    wait_until(lambda: shop.sandbox.payment(charge.imp_uid)["status"] == "cancelled", timeout=6,
               message="the late charge given back")
    assert plan_slug(shop, sub_id) == "basic-monthly"
    assert subscription(shop, sub_id).price == Decimal("9.00")
    assert [row.merchant_uid for row in scheduled(shop, sub_id)] == [old.merchant_uid]


def test_a_plan_change_in_korean(shop):
    shopper = shop.shopper()
    shopper.use_language("ko")
    _, _, sub_id = pay_first(shop, shopper, "premium-monthly")
    wait_until(lambda: scheduled(shop, sub_id) and scheduled(shop, sub_id)[0].schedule_taken_at,
               timeout=6, message="the first renewal schedule")
    page = shopper.get(f"/account/subscriptions/{sub_id}/plans")
    assert "요금제 변경" in page.text and "다운그레이드" in page.text and "업그레이드" in page.text
    response = change_plan(shopper, sub_id, "basic-monthly")
    assert "요금제로 변경됩니다" in response.text
    assert "요금제 변경 취소" in shopper.get("/account").text


def test_an_upgrade_whose_charge_never_reached_iamport_does_not_block_plan_changes_for_good(shop):
    """The charge's answer is lost (a 5xx) and iamport made no payment: reconcile closes the
    order after its last lookup, and the shopper may change plan again (no charge was made)."""
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    page = confirmation_page(shopper, sub_id, "premium-monthly")
    lost = confirm_with_answer_lost(shop, shopper, sub_id, "premium-monthly", page)
    assert "not heard back" in lost.text
    [charge] = payments(shop, sub_id, kind="change")
    assert charge.status == "pending"
    shop.sandbox.advance(11 * 60)
    result = shop.app.test_cli_runner().invoke(args=["billing", "reconcile"])
    assert result.exit_code == 0, result.output
    assert [p.status for p in payments(shop, sub_id, kind="change")] == ["failed"]
    assert "being charged" not in shopper.get(f"/account/subscriptions/{sub_id}/plans").text
    assert "Your plan is now Premium" in change_plan(shopper, sub_id, "premium-monthly").text
    assert [p.status for p in payments(shop, sub_id, kind="change")] == ["failed", "paid"]


def test_an_upgrade_charge_still_unanswered_holds_the_account_deletion(shop):
    """Money still moving finishes before the account is deleted: an upgrade's charge whose
    answer was lost is such money, like a "Charge now" one."""
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    page = confirmation_page(shopper, sub_id, "premium-monthly")
    confirm_with_answer_lost(shop, shopper, sub_id, "premium-monthly", page)
    assert [p.status for p in payments(shop, sub_id, kind="change")] == ["pending"]
    assert 'data-testid="money-open"' in shopper.get("/account/delete").text


@pytest.fixture
def without_withdrawal(tmp_path, sandbox):
    running = make_shop(tmp_path, sandbox, WITHDRAWAL_DAYS=0)
    yield running
    running.stop()


def test_cancel_now_after_an_upgrade_refunds_the_unused_days_of_both_payments(without_withdrawal):
    """The upgrade's charge paid the new plan's extra from its day to the paid-until date, on top
    of the period's payment: ending now refunds the unused whole days of each, at what each paid
    for its own days (not the charge as if it had paid a whole period, and the period's
    payment as if it had paid the one before)."""
    shop = without_withdrawal
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    first = payments(shop, sub_id, kind="first", status="paid")[0]
    shop.sandbox.advance(10 * DAY)
    assert "Your plan is now Premium" in change_plan(shopper, sub_id, "premium-monthly").text
    [charge] = payments(shop, sub_id, kind="change", status="paid")
    sub = subscription(shop, sub_id)
    seoul = ZoneInfo("Asia/Seoul")
    start_day = sub.current_period_start.astimezone(seoul).date()
    end_day = sub.current_period_end.astimezone(seoul).date()
    paid_day = charge.paid_at.astimezone(seoul).date()
    unused = (end_day - (shop_now(shop).astimezone(seoul).date() + timedelta(days=1))).days
    expected = sorted([
        (Decimal("9.00") * unused / (end_day - start_day).days).quantize(CENT, rounding=ROUND_DOWN),
        (charge.amount * unused / (end_day - paid_day).days).quantize(CENT, rounding=ROUND_DOWN)])
    shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"})
    with shop.context():
        refunded = sorted(r.amount for r in db.session.execute(db.select(Refund).where(
            Refund.imp_uid.in_([first.imp_uid, charge.imp_uid]))).scalars())
    assert refunded == expected


def test_two_tabs_confirming_at_once_charge_one_upgrade_only(shop):
    """Two confirmation pages (two tabs), submitted at the same moment: both pass the check that
    no change is being charged before either has written its charge. The database lets one
    change be charged at a time: the second is refused before anything is sent to iamport."""
    from storefront import billing
    from storefront.billing.plan_change_orders import charge

    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    first = confirmation_page(shopper, sub_id, "premium-monthly")
    second = confirmation_page(shopper, sub_id, "basic-yearly")
    confirm_with_answer_lost(shop, shopper, sub_id, "premium-monthly", first)
    token = CHANGE_TOKEN.search(second.text).group(1)
    # The second request, past its checks while the first had not written its charge yet.
    with shop.app.test_request_context():
        sub = db.session.get(Subscription, sub_id)
        change = db.session.execute(db.select(PlanChange).where(PlanChange.token == token)).scalar_one()
        with pytest.raises(billing.ActionRefused):
            charge(sub, change, {"consent_at": change.created_at, "consent_version": "2026-12-07/en"})
    assert [p.status for p in payments(shop, sub_id, kind="change")] == ["pending"]


def test_one_page_submitted_twice_at_once_is_refused_not_an_error(shop):
    """The same confirmation submitted twice at the same moment: the second, past its checks
    while the first was writing its charge, is refused (never a 500) and charges nothing."""
    from storefront import billing
    from storefront.billing.plan_change_orders import charge

    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    page = confirmation_page(shopper, sub_id, "premium-monthly")
    token = CHANGE_TOKEN.search(page.text).group(1)
    confirm_with_answer_lost(shop, shopper, sub_id, "premium-monthly", page)
    with shop.app.test_request_context():
        sub = db.session.get(Subscription, sub_id)
        change = db.session.execute(db.select(PlanChange).where(PlanChange.token == token)).scalar_one()
        with pytest.raises(billing.ActionRefused):
            charge(sub, change, {"consent_at": change.created_at, "consent_version": "2026-12-07/en"})
    assert [p.status for p in payments(shop, sub_id, kind="change")] == ["pending"]


def test_offers_never_confirmed_are_deleted_a_day_after_they_lapse(shop):
    """Each opening of a confirmation page writes an offer; those never confirmed do not pile up."""
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    for _ in range(3):
        confirmation_page(shopper, sub_id, "premium-monthly")
    assert "Your plan is now Premium" in change_plan(shopper, sub_id, "premium-monthly").text

    def statuses() -> list[str]:
        with shop.context():
            return sorted(db.session.execute(db.select(PlanChange.status).where(
                PlanChange.subscription_id == sub_id)).scalars())

    assert statuses() == ["applied", "offered", "offered", "offered"]
    reconcile = ["billing", "reconcile"]
    assert shop.app.test_cli_runner().invoke(args=reconcile).exit_code == 0
    assert statuses() == ["applied", "offered", "offered", "offered"]  # lapsed minutes ago only
    shop.sandbox.advance(DAY + 11 * 60)
    result = shop.app.test_cli_runner().invoke(args=reconcile)
    assert result.exit_code == 0, result.output
    assert statuses() == ["applied"]
