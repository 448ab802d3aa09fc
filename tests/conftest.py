"""Shared fixtures: the storefront app on a throwaway database, its client and CLI runner; the shop served on the sandbox; Chromium."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from tests.support.accounts import AuthActions
from tests.support.apps import close_database, make_app
from tests.support.sandbox import RunningSandbox, start_sandbox
from tests.support.shop import Shop, make_shop


@pytest.fixture
def app(tmp_path) -> Iterator[Flask]:
    """The storefront with an empty database."""
    app = make_app(tmp_path)
    yield app
    close_database(app)


@pytest.fixture
def app_factory(tmp_path) -> Iterator[Callable[..., Flask]]:
    """Builds storefront apps with extra settings (see make_app); their database connections
    are closed after the test."""
    built: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        built.append(make_app(tmp_path, **overrides))
        return built[-1]

    yield build
    for app in built:
        close_database(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the storefront."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A runner for the storefront's flask commands."""
    return app.test_cli_runner()


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
                   if record.name == "storefront.billing.outcomes" and " activated by " in record.getMessage())


@pytest.fixture
def activations(caplog) -> Activations:
    """Counts the subscriptions activated during the test (billing logs each activation)."""
    caplog.set_level(logging.INFO, logger="storefront.billing.outcomes")
    return Activations(caplog)


@pytest.fixture
def sandbox(tmp_path) -> Iterator[RunningSandbox]:
    """A running sandbox with short delays."""
    running = start_sandbox(tmp_path / "sandbox.sqlite3")
    yield running
    running.stop()


@pytest.fixture
def shop(tmp_path, sandbox) -> Iterator[Shop]:
    """The storefront served on its own port, wired to the sandbox."""
    running = make_shop(tmp_path, sandbox)
    yield running
    running.stop()


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
