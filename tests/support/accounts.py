"""A shopper's account actions through the storefront's real routes, on a Flask test client."""

from __future__ import annotations

from flask.testing import FlaskClient


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
        agree: bool = True,
        **extra,
    ):
        """Post the sign-up form (the terms and privacy policy agreed to, unless told not to)."""
        data = {
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "password": password,
            "confirm": password if confirm is None else confirm,
        }
        if agree:
            data["agree"] = "y"
        return self._client.post("/auth/register", data=data, **extra)

    def login(self, email: str = "ada@example.com", password: str = "correct horse", **extra):
        """Post the log-in form."""
        return self._client.post("/auth/login", data={"email": email, "password": password}, **extra)

    def logout(self):
        """Post the log-out form."""
        return self._client.post("/auth/logout")
