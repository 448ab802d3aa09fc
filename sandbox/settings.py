"""Sandbox settings: the dict given to create_app first, then the environment, then defaults."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

# Relative paths (the default database) start at the repository root, beside this package.
REPO_ROOT = Path(__file__).resolve().parents[1]

_TRUE = {"1", "true", "yes", "on"}
# The most webhook deliveries the sandbox keeps in flight at once.
MAX_WEBHOOK_WORKERS = 64
_FALSE = {"0", "false", "no", "off", ""}


def _key(name: str, default: Any) -> Any:
    """Declare a setting read from the config key or environment variable `name`."""
    return field(default=default, metadata={"key": name})


def to_bool(value: Any) -> bool:
    """Read a boolean the way environment variables spell it."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _cast(value: Any, like: Any) -> Any:
    if isinstance(like, bool):
        return to_bool(value)
    if isinstance(like, float):
        return float(value)
    if isinstance(like, int):
        return int(value)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Settings:
    """Everything the sandbox can be told at start-up (see docs/sandbox.md)."""

    database: str = _key("SANDBOX_DATABASE", "instance/sandbox.sqlite3")
    imp_code: str = _key("SANDBOX_IMP_CODE", "imp00000000")
    api_key: str = _key("SANDBOX_API_KEY", "sandbox_api_key")
    api_secret: str = _key("SANDBOX_API_SECRET", "sandbox_api_secret")
    paymentwall_mid: str = _key("SANDBOX_PAYMENTWALL_MID", "sandbox_project")
    test_channel: bool = _key("SANDBOX_TEST_CHANNEL", False)
    public_url: str = _key("SANDBOX_PUBLIC_URL", "")
    autostart: bool = _key("SANDBOX_AUTOSTART", True)
    # The customer's mailbox: an SMTP server the storefront sends to (0 = any free port).
    smtp_host: str = _key("SANDBOX_SMTP_HOST", "127.0.0.1")
    smtp_port: int = _key("SANDBOX_SMTP_PORT", 1025)
    tick: float = _key("SANDBOX_TICK", 0.2)
    # Paymentwall's asynchronous steps.
    pingback_delay: float = _key("SANDBOX_PINGBACK_DELAY", 1.0)
    review_delay: float = _key("SANDBOX_REVIEW_DELAY", 5.0)
    cancel_delay: float = _key("SANDBOX_CANCEL_DELAY", 1.0)
    # Webhooks.
    webhook_url: str = _key("SANDBOX_WEBHOOK_URL", "")
    webhook_format: str = _key("SANDBOX_WEBHOOK_FORMAT", "json")
    webhook_delay: float = _key("SANDBOX_WEBHOOK_DELAY", 0.0)
    webhook_drop_rate: float = _key("SANDBOX_WEBHOOK_DROP_RATE", 0.0)
    webhook_duplicate_rate: float = _key("SANDBOX_WEBHOOK_DUPLICATE_RATE", 0.0)
    webhook_reorder: bool = _key("SANDBOX_WEBHOOK_REORDER", False)
    webhook_reorder_window: float = _key("SANDBOX_WEBHOOK_REORDER_WINDOW", 1.0)
    webhook_connect_timeout: float = _key("SANDBOX_WEBHOOK_CONNECT_TIMEOUT", 10.0)
    webhook_read_timeout: float = _key("SANDBOX_WEBHOOK_READ_TIMEOUT", 30.0)
    webhook_retries: int = _key("SANDBOX_WEBHOOK_RETRIES", 0)
    webhook_retry_interval: float = _key("SANDBOX_WEBHOOK_RETRY_INTERVAL", 60.0)
    # Deliveries in flight at once: 1 sends them one by one, in order.
    webhook_workers: int = _key("SANDBOX_WEBHOOK_WORKERS", 1)
    # Faults of the REST API.
    latency_ms: int = _key("SANDBOX_LATENCY_MS", 0)
    error_rate: float = _key("SANDBOX_ERROR_RATE", 0.0)
    hang_rate: float = _key("SANDBOX_HANG_RATE", 0.0)
    hang_seconds: float = _key("SANDBOX_HANG_SECONDS", 35.0)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None = None) -> "Settings":
        """Build settings from a config mapping, falling back to os.environ."""
        config = config or {}
        values = {}
        for f in fields(cls):
            name = f.metadata["key"]
            if name in config and config[name] is not None:
                raw = config[name]
            elif name in os.environ:
                raw = os.environ[name]
            else:
                continue
            try:
                values[f.name] = _cast(raw, f.default)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from exc
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse settings that cannot work, naming the key."""
        if self.webhook_format not in ("json", "form"):
            raise ValueError("SANDBOX_WEBHOOK_FORMAT must be json or form")
        for name in ("webhook_drop_rate", "webhook_duplicate_rate", "error_rate", "hang_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{self.key_of(name)} must be between 0 and 1")
        if not 0 <= self.smtp_port <= 65535:
            raise ValueError("SANDBOX_SMTP_PORT must be between 0 and 65535")
        if not 1 <= self.webhook_workers <= MAX_WEBHOOK_WORKERS:
            raise ValueError(f"SANDBOX_WEBHOOK_WORKERS must be between 1 and {MAX_WEBHOOK_WORKERS}")

    @classmethod
    def key_of(cls, attr: str) -> str:
        """The config key of a settings attribute."""
        return next(f.metadata["key"] for f in fields(cls) if f.name == attr)

    @property
    def database_path(self) -> Path:
        """The SQLite file, relative paths taken from the repository root."""
        path = Path(self.database)
        return path if path.is_absolute() else REPO_ROOT / path


# The settings that tests and the operator may change while the sandbox runs, by section.
KNOB_SECTIONS: dict[str, dict[str, str]] = {
    "faults": {
        "latency_ms": "latency_ms",
        "error_rate": "error_rate",
        "hang_rate": "hang_rate",
        "hang_seconds": "hang_seconds",
    },
    "webhooks": {
        "url": "webhook_url",
        "format": "webhook_format",
        "delay": "webhook_delay",
        "drop_rate": "webhook_drop_rate",
        "duplicate_rate": "webhook_duplicate_rate",
        "reorder": "webhook_reorder",
        "reorder_window": "webhook_reorder_window",
        "retries": "webhook_retries",
        "retry_interval": "webhook_retry_interval",
        "workers": "webhook_workers",
    },
    "delays": {
        "pingback_delay": "pingback_delay",
        "review_delay": "review_delay",
        "cancel_delay": "cancel_delay",
    },
}


class Knobs:
    """The run-time copy of the adjustable settings, reset to the start-up values on demand."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self.reset()

    def reset(self) -> None:
        """Go back to the values the sandbox was started with."""
        with self._lock:
            self._values = {
                attr: getattr(self._settings, attr)
                for section in KNOB_SECTIONS.values()
                for attr in section.values()
            }

    def __getattr__(self, attr: str) -> Any:
        values = self.__dict__.get("_values")
        if values is not None and attr in values:
            return values[attr]
        raise AttributeError(attr)

    def section(self, name: str) -> dict[str, Any]:
        """The current values of one section, under their public names."""
        with self._lock:
            return {public: self._values[attr] for public, attr in KNOB_SECTIONS[name].items()}

    def update(self, name: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Change some values of a section; unknown names or bad values raise ValueError."""
        mapping = KNOB_SECTIONS[name]
        unknown = set(data) - set(mapping)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            staged = dict(self._values)
            for public, raw in data.items():
                attr = mapping[public]
                staged[attr] = _cast(raw, getattr(self._settings, attr))
            probe = Settings(**{**_settings_dict(self._settings), **staged})
            probe.validate()
            for attr in ("latency_ms", "hang_seconds", "webhook_delay", "webhook_reorder_window",
                         "pingback_delay", "review_delay", "cancel_delay", "webhook_retries",
                         "webhook_retry_interval"):
                if staged[attr] < 0:
                    raise ValueError(f"{attr} must not be negative")
            self._values = staged
        return self.section(name)


def _settings_dict(settings: Settings) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in fields(settings)}
