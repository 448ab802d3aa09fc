"""A plan's new price over real HTTP to the sandbox: staff set it at least 30 days ahead; an
increase binds a subscriber only once they agree (전자상거래법 §13⑥), a decrease at their next
renewal with a notice."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

from storefront.extensions import db
from storefront.models import AuditEntry, Plan
from tests.integration.test_mail import in_korean
from tests.support.records import DAY, payments, scheduled, subscription
from tests.support.staff import confirm, staff_member
from tests.support.subscribing import pay_first, subscribe
from tests.support.waiting import wait_until

SEOUL = ZoneInfo("Asia/Seoul")


def plan_id(shop, slug: str = "basic-monthly") -> int:
    with shop.context():
        return db.session.execute(db.select(Plan.id).where(Plan.slug == slug)).scalar_one()


def shop_today(shop, sub_id: int) -> date:
    """The shop's date (Seoul) when the subscription began: the sandbox clock's today."""
    return subscription(shop, sub_id).current_period_start.astimezone(SEOUL).date()


def set_price(sam, plan: int, price: str, on: date):
    return confirm(sam, f"/admin/plans/{plan}/price", reason="costs went up",
                   new_price=price, effective_on=on.isoformat())[0]


def reconcile(shop) -> str:
    result = shop.app.test_cli_runner().invoke(args=["billing", "reconcile"])
    assert result.exit_code == 0, result.output
    return result.output


def effective_midnight(on: date) -> datetime:
    return datetime(on.year, on.month, on.day, tzinfo=SEOUL)


def reach_the_renewal_after(shop, sub_id: int, on: date) -> datetime:
    """Move the sandbox clock to 20 days before the subscriber's first renewal on or after `on`
    (the old price paid for any renewal before it); returns that renewal's date."""
    sub = subscription(shop, sub_id)
    while sub.current_period_end < effective_midnight(on):
        paid = len(payments(shop, sub_id, kind="renewal", status="paid"))
        shop.sandbox.advance((sub.current_period_end - sub.current_period_start).total_seconds() + 60)
        wait_until(lambda: len(payments(shop, sub_id, kind="renewal", status="paid")) > paid,
                   timeout=8, message="a renewal before the new price")
        sub = subscription(shop, sub_id)
    now = datetime.fromtimestamp(shop.sandbox.control("GET", "/clock")["now"], SEOUL)
    shop.sandbox.advance((sub.current_period_end - timedelta(days=20) - now).total_seconds())
    return sub.current_period_end


def schedules_of(shop, customer_uid: str, since: datetime) -> list[dict]:
    """Every schedule the sandbox holds (any status) of the key, from `since` for 90 days."""
    start = int(since.timestamp()) - DAY
    found = shop.sandbox.api("GET", "/subscribe/payments/schedule", params={
        "schedule_from": start, "schedule_to": start + 90 * DAY, "limit": 1000}).json()["response"]
    return [row for row in found["list"] if row["customer_uid"] == customer_uid]


def mails(shop, to: str, starting: str) -> list[dict]:
    return [m for m in shop.sandbox.mail(to) if m["subject"].startswith(starting)]


def test_staff_set_a_new_price_at_least_30_days_ahead_and_it_is_audited(shop):
    ada = shop.shopper()
    sub_id = subscribe(shop, ada)
    today = shop_today(shop, sub_id)
    sam = staff_member(shop)
    plan = plan_id(shop)
    too_soon = set_price(sam, plan, "12.00", today + timedelta(days=29))
    assert too_soon.status_code == 400
    assert "at least 30 days" in too_soon.text
    bad = set_price(sam, plan, "12.005", today + timedelta(days=30))
    assert bad.status_code == 400 and "decimal places" in bad.text
    ok = set_price(sam, plan, "12.00", today + timedelta(days=30))
    assert ok.status_code == 200, ok.text[:300]
    with shop.context():
        entry = db.session.execute(db.select(AuditEntry).where(
            AuditEntry.action == "plan_price_change")).scalar_one()
        assert (entry.target_id, entry.outcome, entry.reason) == (plan, "ok", "costs went up")
        assert "9.00" in entry.detail and "12.00" in entry.detail
        # The list price holds until the date; the subscriber's own price is untouched.
        assert db.session.get(Plan, plan).price == Decimal("9.00")
    page = sam.get("/admin/plans").text
    assert "$12.00" in page and "pending" in page.lower()
    # A second pending change of the same plan is refused until the first is withdrawn.
    again = set_price(sam, plan, "13.00", today + timedelta(days=40))
    assert again.status_code == 400 and "already" in again.text
    # A new shopper's checkout names the price now and the coming increase.
    grace = shop.shopper(email="grace@example.com", first="Grace", last="Hopper")
    checkout = grace.get("/checkout/basic-monthly").text
    assert "$9.00" in checkout and "$12.00" in checkout
    assert re.search(r"from \d{1,2} [A-Z][a-z]+ \d{4}", checkout)
    assert subscription(shop, sub_id).price == Decimal("9.00")


def test_an_increase_with_consent_charges_the_new_price_at_the_renewal(shop):
    ada = shop.shopper()
    sub_id = subscribe(shop, ada)
    start = subscription(shop, sub_id).current_period_start
    on = shop_today(shop, sub_id) + timedelta(days=30)
    assert set_price(staff_member(shop), plan_id(shop), "12.00", on).status_code == 200
    renews_at = reach_the_renewal_after(shop, sub_id, on)
    reconcile(shop)
    asked = wait_until(lambda: mails(shop, ada.email, "Your consent is needed"),
                       message="the mail asking consent")
    assert len(asked) == 1
    assert "$9.00" in asked[0]["text"] and "$12.00" in asked[0]["text"]
    assert "4242" in asked[0]["text"]
    page = ada.get("/account").text
    assert 'data-testid="price-consent"' in page and "I agree to the new price" in page
    # Until they agree, iamport holds no renewal: neither the old amount nor the new.
    customer_uid = subscription(shop, sub_id).customer_uid
    assert [s for s in schedules_of(shop, customer_uid, start) if s["schedule_status"] == "scheduled"] == []
    form = dict(re.findall(r'name="(change_id|text_version)" value="([^"]+)"', page))
    agreed = ada.post_form(f"/account/subscriptions/{sub_id}/price-consent", form)
    assert agreed.status_code == 200 and "I agree to the new price" not in agreed.text
    sub = subscription(shop, sub_id)
    assert sub.price == Decimal("12.00") and not sub.cancel_at_period_end
    wait_until(lambda: [s for s in schedules_of(shop, customer_uid, start)
                        if s["schedule_status"] == "scheduled"], message="the new schedule")
    held = [s for s in schedules_of(shop, customer_uid, start) if s["schedule_status"] == "scheduled"]
    assert [Decimal(str(s["amount"])) for s in held] == [Decimal("12")]
    # A second run of the job asks nothing again.
    reconcile(shop)
    assert len(mails(shop, ada.email, "Your consent is needed")) == 1
    shop.sandbox.advance(21 * DAY)
    wait_until(lambda: payments(shop, sub_id, kind="renewal", status="paid"), timeout=8,
               message="the renewal at the new price")
    [renewal] = [p for p in payments(shop, sub_id, kind="renewal", status="paid")
                 if p.period_start == renews_at]
    assert renewal.amount == Decimal("12.00")
    assert Decimal(str(shop.sandbox.payment(renewal.imp_uid)["amount"])) == Decimal("12")


def test_an_increase_without_consent_ends_the_subscription_and_charges_nothing(shop):
    ada = shop.shopper()
    sub_id = subscribe(shop, ada)
    start = subscription(shop, sub_id).current_period_start
    on = shop_today(shop, sub_id) + timedelta(days=30)
    assert set_price(staff_member(shop), plan_id(shop), "12.00", on).status_code == 200
    renews_at = reach_the_renewal_after(shop, sub_id, on)
    customer_uid = subscription(shop, sub_id).customer_uid
    reconcile(shop)
    wait_until(lambda: mails(shop, ada.email, "Your consent is needed"), message="the consent mail")
    sub = subscription(shop, sub_id)
    assert sub.cancel_at_period_end and sub.price == Decimal("9.00")
    # Resuming without agreeing is not offered.
    resumed = ada.post_form(f"/account/subscriptions/{sub_id}/resume", {})
    assert "cannot renew at the old one" in resumed.text
    assert subscription(shop, sub_id).cancel_at_period_end
    # The reminder, seven days before the renewal, and only once.
    shop.sandbox.advance(13 * DAY + 3600)
    reconcile(shop)
    reconcile(shop)
    wait_until(lambda: mails(shop, ada.email, "Reminder: your consent is needed"),
               message="the reminder")
    assert len(mails(shop, ada.email, "Reminder: your consent is needed")) == 1
    shop.sandbox.advance(8 * DAY)
    output = reconcile(shop)
    assert "ended 1" in output
    sub = subscription(shop, sub_id)
    assert (sub.status, sub.ended_reason) == ("canceled", "price_not_agreed")
    assert sub.canceled_at == renews_at
    assert payments(shop, sub_id, kind="renewal", status="paid") == []
    assert scheduled(shop, sub_id) == []
    rows = schedules_of(shop, customer_uid, start)
    assert rows and all(s["schedule_status"] == "revoked" for s in rows)


def test_a_decrease_applies_at_the_next_renewal_with_a_notice(shop):
    ada = shop.shopper()
    sub_id = subscribe(shop, ada)
    on = shop_today(shop, sub_id) + timedelta(days=30)
    assert set_price(staff_member(shop), plan_id(shop), "7.00", on).status_code == 200
    renews_at = reach_the_renewal_after(shop, sub_id, on)
    reconcile(shop)
    notice = wait_until(lambda: mails(shop, ada.email, "Basic's price goes down"),
                        message="the decrease's notice")
    assert "$7.00" in notice[0]["text"]
    sub = subscription(shop, sub_id)
    assert sub.price == Decimal("7.00") and not sub.cancel_at_period_end
    assert 'data-testid="price-consent"' not in ada.get("/account").text
    wait_until(lambda: [p.amount for p in scheduled(shop, sub_id)] == [Decimal("7.00")]
               and all(p.schedule_taken_at for p in scheduled(shop, sub_id)),
               message="the schedule at the lower price")
    shop.sandbox.advance(21 * DAY)
    wait_until(lambda: payments(shop, sub_id, kind="renewal", status="paid"), timeout=8,
               message="the renewal at the lower price")
    [renewal] = [p for p in payments(shop, sub_id, kind="renewal", status="paid")
                 if p.period_start == renews_at]
    assert Decimal(str(shop.sandbox.payment(renewal.imp_uid)["amount"])) == Decimal("7")


def test_a_shopper_who_agreed_to_the_coming_increase_at_checkout_is_not_asked_again(shop):
    ada = shop.shopper()
    first = subscribe(shop, ada)
    on = shop_today(shop, first) + timedelta(days=30)
    assert set_price(staff_member(shop), plan_id(shop), "12.00", on).status_code == 200
    grace = shop.shopper(email="grace@example.com", first="Grace", last="Hopper")
    _, _, sub_id = pay_first(shop, grace)
    sub = subscription(shop, sub_id)
    assert sub.price == Decimal("9.00") and "+pc" in sub.consent_version
    reach_the_renewal_after(shop, sub_id, on)
    reconcile(shop)
    wait_until(lambda: [p.amount for p in scheduled(shop, sub_id)] == [Decimal("12.00")]
               and all(p.schedule_taken_at for p in scheduled(shop, sub_id)),
               message="the schedule at the price agreed at checkout")
    sub = subscription(shop, sub_id)
    assert sub.price == Decimal("12.00") and not sub.cancel_at_period_end
    assert mails(shop, grace.email, "Your consent is needed") == []


def test_staff_withdraw_a_change_and_those_asked_keep_their_subscription(shop):
    ada = shop.shopper(email="gildong@example.com", first="길동", last="홍")
    in_korean(ada)
    sub_id = subscribe(shop, ada)
    start = subscription(shop, sub_id).current_period_start
    on = shop_today(shop, sub_id) + timedelta(days=30)
    sam = staff_member(shop)
    plan = plan_id(shop)
    assert set_price(sam, plan, "12.00", on).status_code == 200
    reach_the_renewal_after(shop, sub_id, on)
    reconcile(shop)
    wait_until(lambda: mails(shop, ada.email, "동의가 필요합니다"), message="the Korean consent mail")
    assert "새 요금에 동의합니다" in ada.get("/account").text
    assert subscription(shop, sub_id).cancel_at_period_end
    answer, _ = confirm(sam, f"/admin/plans/{plan}/price/withdraw", reason="a mistake")
    assert answer.status_code == 200, answer.text[:300]
    sub = subscription(shop, sub_id)
    assert not sub.cancel_at_period_end and sub.price == Decimal("9.00")
    assert 'data-testid="price-consent"' not in ada.get("/account").text
    customer_uid = sub.customer_uid
    wait_until(lambda: [Decimal(str(s["amount"])) for s in schedules_of(shop, customer_uid, start)
                        if s["schedule_status"] == "scheduled"] == [Decimal("9")],
               message="the renewal at the old price again")
    with shop.context():
        assert db.session.execute(db.select(AuditEntry.outcome).where(
            AuditEntry.action == "plan_price_withdrawn")).scalar_one() == "ok"


def test_a_subscriber_moving_down_to_another_plan_is_not_asked_nor_blocked_by_its_old_plans_increase(shop):
    """A downgrade waiting for the renewal: that renewal charges the other plan's price, so an
    increase of the plan being left asks nothing, sets no end, and leaves iamport its schedule."""
    from tests.support.plan_changes import change_plan, iamport_scheduled

    ada = shop.shopper()
    _, _, sub_id = pay_first(shop, ada, "premium-monthly")
    wait_until(lambda: scheduled(shop, sub_id), timeout=6, message="the first renewal schedule")
    on = shop_today(shop, sub_id) + timedelta(days=30)
    assert set_price(staff_member(shop), plan_id(shop, "premium-monthly"), "25.00", on).status_code == 200
    renews_at = reach_the_renewal_after(shop, sub_id, on)
    assert "Your plan changes to Basic" in change_plan(ada, sub_id, "basic-monthly").text
    reconcile(shop)
    assert mails(shop, ada.email, "Your consent is needed") == []
    sub = subscription(shop, sub_id)
    assert not sub.cancel_at_period_end
    assert [Decimal(str(row["amount"])) for row in iamport_scheduled(shop, sub.customer_uid)] == [
        Decimal("9")]
    shop.sandbox.advance(21 * DAY)
    wait_until(lambda: [p for p in payments(shop, sub_id, kind="renewal", status="paid")
                        if p.period_start == renews_at], timeout=8, message="the renewal on Basic")
    sub = subscription(shop, sub_id)
    assert (sub.status, sub.price) == ("active", Decimal("9.00"))


def test_an_upgrade_after_a_decrease_is_prorated_from_the_price_paid_for_the_period(shop):
    """A decrease lowers the subscriber's price up to 30 days before the renewal it applies at,
    but the period running was paid at the old price: an upgrade meanwhile is charged the
    difference to what was paid, not to the lower price."""
    from tests.support.plan_changes import change_plan, shop_now

    ada = shop.shopper()
    sub_id = subscribe(shop, ada)
    on = shop_today(shop, sub_id) + timedelta(days=30)
    assert set_price(staff_member(shop), plan_id(shop), "7.00", on).status_code == 200
    reach_the_renewal_after(shop, sub_id, on)
    reconcile(shop)
    sub = subscription(shop, sub_id)
    assert sub.price == Decimal("7.00")
    paid = [p for p in payments(shop, sub_id, status="paid")
            if p.period_start is None or p.period_start < sub.current_period_end]
    assert paid and paid[-1].amount == Decimal("9.00")  # the running period's price
    now = shop_now(shop)
    share = (Decimal((sub.current_period_end - now).total_seconds())
             / Decimal((sub.current_period_end - sub.current_period_start).total_seconds()))
    expected = ((Decimal("19.00") - Decimal("9.00")) * share).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    response = change_plan(ada, sub_id, "premium-monthly")
    [charge] = payments(shop, sub_id, kind="change", status="paid")
    assert charge.amount == expected
    assert f"Charged ${expected}." in response.text


def test_an_upgrade_to_a_plan_whose_price_rises_names_the_increase_and_its_consent_counts(shop):
    """Upgrading to a plan with a coming increase that applies at the next renewal: the
    confirmation names the new price and its date (as the checkout does), and the consent given
    there counts, so the subscriber is not asked again, nor set to end."""
    from tests.support.plan_changes import change_plan, confirmation_page, iamport_scheduled

    ada = shop.shopper()
    sub_id = subscribe(shop, ada)
    on = shop_today(shop, sub_id) + timedelta(days=30)
    assert set_price(staff_member(shop), plan_id(shop, "premium-monthly"), "25.00", on).status_code == 200
    reach_the_renewal_after(shop, sub_id, on)
    # The list of plans says what the next renewal charges: the new price, named with its date.
    listed = ada.get(f"/account/subscriptions/{sub_id}/plans").text
    premium = listed[listed.index('data-plan="premium-monthly"'):]
    premium = premium[:premium.index("</article>")]
    assert "$25.00 on" in premium and "$19.00 on" not in premium
    page = confirmation_page(ada, sub_id, "premium-monthly").text
    assert "$25.00" in page and "+pc" in page
    assert "Your plan is now Premium" in change_plan(ada, sub_id, "premium-monthly").text
    reconcile(shop)
    assert mails(shop, ada.email, "Your consent is needed") == []
    sub = subscription(shop, sub_id)
    assert (sub.price, sub.cancel_at_period_end) == (Decimal("25.00"), False)
    wait_until(lambda: [Decimal(str(row["amount"])) for row in iamport_scheduled(shop, sub.customer_uid)]
               == [Decimal("25")], message="the renewal at the agreed price")


def test_an_upgrade_held_for_review_is_not_set_to_end_by_its_old_plans_increase(shop):
    """While an upgrade's charge waits for its review, the job does not ask consent to the
    increase of the plan being left (which would set the subscription to end, and once the
    upgrade applies leave a consent to another plan's price that cannot be resumed from)."""
    from tests.support.plan_changes import change_plan
    from tests.support.sandbox import RENEWAL_REVIEW_APPROVE_CARD

    ada = shop.shopper()
    sub_id = subscribe(shop, ada, card=RENEWAL_REVIEW_APPROVE_CARD)
    on = shop_today(shop, sub_id) + timedelta(days=30)
    assert set_price(staff_member(shop), plan_id(shop), "12.00", on).status_code == 200
    reach_the_renewal_after(shop, sub_id, on)
    assert "held for review" in change_plan(ada, sub_id, "premium-monthly").text
    reconcile(shop)
    shop.sandbox.advance(61)  # the review approves
    wait_until(lambda: subscription(shop, sub_id).price == Decimal("19.00"), timeout=6,
               message="the upgrade applied")
    reconcile(shop)
    sub = subscription(shop, sub_id)
    assert not sub.cancel_at_period_end
    assert 'data-testid="price-consent"' not in ada.get("/account").text
    assert mails(shop, ada.email, "Your consent is needed") == []


def test_a_subscriber_asked_to_agree_is_told_the_way_to_change_plan(shop):
    """Set to end for want of consent, the subscriber cannot resume: the plan change page says
    to agree to the new price (or cancel), not to resume."""
    ada = shop.shopper()
    sub_id = subscribe(shop, ada)
    on = shop_today(shop, sub_id) + timedelta(days=30)
    assert set_price(staff_member(shop), plan_id(shop), "12.00", on).status_code == 200
    reach_the_renewal_after(shop, sub_id, on)
    reconcile(shop)
    assert subscription(shop, sub_id).cancel_at_period_end
    page = ada.get(f"/account/subscriptions/{sub_id}/plans").text
    assert "resume it first" not in page
    assert "agree to the new price" in page
    # Nor does the account page's "Charge now" say to resume, which it does not offer.
    account = ada.get("/account").text
    assert "Resume" not in account and "resume it first" not in account
    assert "agree to it first to charge now" in account
