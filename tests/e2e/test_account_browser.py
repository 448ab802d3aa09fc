"""The account page in a real browser: charge now, cancel at period end and resume, a declined renewal."""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from storefront import billing
from storefront.periods import add_interval
from tests.support.checkout_browser import (
    order_number,
    tick_consents,
    pay_in_window,
    register,
    result_url,
    subscribe_desktop,
    subscription_card,
    wait_for_charge_button,
    window_frame,
)
from tests.support.records import registered
from tests.support.sandbox import OTHER_GOOD_CARD, RENEWAL_DECLINE_CARD
from tests.support.waiting import wait_until

# "26 December 2026" as date_long renders it.
LONG_DATE = r"\d{1,2} [A-Z][a-z]+ \d{4}"
# The shop fixture keeps SHOP_TIMEZONE's default.
SHOP_ZONE = ZoneInfo("Asia/Seoul")


def long_date(value) -> str:
    """A stored (UTC) moment's date as the shop's pages show it: in the shop's zone."""
    local = value.astimezone(SHOP_ZONE)
    return f"{local.day} {local:%B %Y}"


def subscribed(page, shop, **card) -> str:
    register(page, shop.url)
    merchant_uid = subscribe_desktop(page, shop.url, **card)
    expect(page.locator("h1")).to_have_text("You are subscribed to Basic")
    return merchant_uid


def test_charge_now_adds_a_paid_row(page, shop):
    first_uid = subscribed(page, shop)
    wait_for_charge_button(page, shop.url)
    rows = page.locator("table.history tbody tr")
    expect(rows).to_have_count(1)
    paid_until = subscription_card(page).locator("dd").nth(1).inner_text()

    page.locator(".charge-button").click()
    # Nothing is charged before the confirmation: it shows the amount, the card and the new date.
    page.wait_for_url(re.compile(r"/account/subscriptions/\d+/charge$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Charge Basic now?")
    with shop.context():
        sub = billing.payment_by_merchant_uid(first_uid).subscription
        last_four = sub.card_last_four
        # Two months from the day it was bought: the periods keep the anchor's day of the month.
        after = long_date(add_interval(sub.billing_anchor, "month", 2, zone=SHOP_ZONE))
        assert [p for p in sub.payments if p.kind == "repeat"] == []
    expect(page.locator(".charge-amount")).to_have_text("$9.00")
    assert last_four
    expect(page.locator(".charge-card")).to_contain_text(f"ending in {last_four}")
    expect(page.locator(".charge-card")).not_to_contain_text("*")
    expect(page.locator(".charge-paid-until")).to_contain_text(after)
    page.get_by_role("button", name="Charge $9.00").click()
    page.wait_for_url(f"{shop.url}/account")
    expect(page.locator(".flash-success")).to_contain_text("Charged $9.00")

    expect(rows).to_have_count(2)
    newest = rows.nth(0)
    assert newest.get_attribute("data-merchant-uid") != first_uid
    expect(newest.locator("td").nth(2)).to_have_text("Charge now")
    expect(newest.locator(".badge")).to_have_text("paid")
    expect(rows.nth(1)).to_have_attribute("data-merchant-uid", first_uid)
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("First payment")
    expect(rows.nth(1).locator(".badge")).to_have_text("paid")
    # The charge paid one more period in advance, to the date the confirmation showed.
    assert subscription_card(page).locator("dd").nth(1).inner_text() != paid_until
    assert subscription_card(page).locator("dd").nth(1).inner_text() == after
    with shop.context():
        sub = billing.payment_by_merchant_uid(first_uid).subscription
        assert sub.status == "active"
        assert [p.status for p in sub.payments if p.kind == "repeat"] == ["paid"]


def test_cancel_at_period_end_then_resume(page, shop):
    first_uid = subscribed(page, shop)
    wait_for_charge_button(page, shop.url)
    card = subscription_card(page)
    with shop.context():
        end = billing.payment_by_merchant_uid(first_uid).subscription.current_period_end
    ends_on = long_date(end)

    card.get_by_role("link", name="Cancel").click()
    page.wait_for_url(re.compile(r"/account/subscriptions/\d+/cancel$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cancel Basic?")
    at_period_end = page.get_by_role("radio", name=re.compile("At the end of the period"))
    expect(at_period_end).to_be_checked()
    expect(page.get_by_role("radio", name=re.compile(r"^Now"))).not_to_be_checked()
    page.get_by_role("button", name="Confirm cancellation").click()

    page.wait_for_url(f"{shop.url}/account")
    badge = card.locator("h3 .badge")
    expect(badge).to_have_text(f"ends on {ends_on}")
    expect(card.locator(".next-charge")).to_contain_text("none: the subscription ends")
    expect(card.get_by_role("link", name="Cancel")).to_have_count(0)
    expect(card.locator(".charge-button")).to_be_disabled()
    with shop.context():
        sub = billing.payment_by_merchant_uid(first_uid).subscription
        assert sub.status == "active" and sub.cancel_at_period_end
        assert billing.next_charge_at(sub) is None

    card.get_by_role("link", name="Resume").click()
    page.wait_for_url(re.compile(r"/account/subscriptions/\d+/resume$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Resume Basic?")
    page.get_by_role("button", name="Resume subscription").click()

    page.wait_for_url(f"{shop.url}/account")
    expect(page.locator(".flash-success")).to_contain_text("Welcome back")
    expect(badge).to_have_text("active")
    expect(badge).to_have_attribute("data-status", "active")
    expect(card.locator(".next-charge")).to_have_text(re.compile(rf"\$9\.00 on {ends_on}"))
    expect(card.get_by_role("link", name="Cancel")).to_have_count(1)
    expect(card.get_by_role("link", name="Resume")).to_have_count(0)
    expect(card.locator(".charge-button")).to_be_enabled()


def test_declined_renewal_makes_the_subscription_past_due(page, shop):
    first_uid = subscribed(page, shop, card=RENEWAL_DECLINE_CARD)
    wait_for_charge_button(page, shop.url)
    card = subscription_card(page)
    badge = card.locator("h3 .badge")
    expect(badge).to_have_attribute("data-status", "active")
    with shop.context():
        sub = billing.payment_by_merchant_uid(first_uid).subscription
        sub_id, end = sub.id, sub.current_period_end
    # The billing key being ready means the first renewal is scheduled at the period's end
    # (by the same request that saw the key ready, so a reload may still catch it in between).
    scheduled = re.compile(rf"^\$9\.00 on {long_date(end)}$")

    def renewal_shown() -> bool:
        page.goto(f"{shop.url}/account")
        return bool(scheduled.match(card.locator(".next-charge").inner_text().strip()))

    wait_until(renewal_shown, timeout=5, interval=0.25, message="the renewal to show as the next charge")
    # Shown once written here; iamport must hold it too before its clock passes the due date.
    wait_until(lambda: registered(shop, sub_id), timeout=5, message="the renewal registered at iamport")

    shop.sandbox.advance(32 * 86400)

    def past_due() -> bool:
        page.goto(f"{shop.url}/account")
        return badge.get_attribute("data-status") == "past_due"

    wait_until(past_due, timeout=8, interval=0.25, message="the account page to show past due")
    expect(badge).to_have_text("past due")
    expect(card.locator(".flash-warning")).to_contain_text("Your last renewal was declined")

    # The retry is scheduled just after the failure is recorded; reload until the page has it.
    retry = re.compile(rf"\$9\.00 on {LONG_DATE} \(retry 1 of \d+\)")

    def retry_shown() -> bool:
        page.goto(f"{shop.url}/account")
        return bool(retry.search(card.locator(".next-charge").inner_text()))

    wait_until(retry_shown, timeout=5, interval=0.25, message="the retry to show as the next charge")
    renewal = page.locator("table.history tbody tr").filter(has_text="Renewal")
    expect(renewal).to_have_count(1)
    expect(renewal.locator(".badge")).to_have_text("failed")
    with shop.context():
        sub = billing.payment_by_merchant_uid(first_uid).subscription
        assert sub.status == "past_due" and sub.retry_count == 1


def test_a_new_card_is_paid_in_the_window_and_replaces_the_old_one(page, shop):
    first_uid = subscribed(page, shop)
    wait_for_charge_button(page, shop.url)
    with shop.context():
        sub = billing.payment_by_merchant_uid(first_uid).subscription
        sub_id, old_key = sub.id, sub.customer_uid
        before = sorted(p.merchant_uid for p in sub.payments)
    subscription_card(page).get_by_role("link", name="Use a new card").click()
    page.wait_for_url(f"{shop.url}/account/subscriptions/{sub_id}/card")
    page.locator("#pay-button:not([disabled])").wait_for()
    expect(page.get_by_role("button", name="Pay $9.00 with a new card")).to_be_visible()
    # The page opened no order: the pay button does (its number is shown then).
    expect(page.locator("#order-row")).to_be_hidden()
    with shop.context():
        sub = billing.payment_by_merchant_uid(first_uid).subscription
        assert sorted(p.merchant_uid for p in sub.payments) == before

    # It names the card on file and asks consent; pay without it opens nothing and says why.
    expect(page.locator(".card-on-file")).to_contain_text("ending in")
    expect(page.get_by_role("link", name="Back to your account")).to_have_attribute("href", "/account")
    page.click("#pay-button")
    expect(page.locator("#consent-error")).to_have_text("Please tick the box to agree to this payment first.")
    expect(page.locator("#order-row")).to_be_hidden()
    page.check("#consent")
    page.click("#pay-button")
    merchant_uid = order_number(page)
    assert merchant_uid.startswith("card_") and merchant_uid not in before
    pay_in_window(window_frame(page), card=OTHER_GOOD_CARD)
    page.wait_for_url(result_url(shop.url, merchant_uid))
    expect(page.locator("body")).to_contain_text("New card on file")

    page.goto(f"{shop.url}/account")
    expect(subscription_card(page).locator(".card-on-file")).to_contain_text("ending in 0002",
                                                                          timeout=8_000)
    with shop.context():
        change = billing.payment_by_merchant_uid(merchant_uid)
        assert (change.kind, change.status) == ("new_card", "paid")
        assert change.subscription.customer_uid == change.customer_uid != old_key


# --------------------------------------------------------------------------- the journey in Korean

# Names that stay as they are on a Korean page of this shop: the sandbox card's name (as iamport
# gives it), and the prefix of an order number.
KOREAN_KEPT = {"Sandbox", "VISA", "card"}


def korean_page(playwright, browser, device: str | None):
    """A ko-KR browser page on a desktop (1280x900) or the phone the other tests use."""
    from tests.e2e.conftest import PHONE_DEVICE, _new_page

    options = {"viewport": {"width": 1280, "height": 900}}
    if device == "phone":
        options = dict(playwright.devices[PHONE_DEVICE])
        options.pop("default_browser_type", None)
    return _new_page(browser, locale="ko-KR", **options)


def korean_subscribe(page, shop, device: str | None) -> str:
    """Sign up and subscribe to Basic on a Korean page (by the form's fields, not its words)."""
    from tests.support.checkout_browser import (
        PASSWORD, pay_in_window, result_url, start_payment, window_frame,
    )

    page.goto(f"{shop.url}/auth/register")
    page.fill("#first_name", "길동")
    page.fill("#last_name", "홍")
    page.fill("#email", f"hong{id(page)}@example.com")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    tick_consents(page)
    page.locator("form:has(#email) button[type=submit]").click()
    page.wait_for_url(f"{shop.url}/account")
    page.goto(f"{shop.url}/checkout/basic-monthly")
    # Whatever the checkout asks to be agreed to (the recurring payment's consent) is agreed to.
    for box in page.locator("#checkout-form input[type=checkbox]").all():
        box.check()
    page.locator("#pay-button:not([disabled])").wait_for()
    merchant_uid = start_payment(page)
    pay_in_window(page if device == "phone" else window_frame(page), holder="Gildong Hong")
    page.wait_for_url(result_url(shop.url, merchant_uid))
    return merchant_uid


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_account_journey_in_korean(playwright, browser, shop, device):
    from tests.support.i18n import english_left

    # The card is confirmed a few seconds after the payment, so the account page opens on
    # "activating" and must change by itself.
    shop.sandbox.set_delays(pingback_delay=4)
    context, page = korean_page(playwright, browser, device)
    try:
        first_uid = korean_subscribe(page, shop, device)
        page.goto(f"{shop.url}/account")
        card = page.locator("article.subscription")
        expect(card.locator(".card-on-file")).to_have_text("등록 확인 중")
        expect(card.locator(".charge-button")).to_be_disabled()
        expect(card.locator(".activation-progress")).to_be_visible()
        assert english_left(page.content(), KOREAN_KEPT) == []
        # No reload: the page polls the status and shows the card and "Charge now" when ready.
        expect(card.locator(".card-on-file")).to_contain_text("끝자리", timeout=15_000)
        expect(card.locator(".activation-message")).to_have_text(
            "카드 등록이 확인되었습니다. 이제 '지금 결제'를 이용하실 수 있습니다.")
        expect(card.locator("a.charge-button")).to_be_enabled()
        assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")
        with shop.context():
            sub = billing.payment_by_merchant_uid(first_uid).subscription
            after = add_interval(sub.billing_anchor, "month", 2, zone=SHOP_ZONE).astimezone(SHOP_ZONE)
        assert english_left(page.content(), KOREAN_KEPT) == []

        # Charge now (renew): the confirmation in Korean, then the paid row.
        card.locator("a.charge-button").click()
        page.wait_for_url(re.compile(r"/account/subscriptions/\d+/charge$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("베이직 요금을 지금 결제하시겠습니까?")
        expect(page.locator(".charge-paid-until")).to_contain_text(
            f"{after.year}년 {after.month}월 {after.day}일")
        assert english_left(page.content(), KOREAN_KEPT) == []
        page.get_by_role("button", name="$9.00 결제하기").click()
        page.wait_for_url(f"{shop.url}/account")
        expect(page.locator(".flash-success")).to_contain_text("결제가 완료되었습니다")
        rows = page.locator("table.history tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0).locator("td").nth(2)).to_have_text("지금 결제")
        expect(rows.nth(0).locator(".badge")).to_have_text("결제 완료")
        assert english_left(page.content(), KOREAN_KEPT) == []

        # The renewal iamport runs once the paid time is up, in the history in Korean.
        with shop.context():
            sub_id = billing.payment_by_merchant_uid(first_uid).subscription.id
        wait_until(lambda: registered(shop, sub_id), timeout=5,
                   message="the renewal registered at iamport")
        shop.sandbox.advance(63 * 86400)
        renewal = page.locator("table.history tbody tr").filter(has_text="정기결제")

        def renewed() -> bool:
            page.goto(f"{shop.url}/account")
            return renewal.count() == 1 and renewal.locator(".badge").inner_text() == "결제 완료"

        wait_until(renewed, timeout=8, interval=0.25, message="the paid renewal in the history")
        assert english_left(page.content(), KOREAN_KEPT) == []

        # Cancel now: what is refunded (the unused whole days, past the withdrawal period) is
        # said before it is confirmed.
        card.get_by_role("link", name="해지").click()
        page.wait_for_url(re.compile(r"/account/subscriptions/\d+/cancel$"))
        expect(page.locator(".refund-said")).to_contain_text(re.compile(r"카드로 US\$[0-9.,]+ 환불됩니다"))
        expect(page.locator(".refund-said")).to_contain_text("사용하지 않은")
        assert english_left(page.content(), KOREAN_KEPT) == []
        page.get_by_role("radio", name=re.compile("^지금 바로")).check()
        page.get_by_role("button", name="해지 확정").click()
        page.wait_for_url(f"{shop.url}/account")
        expect(page.locator(".flash-info")).to_contain_text("구독이 해지되었고")
        expect(card.locator("h3 .badge")).to_have_text("해지됨")
        assert english_left(page.content(), KOREAN_KEPT) == []
        with shop.context():
            assert billing.payment_by_merchant_uid(first_uid).subscription.status == "canceled"
    finally:
        context.close()
