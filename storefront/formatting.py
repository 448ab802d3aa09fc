"""Money, dates and names as pages show them in the page's language, and amounts for the SDK."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, get_timezone_name
from babel.numbers import format_currency, get_currency_precision
from flask import Flask, current_app
from flask_babel import get_timezone

from storefront.i18n import page_language

# How a Korean shop writes won: 9,900원. Other currencies, and won in English, take Babel's form.
KOREAN_WON = "#,##0원"
LETTER_CODE_AGAINST_DIGIT = re.compile(r"^([A-Z]{3})(?=\d)")
# One date format per language, the same on every page (Unicode date patterns).
DATE = {"ko": "y년 M월 d일", "en": "d MMMM y"}
TIME = {"ko": "HH:mm", "en": "HH:mm"}


def money(amount: Decimal | int | None, currency: str = "USD") -> str:
    """An amount with its currency in the page's language: '$9.00', '₩9,900', '9,900원'."""
    if amount is None:
        return ""
    value = Decimal(amount)
    language = page_language()
    if currency == "KRW" and language == "ko":
        return format_currency(value, currency, format=KOREAN_WON, locale="ko",
                               currency_digits=False)
    text = format_currency(value, currency, locale=language)
    # Babel leaves out CLDR's space between a letter code and the digits (CHF5.00): put it back.
    return LETTER_CODE_AGAINST_DIGIT.sub("\\1\u00a0", text)


def minor_digits(currency: str) -> int:
    """How many digits after the point the currency has: 2 for USD, 0 for KRW."""
    return get_currency_precision(currency)


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest amount: Decimal("0.01") for USD, Decimal("1") for KRW."""
    return Decimal(1).scaleb(-minor_digits(currency))


def amount_for_sdk(amount: Decimal) -> int | float:
    """An amount as a JSON number for the SDK (it refuses strings): 9 for 9.00, 9.5 for 9.50."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def shop_zone() -> ZoneInfo:
    """The shop's time zone (SHOP_TIMEZONE): the calendar periods are counted on."""
    return ZoneInfo(current_app.config["SHOP_TIMEZONE"])


def shop_time(moment: datetime) -> datetime:
    """A stored moment (UTC) in the shop's time zone (SHOP_TIMEZONE)."""
    if moment.tzinfo is None:
        # The database gives aware UTC; a naive value here is UTC too, never the server's zone.
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(get_timezone())


def date_long(moment: datetime | None) -> str:
    """The date in the shop's time zone: '2026년 12월 1일' or '1 December 2026'."""
    if moment is None:
        return ""
    language = page_language()
    return format_datetime(shop_time(moment), DATE[language], locale=language)


def datetime_long(moment: datetime | None) -> str:
    """A moment in the shop's time zone with the zone named: '1 December 2026, 14:05 KST'."""
    if moment is None:
        return ""
    local = shop_time(moment)
    language = page_language()
    time = format_datetime(local, TIME[language], locale=language)
    separator = " " if language == "ko" else ", "
    return f"{date_long(moment)}{separator}{time} {local.tzname()}"


def shop_zone_name() -> str:
    """The shop's time zone as the page's language names it: 한국 시간, Korean Time."""
    return get_timezone_name(get_timezone(), locale=page_language())


def person_name(first_name: str, last_name: str) -> str:
    """A name as its language writes it: a Hangul name family name first with no space (홍길동)
    on every page; a Latin one in the page's order (Hong Gildong in Korean, Gildong Hong in
    English)."""
    if _is_hangul(first_name) and _is_hangul(last_name):
        return f"{last_name}{first_name}"
    if page_language() == "ko":
        return f"{last_name} {first_name}"
    return f"{first_name} {last_name}"


def _is_hangul(text: str) -> bool:
    return bool(text) and all("\uac00" <= ch <= "\ud7a3" or ch == " " for ch in text)


def register(app: Flask) -> None:
    """Make the filters available to templates."""
    app.add_template_filter(money)
    app.add_template_filter(date_long)
    app.add_template_filter(datetime_long)
    app.add_template_global(shop_zone_name)
