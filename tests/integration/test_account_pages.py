"""The account's pages over real HTTP: a subscription ended by failed payments, the card page, "Charge now" as a secondary action."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from storefront.periods import add_interval
from tests.support.i18n import english_left
from tests.support.records import DAY, payments, registered, scheduled, subscription
from tests.support.sandbox import RENEWAL_DECLINE_CARD
from tests.support.shop import make_shop
from tests.support.subscribing import subscribe
from tests.support.waiting import wait_until

# The shop fixture keeps SHOP_TIMEZONE's default.
SHOP_ZONE = ZoneInfo("Asia/Seoul")
# Names that stay as they are on a Korean page (the sandbox card's name as iamport gives it).
KOREAN_KEPT = {"Sandbox", "VISA", "card"}


def long_date(value) -> str:
    """A stored (UTC) moment's date as the English pages show it."""
    local = value.astimezone(SHOP_ZONE)
    return f"{local.day} {local:%B %Y}"


def korean_date(value) -> str:
    local = value.astimezone(SHOP_ZONE)
    return f"{local.year}년 {local.month}월 {local.day}일"


def article(page: str, sub_id: int) -> str:
    """The account page's article of one subscription."""
    found = re.search(rf'<article class="subscription" data-subscription="{sub_id}".*?</article>', page, re.S)
    assert found, page[:2000]
    return found.group(0)


@pytest.fixture
def quick_shop(tmp_path, sandbox):
    """The shop with one retry after a failed renewal, so that dunning ends after two declines."""
    running = make_shop(tmp_path, sandbox, RENEWAL_RETRY_DAYS=[1])
    yield running
    running.stop()


def past_due(shop, sub_id: int) -> None:
    """Move the sandbox's clock past the renewal of a card whose renewals are declined."""
    shop.sandbox.advance(32 * DAY)
    wait_until(lambda: subscription(shop, sub_id).status == "past_due", timeout=6,
               message="the declined renewal")


def ended_by_failed_payments(shop, sub_id: int) -> None:
    """Decline the renewal and its one retry: dunning ends the subscription."""
    past_due(shop, sub_id)
    wait_until(lambda: registered(shop, sub_id), timeout=6, message="the retry registered at iamport")
    shop.sandbox.advance(DAY + 60)
    wait_until(lambda: subscription(shop, sub_id).status == "canceled", timeout=6,
               message="the end after the last retry")


# ------------------------------------------------------------------- 9: ended after failed payments

def test_a_subscription_ended_by_failed_payments_says_so_and_offers_to_subscribe_again(quick_shop):
    shop = quick_shop
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper, card=RENEWAL_DECLINE_CARD)
    paid_until = subscription(shop, sub_id).current_period_end
    ended_by_failed_payments(shop, sub_id)
    assert subscription(shop, sub_id).ended_reason == "payment_failed"

    shown = article(shopper.get("/account").text, sub_id)
    assert "payment failed" in shown
    assert ">cancelled<" not in shown and "Cancelled on" not in shown
    assert re.search(r"Paid until</dt>\s*<dd>" + re.escape(long_date(paid_until)), shown)
    assert re.search(r'<a class="button[^"]*" href="/plans/basic-monthly">Subscribe again</a>', shown)
    # The link leads to a plan that can be bought again.
    assert shopper.get("/plans/basic-monthly").status_code == 200
    assert shopper.get("/checkout/basic-monthly").status_code == 200

    # In Korean: not 해지됨 (which says the shopper chose it), and nothing left in English.
    shopper.use_language("ko")
    page = shopper.get("/account").text
    shown = article(page, sub_id)
    assert "해지됨" not in shown
    assert "결제 실패" in shown
    assert korean_date(paid_until) in shown
    assert "다시 구독하기" in shown
    # The shopper's own name stays in Latin letters (in the Korean order: Lovelace Ada).
    assert "Lovelace Ada" in page
    assert english_left(page, KOREAN_KEPT | {"Ada", "Lovelace"}) == []


def test_a_cancel_by_the_shopper_still_reads_cancelled(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    shopper.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"})
    assert subscription(shop, sub_id).ended_reason == "cancelled"
    shown = article(shopper.get("/account").text, sub_id)
    assert ">cancelled<" in shown and "Cancelled on" in shown
    assert "payment failed" not in shown
    assert "Subscribe again" in shown


def test_subscribe_again_is_not_offered_once_subscribed_again(shop):
    shopper = shop.shopper()
    old = subscribe(shop, shopper)
    shopper.post_form(f"/account/subscriptions/{old}/cancel", {"when": "now"})
    subscribe(shop, shopper)
    assert "Subscribe again" not in article(shopper.get("/account").text, old)


# ------------------------------------------------------------------------------ 10: the card page

def test_the_card_page_shows_the_card_the_charge_its_period_why_and_the_way_back(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    sub = subscription(shop, sub_id)
    page = shopper.get(f"/account/subscriptions/{sub_id}/card").text
    assert re.search(r'class="card-on-file">[^<]*ending in 4242', page)
    assert re.search(r'class="charged-now"><strong>\$9\.00</strong>', page)
    # The next period: from the paid-until date to one month later on the anchor's calendar.
    next_end = add_interval(sub.billing_anchor, "month", 2, zone=SHOP_ZONE)
    assert f"{long_date(sub.current_period_end)} to {long_date(next_end)}" in page
    assert "PAYMENTWALL keeps a new card only together with a payment" in page
    assert re.search(r'<input type="checkbox" id="consent" name="consent" value="[^"]+"(?! checked)', page)
    assert '<a class="button button-secondary" href="/account">Back to your account</a>' in page


def test_the_card_change_needs_the_consent(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    params = shopper.window_page(f"/account/subscriptions/{sub_id}/card")
    assert params.get("consent_version")
    for consent in (None, "", False, "1999-01-01"):
        body = {"amount": params["amount"], "currency": params["currency"]}
        if consent is not None:
            body["consent"] = consent
        answer = shopper.http.post(f"{shop.url}{params['order_url']}", json=body,
                                   headers={"X-CSRFToken": params["csrf"], "Accept": "application/json"},
                                   timeout=15)
        assert answer.status_code in (400, 409), answer.text
        assert "agree" in answer.json()["error"]["message"] or "changed" in answer.json()["error"]["message"]
    assert payments(shop, sub_id, kind="new_card") == []
    # Ticked: the order is opened.
    opened = shopper.open_card_change(sub_id)
    assert opened["pay"]["merchant_uid"].startswith("card_")


def test_the_card_page_of_a_past_due_subscription_says_it_pays_the_overdue_renewal(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper, card=RENEWAL_DECLINE_CARD)
    past_due(shop, sub_id)
    sub = subscription(shop, sub_id)
    page = shopper.get(f"/account/subscriptions/{sub_id}/card").text
    assert "pays your overdue renewal" in page
    next_end = add_interval(sub.billing_anchor, "month", 2, zone=SHOP_ZONE)
    assert f"{long_date(sub.current_period_end)} to {long_date(next_end)}" in page


def test_the_card_page_in_korean(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    shopper.use_language("ko")
    page = shopper.get(f"/account/subscriptions/{sub_id}/card").text
    assert "끝자리 4242" in page
    assert "계정으로 돌아가기" in page
    assert 'id="consent"' in page
    assert english_left(page, KOREAN_KEPT) == []
    # The refusal without the consent is in Korean too.
    params = shopper.window_page(f"/account/subscriptions/{sub_id}/card")
    answer = shopper.http.post(f"{shop.url}{params['order_url']}",
                               json={"amount": params["amount"], "currency": params["currency"]},
                               headers={"X-CSRFToken": params["csrf"], "Accept": "application/json"},
                               timeout=15)
    assert answer.status_code == 400
    assert "동의" in answer.json()["error"]["message"]


# ------------------------------------------------------------------- 11: "Charge now" is secondary

def test_charge_now_is_a_secondary_action_beside_cancel_and_card(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    shown = article(shopper.get("/account").text, sub_id)
    actions = re.search(r'<div class="actions">(.*?)</div>', shown, re.S).group(1)
    classes = re.findall(r'class="(button[^"]*)"', actions)
    # Cancel, new card, charge now, and (within the withdrawal period) withdraw.
    assert len(classes) == 4, classes
    assert re.search(rf'href="/account/subscriptions/{sub_id}/withdraw"', actions)
    # None of them is the page's main button.
    assert all("button-secondary" in c for c in classes), classes
    assert any("charge-button" in c for c in classes)
    # The confirmation stays: the link opens it, nothing is charged by following it.
    assert re.search(rf'href="/account/subscriptions/{sub_id}/charge"', actions)
    assert shopper.get(f"/account/subscriptions/{sub_id}/charge").status_code == 200
    assert payments(shop, sub_id, kind="repeat") == []
    assert scheduled(shop, sub_id)
