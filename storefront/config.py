"""Settings read from the environment (and `.env`), checked before the app starts."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many

from storefront import business
from storefront import config_iamport as iamport_settings
from storefront import config_mail as mail_settings
# iamport's own URLs, also known here as config.LIVE_API_URL and config.LIVE_SDK_URL.
from storefront.config_iamport import LIVE_API_URL, LIVE_SDK_URL, ConfigError  # noqa: F401
from storefront.config_iamport import flag as _flag

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"

SANDBOX_PORT = 5001
DEFAULT_SHOP_TIMEZONE = "Asia/Seoul"
# Seconds a SQLite writer waits for another to finish before failing with "database is locked"
# (Python's default is 5 s, which the soak test's logins, charges and webhooks reached on a busy
# machine: a login answered 500).
SQLITE_BUSY_TIMEOUT = 30
# The longest a "Keep me logged in" cookie may last; REMEMBER_COOKIE_DAYS chooses up to this.
MAX_REMEMBER_DAYS = 30
# The withdrawal period WITHDRAWAL_DAYS may set: the law's 7 days or more (전자상거래법 §17①
# lets a contract give a longer one, never a shorter), or 0 for none.
MIN_WITHDRAWAL_DAYS, MAX_WITHDRAWAL_DAYS = 7, 365
# Live mode's HSTS: two years, subdomains too (a shop's subdomains are its own and https as well).
LIVE_HSTS = "max-age=63072000; includeSubDomains"


def _sandbox_secret_key() -> str:
    """A secret generated once into instance/ so that sessions survive restarts."""
    path = INSTANCE / "secret_key"
    if path.exists():
        return path.read_text().strip()
    INSTANCE.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Created with O_EXCL so two workers starting together keep the first one's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _positive(name: str, value: str, unit: str) -> int:
    """A whole number above 0 from the environment, checked now so a typo stops the start."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ConfigError(f"{name} must be a number of {unit} greater than 0, not {value!r}")
    return number


def _rate_limit(name: str, value: str) -> str:
    """A Flask-Limiter limit such as "30 per minute" or "5/second; 100/hour", checked now."""
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(
            f"{name} must be a rate limit such as '30 per minute' or '10/second; 300/hour', "
            f"not {value!r}"
        ) from None
    return value


def _shop_timezone(name: str) -> str:
    """The IANA zone name pages show dates in, checked now so a typo stops the start."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"SHOP_TIMEZONE must be an IANA time zone name such as Asia/Seoul or Europe/Berlin, "
            f"not {name!r} (the system's time zone data, or the tzdata package, must have it)"
        ) from None
    return name


def _locale(value: str) -> str:
    value = value.strip().lower()
    if value not in {"ko", "en"}:
        raise ConfigError(f"DEFAULT_LOCALE must be 'ko' or 'en', not {value!r}")
    return value


def _remember_days(value: str) -> timedelta:
    """How long the remember cookie lasts, checked now so a year-long cookie cannot be set."""
    try:
        days = int(value)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_REMEMBER_DAYS:
        raise ConfigError(
            f"REMEMBER_COOKIE_DAYS must be a whole number of days from 1 to {MAX_REMEMBER_DAYS}, "
            f"not {value!r}"
        )
    return timedelta(days=days)


def _withdrawal_days(value: str) -> int:
    """Days a shopper may withdraw (청약철회) after paying; 0 turns withdrawal off."""
    try:
        days = int(value)
    except ValueError:
        days = -1
    if days != 0 and not MIN_WITHDRAWAL_DAYS <= days <= MAX_WITHDRAWAL_DAYS:
        raise ConfigError(f"WITHDRAWAL_DAYS must be 0 (no withdrawal) or a whole number of days "
                          f"from {MIN_WITHDRAWAL_DAYS} (the law's) to {MAX_WITHDRAWAL_DAYS}, "
                          f"not {value!r}")
    return days


def _refund_on_cancel_now(value: str) -> str:
    """What ending now refunds after the withdrawal period (see billing/ending.py)."""
    rule = value.strip().lower()
    if rule not in {"unused_days", "none"}:
        raise ConfigError(f"REFUND_ON_CANCEL_NOW must be 'unused_days' or 'none', not {value!r}")
    return rule


def _hsts(value: str) -> str:
    return "" if value.strip().lower() == "off" else value


def abandon_after(value: str, order_expires: timedelta) -> dict[str, timedelta]:
    """How long after it was opened an order of each kind gets its last lookup and is closed.

    `value` overrides kinds in seconds, e.g. "first=7200,new_card=7200,repeat=600,renewal=86400".
    A window's order (first, new_card) may be paid until ORDER_EXPIRES, so it is never closed
    before that.
    """
    window = order_expires + timedelta(minutes=30)
    after = {"first": window, "new_card": window, "repeat": timedelta(minutes=10),
             "change": timedelta(minutes=10), "renewal": timedelta(days=1)}
    for item in filter(None, (part.strip() for part in value.split(","))):
        kind, _, seconds = item.partition("=")
        if kind.strip() not in after:
            raise ConfigError(f"ABANDON_AFTER names kinds {', '.join(after)}, not {kind.strip()!r}")
        after[kind.strip()] = timedelta(seconds=_positive("ABANDON_AFTER", seconds.strip(), "seconds"))
    for kind in ("first", "new_card"):
        if after[kind] < order_expires:
            raise ConfigError(f"ABANDON_AFTER for {kind} must be at least ORDER_EXPIRES "
                              f"({int(order_expires.total_seconds())} seconds)")
    return after


def load(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the settings from the environment, apply overrides and validate them."""
    env = dict(os.environ)
    if overrides:
        env.update({k: v for k, v in overrides.items() if isinstance(v, str)})
    mode = (env.get("IAMPORT_MODE") or "sandbox").strip().lower()
    if mode not in {"sandbox", "live"}:
        raise ConfigError(f"IAMPORT_MODE must be 'sandbox' or 'live', not {mode!r}")
    live = mode == "live"

    def setting(name: str, default: str = "") -> str:
        value = env.get(name)
        return value if value not in (None, "") else default

    def number(name: str, default: str, unit: str) -> int:
        return _positive(name, setting(name, default), unit)

    def rate(name: str, default: str) -> str:
        return _rate_limit(name, setting(name, default))

    sandbox_url = setting("SANDBOX_URL", f"http://127.0.0.1:{SANDBOX_PORT}")
    iamport = iamport_settings.load(setting, live, sandbox_url)
    mail = mail_settings.load(setting, number, live)
    cfg: dict[str, Any] = {
        "IAMPORT_MODE": mode,
        # The keys, the API's and SDK's URLs, PUBLIC_URL and the accepted MIDs (config_iamport.py).
        **iamport,
        "SECRET_KEY": setting("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": setting(
            "DATABASE_URL", f"sqlite:///{INSTANCE / 'storefront.sqlite3'}"
        ),
        "SANDBOX_URL": "" if live else sandbox_url,
        # Sandbox mode: the shop's clock (storefront/clock.py) follows the sandbox's, read from
        # SANDBOX_URL at each request and job; "false" keeps the system clock.
        "SANDBOX_CLOCK": not live and _flag(env.get("SANDBOX_CLOCK"), True),
        # `make run` (flask run-demo) runs the periodic job cron runs in production this often.
        "DEMO_JOBS_SECONDS": number("DEMO_JOBS_SECONDS", "30", "seconds"),
        "IAMPORT_WIDGET_CODE": setting("IAMPORT_WIDGET_CODE", "t3_1"),
        "WEBHOOK_ALLOWED_IPS": [
            ip.strip() for ip in setting("WEBHOOK_ALLOWED_IPS").split(",") if ip.strip()
        ],
        "PROXY_HOPS": int(setting("PROXY_HOPS", "0")),
        # Origins the SDK may call and frame besides its own (live iamport and PAYMENTWALL's).
        "IAMPORT_CSP_ORIGINS": setting(
            "IAMPORT_CSP_ORIGINS", "https://*.iamport.kr https://*.paymentwall.com" if live else ""
        ).split(),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": live,
        "REMEMBER_COOKIE_SECURE": live,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_DURATION": _remember_days(
            setting("REMEMBER_COOKIE_DAYS", str(MAX_REMEMBER_DAYS))
        ),
        # A staff session ends after this many minutes without a request (storefront/admin/sessions.py).
        "STAFF_SESSION_MINUTES": number("STAFF_SESSION_MINUTES", "60", "minutes"),
        # "basic" only marks a session whose address or browser changed as not fresh; "strong"
        # would log out a phone that moves between networks in the middle of a checkout.
        "SESSION_PROTECTION": "basic",
        # The HSTS header of every response in live mode ("off": a proxy in front sends it).
        "STRICT_TRANSPORT_SECURITY": _hsts(setting("STRICT_TRANSPORT_SECURITY", LIVE_HSTS))
        if live else "",
        "LOG_LEVEL": setting("LOG_LEVEL", "INFO").upper(),
        "WTF_CSRF_TIME_LIMIT": None,
        # Days after a failed renewal's due date on which it is tried again.
        "RENEWAL_RETRY_DAYS": [int(d) for d in setting("RENEWAL_RETRY_DAYS", "1,3,5").split(",")],
        # Reconcile leaves younger pending payments to the callback and the webhook.
        "RECONCILE_MIN_AGE": timedelta(seconds=int(setting("RECONCILE_MIN_AGE", "60"))),
        # An open order (checkout, new card) is offered again, and may be paid, this long.
        "ORDER_EXPIRES": timedelta(seconds=number("ORDER_EXPIRES", "3600", "seconds")),
        # A payment PAYMENTWALL holds for review is waited for this long, then counts as declined.
        "REVIEW_DEADLINE": timedelta(seconds=number("REVIEW_DEADLINE", str(72 * 3600), "seconds")),
        # Request bodies (bytes). Our largest form, sign-up, is well under 1 KB; anything far
        # bigger is refused 413 before it is read, so a request cannot cost much memory.
        "MAX_CONTENT_LENGTH": number("MAX_CONTENT_LENGTH", "65536", "bytes"),
        # Each field of a multipart form (Werkzeug reads a urlencoded form whole, under the
        # limit above).
        "MAX_FORM_MEMORY_SIZE": number("MAX_FORM_MEMORY_SIZE", "16384", "bytes"),
        # iamport's webhook body is four short fields (about 150 bytes).
        "WEBHOOK_MAX_CONTENT_LENGTH": number("WEBHOOK_MAX_CONTENT_LENGTH", "8192", "bytes"),
        # How long the webhook log (/admin/webhooks) keeps each webhook received.
        "WEBHOOK_LOG_DAYS": number("WEBHOOK_LOG_DAYS", "90", "days"),
        # The log-in throttle (storefront/throttle.py). A pair, one e-mail from one client
        # address, may fail this often freely; then each attempt waits 1, 2, 4 … seconds, up to
        # LOGIN_MAX_DELAY. Only that pair waits: the owner elsewhere logs in at once.
        "LOGIN_FREE_FAILURES": number("LOGIN_FREE_FAILURES", "5", "failures"),
        "LOGIN_MAX_DELAY": timedelta(seconds=number("LOGIN_MAX_DELAY", "900", "seconds")),
        # A pair's failures are forgotten this long after its last one (and at a log-in).
        "LOGIN_FAILURE_MEMORY": timedelta(
            seconds=number("LOGIN_FAILURE_MEMORY", str(24 * 3600), "seconds")
        ),
        # Credential stuffing: when this many accounts failed from one client address within
        # the window, every log-in from it is refused until the window ends.
        "LOGIN_ACCOUNTS_PER_ADDRESS": number("LOGIN_ACCOUNTS_PER_ADDRESS", "50", "accounts"),
        "LOGIN_ADDRESS_WINDOW": timedelta(
            seconds=number("LOGIN_ADDRESS_WINDOW", "3600", "seconds")
        ),
        # Rate limits per client address (Flask-Limiter; see storefront/ratelimits.py). Counters
        # live in each process's memory unless RATELIMIT_STORAGE_URI names a shared store
        # (redis://host:6379/0), which several workers and hosts need to count together.
        "RATELIMIT_ENABLED": _flag(env.get("RATELIMIT_ENABLED"), True),
        "RATELIMIT_STORAGE_URI": setting("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_KEY_PREFIX": setting("RATELIMIT_KEY_PREFIX", "storefront"),
        # A store that cannot be reached must not take the shop down: count in memory meanwhile.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        # Each attempt costs a password hash; the shoppers of one office still fit.
        "LOGIN_RATE_LIMIT": rate("LOGIN_RATE_LIMIT", "30 per minute"),
        # Sign-ups, which also say whether an e-mail has an account.
        "REGISTER_RATE_LIMIT": rate("REGISTER_RATE_LIMIT", "20 per hour"),
        # Forms that mail a link (password reset, confirmation, e-mail change), per address.
        "ACCOUNT_MAIL_RATE_LIMIT": rate("ACCOUNT_MAIL_RATE_LIMIT", "10 per hour"),
        # The callback and the mobile return each cost a lookup at iamport; a shopper makes one
        # or two per payment.
        "COMPLETION_RATE_LIMIT": rate("COMPLETION_RATE_LIMIT", "30 per minute"),
        # Per shopper: a pending order's result page reloads itself every few seconds, and each
        # load asks iamport.
        "RESULT_RATE_LIMIT": rate("RESULT_RATE_LIMIT", "60 per minute"),
        # For addresses outside WEBHOOK_ALLOWED_IPS (those are never limited). Renewals come
        # at each subscription's own time of day; 120 a minute from each of iamport's three
        # addresses, if they are not allowed, is 360 renewals a minute.
        "WEBHOOK_RATE_LIMIT": rate("WEBHOOK_RATE_LIMIT", "120 per minute"),
        # Dates are stored in UTC and shown in this zone.
        "SHOP_TIMEZONE": _shop_timezone(setting("SHOP_TIMEZONE", DEFAULT_SHOP_TIMEZONE)),
        # The language of a visitor whose browser asks for neither Korean nor English.
        "DEFAULT_LOCALE": _locale(setting("DEFAULT_LOCALE", "ko")),
        # 상호, 대표자, 사업자등록번호 … for the footer and the legal pages (storefront/business.py).
        **business.load(setting),
        # The SMTP server, MAIL_FROM and RENEWAL_NOTICE_DAYS (config_mail.py).
        **mail,
        # Withdrawal (청약철회, 전자상거래법 §17): days from the later of the first payment and the
        # contract mail in which ending refunds every payment in full; 0: none (the terms say so).
        "WITHDRAWAL_DAYS": _withdrawal_days(setting("WITHDRAWAL_DAYS", "7")),
        # After them, ending now refunds the unused whole days ("unused_days") or nothing ("none").
        "REFUND_ON_CANCEL_NOW": _refund_on_cancel_now(setting("REFUND_ON_CANCEL_NOW", "unused_days")),
        # Whether the plans' prices include VAT (부가세); every price says which.
        "PRICES_INCLUDE_VAT": _flag(env.get("PRICES_INCLUDE_VAT"), True),
    }
    if live:
        iamport_settings.refuse_placeholder("SECRET_KEY", cfg["SECRET_KEY"])
    elif not cfg["SECRET_KEY"]:
        cfg["SECRET_KEY"] = _sandbox_secret_key()

    if overrides:
        # A string override of an iamport or mail setting was read above, as the environment's
        # would be: its checked form ("a,b" as a list, "true" as True, "1025" as 1025) stays.
        cfg.update({k: v for k, v in overrides.items()
                    if not (isinstance(v, str) and (k in iamport or k in mail))})
    cfg.setdefault("ABANDON_AFTER", abandon_after(setting("ABANDON_AFTER"), cfg["ORDER_EXPIRES"]))
    # A secure-only cookie gets the __Host- prefix: browsers then refuse it unless it came over
    # https for this exact host and path /, so no subdomain or plain-http page can plant one.
    cfg.setdefault("SESSION_COOKIE_NAME",
                   "__Host-session" if cfg["SESSION_COOKIE_SECURE"] else "session")
    cfg.setdefault("REMEMBER_COOKIE_NAME",
                   "__Host-remember_token" if cfg["REMEMBER_COOKIE_SECURE"] else "remember_token")
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}})
    return cfg
