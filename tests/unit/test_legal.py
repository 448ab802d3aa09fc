"""The footer's business details (from settings) and the terms and privacy pages, in both languages."""

from __future__ import annotations

import pytest

from storefront.config import load
from tests.support.i18n import ENGLISH, KOREAN, english_left

# A merchant's own details, none of them the demo's.
SHOP = {
    "BUSINESS_NAME": "주식회사 한빛상점",
    "BUSINESS_NAME_EN": "Hanbit Store Inc.",
    "BUSINESS_REPRESENTATIVE": "김하늘",
    "BUSINESS_REPRESENTATIVE_EN": "Haneul Kim",
    "BUSINESS_REGISTRATION_NUMBER": "214-86-12345",
    "MAIL_ORDER_REGISTRATION_NUMBER": "제2025-서울마포-0421호",
    "BUSINESS_ADDRESS": "서울특별시 마포구 월드컵북로 12, 3층",
    "BUSINESS_ADDRESS_EN": "3F, 12 World Cup buk-ro, Mapo-gu, Seoul",
    "CUSTOMER_SERVICE_PHONE": "1588-1234",
    "CUSTOMER_SERVICE_EMAIL": "help@hanbit.co.kr",
    "HOSTING_PROVIDER": "주식회사 한빛클라우드",
    "HOSTING_PROVIDER_EN": "Hanbit Cloud Inc.",
}


def footer(response) -> str:
    page = response.get_data(as_text=True)
    return '<footer' + page.split('<footer', 1)[1].split('</footer>', 1)[0] + '</footer>'


def test_the_footer_shows_the_business_details_with_korean_labels(app_factory):
    client = app_factory(**SHOP).test_client()
    shown = footer(client.get("/", headers=KOREAN))
    for label in ["상호", "대표자", "사업자등록번호", "통신판매업 신고번호", "주소", "고객센터"]:
        assert label in shown, label
    for name in ["BUSINESS_NAME", "BUSINESS_REPRESENTATIVE", "BUSINESS_REGISTRATION_NUMBER",
                 "MAIL_ORDER_REGISTRATION_NUMBER", "BUSINESS_ADDRESS", "CUSTOMER_SERVICE_PHONE",
                 "CUSTOMER_SERVICE_EMAIL"]:
        assert SHOP[name] in shown, name
    assert "Hanbit" not in shown
    assert english_left(shown, also_kept={"Seoul"}) == []


def test_the_footer_shows_the_english_forms_with_english_labels(app_factory):
    client = app_factory(**SHOP).test_client()
    shown = footer(client.get("/", headers=ENGLISH))
    for label in ["Company", "Representative", "Business registration no.",
                  "Mail-order sales registration no.", "Address", "Customer service"]:
        assert label in shown, label
    for value in ["Hanbit Store Inc.", "Haneul Kim", "3F, 12 World Cup buk-ro, Mapo-gu, Seoul",
                  "214-86-12345", "1588-1234", "help@hanbit.co.kr"]:
        assert value in shown, value
    assert "한빛" not in shown


def test_an_english_form_left_empty_falls_back_to_the_korean_one(app_factory):
    client = app_factory(**{**SHOP, "BUSINESS_NAME_EN": "", "BUSINESS_ADDRESS_EN": ""}).test_client()
    shown = footer(client.get("/", headers=ENGLISH))
    assert SHOP["BUSINESS_NAME"] in shown and SHOP["BUSINESS_ADDRESS"] in shown


def test_the_demo_details_are_plainly_demo(monkeypatch):
    for name in SHOP:
        monkeypatch.delenv(name, raising=False)
    settings = load({"SECRET_KEY": "t"})
    assert "데모" in settings["BUSINESS_NAME"] and "demo" in settings["BUSINESS_NAME_EN"].lower()
    assert settings["BUSINESS_REGISTRATION_NUMBER"] == "000-00-00000"


def test_the_business_details_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BUSINESS_NAME", "주식회사 한빛상점")
    monkeypatch.setenv("CUSTOMER_SERVICE_PHONE", "1588-1234")
    settings = load({"SECRET_KEY": "t"})
    assert settings["BUSINESS_NAME"] == "주식회사 한빛상점"
    assert settings["CUSTOMER_SERVICE_PHONE"] == "1588-1234"


@pytest.mark.parametrize("path", ["/", "/auth/login", "/no-such-page", "/terms", "/privacy"])
def test_every_page_links_to_the_terms_and_the_privacy_policy(client, path):
    shown = footer(client.get(path, headers=KOREAN))
    assert 'href="/terms"' in shown and "이용약관" in shown
    assert 'href="/privacy"' in shown and "개인정보처리방침" in shown


@pytest.mark.parametrize(("path", "korean", "english"), [
    ("/terms", "이용약관", "Terms of use"),
    ("/privacy", "개인정보처리방침", "Privacy policy"),
])
def test_the_legal_pages_are_in_both_languages(app_factory, path, korean, english):
    client = app_factory(**SHOP).test_client()
    in_korean = client.get(path, headers=KOREAN)
    assert in_korean.status_code == 200
    page = in_korean.get_data(as_text=True)
    assert f"<h1>{korean}</h1>" in page and SHOP["BUSINESS_NAME"] in page
    assert english_left(page, also_kept={"Seoul"}) == []
    in_english = client.get(path, headers=ENGLISH).get_data(as_text=True)
    assert f"<h1>{english}</h1>" in in_english and SHOP["BUSINESS_NAME_EN"] in in_english
    assert "이용약관" not in in_english.split("<main", 1)[1].split("</main>", 1)[0]


def test_the_privacy_policy_names_who_answers_for_the_data(app_factory):
    client = app_factory(**SHOP).test_client()
    page = client.get("/privacy", headers=KOREAN).get_data(as_text=True)
    assert "개인정보 보호책임자" in page and SHOP["CUSTOMER_SERVICE_EMAIL"] in page
    assert "PAYMENTWALL" in page  # the card is handled by the payment provider, not the shop


def test_the_demo_legal_pages_in_korean_have_no_english(client):
    for path in ["/terms", "/privacy"]:
        assert english_left(client.get(path, headers=KOREAN).get_data(as_text=True)) == [], path


def test_live_mode_warns_while_the_footer_shows_the_demos_details(tmp_path, caplog):
    from storefront import create_app
    from tests.unit.test_config import LIVE

    live = {**LIVE, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/live.db"}
    with caplog.at_level("WARNING", logger="storefront.business"):
        create_app(live)
    assert "demo business details" in caplog.text and "BUSINESS_NAME" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="storefront.business"):
        create_app({**live, **SHOP, "BUSINESS_REPRESENTATIVE_EN": "Haneul Kim"})
    assert "demo business details" not in caplog.text
