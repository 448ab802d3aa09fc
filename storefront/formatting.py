"""Money and dates as pages show them, and amounts as the SDK takes them."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app

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


def shop_time(moment: datetime) -> datetime:
    """A stored moment (UTC) in the shop's time zone (SHOP_TIMEZONE)."""
    if moment.tzinfo is None:
        # The database gives aware UTC; a naive value here is UTC too, never the server's zone.
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(ZoneInfo(current_app.config["SHOP_TIMEZONE"]))


def date_long(moment: datetime | None) -> str:
    """The date in the shop's time zone written out, e.g. '26 November 2026'."""
    if moment is None:
        return ""
    local = shop_time(moment)
    return f"{local.day} {local:%B %Y}"


def datetime_long(moment: datetime | None) -> str:
    """A moment in the shop's time zone with the zone named, e.g. '26 November 2026, 14:05 KST'."""
    if moment is None:
        return ""
    local = shop_time(moment)
    return f"{local.day} {local:%B %Y, %H:%M %Z}"


def register(app: Flask) -> None:
    """Make the filters available to templates."""
    app.add_template_filter(money)
    app.add_template_filter(date_long)
    app.add_template_filter(datetime_long)
