"""Log-in tells no one which addresses have accounts; sign-up refuses weak passwords, saying why."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func

from storefront.extensions import db
from storefront.models import User


def count_users(app) -> int:
    with app.app_context():
        return db.session.execute(db.select(func.count(User.id))).scalar_one()


@pytest.fixture
def scrypt_calls(monkeypatch) -> list[tuple]:
    """The parameters of every scrypt computation (what werkzeug's hash checks cost) from now on."""
    calls: list[tuple] = []
    real = hashlib.scrypt

    def counted(password, *, salt, n, r, p, **rest):
        calls.append((n, r, p, len(salt)))
        return real(password, salt=salt, n=n, r=r, p=p, **rest)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    return calls


def test_an_unknown_address_costs_the_same_hash_check_as_a_known_one(auth, scrypt_calls):
    auth.register()
    auth.logout()
    # Whatever is prepared once (a dummy hash made on first use) is prepared before counting.
    assert auth.login(email="warm-up@example.com").status_code == 401
    for _ in range(2):
        scrypt_calls.clear()
        assert auth.login(password="wrong password").status_code == 401
        known = list(scrypt_calls)
        scrypt_calls.clear()
        assert auth.login(email="nobody@example.com").status_code == 401
        assert len(known) == 1
        # One scrypt with the same cost parameters as a real user's check.
        assert scrypt_calls == known


# --------------------------------------------------------------------------- sign-up rules


def register(auth, password: str, email: str = "ada.lovelace@example.com", **names):
    return auth.register(email=email, password=password, **names)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Xq7!mz2Lp", b"The password must have 10 to 128 characters."),
        ("1234567890", b"one of the most common passwords"),
        ("basketball", b"one of the most common passwords"),
        # Compared whatever the letter case.
        ("QWERTYUIOP", b"one of the most common passwords"),
        ("Password12", b"one of the most common passwords"),
        ("ada.lovelace@example.com", b"must not be your e-mail address"),
        ("Ada.Lovelace@Example.COM", b"must not be your e-mail address"),
        ("ada.lovelace", b"must not be the part of your e-mail address before the @"),
        ("ADA.LOVELACE", b"must not be the part of your e-mail address before the @"),
        # Little more than the name or the e-mail: what is left is shorter than 10 characters.
        ("lovelace2024", b"little more than your name or e-mail address"),
        ("ada.lovelace1815", b"little more than your name or e-mail address"),
        ("AdaLovelace!", b"little more than your name or e-mail address"),
    ],
)
def test_a_weak_password_is_refused_with_the_reason(app, auth, password, message):
    response = register(auth, password)
    assert response.status_code == 400
    assert message in response.data
    assert count_users(app) == 0


def test_the_name_of_a_name_with_spaces_counts_word_by_word(app, auth):
    response = register(auth, "mary ann van dyke", first_name="Mary Ann", last_name="van Dyke")
    assert response.status_code == 400
    assert b"little more than your name or e-mail address" in response.data


@pytest.mark.parametrize(
    "password",
    ["correct horse", "Xq7!mz2Lp0", "lovelace rides a horse", "ADA is my first name, yes"],
)
def test_a_strong_enough_password_is_taken(app, auth, password):
    response = register(auth, password)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert count_users(app) == 1


def test_a_short_name_inside_another_word_is_no_reason_to_refuse(app, auth):
    response = register(auth, "fleecejacket", email="minji@example.com", first_name="Minji",
                        last_name="Lee")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def test_the_refusal_comes_as_json_to_a_client_that_asks(auth):
    response = register(auth, "1234567890", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert "one of the most common passwords" in response.get_json()["error"]["message"]


def test_the_common_list_ships_with_the_project():
    from storefront.passwords import common_passwords

    common = common_passwords()
    assert len(common) >= 9000
    assert {"123456", "password", "qwertyuiop", "1234567890"} <= common
    assert all(entry == entry.lower() and entry.strip() == entry for entry in common)
