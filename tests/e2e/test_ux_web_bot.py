"""The web app's single-bot page (``/bots/{id}``) at desktop and phone width (issue 20,
``docs/ux-review.md`` #6 and the accessibility check): with a hosted bot booted on the Fly
emulator and trading, the page is no wider than the screen and axe-core finds no critical
violation. ``test_ux_web.py`` covers every other page; this one needs a running hosted bot.

Same stack as ``test_web.py`` (API, workers, bus, Postgres, emulators on loopback).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import loopback_tab
from tests.e2e.test_ux_agent import VIEWPORTS, _known_upstream, _sticking_out, axe_violations
from tests.e2e.test_web import (
    BOOT_TIMEOUT_MS,
    api,
    api_user,
    api_wait_running,
    hosted_profile,
    log_in,
    new_email,
    set_tier_now,
)
from tests.e2e.webstack import WebCloud


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str) -> Iterator[WebCloud]:
    stack = WebCloud(tmp_path_factory.mktemp("web"), pg_dsn)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def hosted_bot(web: WebCloud) -> Iterator[tuple[str, str]]:
    """(owner's email, bot id): a pro user's hosted paper bot, trading on the Fly emulator."""
    email = new_email()
    headers = api_user(web, email)
    set_tier_now(web, headers, "pro")
    bot_id = api(web, "POST", "/api/v1/bots", headers, json=hosted_profile("Phone-width bot with a long name"))[
        "bot_id"
    ]
    api_wait_running(web, headers, bot_id)
    yield email, bot_id
    api(web, "DELETE", f"/api/v1/bots/{bot_id}", headers)


@pytest.fixture(params=list(VIEWPORTS))
def screen(request: pytest.FixtureRequest, browser: Browser, web: WebCloud) -> Iterator[Page]:
    width, height = VIEWPORTS[request.param]
    phone = request.param == "phone"
    with loopback_tab(browser, width, height, mobile=phone, touch=phone) as tab:
        yield tab


def test_the_bot_page_fits_the_screen_and_axe_finds_nothing_critical(
    screen: Page, web: WebCloud, hosted_bot: tuple[str, str]
) -> None:
    email, bot_id = hosted_bot
    assert screen.viewport_size is not None
    screen_width = screen.viewport_size["width"]
    log_in(screen, web, email, then=f"/bots/{bot_id}")
    expect(screen.locator(".bot-state")).to_have_attribute("data-status", "running", timeout=BOOT_TIMEOUT_MS)
    expect(screen.locator("#last-tick")).not_to_have_attribute("data-seq", "0", timeout=BOOT_TIMEOUT_MS)
    expect(screen.get_by_role("heading", level=1)).to_contain_text("Phone-width bot with a long name")
    width = screen.evaluate("() => document.documentElement.scrollWidth")
    assert width <= screen_width, f"/bots/{{id}} is {width} px wide: {_sticking_out(screen, screen_width)}"
    critical = [
        f"{v['id']} ({v['help']}) at {[n['html'][:160] for n in v['nodes']][:3]}"
        for v in axe_violations(screen)
        if v["impact"] == "critical" and any(not _known_upstream(v["id"], n["html"]) for n in v["nodes"])
    ]
    assert critical == []
