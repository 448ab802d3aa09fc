"""Money and dates as pages show them, and amounts as the SDK takes them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask import Flask

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "KRW": "₩", "JPY": "¥"}
ZERO_DECIMAL = {"KRW", "JPY"}


def money(amount: Decimal | int | None, currency: str = "USD") -> str:
    """An amount with its currency, e.g. '$9.00' or '₩9,900'."""
    if amount is None:
        return ""
    value = Decimal(amount)
    digits = 0 if currency in ZERO_DECIMAL else 2
    text = f"{value:,.{digits}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def amount_for_sdk(amount: Decimal) -> int | float:
    """An amount as a JSON number for the SDK (it refuses strings): 9 for 9.00, 9.5 for 9.50."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def date_long(moment: datetime | None) -> str:
    """A date written out, e.g. '26 November 2026'."""
    return "" if moment is None else f"{moment.day} {moment:%B %Y}"


def register(app: Flask) -> None:
    """Make the filters available to templates."""
    app.add_template_filter(money)
    app.add_template_filter(date_long)
