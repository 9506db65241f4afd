"""The cloud web app's pages at desktop and phone width (issue 20, ``docs/ux-review.md``): no page
wider than the screen (the wizard included) and no critical axe-core violation on any page a
visitor or a signed-in user without hosted bots opens.

Same stack as ``test_web.py`` (API, workers, bus, Postgres, emulators on loopback).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.conftest import loopback_tab
from tests.e2e.test_ux_agent import VIEWPORTS, WCAG_AA_TEXT, _known_upstream, _sticking_out, axe_violations
from tests.e2e.test_web import new_email, sign_up
from tests.e2e.webstack import WebCloud

PUBLIC = (("/", ".web-nav"), ("/pricing", ".web-nav"), ("/status", ".web-nav"), ("/signup", "form"), ("/login", "form"))
SIGNED_IN = (
    ("/bots", ".bots-empty"),
    ("/bots/new", ".wiz-title"),
    ("/brokers", ".brokers-empty"),
    ("/billing", ".plan-now"),
)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str) -> Iterator[WebCloud]:
    stack = WebCloud(tmp_path_factory.mktemp("web"), pg_dsn)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(params=list(VIEWPORTS))
def screen(request: pytest.FixtureRequest, browser: Browser, web: WebCloud) -> Iterator[Page]:
    width, height = VIEWPORTS[request.param]
    phone = request.param == "phone"
    with loopback_tab(browser, width, height, mobile=phone, touch=phone) as tab:
        yield tab


def test_every_page_fits_the_screen_and_axe_finds_nothing_critical_nor_low_contrast_text(
    screen: Page, web: WebCloud
) -> None:
    assert screen.viewport_size is not None
    screen_width = screen.viewport_size["width"]
    problems: list[str] = []

    def check(path: str, loaded: str) -> None:
        screen.goto(f"{web.web_url}{path}")
        screen.locator(loaded).first.wait_for()
        width = screen.evaluate("() => document.documentElement.scrollWidth")
        if width > screen_width:
            problems.append(f"{path} is {width} px wide: {_sticking_out(screen, screen_width)}")
        for v in axe_violations(screen):
            nodes = [n["html"][:160] for n in v["nodes"] if not _known_upstream(v["id"], n["html"])]
            if (v["impact"] == "critical" or v["id"] in WCAG_AA_TEXT) and nodes:
                problems.append(f"{path}: {v['id']} ({v['help']}) at {nodes[:3]}")

    for path, loaded in PUBLIC:
        check(path, loaded)
    sign_up(screen, web, new_email())
    for path, loaded in SIGNED_IN:
        check(path, loaded)
    assert problems == []
