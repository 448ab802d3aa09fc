"""The iamport side of the settings: keys, API and SDK URLs, PUBLIC_URL and accepted MIDs, checked at start."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

log = logging.getLogger(__name__)

LIVE_API_URL = "https://api.iamport.kr"
LIVE_SDK_URL = "https://cdn.iamport.kr/v1/iamport.js"
# Where `make run` (flask run-demo) serves the storefront unless PORT says another port; sandbox
# mode's PUBLIC_URL unless set (demo_url).
DEMO_HOST = "127.0.0.1"
DEMO_PORT = 5000

SANDBOX_DEFAULTS = {
    "IAMPORT_IMP_CODE": "imp00000000",
    "IAMPORT_API_KEY": "sandbox_api_key",
    "IAMPORT_API_SECRET": "sandbox_api_secret",
    "IAMPORT_PG": "paymentwall",
}

# Settings live mode cannot do without, with the name a merchant finds them under.
LIVE_REQUIRED = {
    "IAMPORT_IMP_CODE": "merchant code (imp…)",
    "IAMPORT_API_KEY": "REST API key",
    "IAMPORT_API_SECRET": "REST API secret",
    "IAMPORT_PG": "PG string (paymentwall or paymentwall.{MID})",
    "SECRET_KEY": "Flask secret key",
}

_PLACEHOLDER_MARKERS = ("change", "placeholder", "your", "xxx", "example", "todo", "<", "...")
# Names reserved for examples (RFC 2606, 6761): a PUBLIC_URL there is a placeholder.
_EXAMPLE_DOMAINS = ("example", "example.com", "example.net", "example.org", "invalid")
# Addresses only this machine reaches: live mode's PUBLIC_URL may be plain http there (tests).
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_HOST = re.compile(r"[a-z0-9._-]+|[0-9a-f:.]*:[0-9a-f:.]*")


class ConfigError(RuntimeError):
    """The configuration cannot run the app; the message names the setting."""


def flag(value: str | None, default: bool = False) -> bool:
    """A yes/no setting: 1, true, yes or on (any case) mean yes."""
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def is_placeholder(value: str | None) -> bool:
    """True for an empty value, an example value or one of the sandbox's own keys."""
    if value is None or not value.strip():
        return True
    lowered = value.strip().lower()
    if value in SANDBOX_DEFAULTS.values() and value != "paymentwall":
        return True
    return any(marker in lowered for marker in _PLACEHOLDER_MARKERS)


def refuse_placeholder(name: str, value: str) -> None:
    """Stop live mode's start on a missing or placeholder value, naming the setting (never the
    value, which may be a secret)."""
    if name == "IAMPORT_PG":
        bad = not (value == "paymentwall" or value.startswith("paymentwall."))
        bad = bad or is_placeholder(value.partition(".")[2] or "paymentwall")
    else:
        bad = is_placeholder(value)
    if bad:
        raise ConfigError(
            f"IAMPORT_MODE=live needs {name} ({LIVE_REQUIRED[name]}); it is missing or a placeholder"
        )


def _parts(value: str) -> SplitResult | None:
    """An http(s) address with a host and no query or fragment, split; None for anything else."""
    try:
        parts = urlsplit(value)
        parts.port  # raises ValueError on a port that is not a number
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme.lower() not in {"http", "https"} or not _HOST.fullmatch(host):
        return None
    return None if parts.query or parts.fragment else parts


def _host(parts: SplitResult) -> str:
    """The host in lower case, without the trailing dot of a fully qualified name."""
    return (parts.hostname or "").rstrip(".")


def is_iamports(value: str, own: str) -> bool:
    """Whether `value` is iamport's own URL `own`, in any case, with or without a trailing slash
    or port 443 (plain http is not iamport's)."""
    parts, wanted = _parts(value), urlsplit(own)
    return (parts is not None and parts.scheme.lower() == "https"
            and _host(parts) == wanted.hostname and parts.port in (None, 443)
            and parts.username is None and parts.path.rstrip("/") == wanted.path.rstrip("/"))


def _address(name: str, value: str) -> str:
    """An http(s) address setting, checked now so a typo stops the start."""
    if _parts(value) is None:
        raise ConfigError(f"{name} must be an http:// or https:// address with a host "
                          "(and no query or fragment)")
    return value


def _public_url(value: str, live: bool) -> str:
    """The address the shop's root is served at: iamport calls it and sends shoppers back to it."""
    if live and not value:
        raise ConfigError(
            "IAMPORT_MODE=live needs PUBLIC_URL (the shop's public https address, such as "
            "https://shop.co.kr): iamport's webhooks and the phone's return from the payment "
            "window go there, never to the address a request came in by"
        )
    parts = _parts(_address("PUBLIC_URL", value))
    assert parts is not None  # _address refused anything else
    host = _host(parts)
    if live and any(host == d or host.endswith("." + d) for d in _EXAMPLE_DOMAINS):
        raise ConfigError("IAMPORT_MODE=live needs PUBLIC_URL (the shop's public https address); "
                          "it is a placeholder")
    if live and parts.scheme.lower() != "https" and host not in _LOOPBACK:
        raise ConfigError("IAMPORT_MODE=live needs PUBLIC_URL to be an https:// address")
    return value


def _accepted_mids(value: str, pg: str, live: bool) -> list[str]:
    """The PAYMENTWALL projects whose payments count: the list given, else IAMPORT_PG's MID, else
    none named (any)."""
    own = pg.partition(".")[2]
    if not value.strip():
        return [own] if own else []
    mids = [mid.strip() for mid in value.split(",")]
    if "" in mids:
        raise ConfigError("IAMPORT_ACCEPTED_MIDS is a comma-separated list of PAYMENTWALL project "
                          "MIDs; it has an empty item")
    if live and any(is_placeholder(mid) for mid in mids):
        raise ConfigError("IAMPORT_MODE=live needs IAMPORT_ACCEPTED_MIDS to name real PAYMENTWALL "
                          "project MIDs; one is a placeholder")
    if own and own not in mids:
        # The shop's own new payments would all be refused.
        raise ConfigError(f"IAMPORT_ACCEPTED_MIDS must include the MID of IAMPORT_PG ({own}), "
                          "on which new payments are made")
    return list(dict.fromkeys(mids))


def _urls(api: str, sdk: str, live: bool, override: bool) -> None:
    """Live mode talks to iamport's own API and SDK (unless overridden); sandbox mode never to
    iamport's live API, where its rules would count test-channel payments as money."""
    if not live:
        if _host(_parts(api)) == urlsplit(LIVE_API_URL).hostname:  # type: ignore[arg-type]
            raise ConfigError(
                "IAMPORT_MODE=sandbox refuses an IAMPORT_API_URL at iamport's live API "
                f"({LIVE_API_URL}): the sandbox's rules take test-channel payments as paid. Set "
                "IAMPORT_MODE=live, or point IAMPORT_API_URL at the sandbox"
            )
        return
    for name, value, own in (("IAMPORT_API_URL", api, LIVE_API_URL),
                             ("IAMPORT_SDK_URL", sdk, LIVE_SDK_URL)):
        if not override and not is_iamports(value, own):
            raise ConfigError(
                f"IAMPORT_MODE=live takes {name} only at iamport ({own}); set "
                "IAMPORT_URL_OVERRIDE=true to use another (a proxy, or a test of live mode)"
            )


def load(setting: Callable[[str, str], str], live: bool, sandbox_url: str) -> dict[str, Any]:
    """The iamport settings from `setting(name, default)`, validated for the mode."""
    cfg: dict[str, Any] = {}
    for name, default in SANDBOX_DEFAULTS.items():
        cfg[name] = setting(name, "" if live else default)
        if live:
            refuse_placeholder(name, cfg[name])
    api = _address("IAMPORT_API_URL", setting(
        "IAMPORT_API_URL", LIVE_API_URL if live else sandbox_url).strip())
    sdk = _address("IAMPORT_SDK_URL", setting(
        "IAMPORT_SDK_URL", LIVE_SDK_URL if live else f"{sandbox_url}/v1/iamport.js").strip())
    override = flag(setting("IAMPORT_URL_OVERRIDE", ""))
    _urls(api, sdk, live, override)
    return {
        **cfg,
        "IAMPORT_API_URL": api,
        "IAMPORT_SDK_URL": sdk,
        "IAMPORT_URL_OVERRIDE": override,
        # Sandbox mode: the demo's own address (`make run`'s PORT) unless set.
        "PUBLIC_URL": _public_url(setting("PUBLIC_URL", "" if live else demo_url(setting("PORT", "")))
                                  .strip().rstrip("/"), live),
        # PAYMENTWALL projects whose payments live mode accepts (empty: any).
        "IAMPORT_ACCEPTED_MIDS": _accepted_mids(setting("IAMPORT_ACCEPTED_MIDS", ""),
                                                cfg["IAMPORT_PG"], live),
    }


def demo_url(port: str) -> str:
    """The address `make run` serves the storefront at, on PORT (default 5000)."""
    port = port.strip() or str(DEMO_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"PORT must be a port number from 1 to 65535, not {port!r}")
    return f"http://{DEMO_HOST}:{int(port)}"


def _shown(url: str) -> str:
    """A URL for the log: scheme, host, port and path (no user, password or query)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def warn_of_overrides(config: Mapping[str, Any]) -> None:
    """Log, at start, a live shop that talks to an API or loads an SDK other than iamport's."""
    if config.get("IAMPORT_MODE") != "live":
        return
    others = [f"{name}={_shown(str(config[name]))}"
              for name, own in (("IAMPORT_API_URL", LIVE_API_URL), ("IAMPORT_SDK_URL", LIVE_SDK_URL))
              if not is_iamports(str(config[name]), own)]
    if others:
        log.warning("IAMPORT_URL_OVERRIDE=true: live mode uses %s instead of iamport's own; "
                    "every payment it confirms counts as money", ", ".join(others))
