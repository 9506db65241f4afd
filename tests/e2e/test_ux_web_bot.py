"""The web app's bots at desktop and phone width (issue 20, ``docs/ux-review.md``): with a hosted
bot booted on the Fly emulator and trading, its page (``/bots/{id}``) is no wider than the screen
and axe-core finds no critical violation (#6; ``test_ux_web.py`` covers every other page); a
killed bot says KILLED with its reason and date on Bots and on its page (#1); delete asks first,
naming the bot (#4).

Same stack as ``test_web.py`` (API, workers, bus, Postgres, emulators on loopback).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from contracts.events import AuditRecord
from store import audit
from store.pool import create_pool
from tests.conftest import wait_for
from tests.e2e.conftest import loopback_tab
from tests.e2e.test_ux_agent import (
    KILL_MARK_SHOWN,
    VIEWPORTS,
    WCAG_AA_TEXT,
    _known_upstream,
    _sticking_out,
    axe_violations,
    scientific_axes,
)
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
        if (v["impact"] == "critical" or v["id"] in WCAG_AA_TEXT)
        and any(not _known_upstream(v["id"], n["html"]) for n in v["nodes"])
    ]
    assert critical == []
    assert scientific_axes(screen) == {}  # must-fix 7: no money axis in scientific notation


def _local_bot(web: WebCloud, headers: dict[str, str], name: str) -> str:
    """A local bot (no machine to boot): what the web app lists for a free user's laptop bot."""
    profile = hosted_profile(name)
    profile["basics"] = {**profile["basics"], "surface": "local"}
    created = api(web, "POST", "/api/v1/bots", headers, json=profile)
    assert web.cloud is not None
    api_client = web.cloud.api

    async def done() -> bool:
        response = await api_client.get(f"/api/v1/intents/{created['intent_id']}", headers=headers)
        return response.status_code == 200 and response.json()["status"] == "done"

    web.call(wait_for(done, what="the bot created"))
    return str(created["bot_id"])


async def _stored_kill(pg_dsn: str, bot_id: uuid.UUID) -> None:
    """What audit ingest stores when the bot's 20% drawdown limit trips on 2002-10-07 and it stays flat."""
    reason = "drawdown 20.34% reached the 20% limit: flat until re-armed"
    halt = {"kind": "halt", "rule": "drawdown", "reason": reason}
    records = [
        AuditRecord(
            id=f"{bot_id}:{seq}",
            bot_id=bot_id,
            seq=seq,
            bar_at=day,
            detail={"risk": {"status": "killed", "approved": 0.0, "reasons": [reason]}, "events": events},
        )
        for seq, day, events in (
            (1, datetime(2002, 10, 7, tzinfo=UTC), [halt]),
            (2, datetime(2018, 12, 31, tzinfo=UTC), []),
        )
    ]
    pool = await create_pool(pg_dsn, max_size=1)
    try:
        await audit.insert_batch(pool, records)
    finally:
        await pool.close()


def test_a_killed_bot_says_killed_with_its_reason_and_date_on_bots_and_its_page(
    screen: Page, web: WebCloud, pg_dsn: str
) -> None:
    email = new_email()
    headers = api_user(web, email)
    bot_id = _local_bot(web, headers, "Killed in 2002")
    web.call(_stored_kill(pg_dsn, uuid.UUID(bot_id)))
    log_in(screen, web, email)
    row = screen.locator(f'.bot-row[data-bot="{bot_id}"]')
    expect(row.locator('.bot-risk[data-risk="killed"]')).to_contain_text(
        "KILLED: drawdown 20.34% reached the 20% limit"
    )  # never healthy
    expect(row).to_contain_text("since 2002-10-07")
    screen.goto(f"{web.web_url}/bots/{bot_id}")
    expect(screen.locator('.bot-risk[data-risk="killed"]')).to_contain_text("KILLED: drawdown 20.34%")
    expect(screen.get_by_text("since 2002-10-07")).to_be_visible()
    screen.wait_for_function(KILL_MARK_SHOWN)  # must-fix 1b: the chart marks where the kill switch fired
    api(web, "DELETE", f"/api/v1/bots/{bot_id}", headers)


def test_delete_on_the_web_asks_naming_the_bot_and_only_yes_deletes(screen: Page, web: WebCloud) -> None:
    email = new_email()
    headers = api_user(web, email)
    bot_id = _local_bot(web, headers, "Doomed web bot")
    log_in(screen, web, email)
    row = screen.locator(f'.bot-row[data-bot="{bot_id}"]')
    expect(row).to_be_visible()
    screen.locator(".bot-delete button").click()
    question = screen.locator(".bot-confirm")
    expect(question).to_contain_text("Delete Doomed web bot?")
    screen.locator(".bot-delete-no button").click()
    expect(question).to_be_hidden()
    expect(row).to_be_visible()  # asking and cancelling deleted nothing
    assert api(web, "GET", f"/api/v1/bots/{bot_id}", headers)["status"] != "deleted"

    screen.locator(".bot-delete button").click()
    screen.get_by_role("button", name="Yes, delete Doomed web bot").click()
    expect(row).to_have_count(0)
    assert api(web, "GET", f"/api/v1/bots/{bot_id}", headers)["status"] == "deleted"
