"""Choosing Korean or English: the switch, the account, the browser, the shop's default; money,
dates and names in each."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from storefront.extensions import db
from storefront.formatting import date_long, datetime_long, money, person_name
from storefront.models import User
from tests.support.i18n import ENGLISH, KOREAN


def html_lang(response) -> str:
    page = response.get_data(as_text=True)
    return page.split('<html lang="', 1)[1].split('"', 1)[0]


def test_the_browsers_language_is_used_until_one_is_picked(client):
    assert html_lang(client.get("/", headers=KOREAN)) == "ko"
    assert html_lang(client.get("/", headers=ENGLISH)) == "en"
    assert "로그인" in client.get("/", headers=KOREAN).get_data(as_text=True)


def test_the_shops_default_language_is_used_when_the_browser_asks_for_neither(app_factory):
    app = app_factory(DEFAULT_LOCALE="ko")
    client = app.test_client()
    assert html_lang(client.get("/", headers={"Accept-Language": "fr-FR,fr"})) == "ko"
    assert html_lang(client.get("/")) == "ko"


def test_every_page_has_the_switch(client):
    for path in ["/", "/plans/basic-monthly", "/login", "/register", "/no-such-page"]:
        page = client.get(path).get_data(as_text=True)
        assert 'action="/language"' in page, path
        assert "한국어" in page and "English" in page, path


def test_the_switch_is_remembered_for_the_visitor(client):
    response = client.post("/language", data={"language": "ko", "next": "/plans/basic-monthly"},
                           headers=ENGLISH)
    assert response.status_code == 303
    assert response.headers["Location"] == "/plans/basic-monthly"
    assert html_lang(client.get("/", headers=ENGLISH)) == "ko"


def test_the_switch_goes_nowhere_off_the_site_and_ignores_unknown_languages(client):
    response = client.post("/language", data={"language": "fr", "next": "https://evil.example/"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert html_lang(client.get("/", headers=ENGLISH)) == "en"


def test_the_switch_is_saved_on_the_account(app, client, auth):
    auth.register()
    client.post("/language", data={"language": "ko", "next": "/"})
    with app.app_context():
        assert db.session.execute(db.select(User.locale)).scalar_one() == "ko"
    # Another browser (no cookie of ours but the log-in) shows the account's language.
    client.delete_cookie("lang")
    assert html_lang(client.get("/account", headers=ENGLISH)) == "ko"


def test_an_anonymous_catalog_is_cached_per_language(client):
    response = client.get("/", headers=KOREAN)
    assert "Accept-Language" in response.headers["Vary"]
    english = client.get("/", headers=ENGLISH)
    assert english.headers["ETag"] != response.headers["ETag"]


@pytest.mark.parametrize(("language", "amount", "currency", "text"), [
    ("ko", Decimal("9900"), "KRW", "9,900원"),
    ("en", Decimal("9900"), "KRW", "₩9,900"),
    ("en", Decimal("9"), "USD", "$9.00"),
    ("ko", Decimal("9"), "USD", "US$9.00"),
])
def test_money_is_written_as_the_language_writes_it(app, language, amount, currency, text):
    with app.test_request_context(headers={"Accept-Language": language}):
        assert money(amount, currency) == text


def test_dates_are_written_as_the_language_writes_them(app):
    moment = datetime(2026, 11, 30, 20, 5, tzinfo=UTC)  # 1 December, 05:05 in Seoul
    with app.test_request_context(headers=KOREAN):
        assert date_long(moment) == "2026년 12월 1일"
        assert datetime_long(moment) == "2026년 12월 1일 05:05 KST"
    with app.test_request_context(headers=ENGLISH):
        assert date_long(moment) == "1 December 2026"
        assert datetime_long(moment) == "1 December 2026, 05:05 KST"


def test_names_are_shown_in_the_languages_order(app):
    with app.test_request_context(headers=KOREAN):
        assert person_name("길동", "홍") == "홍길동"
        assert person_name("Gildong", "Hong") == "Hong Gildong"
    with app.test_request_context(headers=ENGLISH):
        assert person_name("Gildong", "Hong") == "Gildong Hong"
        # A name written in Hangul reads family name first whatever the page's language.
        assert person_name("길동", "홍") == "홍길동"
    assert User(first_name="길동", last_name="홍").buyer_name == "길동 홍"


def test_the_switch_on_a_page_answered_to_a_form_goes_back_to_that_form(client):
    # A log-in refused: the page is the answer to a POST; switching must not lose it (or its next).
    page = client.post("/auth/login?next=/checkout/basic-monthly",
                       data={"email": "nobody@example.com", "password": "wrong password"})
    assert page.status_code in (200, 400, 401)
    text = page.get_data(as_text=True)
    assert 'name="next" value="/auth/login?next=/checkout/basic-monthly"' in text


def test_another_site_cannot_change_the_language(client):
    # The switch takes no CSRF token (cached pages carry none): the browser says where the
    # form came from, and one from another site changes nothing.
    response = client.post("/language", data={"language": "ko", "next": "/"},
                           headers={**ENGLISH, "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 303
    assert "lang=" not in response.headers.get("Set-Cookie", "")
    assert html_lang(client.get("/", headers=ENGLISH)) == "en"
    same_site = client.post("/language", data={"language": "ko", "next": "/"},
                            headers={**ENGLISH, "Sec-Fetch-Site": "same-origin"})
    assert "lang=ko" in same_site.headers["Set-Cookie"]


def test_the_footer_names_the_shops_time_zone_in_the_pages_language(client):
    assert "Dates are in Korean Time." in client.get("/", headers=ENGLISH).get_data(as_text=True)
    assert "한국 시간" in client.get("/", headers=KOREAN).get_data(as_text=True)
    assert "Asia/Seoul" not in client.get("/", headers=KOREAN).get_data(as_text=True)



def test_the_language_picked_before_logging_in_becomes_the_accounts(app, client, auth):
    client.post("/language", data={"language": "ko", "next": "/"})
    auth.register()
    with app.app_context():
        assert db.session.execute(db.select(User.locale)).scalar_one() == "ko"
    # The latest switch wins, logged in or not.
    client.post("/language", data={"language": "en", "next": "/"})
    auth.logout()
    client.post("/language", data={"language": "ko", "next": "/"})
    auth.login()
    with app.app_context():
        assert db.session.execute(db.select(User.locale)).scalar_one() == "ko"
    # A log-in from a browser that never switched leaves the account's as it is.
    auth.logout()
    client.delete_cookie("lang")
    auth.login()
    with app.app_context():
        assert db.session.execute(db.select(User.locale)).scalar_one() == "ko"
