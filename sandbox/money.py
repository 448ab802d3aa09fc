"""Amounts as exact decimals: reading them from requests and writing them as JSON numbers."""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any


ZERO_DECIMAL_CURRENCIES = frozenset({"KRW", "JPY", "VND", "CLP", "ISK", "TWD"})


class AmountError(ValueError):
    """An amount that is not a positive number."""


def parse_amount(value: Any, *, allow_string: bool = True, allow_zero: bool = False) -> Decimal:
    """Read an amount exactly; strings are allowed where the body may be form-encoded."""
    # bool is an int in Python, but `true` is not an amount.
    if isinstance(value, bool) or value is None:
        raise AmountError("must be a number")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, str) and allow_string:
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise AmountError("must be a number") from None
    else:
        raise AmountError("must be a number")
    if not amount.is_finite():
        raise AmountError("must be a number")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise AmountError("must be greater than 0")
    return amount


def check_minor_unit(amount: Decimal, currency: str | None) -> Decimal:
    """The amount if the currency can carry it; a fraction of a won (or yen, dong...) is refused.

    iamport's documentation does not say what it does with one; the sandbox refuses rather than
    rounds, so that a merchant sending 9900.5 won finds out here and not on a statement.
    """
    if (currency or "").upper() in ZERO_DECIMAL_CURRENCIES and amount != amount.to_integral_value():
        raise AmountError(f"must be a whole number in {currency.upper()}, which has no minor unit")
    return amount


def as_number(amount: Decimal) -> int | float:
    """A Decimal as the JSON number a client expects: int when whole, float otherwise."""
    if amount == amount.to_integral_value():
        return int(amount)
    return float(amount)


def json_default(value: Any) -> Any:
    """json.dumps hook that writes Decimals as numbers."""
    if isinstance(value, Decimal):
        return as_number(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """Serialise for the store, keeping amounts numeric."""
    return json.dumps(value, default=json_default, ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Any:
    """Deserialise from the store or a request, reading fractions as Decimal."""
    return json.loads(text, parse_float=Decimal)


def format_amount(amount: Any, currency: str) -> str:
    """A human-readable amount for pages, e.g. 'USD 9.99'."""
    value = parse_amount(amount, allow_zero=True)
    # Zero-decimal currencies are shown without cents, as card forms do.
    if currency in ZERO_DECIMAL_CURRENCIES and value == value.to_integral_value():
        return f"{currency} {value:,.0f}"
    return f"{currency} {value:,.2f}"
