"""Settings: sandbox defaults, live mode refusing to start half-configured."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest
import sqlalchemy as sa

from storefront import business, cli, create_app
from storefront.billing.common import notice_url
from storefront.config import ROOT, SQLITE_BUSY_TIMEOUT, ConfigError, load
from storefront.extensions import db
from storefront.models import Payment
from storefront.payment_window import sdk_params

LIVE = {
    "IAMPORT_MODE": "live",
    "IAMPORT_IMP_CODE": "imp12345678",
    "IAMPORT_API_KEY": "1234567890123456",
    "IAMPORT_API_SECRET": "s3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3t",
    "IAMPORT_PG": "paymentwall.pk_live_1",
    "SECRET_KEY": "a-long-random-secret-key-for-production",
    "PUBLIC_URL": "https://shop.northwind.kr",
    "MAIL_SERVER": "smtp.northwind.kr",
    "MAIL_FROM": "Northwind <help@northwind.kr>",
}
# Where `make run` (flask run-demo) serves the storefront.
DEMO_URL = "http://127.0.0.1:5000"


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("IAMPORT_", "SANDBOX_")) or name in {"SECRET_KEY", "DATABASE_URL",
                                                                  "PUBLIC_URL"}:
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
    assert app.config["PUBLIC_URL"] == "https://shop.northwind.kr"
    assert app.config["IAMPORT_ACCEPTED_MIDS"] == ["pk_live_1"]


@pytest.mark.parametrize("name", sorted(LIVE.keys() - {"IAMPORT_MODE", "PUBLIC_URL"}))
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
    # And the iamport connection's, read in storefront/config_iamport.py.
    source += (ROOT / "storefront" / "config_iamport.py").read_text()
    read = set(re.findall(r'(?:setting|number|rate)\(\s*"([A-Z_]+)"', source))
    read |= set(re.findall(r'env\.get\("([A-Z_]+)"\)', source))
    # And the business details, read in storefront/business.py (each has a demo value).
    read |= set(business.DEMO)
    assert len(read) > 20
    assert {"BUSINESS_NAME", "CUSTOMER_SERVICE_EMAIL", "MAIL_ORDER_REGISTRATION_NUMBER",
            "IAMPORT_URL_OVERRIDE", "IAMPORT_ACCEPTED_MIDS", "PUBLIC_URL"} <= read
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


def live_env(clean_env, **changes):
    """The environment of a complete live shop, with `changes` (None: unset)."""
    for key, good in {**LIVE, **changes}.items():
        if good is None:
            clean_env.delenv(key, raising=False)
        else:
            clean_env.setenv(key, good)


# --------------------------------------------------------------------------- PUBLIC_URL


@pytest.mark.parametrize("value", [None, "", " ", "https://shop.example.com", "https://example.org/",
                                   "shop.northwind.kr", "ftp://shop.northwind.kr", "https://",
                                   "https://shop.northwind.kr/?next=/", "http://shop.northwind.kr"])
def test_live_mode_needs_the_shops_public_https_address(clean_env, value):
    live_env(clean_env, PUBLIC_URL=value)
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        load()


def test_live_mode_takes_its_public_address_without_the_trailing_slash(clean_env):
    live_env(clean_env, PUBLIC_URL="https://shop.northwind.kr/")
    assert load()["PUBLIC_URL"] == "https://shop.northwind.kr"


def test_sandbox_mode_is_public_where_make_run_serves_it(clean_env):
    assert load({"SECRET_KEY": "t"})["PUBLIC_URL"] == DEMO_URL
    assert load({"SECRET_KEY": "t", "PUBLIC_URL": "http://10.0.0.7:8080/"})["PUBLIC_URL"] == \
        "http://10.0.0.7:8080"
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        load({"SECRET_KEY": "t", "PUBLIC_URL": "10.0.0.7:8080"})


def test_the_payment_windows_addresses_never_come_from_the_request(app, order):
    # A request that reached the shop under another Host (a proxy's, an attacker's) hands
    # iamport the shop's own addresses.
    with app.test_request_context(base_url="http://attacker.example"):
        payment = db.session.execute(db.select(Payment).where(Payment.merchant_uid == order)).scalar_one()
        pay = sdk_params(payment)["pay"]
        assert notice_url() == f"{DEMO_URL}/iamport/webhook"
    assert pay["notice_url"] == f"{DEMO_URL}/iamport/webhook"
    assert pay["m_redirect_url"] == f"{DEMO_URL}/checkout/return"


def test_a_job_outside_any_request_still_names_the_webhook(app, app_factory):
    # Reconcile and a task queue send schedules and charges with no request at hand.
    with app.app_context():
        assert notice_url() == f"{DEMO_URL}/iamport/webhook"
    with app_factory(PUBLIC_URL="https://shop.northwind.kr").app_context():
        assert notice_url() == "https://shop.northwind.kr/iamport/webhook"


def test_run_demo_is_public_at_the_address_it_serves(clean_env, tmp_path, monkeypatch):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db", "SECRET_KEY": "t",
                      "SANDBOX_URL": ""})
    served = {}
    monkeypatch.setattr(cli, "run_simple", lambda host, port, wsgi, **kw: served.update(
        host=host, port=port, public=wsgi.config["PUBLIC_URL"]))
    result = app.test_cli_runner().invoke(args=["run-demo", "--host", "127.0.0.1", "--port", "5077"])
    assert result.exit_code == 0, result.output
    assert served == {"host": "127.0.0.1", "port": 5077, "public": "http://127.0.0.1:5077"}


def test_run_demo_keeps_a_public_url_that_was_set(clean_env, tmp_path, monkeypatch):
    clean_env.setenv("PUBLIC_URL", "http://demo.internal:8000")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db", "SECRET_KEY": "t",
                      "SANDBOX_URL": ""})
    served = {}
    monkeypatch.setattr(cli, "run_simple", lambda host, port, wsgi, **kw: served.update(
        public=wsgi.config["PUBLIC_URL"]))
    result = app.test_cli_runner().invoke(args=["run-demo", "--port", "5077"])
    assert result.exit_code == 0, result.output
    assert served == {"public": "http://demo.internal:8000"}


# --------------------------------------------------------------------------- the API's and SDK's URLs


@pytest.mark.parametrize("url", ["https://api.iamport.kr", "https://api.iamport.kr/",
                                 "http://api.iamport.kr", "HTTPS://API.IAMPORT.KR",
                                 "https://Api.Iamport.kr:443/", "https://api.iamport.kr./",
                                 " https://api.iamport.kr "])
def test_sandbox_mode_refuses_iamports_real_api(clean_env, url):
    clean_env.setenv("IAMPORT_API_URL", url)
    with pytest.raises(ConfigError, match="IAMPORT_API_URL") as refused:
        load({"SECRET_KEY": "t"})
    assert "sandbox" in str(refused.value)


@pytest.mark.parametrize("url", ["https://api.iamport.kr/", "HTTPS://API.IAMPORT.KR",
                                 "https://api.iamport.kr:443"])
def test_live_mode_takes_iamports_api_in_any_spelling(clean_env, url):
    live_env(clean_env, IAMPORT_API_URL=url)
    assert load()["IAMPORT_API_URL"].lower().startswith("https://api.iamport.kr")


@pytest.mark.parametrize(("name", "url"), [
    ("IAMPORT_API_URL", "http://127.0.0.1:5001"), ("IAMPORT_API_URL", "http://api.iamport.kr"),
    ("IAMPORT_API_URL", "https://api.iamport.kr.evil.example"),
    ("IAMPORT_API_URL", "https://api.iamport.kr/v2"),
    ("IAMPORT_SDK_URL", "http://127.0.0.1:5001/v1/iamport.js"),
    ("IAMPORT_SDK_URL", "https://cdn.iamport.kr.evil.example/v1/iamport.js"),
])
@pytest.mark.parametrize("override", [None, "", "false", "0"])
def test_live_mode_refuses_an_api_or_sdk_other_than_iamports(clean_env, name, url, override):
    live_env(clean_env, **{name: url, "IAMPORT_URL_OVERRIDE": override})
    with pytest.raises(ConfigError, match=name) as refused:
        load()
    assert "IAMPORT_URL_OVERRIDE" in str(refused.value)


def test_live_mode_on_another_api_with_the_override_starts_and_warns(clean_env, tmp_path, caplog):
    live_env(clean_env, IAMPORT_API_URL="http://127.0.0.1:5001",
             IAMPORT_SDK_URL="http://127.0.0.1:5001/v1/iamport.js", IAMPORT_URL_OVERRIDE="true")
    caplog.set_level(logging.WARNING)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    assert app.config["IAMPORT_API_URL"] == "http://127.0.0.1:5001"
    assert app.config["IAMPORT_SDK_URL"] == "http://127.0.0.1:5001/v1/iamport.js"
    [warning] = [r.getMessage() for r in caplog.records if "IAMPORT_URL_OVERRIDE" in r.getMessage()]
    assert caplog.records[0].levelno == logging.WARNING
    assert "http://127.0.0.1:5001" in warning and "http://127.0.0.1:5001/v1/iamport.js" in warning


def test_iamports_own_urls_need_no_override_and_log_no_warning(clean_env, tmp_path, caplog):
    live_env(clean_env, IAMPORT_URL_OVERRIDE="true")
    caplog.set_level(logging.WARNING)
    create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    assert not [r for r in caplog.records if "IAMPORT_URL_OVERRIDE" in r.getMessage()]


# --------------------------------------------------------------------------- accepted MIDs


@pytest.mark.parametrize(("pg", "mids", "accepted"), [
    ("paymentwall.pk_live_1", None, ["pk_live_1"]),
    ("paymentwall", None, []),
    ("paymentwall.pk_new", "pk_old, pk_new", ["pk_old", "pk_new"]),
    ("paymentwall", "pk_a,pk_b,pk_a", ["pk_a", "pk_b"]),
    ("paymentwall.pk_live_1", "  ", ["pk_live_1"]),
])
def test_the_accepted_mids_default_to_the_pg_strings(clean_env, pg, mids, accepted):
    live_env(clean_env, IAMPORT_PG=pg, IAMPORT_ACCEPTED_MIDS=mids)
    assert load()["IAMPORT_ACCEPTED_MIDS"] == accepted


def test_the_sandbox_accepts_any_mid(clean_env):
    assert load({"SECRET_KEY": "t"})["IAMPORT_ACCEPTED_MIDS"] == []
    assert load({"SECRET_KEY": "t", "IAMPORT_ACCEPTED_MIDS": "m1,m2"})["IAMPORT_ACCEPTED_MIDS"] == \
        ["m1", "m2"]


@pytest.mark.parametrize("mids", ["pk_old,,pk_live_1", "pk_live_1,", ",pk_live_1", "pk_live_1, ,x"])
def test_an_empty_accepted_mid_is_refused(clean_env, mids):
    with pytest.raises(ConfigError, match="IAMPORT_ACCEPTED_MIDS"):
        load({"SECRET_KEY": "t", "IAMPORT_ACCEPTED_MIDS": mids})
    live_env(clean_env, IAMPORT_ACCEPTED_MIDS=mids)
    with pytest.raises(ConfigError, match="IAMPORT_ACCEPTED_MIDS"):
        load()


@pytest.mark.parametrize("mids", ["pk_live_1,changeme", "your-mid,pk_live_1", "xxx"])
def test_live_mode_refuses_a_placeholder_mid(clean_env, mids):
    live_env(clean_env, IAMPORT_ACCEPTED_MIDS=mids)
    with pytest.raises(ConfigError, match="IAMPORT_ACCEPTED_MIDS"):
        load()


def test_the_accepted_mids_include_the_one_payments_are_made_on(clean_env):
    live_env(clean_env, IAMPORT_PG="paymentwall.pk_new", IAMPORT_ACCEPTED_MIDS="pk_old")
    with pytest.raises(ConfigError, match="IAMPORT_ACCEPTED_MIDS") as refused:
        load()
    assert "pk_new" in str(refused.value)


def test_the_ending_settings_default_to_seven_days_and_unused_days(clean_env):
    clean_env.delenv("WITHDRAWAL_DAYS", raising=False)
    clean_env.delenv("REFUND_ON_CANCEL_NOW", raising=False)
    cfg = load({"SECRET_KEY": "t"})
    assert (cfg["WITHDRAWAL_DAYS"], cfg["REFUND_ON_CANCEL_NOW"]) == (7, "unused_days")
    clean_env.setenv("WITHDRAWAL_DAYS", "0")
    clean_env.setenv("REFUND_ON_CANCEL_NOW", "none")
    cfg = load({"SECRET_KEY": "t"})
    assert (cfg["WITHDRAWAL_DAYS"], cfg["REFUND_ON_CANCEL_NOW"]) == (0, "none")


@pytest.mark.parametrize(("name", "value"), [("WITHDRAWAL_DAYS", "-1"), ("WITHDRAWAL_DAYS", "seven"),
                                             ("WITHDRAWAL_DAYS", "1"), ("WITHDRAWAL_DAYS", "6"),
                                             ("WITHDRAWAL_DAYS", "3.5"), ("WITHDRAWAL_DAYS", "366"),
                                             ("REFUND_ON_CANCEL_NOW", "pro_rata"),
                                             ("REFUND_ON_CANCEL_NOW", " ")])
def test_bad_ending_settings_are_refused_at_load(clean_env, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load({"SECRET_KEY": "t"})
