"""Register, log in, log out, and the refusals each gets for bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import func

from storefront.extensions import db
from storefront.models import User


def count_users(app) -> int:
    with app.app_context():
        return db.session.execute(db.select(func.count(User.id))).scalar_one()


def test_register_creates_account_and_logs_in(client, auth, app):
    response = auth.register(email="Ada@Example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        assert user.email == "ada@example.com"
        assert user.full_name == "Ada Lovelace"
        assert user.password_hash != "correct horse"
        assert user.check_password("correct horse")
        assert user.created_at.tzinfo is not None
    page = client.get("/account")
    assert page.status_code == 200
    assert b"Ada Lovelace" in page.data
    assert b"You have no subscription yet." in page.data


def test_register_collapses_spaces_in_names(auth, app):
    auth.register(first_name="  Mary   Ann ", last_name=" van  Dyke ")
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        assert user.full_name == "Mary Ann van Dyke"
        assert user.buyer_name == "Mary-Ann van-Dyke"


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@EXAMPLE.COM", " Ada@example.com "])
def test_register_duplicate_email_is_refused_whatever_the_case(client, auth, app, email):
    auth.register()
    auth.logout()
    response = auth.register(email=email)
    assert response.status_code == 409
    assert b"already exists" in response.data
    assert count_users(app) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("first_name", "", b"Please enter your first name."),
        ("last_name", "", b"Please enter your last name."),
        ("email", "", b"Please enter your e-mail address."),
        ("email", "not-an-email", b"Please enter a valid e-mail address."),
        ("password", "", b"Please choose a password."),
        ("password", "short", b"10 to 128 characters"),
        ("first_name", "x" * 61, b"Field cannot be longer than 60 characters."),
        ("last_name", "y" * 61, b"Field cannot be longer than 60 characters."),
        ("email", "a" * 250 + "@example.com", b"Field cannot be longer than 254 characters."),
        ("password", "p" * 129, b"10 to 128 characters"),
    ],
)
def test_register_bad_input_is_refused_with_a_message(auth, app, field, value, message):
    data = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
            "password": "correct horse"}
    data[field] = value
    response = auth.register(**data)
    assert response.status_code == 400
    assert message in response.data
    assert count_users(app) == 0


def test_register_password_mismatch(auth, app):
    response = auth.register(confirm="something else")
    assert response.status_code == 400
    assert b"The two passwords differ." in response.data
    assert count_users(app) == 0


def test_register_needs_the_terms_and_privacy_policy_agreed_to(auth, app):
    # Each consent on its own: tests/unit/test_consents.py.
    page = auth.register(consents=())
    assert page.status_code == 400
    assert b"Please agree to the terms of use." in page.data
    assert count_users(app) == 0
    assert auth.register().status_code == 302
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        assert user.terms_consent_at is not None and user.privacy_consent_at is not None


def test_the_sign_up_page_links_the_terms_and_privacy_policy(client):
    page = client.get("/auth/register").get_data(as_text=True)
    assert 'href="/terms"' in page and 'href="/privacy"' in page
    for name in ["terms", "privacy", "age"]:
        assert f'name="{name}"' in page
    assert "checked" not in page


def test_register_field_missing_entirely(client, app):
    response = client.post("/auth/register", data={"email": "ada@example.com"})
    assert response.status_code == 400
    assert b"Please enter your first name." in response.data
    assert count_users(app) == 0


def test_login_and_logout(client, auth):
    auth.register()
    auth.logout()
    assert client.get("/account").status_code == 302
    response = auth.login(email="ADA@example.com")
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    response = auth.logout()
    assert response.status_code == 302
    assert client.get("/account").headers["Location"].startswith("/auth/login?next=")


def test_logout_needs_post(client, auth):
    auth.register()
    assert client.get("/auth/logout").status_code == 405
    assert client.get("/account").status_code == 200


def test_login_wrong_password(client, auth):
    auth.register()
    auth.logout()
    response = auth.login(password="wrong password")
    assert response.status_code == 401
    assert b"Wrong e-mail or password." in response.data
    assert client.get("/account").status_code == 302


def test_login_unknown_email_says_the_same(client, auth):
    response = auth.login(email="nobody@example.com")
    assert response.status_code == 401
    assert b"Wrong e-mail or password." in response.data


def test_login_missing_fields(client):
    response = client.post("/auth/login", data={})
    assert response.status_code == 400
    assert b"Please enter your e-mail address." in response.data
    assert b"Please enter your password." in response.data


def test_login_follows_a_local_next(client, auth):
    auth.register()
    auth.logout()
    response = auth.login(query_string={"next": "/plans/basic-monthly"})
    assert response.headers["Location"] == "/plans/basic-monthly"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "http:/evil.example",
     "javascript:alert(1)", "evil.example"],
)
def test_login_ignores_an_off_site_next(client, auth, target):
    auth.register()
    auth.logout()
    response = auth.login(query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"


def test_account_requires_login(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=%2Faccount"


def test_a_field_with_an_error_keeps_its_type(auth):
    # The error path adds aria attributes; it must not lose the widget's own type.
    page = auth.register(email="not-an-address", password="short").get_data(as_text=True)
    assert 'type="None"' not in page and '="None"' not in page
    email = page[page.index('id="email"') - 200:page.index('id="email"') + 200]
    assert 'type="email"' in email and 'aria-invalid="true"' in email
    password = page[page.index('id="password"') - 200:page.index('id="password"') + 200]
    assert 'type="password"' in password and 'aria-invalid="true"' in password
