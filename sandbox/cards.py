"""Test cards and CVVs: form checks (Luhn, expiry) and the outcome each card and CVV gives."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .texts import ENGLISH, text

# Paymentwall's documented test cards; any other CVV than those below means "approved".
GOOD_CARDS = {
    "4242424242424242": "VISA",
    "4000000000000002": "VISA",
}
# The sandbox's own card: the first charge (with the window) succeeds, every later
# charge of its billing key is declined. It is there to rehearse failed renewals.
RENEWAL_DECLINE_CARD = "4000000000000341"
# The sandbox's cards for rehearsing renewals held for risk review: the first charge succeeds,
# every later charge of the billing key is held, then the review decides (as CVV 555/556 do
# for the window's charge).
RENEWAL_REVIEW_CARDS = {"4000000000000259": "approve", "4000000000000267": "decline"}
TEST_CARDS = {**GOOD_CARDS, RENEWAL_DECLINE_CARD: "VISA", **dict.fromkeys(RENEWAL_REVIEW_CARDS, "VISA")}

PAID = "paid"
DECLINED = "declined"
HELD = "held"

# Paymentwall's CVV rules (its Brick sandbox documentation); the wording is ours (sandbox/texts.py).
DECLINES_BY_CVV = {"111": "declined_111", "222": "declined_222", "333": "declined_333"}
# CVV -> what the risk review decides after it has held the payment.
REVIEWS_BY_CVV = {"555": "approve", "556": "decline"}


@dataclass(frozen=True)
class CardDetails:
    """A card as the window accepted it; only the masked number is ever stored."""

    number: str
    brand: str
    expiry_month: int
    expiry_year: int
    cvv: str
    holder: str

    @property
    def masked(self) -> str:
        """First six and last four digits, the middle hidden, as payment records show it."""
        return self.number[:6] + "*" * (len(self.number) - 10) + self.number[-4:]

    @property
    def renewals_decline(self) -> bool:
        """Whether later charges of this card's billing key are declined (the sandbox's card)."""
        return self.number == RENEWAL_DECLINE_CARD

    @property
    def renewals_review(self) -> str | None:
        """What the review decides for later charges of this card's key, which it holds
        ("approve" or "decline"), or None if they are not held (the sandbox's cards)."""
        return RENEWAL_REVIEW_CARDS.get(self.number)


@dataclass(frozen=True)
class Outcome:
    """What the PG answers to a first charge."""

    result: str  # PAID, DECLINED or HELD
    reason: str | None = None
    review: str | None = None  # for HELD: "approve" or "decline"


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every card number carries."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def brand_of(number: str) -> str:
    """Card scheme by prefix, for the card_name of records."""
    if number.startswith("4"):
        return "VISA"
    if re.match(r"^(5[1-5]|2[2-7])", number):
        return "MASTERCARD"
    if re.match(r"^3[47]", number):
        return "AMEX"
    if re.match(r"^35", number):
        return "JCB"
    return "CARD"


def read_card_form(form: dict[str, str], now: float,
                   language: str = ENGLISH) -> tuple[CardDetails | None, dict[str, str]]:
    """Check the window's card fields; returns the card or the errors per field (in `language`)."""
    errors: dict[str, str] = {}
    number = re.sub(r"[\s-]", "", form.get("card_number", ""))
    if not number:
        errors["card_number"] = "card_number_missing"
    elif not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_ok(number):
        errors["card_number"] = "card_number_invalid"
    elif number not in TEST_CARDS:
        errors["card_number"] = "card_number_not_test"

    month = year = 0
    expiry = re.sub(r"\s", "", form.get("expiry", ""))
    match = re.fullmatch(r"(\d{1,2})/?(\d{2}|\d{4})", expiry)
    if not expiry:
        errors["expiry"] = "expiry_missing"
    elif not match or not 1 <= int(match.group(1)) <= 12:
        errors["expiry"] = "expiry_format"
    else:
        month = int(match.group(1))
        year = int(match.group(2))
        year += 2000 if year < 100 else 0
        today = datetime.fromtimestamp(now, tz=timezone.utc)
        # A card is valid through the last day of its expiry month.
        if (year, month) < (today.year, today.month):
            errors["expiry"] = "expiry_past"

    cvv = form.get("cvv", "").strip()
    if not re.fullmatch(r"\d{3,4}", cvv):
        errors["cvv"] = "cvv_invalid"

    holder = " ".join(form.get("card_holder", "").split())
    if not holder:
        errors["card_holder"] = "card_holder_missing"

    if errors:
        return None, {field: text(language, key) for field, key in errors.items()}
    return CardDetails(number, TEST_CARDS.get(number, brand_of(number)), month, year, cvv, holder), {}


def first_charge(card: CardDetails, language: str = ENGLISH) -> Outcome:
    """The PG's answer to the charge made with the window; the CVV decides (reasons in `language`)."""
    if card.cvv in DECLINES_BY_CVV:
        return Outcome(DECLINED, text(language, DECLINES_BY_CVV[card.cvv]))
    if card.cvv in REVIEWS_BY_CVV:
        return Outcome(HELD, text(language, "held"), REVIEWS_BY_CVV[card.cvv])
    return Outcome(PAID)


def repeat_charge(renewals_decline: bool, renewals_review: str | None = None,
                  language: str = ENGLISH) -> Outcome:
    """The PG's answer to a charge of a stored billing key (reasons in the key's window's language)."""
    if renewals_decline:
        return Outcome(DECLINED, text(language, "renewal_declined"))
    if renewals_review:
        return Outcome(HELD, text(language, "held"), renewals_review)
    return Outcome(PAID)
