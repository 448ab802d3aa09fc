"""Settings: sandbox defaults, live mode refusing to start half-configured."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import sqlalchemy as sa

from storefront import business, create_app
from storefront.config import ROOT, SQLITE_BUSY_TIMEOUT, ConfigError, load
from storefront.extensions import db

LIVE = {
    "IAMPORT_MODE": "live",
    "IAMPORT_IMP_CODE": "imp12345678",
    "IAMPORT_API_KEY": "1234567890123456",
    "IAMPORT_API_SECRET": "s3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3t",
    "IAMPORT_PG": "paymentwall.pk_live_1",
    "SECRET_KEY": "a-long-random-secret-key-for-production",
}


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("IAMPORT_", "SANDBOX_")) or name in {"SECRET_KEY", "DATABASE_URL"}:
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_sandbox_is_the_default(clean_env, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db", "SECRET_KEY": "t"})
    assert app.config["IAMPORT_MODE"] == "sandbox"
    assert app.config["IAMPORT_API_URL"].startswith("http://127.0.0.1:")
    assert app.config["IAMPORT_SDK_URL"].endswith("/v1/iamport.js")
    assert app.config["IAMPORT_WIDGET_CODE"] == "t3_1"
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_sandbox_secret_key_is_generated_once(clean_env, tmp_path, monkeypatch):
    from storefront import config

    monkeypatch.setattr(config, "INSTANCE", tmp_path / "instance")
    first = config.load()["SECRET_KEY"]
    second = config.load()["SECRET_KEY"]
    assert len(first) == 64 and first == second
    assert (tmp_path / "instance" / "secret_key").read_text() == first


def test_live_mode_with_everything_starts(clean_env, tmp_path):
    for name, value in LIVE.items():
        clean_env.setenv(name, value)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    assert app.config["IAMPORT_API_URL"] == "https://api.iamport.kr"
    assert app.config["IAMPORT_SDK_URL"] == "https://cdn.iamport.kr/v1/iamport.js"
    assert app.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("name", sorted(LIVE.keys() - {"IAMPORT_MODE"}))
@pytest.mark.parametrize("value", [None, "", "changeme", "your-key-here", "sandbox_api_key", "imp00000000"])
def test_live_mode_refuses_missing_or_placeholder(clean_env, name, value):
    for key, good in LIVE.items():
        clean_env.setenv(key, good)
    if value is None:
        clean_env.delenv(name)
    else:
        clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as excinfo:
        create_app()
    assert name in str(excinfo.value)


def test_live_mode_refuses_another_pg(clean_env):
    for key, good in LIVE.items():
        clean_env.setenv(key, good)
    clean_env.setenv("IAMPORT_PG", "html5_inicis")
    with pytest.raises(ConfigError, match="IAMPORT_PG"):
        create_app()


def test_live_mode_refusal_from_the_command_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IAMPORT_")}
    env.update(LIVE, IAMPORT_API_SECRET="CHANGE_ME", FLASK_APP="wsgi")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "routes"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "IAMPORT_API_SECRET" in result.stderr
    assert "CHANGE_ME" not in result.stderr


def test_bad_mode_is_refused(clean_env):
    clean_env.setenv("IAMPORT_MODE", "production")
    with pytest.raises(ConfigError, match="IAMPORT_MODE"):
        create_app()


def test_env_example_lists_every_setting():
    text = (ROOT / ".env.example").read_text()
    for name in ["IAMPORT_MODE", "IAMPORT_IMP_CODE", "IAMPORT_API_KEY", "IAMPORT_API_SECRET",
                 "IAMPORT_PG", "IAMPORT_API_URL", "IAMPORT_SDK_URL", "IAMPORT_WIDGET_CODE",
                 "SECRET_KEY", "DATABASE_URL", "PUBLIC_URL", "WEBHOOK_ALLOWED_IPS", "PROXY_HOPS",
                 "LOG_LEVEL", "SANDBOX_URL"]:
        assert f"\n{name}=" in "\n" + text or f"\n# {name}=" in "\n" + text, name


def test_env_example_documents_every_setting_the_app_reads():
    text = "\n" + (ROOT / ".env.example").read_text()
    source = (ROOT / "storefront" / "config.py").read_text()
    read = set(re.findall(r'(?:setting|number|rate)\(\s*"([A-Z_]+)"', source))
    read |= set(re.findall(r'env\.get\("([A-Z_]+)"\)', source))
    # And the business details, read in storefront/business.py (each has a demo value).
    read |= set(business.DEMO)
    assert len(read) > 20
    assert {"BUSINESS_NAME", "CUSTOMER_SERVICE_EMAIL", "MAIL_ORDER_REGISTRATION_NUMBER"} <= read
    assert sorted(name for name in read if f"\n{name}=" not in text) == []


def test_sqlite_waits_for_a_busy_writer(clean_env, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'busy.sqlite3'}"})
    with app.app_context():
        waits_ms = db.session.execute(sa.text("PRAGMA busy_timeout")).scalar_one()
    assert waits_ms == SQLITE_BUSY_TIMEOUT * 1000 and SQLITE_BUSY_TIMEOUT > 5


def test_postgresql_gets_no_sqlite_options(clean_env):
    settings = load({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://shop@127.0.0.1/shop"})
    assert "SQLALCHEMY_ENGINE_OPTIONS" not in settings


def test_the_shop_time_zone_defaults_to_seoul(clean_env):
    clean_env.delenv("SHOP_TIMEZONE", raising=False)
    assert load({"SECRET_KEY": "t"})["SHOP_TIMEZONE"] == "Asia/Seoul"
    assert load({"SECRET_KEY": "t", "SHOP_TIMEZONE": "Europe/Berlin"})["SHOP_TIMEZONE"] == "Europe/Berlin"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "KST", "../../etc/passwd", " "])
def test_an_unknown_shop_time_zone_is_refused_at_load(clean_env, zone):
    clean_env.setenv("SHOP_TIMEZONE", zone)
    with pytest.raises(ConfigError, match="SHOP_TIMEZONE"):
        load({"SECRET_KEY": "t"})


@pytest.mark.parametrize(("value", "included"), [(None, True), ("1", True), ("0", False),
                                                  ("false", False)])
def test_prices_include_vat_unless_told_otherwise(clean_env, value, included):
    if value is not None:
        clean_env.setenv("PRICES_INCLUDE_VAT", value)
    assert load({"SECRET_KEY": "t"})["PRICES_INCLUDE_VAT"] is included
