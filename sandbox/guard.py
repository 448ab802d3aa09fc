"""Keeping the sandbox to one machine: no cross-site controls, no framing but the window's, small bodies."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, request

from .state import current

# The largest request body: the biggest legitimate one (a list of schedules) is a few KiB.
MAX_BODY_BYTES = 64 * 1024
# The sandbox's own controls and operator forms: guarded against other sites' requests.
CONTROL_PREFIX = "/_sandbox"
# The payment window is framed by the SDK on the merchant's page, of another origin: never refuse that.
FRAMEABLE_PREFIX = "/window/"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


def _origin_of(url: str) -> str:
    return url.rstrip("/").lower()


def _own_origins() -> set[str]:
    """Where the sandbox's own pages come from: the address this request reached, and the public URL."""
    return {_origin_of(request.host_url), _origin_of(current().public_url())}


def _own_host() -> bool:
    """Whether the request names the sandbox by a name of its own (loopback, or the public
    URL's host): a page of another site that had its name resolve here (DNS rebinding) does not."""
    host = (request.host or "").lower()
    name = host[1:].partition("]")[0] if host.startswith("[") else host.rpartition(":")[0] or host
    return name in _LOOPBACK_NAMES or name == (urlsplit(current().public_url()).hostname or "")


def refusal() -> str | None:
    """Why a request for the controls, the operator page or the mailbox must be refused (it
    comes from another site's page, or by another site's name), or None."""
    if not request.path.startswith(CONTROL_PREFIX):
        return None
    if not _own_host():
        return f"it names the sandbox {request.host!r}, not by one of its own names"
    if request.method in _SAFE_METHODS:
        return None
    origin = request.headers.get("Origin")
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return "the browser says the request comes from another site"
    if origin is not None and _origin_of(origin) not in _own_origins():
        return f"it comes from the page of {origin}"
    # Neither header (a script, a test, the REST client): these pass, as the documentation says.
    return None


def install(app: Flask, config: dict[str, Any]) -> None:
    """Add the body limit, the control guard and the frame refusal to the sandbox's app."""
    app.config["MAX_CONTENT_LENGTH"] = config.get("MAX_CONTENT_LENGTH") or MAX_BODY_BYTES

    @app.before_request
    def _guard() -> None:
        limit = app.config["MAX_CONTENT_LENGTH"]
        # Checked here as well, because an endpoint that never reads its body would not trip Flask's limit.
        if request.content_length is not None and request.content_length > limit:
            abort(413, description=f"The request body is larger than the sandbox accepts ({limit // 1024} KiB).")
        why = refusal()
        if why:
            abort(403, description=(
                f"The sandbox accepts its controls only from its own pages or from scripts, and {why}. "
                "Use the operator page of the sandbox itself."))

    @app.after_request
    def _no_framing(response: Response) -> Response:
        if request.path.startswith(FRAMEABLE_PREFIX):
            return response
        response.headers["X-Frame-Options"] = "DENY"
        policy = response.headers.get("Content-Security-Policy")
        if not policy:
            response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        elif "frame-ancestors" not in policy:
            response.headers["Content-Security-Policy"] = f"{policy}; frame-ancestors 'none'"
        return response
