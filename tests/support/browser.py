"""Playwright with Debian's Chromium (never a downloaded browser), and screenshots of failed tests.

Use from a conftest:

    from tests.support.browser import pytest_runtest_makereport  # noqa: F401  (registers the hook)
    from tests.support.browser import launch_chromium, screenshot_on_failure

and wrap each page fixture with `screenshot_on_failure(request, page)` after the test ran.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

log = logging.getLogger(__name__)

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium_available() -> bool:
    """Whether Debian's chromium is installed where the tests expect it."""
    return os.path.exists(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK) or bool(
        shutil.which(CHROMIUM_PATH)
    )


def require_chromium() -> None:
    """Skip the calling test when chromium is missing (`make chromium` installs it)."""
    if not chromium_available():
        pytest.skip(f"{CHROMIUM_PATH} is not installed (run `make chromium`)")


def launch_chromium(playwright: Any, **kwargs: Any) -> Any:
    """Launch Playwright's chromium driver on the system's chromium with the project's flags."""
    options = {"executable_path": CHROMIUM_PATH, "args": list(CHROMIUM_ARGS), "headless": True}
    options.update(kwargs)
    return playwright.chromium.launch(**options)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Remember each phase's report on the item (rep_setup, rep_call, rep_teardown)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def has_failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test owning this fixture request failed (setup or call)."""
    node = request.node
    return any(
        getattr(getattr(node, f"rep_{when}", None), "failed", False) for when in ("setup", "call")
    )





def save_screenshot(page: Any, name: str) -> Path | None:
    """Save a full-page screenshot to test-artifacts/<name>.png; returns the path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:150] or "page"
    path = ARTIFACTS / f"{safe}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception as exc:  # noqa: BLE001 - a screenshot must never hide the real failure
        log.warning("could not save screenshot %s: %s", path, exc)
        return None
    return path


def screenshot_on_failure(request: pytest.FixtureRequest, page: Any) -> Path | None:
    """Call after the test: keep a screenshot of `page` when the test failed."""
    if has_failed(request):
        path = save_screenshot(page, request.node.nodeid)
        if path:
            log.warning("screenshot of the failed test saved to %s", path)
        return path
    return None
