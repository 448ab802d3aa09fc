"""The business details a Korean online shop must show (footer, terms, privacy), from settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

log = logging.getLogger(__name__)

# Demo values, plainly not a real business: a shop must set its own before it opens.
DEMO = {
    "BUSINESS_NAME": "노스윈드 주식회사 (데모)",
    "BUSINESS_NAME_EN": "Northwind Co., Ltd. (demo)",
    "BUSINESS_REPRESENTATIVE": "홍길동 (데모)",
    "BUSINESS_REPRESENTATIVE_EN": "Gildong Hong (demo)",
    "BUSINESS_REGISTRATION_NUMBER": "000-00-00000",
    "MAIL_ORDER_REGISTRATION_NUMBER": "제0000-서울강남-00000호",
    "BUSINESS_ADDRESS": "서울특별시 강남구 데모로 00, 0층 (데모 주소)",
    "BUSINESS_ADDRESS_EN": "0F, 00 Demo-ro, Gangnam-gu, Seoul (demo address)",
    "CUSTOMER_SERVICE_PHONE": "02-000-0000",
    "CUSTOMER_SERVICE_EMAIL": "help@shop.example",
    # Who hosts the shop (호스팅서비스 제공자, 전자상거래법 §10).
    "HOSTING_PROVIDER": "데모호스팅 주식회사 (데모)",
    "HOSTING_PROVIDER_EN": "Demo Hosting Co. (demo)",
}
# Details written in Korean, each with an English form for English pages (the same when empty).
IN_ENGLISH = {
    "name": ("BUSINESS_NAME", "BUSINESS_NAME_EN"),
    "representative": ("BUSINESS_REPRESENTATIVE", "BUSINESS_REPRESENTATIVE_EN"),
    "address": ("BUSINESS_ADDRESS", "BUSINESS_ADDRESS_EN"),
    "hosting": ("HOSTING_PROVIDER", "HOSTING_PROVIDER_EN"),
}
# Details the same in every language.
AS_THEY_ARE = {
    "registration_number": "BUSINESS_REGISTRATION_NUMBER",
    "mail_order_number": "MAIL_ORDER_REGISTRATION_NUMBER",
    "phone": "CUSTOMER_SERVICE_PHONE",
    "email": "CUSTOMER_SERVICE_EMAIL",
}


def load(setting: Callable[[str, str], str]) -> dict[str, Any]:
    """The business settings, read with config.load's `setting` (environment, else the demo)."""
    values = {}
    for name, demo in DEMO.items():
        korean = name.removesuffix("_EN")
        if name != korean and setting(korean, ""):
            # A shop that set its own Korean form is never shown in English as the demo: an
            # English form left unset is empty, and the Korean one is shown instead.
            demo = ""
        values[name] = setting(name, demo)
    return values


def details(language: str) -> dict[str, str]:
    """The details as a page in `language` shows them ('ko' or 'en')."""
    config = current_app.config
    shown = {key: config[name] for key, name in AS_THEY_ARE.items()}
    for key, (korean, english) in IN_ENGLISH.items():
        shown[key] = (config[english] or config[korean]) if language == "en" else config[korean]
    return shown


def register(app: Flask) -> None:
    """Give the templates `business`: the details in the page's language."""
    from storefront.i18n import page_language

    demo = sorted(name for name, value in DEMO.items() if app.config.get(name) == value)
    if demo and app.config["IAMPORT_MODE"] == "live":
        # The law asks a shop for its own details; the demo's are no one's.
        log.warning("the footer shows demo business details: set %s", ", ".join(demo))

    @app.context_processor
    def business_details() -> dict[str, Any]:
        return {"business": details(page_language())}
