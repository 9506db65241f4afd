"""Browser fixtures shared by the dashboard tests: one headless Chromium per module, and a
fresh tab per test that fails the test if the page fetched from anywhere but loopback.

``page`` needs an ``agent`` fixture (an ``AgentThread``) from the test module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.agentserver import TIMEOUT_MS, AgentThread, chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(browser: Browser, agent: AgentThread) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    hosts: set[str] = set()
    tab.on("request", lambda request: hosts.add(_host(request.url)))
    yield tab
    context.close()
    assert hosts <= {"127.0.0.1"}, f"the dashboard fetched from elsewhere: {hosts}"


@contextmanager
def loopback_tab(
    browser: Browser, width: int, height: int, *, mobile: bool = False, touch: bool = False, what: str = "the pages"
) -> Iterator[Page]:
    """A tab in a fresh browser profile; after it closes, fails the test if a page fetched from
    anywhere but loopback or threw."""
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=mobile, has_touch=touch)
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    hosts: set[str] = set()
    errors: list[str] = []
    tab.on("request", lambda request: hosts.add(_host(request.url)))
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert hosts <= {"127.0.0.1"}, f"{what} fetched from elsewhere: {hosts}"
    assert errors == [], errors


def _host(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in ("blob", "data"):  # made inside the page; never leaves the browser
        return urlsplit(parts.path).hostname or "127.0.0.1" if parts.scheme == "blob" else "127.0.0.1"
    return parts.hostname or url
