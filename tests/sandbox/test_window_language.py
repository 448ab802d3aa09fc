"""The window, its results and the receipt in the request's language (ko / en), as PAYMENTWALL's widget does."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.i18n import english_left
from tests.support.sandbox import RENEWAL_DECLINE_CARD, checkout_params, new_uid, window_result

# Card codes and the sandbox's own name stay as they are in Korean.
KEPT = {"CVC", "MM", "YY", "paymentwall", "test", "Pro", "plan", "monthly", "Ada", "Lovelace", "VISA"}


def english_words(page: str) -> list[str]:
    """English left on a Korean page, leaving out the ids of the order and payment (hex digits)."""
    return english_left(re.sub(r"\b(imp|order|cust)_?[0-9a-f]+", " ", page), KEPT)


def korean(**overrides) -> dict:
    return checkout_params(language="ko", **overrides)


def test_the_window_speaks_korean_when_asked(sandbox):
    opened = sandbox.open_window(korean())
    page = sandbox.http.get(opened["window_url"], timeout=10).text
    assert '<html lang="ko">' in page
    for expected in ("테스트 모드", "카드 번호", "유효기간", "보안코드", "카드 소유자 이름", "결제하기", "결제창 닫기"):
        assert expected in page, expected
    assert english_words(page) == []


def test_the_window_speaks_english_when_asked(sandbox):
    opened = sandbox.open_window(checkout_params(language="en"))
    page = sandbox.http.get(opened["window_url"], timeout=10).text
    assert '<html lang="en">' in page and "Card number" in page and "카드 번호" not in page


def test_without_a_language_the_window_is_korean_as_iamports_is(sandbox):
    opened = sandbox.open_window(checkout_params(language=None))
    page = sandbox.http.get(opened["window_url"], timeout=10).text
    assert '<html lang="ko">' in page and "카드 번호" in page


def test_card_form_errors_are_in_korean(sandbox):
    opened = sandbox.open_window(korean())
    response = sandbox.submit_window(opened["window_url"], card="4242 4242 4242 4241", expiry="13/30", cvv="1")
    assert response.status_code == 422
    for expected in ("올바른 카드 번호가 아닙니다.", "MM/YY 형식", "보안코드를 입력해 주십시오."):
        assert expected in response.text, expected
    assert english_words(response.text) == []


def test_a_decline_is_told_in_korean_to_the_shopper_and_the_merchant(sandbox):
    rsp = sandbox.pay(korean(), cvv="222")
    assert rsp["error_code"] == "F1002" and "잔액" in rsp["error_msg"]
    assert sandbox.payment(rsp["imp_uid"])["fail_reason"] == rsp["error_msg"]


def test_the_result_page_is_in_korean(sandbox):
    opened = sandbox.open_window(korean())
    done = sandbox.submit_window(opened["window_url"]).text
    assert window_result(done)["success"] is True
    assert "결제가 완료되었습니다" in done and "가맹점으로 돌아갑니다" in done
    assert english_words(done) == []


def test_closing_is_a_user_cancel_in_iamports_korean_words(sandbox):
    opened = sandbox.open_window(korean())
    rsp = window_result(sandbox.submit_window(opened["window_url"], action="close").text)
    assert rsp["error_code"] == "F1001" and "사용자가 결제를 취소하셨습니다" in rsp["error_msg"]
    assert "사용자가 결제를 취소하셨습니다" in sandbox.payment(opened["imp_uid"])["fail_reason"]


def test_a_held_payment_says_so_in_korean(sandbox):
    rsp = sandbox.pay(korean(), cvv="555")
    assert rsp["error_code"] == "F1003" and "보류" in rsp["error_msg"]


def test_a_mobile_decline_carries_the_korean_message(sandbox):
    opened = sandbox.open_window(korean(m_redirect_url="http://127.0.0.1:9/return"), mode="mobile")
    response = sandbox.submit_window(opened["window_url"], cvv="111")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error_code"] == ["F1002"] and "보안코드" in query["error_msg"][0]


@pytest.mark.parametrize("language,expected,absent", [("ko", "영수증", "Receipt"), ("en", "Receipt", "영수증")])
def test_the_receipt_is_in_the_payments_language(sandbox, language, expected, absent):
    rsp = sandbox.pay(checkout_params(language=language))
    page = sandbox.http.get(rsp["receipt_url"], timeout=10)
    assert page.status_code == 200 and expected in page.text and absent not in page.text
    assert f'<html lang="{language}">' in page.text
    if language == "ko":
        assert "결제 완료" in page.text and english_words(page.text) == []


def test_a_renewal_declined_for_a_korean_window_is_declined_in_korean(sandbox):
    issued = sandbox.issue_billing_key(card=RENEWAL_DECLINE_CARD, language="ko")
    param = issued["param"]
    response = sandbox.api("POST", "/subscribe/payments/again", json={
        "customer_uid": param["customer_uid"], "merchant_uid": new_uid("renew"), "amount": 9.99,
        "currency": "USD", "name": "Pro plan", "buyer_email": param["buyer_email"]})
    payment = response.json()["response"]
    assert payment["status"] == "failed" and "잔액이 부족합니다" in payment["fail_reason"]
