"""Shared fixtures: the storefront app on a throwaway database, its client and CLI runner."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from storefront import create_app
from storefront.extensions import db
from tests.support.clients import ClosingClient

# The PostgreSQL leg sets TEST_DATABASE_URL; otherwise every test gets its own SQLite file.
PG_URL = os.environ.get("TEST_DATABASE_URL")


def database_url(tmp_path) -> str:
    """The database a test runs on."""
    return PG_URL or f"sqlite:///{tmp_path / 'storefront.sqlite3'}"


def make_app(tmp_path, **overrides) -> Flask:
    """A storefront app on a fresh, empty schema."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url(tmp_path),
        "WTF_CSRF_ENABLED": False,
        "IAMPORT_RETRY_BACKOFF": 0,
        # The suite logs in and sends webhooks by the hundred from one address; the tests of the
        # rate limits (tests/unit/test_limits.py) turn them on.
        "RATELIMIT_ENABLED": False,
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = ClosingClient
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


@pytest.fixture
def app(tmp_path) -> Iterator[Flask]:
    """The storefront with an empty database."""
    app = make_app(tmp_path)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the storefront."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A runner for the storefront's flask commands."""
    return app.test_cli_runner()


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
        **extra,
    ):
        """Post the sign-up form."""
        data = {
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "password": password,
            "confirm": password if confirm is None else confirm,
        }
        return self._client.post("/auth/register", data=data, **extra)

    def login(self, email: str = "ada@example.com", password: str = "correct horse", **extra):
        """Post the log-in form."""
        return self._client.post("/auth/login", data={"email": email, "password": password}, **extra)

    def logout(self):
        """Post the log-out form."""
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    """Account actions for the test client."""
    return AuthActions(client)


class Activations:
    """The subscriptions that billing logged as activated while a test ran."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def __len__(self) -> int:
        return sum(1 for record in self._caplog.records
                   if record.name == "storefront.billing.lifecycle" and " activated by " in record.getMessage())


@pytest.fixture
def activations(caplog) -> Activations:
    """Counts the subscriptions activated during the test (billing logs each activation)."""
    caplog.set_level(logging.INFO, logger="storefront.billing.lifecycle")
    return Activations(caplog)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """One Playwright driver for the whole run (sync Playwright allows only one at a time)."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import require_chromium

    require_chromium()
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright) -> Iterator[Any]:
    """One headless /usr/bin/chromium for the whole run."""
    from tests.support.browser import launch_chromium

    launched = launch_chromium(playwright)
    yield launched
    launched.close()
