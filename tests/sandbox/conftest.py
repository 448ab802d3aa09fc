"""Fixtures of the sandbox's own tests: a running sandbox, a webhook sink, the official client, Chromium."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from tests.support.browser import (  # noqa: F401  (importing the hook registers it for this folder)
    launch_chromium,
    pytest_runtest_makereport,
    require_chromium,
    screenshot_on_failure,
)
from tests.support.sandbox import RunningSandbox, WebhookSink, start_sandbox


@pytest.fixture
def sandbox_factory(tmp_path) -> Iterator[Callable[..., RunningSandbox]]:
    """Start sandboxes with extra settings; all are stopped after the test."""
    started: list[RunningSandbox] = []

    def factory(name: str = "sandbox", **config: Any) -> RunningSandbox:
        running = start_sandbox(tmp_path / f"{name}.sqlite3", **config)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop()


@pytest.fixture
def sandbox(sandbox_factory) -> RunningSandbox:
    """A sandbox with the test timing (short pingback, review and cancel delays)."""
    return sandbox_factory()


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """A merchant endpoint that records webhooks."""
    sink = WebhookSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def iamport(sandbox):
    """The official iamport-rest-client 0.9.0 pointed at the sandbox."""
    from iamport import Iamport

    return Iamport(imp_key=sandbox.api_key, imp_secret=sandbox.api_secret, imp_url=f"{sandbox.url}/")


@pytest.fixture(scope="session")
def chromium(playwright, browser) -> Iterator[Any]:
    """The run's Playwright driver and headless Debian chromium (from tests/conftest.py)."""
    yield {"playwright": playwright, "browser": browser}


@pytest.fixture
def desktop_page(chromium, request) -> Iterator[Any]:
    """A desktop browser page; a screenshot is kept when the test fails."""
    context = chromium["browser"].new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    screenshot_on_failure(request, page)
    context.close()


@pytest.fixture
def mobile_page(chromium, request) -> Iterator[Any]:
    """A phone (iPhone 13 emulation in Chromium); a screenshot is kept when the test fails."""
    device = dict(chromium["playwright"].devices["iPhone 13"])
    device.pop("default_browser_type", None)
    context = chromium["browser"].new_context(**device)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    screenshot_on_failure(request, page)
    context.close()
