"""One language on the way to the money: the order name fixed at subscribing, and decline reasons in the page's language."""

from __future__ import annotations

import re

from tests.support.i18n import ENGLISH, KOREAN
from tests.support.records import iamport_schedule, payments, scheduled
from tests.support.sandbox import RENEWAL_DECLINE_CARD
from tests.support.subscribing import pay_first, subscribe
from tests.support.waiting import wait_until

HANGUL = re.compile("[\uac00-\ud7a3]")


def korean_shopper(shop, **kwargs):
    shopper = shop.shopper(email="hong@example.com", first="길동", last="홍", **kwargs)
    shopper.use_language("ko")
    return shopper


def switch_language(shopper, language: str) -> None:
    """The language switch (which saves the choice on the account)."""
    answer = shopper.http.post(f"{shopper.shop.url}/language", data={"language": language, "next": "/account"},
                               timeout=10)
    assert answer.status_code == 200
    shopper.http.headers.update(ENGLISH if language == "en" else KOREAN)


def flash_of(page: str, kind: str) -> str:
    found = re.search(rf'class="flash flash-{kind}"[^>]*>(.*?)</', page, re.S)
    assert found, page[:3000]
    return found.group(1)


def test_a_korean_subscribers_orders_carry_the_korean_plan_name_for_good(shop):
    shopper = korean_shopper(shop)
    params = shopper.open_checkout()
    assert params["pay"]["name"] == "베이직"
    _, first_imp_uid, sub_id = pay_first(shop, shopper)
    wait_until(lambda: scheduled(shop, sub_id), timeout=6, message="the first renewal")
    first = shop.sandbox.payment(first_imp_uid)
    assert first["name"] == "베이직"
    # PAYMENTWALL's buyer_name stays "First Last".
    assert first["buyer_name"] == "길동 홍"
    [renewal] = scheduled(shop, sub_id)
    wait_until(lambda: shop.sandbox.api("GET", f"/subscribe/payments/schedule/{renewal.merchant_uid}").ok,
               timeout=6, message="the renewal at iamport")
    assert iamport_schedule(shop, renewal.merchant_uid)["name"] == "베이직"

    # Read in English afterwards: every later order still carries the name subscribed with.
    switch_language(shopper, "en")
    assert "Charged $9.00" in shopper.charge_now(sub_id).text
    [repeat] = payments(shop, sub_id, kind="repeat")
    charged = shop.sandbox.payment(repeat.imp_uid)
    assert charged["name"] == "베이직"
    assert charged["buyer_name"] == "길동 홍"
    wait_until(lambda: scheduled(shop, sub_id) and scheduled(shop, sub_id)[0].merchant_uid != renewal.merchant_uid,
               timeout=6, message="the moved renewal")
    [moved] = scheduled(shop, sub_id)
    wait_until(lambda: shop.sandbox.api("GET", f"/subscribe/payments/schedule/{moved.merchant_uid}").ok,
               timeout=6, message="the moved renewal at iamport")
    assert iamport_schedule(shop, moved.merchant_uid)["name"] == "베이직"
    card = shopper.open_card_change(sub_id)
    assert card["pay"]["name"] == "베이직"


def test_an_english_subscribers_orders_carry_the_english_name_on_korean_pages(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    switch_language(shopper, "ko")
    assert "결제가 완료되었습니다" in shopper.charge_now(sub_id).text
    [repeat] = payments(shop, sub_id, kind="repeat")
    assert shop.sandbox.payment(repeat.imp_uid)["name"] == "Basic"
    assert shopper.open_card_change(sub_id)["pay"]["name"] == "Basic"


def test_a_korean_decline_reads_in_english_on_an_english_page(shop):
    # The key was issued in a Korean window: PAYMENTWALL declines its later charges in Korean.
    shopper = korean_shopper(shop)
    sub_id = subscribe(shop, shopper, card=RENEWAL_DECLINE_CARD)
    switch_language(shopper, "en")
    page = shopper.charge_now(sub_id).text
    [failed] = payments(shop, sub_id, kind="repeat", status="failed")
    assert HANGUL.search(failed.fail_reason)  # stored as PAYMENTWALL said it
    said = flash_of(page, "error")
    assert said.startswith("The charge was declined:")
    assert not HANGUL.search(said), said
    assert "funds" in said
    row = re.search(rf'<tr data-merchant-uid="{failed.merchant_uid}">(.*?)</tr>', page, re.S).group(1)
    assert not HANGUL.search(row), row


def test_an_english_decline_reads_in_korean_on_a_korean_page(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper, card=RENEWAL_DECLINE_CARD)
    switch_language(shopper, "ko")
    page = shopper.charge_now(sub_id).text
    [failed] = payments(shop, sub_id, kind="repeat", status="failed")
    assert failed.fail_reason == "Card declined: insufficient funds."
    said = flash_of(page, "error")
    assert "insufficient" not in said and "Card declined" not in said, said
    assert "잔액" in said
