"""The storefront app the tests build: on a throwaway database, with the test settings."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from flask import Flask
from sqlalchemy import event

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
        # rate limits (tests/unit/test_rate_limits.py) turn them on.
        "RATELIMIT_ENABLED": False,
        # Most tests read the English pages; the Korean ones ask for Korean (tests/support/i18n.py).
        "DEFAULT_LOCALE": "en",
        # No sandbox runs beside these apps: their clock is the system's (tests/support/shop.py
        # serves one that follows its sandbox's).
        "SANDBOX_CLOCK": False,
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = ClosingClient
    track_connections(app)
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def track_connections(app: Flask) -> None:
    """Keep every database connection the app's engine opens, so that closing the app can
    check that none is left open (see close_database)."""
    opened: list[Any] = []
    app.extensions["test_connections"] = opened
    with app.app_context():
        # A pool event on the engine: pools the engine makes later (dispose) share it.
        event.listen(db.engine, "connect", lambda connection, _record: opened.append(connection))


def _is_closed(connection: Any) -> bool:
    closed = getattr(connection, "closed", None)  # psycopg's
    if closed is not None:
        return bool(closed)
    try:
        connection.total_changes  # sqlite3's connection has no flag, but refuses once closed
    except sqlite3.ProgrammingError:
        return True
    return False


def open_connections(app: Flask) -> list[Any]:
    """The database connections the app opened that are not closed."""
    return [c for c in app.extensions.get("test_connections", []) if not _is_closed(c)]


def close_database(app: Flask) -> None:
    """Close the app's database connections: its session's and every one its pool keeps; fail
    if one is still open after that (held by a thread or a session nobody closed)."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    left = open_connections(app)
    for connection in left:
        # Closed here, the leak fails the test that made it, not one the garbage collector
        # happens to run in later.
        connection.close()
    assert not left, f"{len(left)} database connection(s) left open after the app was closed"
