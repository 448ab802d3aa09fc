"""Log-in, sign-up and the error pages in Korean: every word a shopper meets, no English left."""

from __future__ import annotations

import pytest
from flask import abort

from storefront.throttle import wait_text
from tests.support.i18n import ENGLISH, KOREAN, english_left


def korean_page(response) -> str:
    page = response.get_data(as_text=True)
    assert english_left(page) == [], page
    return page


def test_the_log_in_and_sign_up_pages_are_korean(client):
    login = korean_page(client.get("/auth/login", headers=KOREAN))
    assert "로그인" in login and "로그인 상태 유지" in login
    register = korean_page(client.get("/auth/register", headers=KOREAN))
    assert "회원가입" in register and "비밀번호 확인" in register


def test_an_empty_sign_up_says_what_is_missing_in_korean(client):
    response = client.post("/auth/register", data={}, headers=KOREAN)
    assert response.status_code == 400
    page = korean_page(response)
    assert "이름을 입력해 주세요." in page and "이메일 주소를 입력해 주세요." in page


@pytest.mark.parametrize(("fields", "says"), [
    ({"email": "not-an-address"}, "올바른 이메일 주소를 입력해 주세요."),
    ({"password": "short", "confirm": "short"}, "비밀번호는 10자 이상 128자 이하로 입력해 주세요."),
    ({"password": "password1234", "confirm": "password1234"}, "가장 흔한 비밀번호"),
    ({"password": "ada.lovelace@example.com", "confirm": "ada.lovelace@example.com"},
     "이메일 주소"),
    ({"confirm": "something else entirely"}, "비밀번호가 일치하지 않습니다."),
    ({"first_name": "A" * 61}, "60자 이하"),
    ({"first_name": "Ada\x07"}, "입력할 수 없는 문자"),
])
def test_a_wrong_sign_up_field_is_explained_in_korean(auth, fields, says):
    values = {"email": "ada.lovelace@example.com", "password": "correct horse",
              "first_name": "Ada", "last_name": "Lovelace", **fields}
    response = auth.register(**values, headers=KOREAN)
    assert response.status_code == 400
    assert says in korean_page(response)


def logged_out(auth, client) -> None:
    """Ada registered and logged out, the flash of it read."""
    auth.register()
    auth.logout()
    client.get("/")


def test_a_taken_e_mail_is_a_409_in_korean(auth, client):
    logged_out(auth, client)
    response = auth.register(headers=KOREAN)
    assert response.status_code == 409
    assert "이미 가입된 이메일" in korean_page(response)


def test_the_flash_messages_of_signing_up_in_and_out_are_korean(auth, client):
    auth.register(headers=KOREAN)
    assert "가입이 완료되었습니다" in client.get("/account", headers=KOREAN).get_data(as_text=True)
    client.post("/auth/logout", headers=KOREAN)
    assert "로그아웃되었습니다" in client.get("/", headers=KOREAN).get_data(as_text=True)
    auth.login(headers=KOREAN)
    page = client.get("/account", headers=KOREAN).get_data(as_text=True)
    assert "Lovelace Ada 님, 다시 오신 것을 환영합니다." in page


def test_a_wrong_password_is_said_in_korean(auth, client):
    logged_out(auth, client)
    response = auth.login(password="wrong horse battery", headers=KOREAN)
    assert response.status_code == 401
    assert "이메일 또는 비밀번호가 올바르지 않습니다." in korean_page(response)


def test_an_unknown_address_and_a_wrong_method_are_korean(client):
    missing = client.get("/no-such-page", headers=KOREAN)
    assert missing.status_code == 404
    assert "페이지를 찾을 수 없습니다" in korean_page(missing)
    wrong = client.get("/auth/logout", headers=KOREAN)
    assert wrong.status_code == 405
    assert "허용되지 않는" in korean_page(wrong)


def test_every_status_has_its_own_korean_text_not_werkzeugs(app):
    # Werkzeug's own descriptions are English; each status we answer shows ours.
    for status in [400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429, 500, 503]:
        app.add_url_rule(f"/fail-{status}", f"fail_{status}", lambda s=status: abort(s))
    client = app.test_client()
    for status in [400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429, 500, 503]:
        response = client.get(f"/fail-{status}", headers=KOREAN)
        assert response.status_code == status
        page = korean_page(response)
        assert f"오류 {status}" in page, status
        english = client.get(f"/fail-{status}", headers=ENGLISH).get_data(as_text=True)
        assert f"Error {status}" in english


def test_an_expired_form_is_a_korean_400(app_factory):
    client = app_factory(WTF_CSRF_ENABLED=True).test_client()
    response = client.post("/auth/login", data={"email": "a@example.com", "password": "x"},
                           headers=KOREAN)
    assert response.status_code == 400
    assert "다시 불러온" in korean_page(response)


def test_a_body_too_large_is_a_korean_413(app_factory):
    client = app_factory(MAX_CONTENT_LENGTH=1000).test_client()
    response = client.post("/auth/login", data={"email": "a" * 5000}, headers=KOREAN)
    assert response.status_code == 413
    assert "1,000" in korean_page(response)


def test_an_unexpected_error_is_a_korean_500(app):
    def broken():
        raise RuntimeError("boom")

    app.add_url_rule("/broken", "broken", broken)
    response = app.test_client().get("/broken", headers=KOREAN)
    assert response.status_code == 500
    assert "문제가 발생했습니다" in korean_page(response)


def test_json_errors_speak_the_clients_language(client):
    response = client.get("/no-such-page", headers={**KOREAN, "Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["error"]["message"] == "페이지를 찾을 수 없습니다."


def test_too_many_log_ins_are_refused_in_korean(limited):
    client = limited(LOGIN_RATE_LIMIT="2 per minute").test_client()
    for _ in range(2):
        client.post("/auth/login", data={"email": "a@example.com", "password": "wrong"},
                    headers=KOREAN)
    refused = client.post("/auth/login", data={"email": "a@example.com", "password": "wrong"},
                          headers=KOREAN)
    assert refused.status_code == 429
    page = korean_page(refused)
    assert "요청이 너무 많습니다" in page and "초" in page


def test_the_throttled_log_in_form_is_korean(app, auth, throttle_clock):
    auth.register()
    auth.logout()
    for _ in range(app.config["LOGIN_FREE_FAILURES"]):
        auth.login(password="wrong horse battery")
    blocked = auth.login(password="wrong horse battery", headers=KOREAN)
    assert blocked.status_code == 429
    assert "로그인 시도가 너무 많습니다" in korean_page(blocked)


@pytest.mark.parametrize(("seconds", "english", "korean"), [
    (1, "1 second", "1초"), (40, "40 seconds", "40초"), (900, "15 minutes", "15분"),
])
def test_a_wait_is_written_in_the_pages_language(app, seconds, english, korean):
    with app.test_request_context(headers=ENGLISH):
        assert wait_text(seconds) == english
    with app.test_request_context(headers=KOREAN):
        assert wait_text(seconds) == korean


def test_sign_up_asks_the_family_name_first_in_korean(client):
    korean = client.get("/auth/register", headers=KOREAN).get_data(as_text=True)
    assert korean.index('id="last_name"') < korean.index('id="first_name"')
    english = client.get("/auth/register", headers=ENGLISH).get_data(as_text=True)
    assert english.index('id="first_name"') < english.index('id="last_name"')
