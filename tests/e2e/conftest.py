"""Browser end-to-end fixtures: Debian's Chromium driven by Playwright against the real servers.

The storefront and the iamport sandbox come from the shared fixtures (`shop`, `sandbox`),
each on an ephemeral port of 127.0.0.1; the browser only ever talks to those two.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import (  # noqa: F401  (importing the hook registers it for this folder)
    launch_chromium,
    pytest_runtest_makereport,
    require_chromium,
    screenshot_on_failure,
)
from tests.support.checkout_browser import STEP_TIMEOUT_MS

PHONE_DEVICE = "iPhone 13"


def _new_page(browser: Any, **context_options: Any) -> tuple[Any, Any]:
    context = browser.new_context(**context_options)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
    return context, context.new_page()


@pytest.fixture
def page(browser, request) -> Iterator[Any]:
    """A desktop page (1280x900); a screenshot goes to test-artifacts/ when the test fails."""
    context, desktop = _new_page(browser, viewport={"width": 1280, "height": 900})
    yield desktop
    screenshot_on_failure(request, desktop)
    context.close()


@pytest.fixture
def phone(playwright, browser, request) -> Iterator[Any]:
    """A phone (iPhone 13 emulated in Chromium: mobile user agent, 390 px wide, touch)."""
    device = dict(playwright.devices[PHONE_DEVICE])
    device.pop("default_browser_type", None)
    context, mobile = _new_page(browser, **device)
    yield mobile
    screenshot_on_failure(request, mobile)
    context.close()
