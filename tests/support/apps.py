"""The storefront app the tests build: on a throwaway database, with the test settings."""

from __future__ import annotations

import os

from flask import Flask

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
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = ClosingClient
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def close_database(app: Flask) -> None:
    """Close the app's database connections: its session's and every one its pool keeps."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
