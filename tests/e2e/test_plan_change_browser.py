"""A plan change in a real browser: a subscriber on Basic upgrades to Premium mid-period through the account page's "Change plan", and the sandbox's records show the charge and the schedule."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

from playwright.sync_api import expect

from storefront import billing
from tests.support.checkout_browser import register, subscribe_desktop, wait_for_charge_button
from tests.support.plan_changes import iamport_scheduled, month_period_at, set_period, shop_now
from tests.support.records import payments, scheduled
from tests.support.waiting import wait_until


def test_a_basic_subscriber_upgrades_to_premium_mid_period(page, shop):
    register(page, shop.url)
    first_uid = subscribe_desktop(page, shop.url)
    with shop.context():
        sub_id = billing.payment_by_merchant_uid(first_uid).subscription_id
    wait_for_charge_button(page, shop.url)
    # Mid-period: 17.415 of 30 days left, $10 × 0.5805 = $5.805: half a cent from either
    # rounding, so the seconds the steps take change nothing.
    start, end = month_period_at(shop_now(shop), timedelta(days=17.415))
    set_period(shop, sub_id, start, end)
    share = Decimal((end - shop_now(shop)).total_seconds()) / Decimal((end - start).total_seconds())
    expected = (Decimal(10) * share).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    assert expected == Decimal("5.80")

    page.goto(f"{shop.url}/account")
    page.get_by_role("link", name="Change plan").click()
    page.wait_for_url(re.compile(r"/account/subscriptions/\d+/plans$"))
    premium = page.locator("article.plan-option[data-plan='premium-monthly']")
    expect(premium.locator(".charged-now")).to_have_text(f"${expected}")
    premium.get_by_role("link", name="Change to Premium").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Change to Premium?")
    expect(page.locator(".change-amount")).to_have_text(f"${expected}")
    page.locator("input[name=consent]").check()
    page.get_by_role("button", name=f"Change plan and pay ${expected}").click()
    page.wait_for_url(re.compile(r"/account$"))
    expect(page.locator(".flash-success")).to_contain_text("Your plan is now Premium")
    expect(page.locator("article.subscription h3")).to_contain_text("Premium")

    [charge] = payments(shop, sub_id, kind="change", status="paid")
    at_iamport = shop.sandbox.payment(charge.imp_uid)
    assert Decimal(str(at_iamport["amount"])) == expected
    wait_until(lambda: scheduled(shop, sub_id) and scheduled(shop, sub_id)[0].amount == Decimal("19.00"),
               timeout=6, message="the schedule at the new price")
    [row] = scheduled(shop, sub_id)
    held = iamport_scheduled(shop, charge.customer_uid)
    assert [(h["merchant_uid"], Decimal(str(h["amount"])), h["schedule_at"]) for h in held] == [
        (row.merchant_uid, Decimal("19.00"), int(end.timestamp()))]
