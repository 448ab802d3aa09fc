"""Sign-up's three consents (개인정보 보호법 §15, §22, §22-2), each recorded with when and which
version; accounts made before them are asked for the missing ones at their next log-in."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func

from storefront.extensions import db
from storefront.models import User
from tests.support.accounts import CONSENTS
from tests.support.i18n import ENGLISH, KOREAN

# What the page says when each box is left unticked (written here, not read from the code).
MISSING = {
    "terms": "Please agree to the terms of use.",
    "privacy": "Please agree to the collection and use of your personal information.",
    "age": "Please confirm that you are 14 or older.",
}
# The versions of the texts in force, as the legal pages date them.
TERMS_VERSION = "2026-12"
PRIVACY_VERSION = "2026-12"


def users(app) -> int:
    with app.app_context():
        return db.session.execute(db.select(func.count(User.id))).scalar_one()


def ada(app) -> User:
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        db.session.expunge(user)
        return user


@pytest.mark.parametrize("left_out", ["terms", "privacy", "age"])
def test_sign_up_without_one_consent_is_refused_with_its_message(auth, app, left_out):
    given = tuple(name for name in CONSENTS if name != left_out)
    page = auth.register(consents=given)
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert MISSING[left_out] in text
    for other in given:
        assert MISSING[other] not in text
    assert users(app) == 0


def test_sign_up_without_any_consent_names_all_three(auth, app):
    text = auth.register(consents=()).get_data(as_text=True)
    for message in MISSING.values():
        assert message in text
    assert users(app) == 0


def test_the_sign_up_page_asks_each_consent_with_its_own_box_and_link(client):
    page = client.get("/auth/register").get_data(as_text=True)
    for name in CONSENTS:
        assert f'id="{name}" name="{name}" required type="checkbox"' in page, name
        assert f'<label for="{name}">' in page, name
    assert "checked" not in page
    assert 'href="/terms"' in page and 'href="/privacy"' in page
    assert "14 or older" in page and "guardian" in page


def test_the_korean_sign_up_page_asks_the_same_in_korean(client):
    page = client.get("/auth/register", headers=KOREAN).get_data(as_text=True)
    for words in ["이용약관", "개인정보 수집·이용", "만 14세 이상", "법정대리인"]:
        assert words in page, words


def test_sign_up_records_each_consent_with_its_time_and_version(auth, app):
    before = datetime.now(timezone.utc)
    assert auth.register().status_code == 302
    user = ada(app)
    after = datetime.now(timezone.utc)
    for moment in (user.terms_consent_at, user.privacy_consent_at, user.age_confirmed_at):
        assert moment is not None and before <= moment <= after
    assert user.terms_version == TERMS_VERSION
    assert user.privacy_version == PRIVACY_VERSION


def old_account(app, **kept) -> None:
    """Ada's account as one made before the consents were split: none recorded, unless kept."""
    with app.app_context():
        user = User(email="ada@example.com", first_name="Ada", last_name="Lovelace",
                    terms_agreed_at=datetime(2026, 6, 1, tzinfo=timezone.utc), **kept)
        user.set_password("correct horse")
        db.session.add(user)
        db.session.commit()


def test_an_old_account_is_sent_to_the_consents_page_and_kept_there_until_it_agrees(client, auth,
                                                                                    app):
    old_account(app)
    response = auth.login()
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/consents")
    # Pages of the account and the checkout send it back there.
    for path in ["/account", "/checkout/basic-monthly", "/account/subscriptions/1/cancel"]:
        gated = client.get(path)
        assert gated.status_code == 302, path
        assert gated.headers["Location"].startswith("/auth/consents"), path
    # The legal pages, the catalog and the log-out stay open.
    assert client.get("/privacy").status_code == 200
    assert client.get("/terms").status_code == 200
    assert client.get("/").status_code == 200
    page = client.get("/auth/consents")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for name in CONSENTS:
        assert f'name="{name}"' in text
    assert "/auth/logout" in text

    # Agreeing to only some is refused with the missing one's message; nothing is recorded.
    refused = client.post("/auth/consents", data={"terms": "y", "privacy": "y"})
    assert refused.status_code == 400
    assert MISSING["age"] in refused.get_data(as_text=True)
    assert ada(app).terms_consent_at is None
    assert client.get("/account").status_code == 302

    agreed = client.post("/auth/consents", data=dict.fromkeys(CONSENTS, "y"))
    assert agreed.status_code == 302
    assert agreed.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200
    user = ada(app)
    assert user.terms_version == TERMS_VERSION and user.terms_consent_at is not None
    assert user.privacy_version == PRIVACY_VERSION and user.privacy_consent_at is not None
    assert user.age_confirmed_at is not None


def test_only_the_missing_consents_are_asked(client, auth, app):
    now = datetime.now(timezone.utc)
    # Agreed to the current terms and confirmed the age, but to an older privacy text.
    old_account(app, terms_consent_at=now, terms_version=TERMS_VERSION, age_confirmed_at=now,
                privacy_consent_at=now, privacy_version="2020-01")
    auth.login()
    text = client.get("/auth/consents").get_data(as_text=True)
    assert 'name="privacy"' in text
    assert 'name="terms"' not in text and 'name="age"' not in text
    assert client.post("/auth/consents", data={"privacy": "y"}).status_code == 302
    assert ada(app).privacy_version == PRIVACY_VERSION
    assert client.get("/account").status_code == 200


def test_an_account_with_every_consent_goes_straight_to_its_page(client, auth):
    auth.register()
    auth.logout()
    response = auth.login()
    assert response.headers["Location"] == "/account"
    # Nothing to agree to: the consents page sends it on.
    assert client.get("/auth/consents").status_code == 302


def test_a_script_of_an_old_account_gets_a_403_naming_the_consents_page(client, auth, app):
    old_account(app)
    auth.login()
    answer = client.post("/checkout/basic-monthly", json={"amount": "9", "currency": "USD"},
                         headers={"Accept": "application/json"})
    assert answer.status_code == 403
    assert answer.json["redirect"].startswith("/auth/consents")


def test_the_consents_page_can_be_left_by_logging_out(client, auth, app):
    old_account(app)
    auth.login()
    assert auth.logout().status_code == 302
    assert client.get("/account").headers["Location"].startswith("/auth/login")


def test_the_korean_consents_page(client, auth, app):
    old_account(app)
    auth.login()
    text = client.get("/auth/consents", headers=KOREAN).get_data(as_text=True)
    for words in ["이용약관", "개인정보 수집·이용", "만 14세 이상", "로그아웃"]:
        assert words in text, words
    refused = client.post("/auth/consents", data={}, headers=KOREAN).get_data(as_text=True)
    assert "이용약관에 동의해 주세요." in refused


@pytest.mark.parametrize(("headers", "words"), [
    (ENGLISH, ["Paymentwall, Inc.", "United States", "phone", "address", "postcode",
               "PortOne", "5 years", "encrypted", "refuse"]),
    (KOREAN, ["Paymentwall, Inc.", "미국", "전화번호", "주소", "우편번호", "포트원", "5년",
              "암호화", "거부"]),
])
def test_the_privacy_page_names_what_is_collected_and_the_transfer_abroad(client, headers, words):
    page = client.get("/privacy", headers=headers).get_data(as_text=True)
    for word in words:
        assert word in page, word


def test_the_privacy_page_keeps_the_webhook_log_as_long_as_the_setting(app_factory):
    client = app_factory(WEBHOOK_LOG_DAYS=30).test_client()
    assert "30 days" in client.get("/privacy", headers=ENGLISH).get_data(as_text=True)
    assert "30일" in client.get("/privacy", headers=KOREAN).get_data(as_text=True)


def footer(response) -> str:
    page = response.get_data(as_text=True)
    return page.split("<footer", 1)[1].split("</footer>", 1)[0]


def test_the_footer_names_the_hosting_provider_in_both_languages(app_factory):
    client = app_factory(HOSTING_PROVIDER="Hanbit Cloud Inc.").test_client()
    english = footer(client.get("/", headers=ENGLISH))
    assert "Hosting provider" in english and "Hanbit Cloud Inc." in english
    korean = footer(client.get("/", headers=KOREAN))
    assert "호스팅 서비스 제공자" in korean and "Hanbit Cloud Inc." in korean


def test_the_hosting_provider_has_a_plain_demo_default(client):
    assert "Demo Hosting Co." in footer(client.get("/", headers=ENGLISH))


def test_the_migration_leaves_old_accounts_without_consents_and_goes_down_again(app_factory):
    from flask_migrate import check, downgrade, upgrade
    from sqlalchemy import inspect, text

    app = app_factory()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(revision="c5e1a7d3f9b2")
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (email, first_name, last_name, password_hash, created_at, "
                "session_token) VALUES ('u@example.com', 'U', 'Ser', 'x', CURRENT_TIMESTAMP, 't')"))
        upgrade()
        check()
        row = db.session.execute(text(
            "SELECT terms_consent_at, terms_version, privacy_consent_at, privacy_version, "
            "age_confirmed_at FROM users")).one()
        assert tuple(row) == (None,) * 5
        db.session.rollback()
        downgrade(revision="c5e1a7d3f9b2")
        columns = {column["name"] for column in inspect(db.engine).get_columns("users")}
        assert "terms_consent_at" not in columns and "age_confirmed_at" not in columns
        upgrade()
