"""What the sandbox says to the shopper, in Korean and English, picked by request_pay's `language`."""
from __future__ import annotations

from typing import Any

KOREAN = "ko"
ENGLISH = "en"
# iamport's documented values; the sandbox has no Chinese texts and shows English for "zh".
LANGUAGES = ("ko", "en", "zh")
# iamport's documentation names no default; iamport is a Korean service whose windows open in
# Korean, so a request without `language` gets Korean (an assumption, see docs/sandbox.md).
DEFAULT_LANGUAGE = KOREAN

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "sandbox": "sandbox",
        "test_mode": "TEST MODE",
        "test_mode_note": "Sandbox payment window: no real card is charged.",
        "footer": "Payments by Paymentwall via iamport · offline sandbox",
        "title_pay": "Pay {amount}",
        "window_title": "Payment window",
        "close_label": "Close the payment window",
        "close_title": "Close",
        "order": "Order",
        "order_line": "Order {merchant_uid} · merchant {imp_code}",
        "card_number": "Card number",
        "expiry": "Expiry (MM/YY)",
        "cvv": "CVV",
        "card_holder": "Card holder",
        "card_holder_placeholder": "Name on the card",
        "pay": "Pay {amount}",
        "processing": "Processing…",
        "kept_on_file": "This card will be kept on file with Paymentwall for the merchant's later charges.",
        "test_cards": "Test cards",
        "card": "Card",
        "result": "Result",
        "approved": "Approved, any future expiry",
        "approved_renewals_declined": "Approved now, later charges declined (sandbox card)",
        "approved_renewals_held_approved": "Approved now, later charges held for review, then approved (sandbox card)",
        "approved_renewals_held_declined": "Approved now, later charges held for review, then declined (sandbox card)",
        "declined_cvv": "Declined (CVV / balance / bank approval)",
        "held_approved": "Held for review, then approved",
        "held_declined": "Held for review, then declined",
        "payment_complete": "Payment complete",
        "payment_not_completed": "Payment not completed",
        "returning": "Returning to the merchant…",
        "receipt": "Receipt {imp_uid}",
        "receipt_logo": "receipt",
        "receipt_status": "Status: {status} · {paid_at} UTC",
        "receipt_payment": "Payment {imp_uid} · order {merchant_uid}",
        "receipt_card": "Card {card} · approval {apply_num}",
        "receipt_buyer": "Buyer {name} <{email}>",
        "receipt_cancelled": "Cancelled: {items}",
        "receipt_cancel_item": "{amount} on {when}",
        "status_ready": "ready",
        "status_paid": "paid",
        "status_failed": "failed",
        "status_cancelled": "cancelled",
        # Card form checks.
        "card_number_missing": "Enter the card number.",
        "card_number_invalid": "This card number is not valid.",
        "card_number_not_test": "Test mode accepts only test cards (for example 4242 4242 4242 4242).",
        "expiry_missing": "Enter the expiry date.",
        "expiry_format": "Use the format MM/YY.",
        "expiry_past": "This card has expired.",
        "cvv_invalid": "Enter the 3 or 4 digit security code.",
        "card_holder_missing": "Enter the name on the card.",
        # Results: the callback's error_msg and the payment's fail_reason.
        "declined_111": "Card declined: please check the CVV code.",
        "declined_222": "Card declined: please contact your bank to check the balance.",
        "declined_333": "Card declined: please contact your bank to approve this payment.",
        "held": "Payment held for risk review by the PG (it may still be approved).",
        "review_declined": "Payment declined after risk review by the PG.",
        "renewal_declined": "Card declined: insufficient funds.",
        "closed_reason": "The buyer closed the payment window.",
        "closed_message": "Payment cancelled: the payment window was closed.",
    },
    "ko": {
        "sandbox": "샌드박스",
        "test_mode": "테스트 모드",
        "test_mode_note": "샌드박스 결제창입니다. 실제 카드로 결제되지 않습니다.",
        "footer": "iamport를 통한 Paymentwall 결제 · 오프라인 샌드박스",
        "title_pay": "{amount} 결제",
        "window_title": "결제창",
        "close_label": "결제창 닫기",
        "close_title": "닫기",
        "order": "주문",
        "order_line": "주문번호 {merchant_uid} · 가맹점 {imp_code}",
        "card_number": "카드 번호",
        "expiry": "유효기간 (월/년)",
        "cvv": "보안코드 (CVC)",
        "card_holder": "카드 소유자 이름",
        "card_holder_placeholder": "카드에 적힌 이름",
        "pay": "{amount} 결제하기",
        "processing": "처리 중…",
        "kept_on_file": "이 카드는 가맹점의 다음 결제를 위해 Paymentwall에 등록됩니다.",
        "test_cards": "테스트 카드",
        "card": "카드",
        "result": "결과",
        "approved": "승인 (유효기간은 아무 미래 날짜)",
        "approved_renewals_declined": "지금은 승인, 이후 결제는 거절 (샌드박스 카드)",
        "approved_renewals_held_approved": "지금은 승인, 이후 결제는 심사 보류 후 승인 (샌드박스 카드)",
        "approved_renewals_held_declined": "지금은 승인, 이후 결제는 심사 보류 후 거절 (샌드박스 카드)",
        "declined_cvv": "거절 (보안코드 / 잔액 / 카드사 승인)",
        "held_approved": "심사 보류 후 승인",
        "held_declined": "심사 보류 후 거절",
        "payment_complete": "결제가 완료되었습니다",
        "payment_not_completed": "결제가 완료되지 않았습니다",
        "returning": "가맹점으로 돌아갑니다…",
        "receipt": "영수증 {imp_uid}",
        "receipt_logo": "영수증",
        "receipt_status": "상태: {status} · {paid_at} UTC",
        "receipt_payment": "결제번호 {imp_uid} · 주문번호 {merchant_uid}",
        "receipt_card": "카드 {card} · 승인번호 {apply_num}",
        "receipt_buyer": "구매자 {name} <{email}>",
        "receipt_cancelled": "취소: {items}",
        "receipt_cancel_item": "{when} {amount}",
        "status_ready": "결제 대기",
        "status_paid": "결제 완료",
        "status_failed": "결제 실패",
        "status_cancelled": "결제 취소",
        "card_number_missing": "카드 번호를 입력해 주십시오.",
        "card_number_invalid": "올바른 카드 번호가 아닙니다.",
        "card_number_not_test": "테스트 모드에서는 테스트 카드만 사용할 수 있습니다 (예: 4242 4242 4242 4242).",
        "expiry_missing": "유효기간을 입력해 주십시오.",
        "expiry_format": "유효기간은 MM/YY 형식으로 입력해 주십시오.",
        "expiry_past": "유효기간이 지난 카드입니다.",
        "cvv_invalid": "3자리 또는 4자리 보안코드를 입력해 주십시오.",
        "card_holder_missing": "카드에 적힌 이름을 입력해 주십시오.",
        "declined_111": "카드 승인이 거절되었습니다. 보안코드(CVC)를 확인해 주십시오.",
        "declined_222": "카드 승인이 거절되었습니다. 카드사에 잔액을 확인해 주십시오.",
        "declined_333": "카드 승인이 거절되었습니다. 카드사에 결제 승인을 요청해 주십시오.",
        "held": "PG사의 위험 심사를 위해 결제가 보류되었습니다 (승인될 수 있습니다).",
        "review_declined": "PG사의 위험 심사 결과 결제가 거절되었습니다.",
        "renewal_declined": "카드 승인이 거절되었습니다: 잔액이 부족합니다.",
        # iamport's own words for a window the shopper closed, which merchants look for.
        "closed_reason": "사용자가 결제를 취소하셨습니다 (결제창을 닫음).",
        "closed_message": "사용자가 결제를 취소하셨습니다: 결제창이 닫혔습니다.",
    },
}


def language_of(value: Any) -> str:
    """The texts' language for request_pay's `language`: 'ko' (also 'ko-KR') or else English."""
    if not isinstance(value, str) or not value.strip():
        return DEFAULT_LANGUAGE
    code = value.strip().lower().replace("_", "-").split("-")[0]
    return KOREAN if code == KOREAN else ENGLISH


def text(language: str, key: str, **values: Any) -> str:
    """One text in the language (English when the key has no Korean), its {fields} filled in."""
    table = TEXTS.get(language, TEXTS[ENGLISH])
    return table.get(key, TEXTS[ENGLISH][key]).format(**values)


def texts_for(language: str) -> dict[str, str]:
    """Every text of the language, for templates (which fill in {fields} with `.format`)."""
    return {**TEXTS[ENGLISH], **TEXTS.get(language, {})}
