"""A shopper's account actions through the storefront's real routes, on a Flask test client."""

from __future__ import annotations

from collections.abc import Iterable

from flask.testing import FlaskClient

# Sign-up's three consents (terms of use, collection and use of personal data, age 14 or over),
# as the form posts them when each box is ticked: the helpers that sign up tick them all.
CONSENTS = {"terms": "y", "privacy": "y", "age": "y"}


class AuthActions:
    """Register, log in and log out through the real routes."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def register(
        self,
        email: str = "ada@example.com",
        password: str = "correct horse",
        first_name: str = "Ada",
        last_name: str = "Lovelace",
        confirm: str | None = None,
        consents: Iterable[str] = tuple(CONSENTS),
        **extra,
    ):
        """Post the sign-up form with the named consents ticked (all three unless told)."""
        data = {
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "password": password,
            "confirm": password if confirm is None else confirm,
        }
        data.update({name: CONSENTS[name] for name in consents})
        return self._client.post("/auth/register", data=data, **extra)

    def login(self, email: str = "ada@example.com", password: str = "correct horse", **extra):
        """Post the log-in form."""
        return self._client.post("/auth/login", data={"email": email, "password": password}, **extra)

    def logout(self):
        """Post the log-out form."""
        return self._client.post("/auth/logout")
