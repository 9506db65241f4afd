"""The wizard's Must-fix items (issue 20, ``docs/ux-review.md`` #3, #8a, #8b) at desktop and phone
width, on the agent and on the web app: two quick clicks on Deploy create one bot; a symbol the
data source does not hold is refused at step 3 naming the field; three exposures for four regimes
are refused at step 5. ``test_dashboard.py`` and ``test_web.py`` prove them at desktop width only.
And the agent's Backtests page (the review's Should-fix): a refused profile is named at its field
without doubled words, and a reopened run shows its metrics by plain name and the profile it used.

The agent runs in a thread with its own nats-server; the web app on the same stack as
``test_web.py`` (API, workers, bus, Postgres, emulators on loopback). Every tab fails its test if
a page fetched beyond 127.0.0.1 or threw.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from agent.backtests import BacktestRun
from agent.dashboard.backtests import example_profile
from agent.instances import list_instances
from tests.bars_data import small_profile, write_bars_csv
from tests.conftest import wait_for
from tests.e2e.agentserver import TIMEOUT_MS, AgentThread, chromium, fill, open_page, replaying_agent
from tests.e2e.conftest import loopback_tab
from tests.e2e.test_ux_agent import VIEWPORTS, _sticking_out
from tests.e2e.test_web import api_user, log_in, new_email
from tests.e2e.webstack import WebCloud
from tests.e2e.wizardwalk import next_step

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser(pg_dsn: str) -> Iterator[Browser]:
    """Chromium, started after Postgres: ``pg_dsn`` migrates with ``asyncio.run``, which fails once
    Playwright's sync API holds the thread's event loop (the agent's tests open a browser first)."""
    with chromium() as instance:
        yield instance


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentThread]:
    with replaying_agent(tmp_path_factory.mktemp("agent")) as thread:
        yield thread


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str) -> Iterator[WebCloud]:
    stack = WebCloud(tmp_path_factory.mktemp("web"), pg_dsn)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(params=list(VIEWPORTS))
def screen(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A tab at 1280x800, or at a phone's 390x844 with touch."""
    width, height = VIEWPORTS[request.param]
    phone = request.param == "phone"
    with loopback_tab(browser, width, height, mobile=phone, touch=phone) as tab:
        yield tab


def _viewport(page: Page) -> str:
    assert page.viewport_size is not None
    return "phone" if page.viewport_size["width"] < 500 else "desktop"


def _to_review(page: Page, name: str) -> None:
    """Steps 1-6 with the defaults and ``name``, then the review's confirmation ticked."""
    fill(page, ".wiz-name", name)
    for step in range(2, 8):
        next_step(page, step)
    expect(page.locator(".wiz-title")).to_contain_text("Step 7 of 7: Review")
    page.locator(".wiz-confirm input").check()


def _refuses_a_symbol_missing_from_the_data_source(page: Page) -> None:
    next_step(page, 2)
    next_step(page, 3)
    fill(page, ".wiz-symbols", "QQQ")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".wiz-error-symbols")).to_contain_text("'QQQ' is not in the sp500 data source")
    expect(page.locator(".wiz-errors")).to_contain_text("Symbols: 'QQQ' is not in the sp500 data source")
    expect(page.locator(".wiz-errors")).not_to_contain_text("Value error")
    expect(page.locator(".wiz-title")).to_contain_text("Step 3 of 7")
    page.locator(".wiz-data-source select").select_option("nasdaq")
    next_step(page, 4)


def _refuses_three_exposures_for_four_regimes(page: Page) -> None:
    for step in (2, 3, 4):
        next_step(page, step)
    fill(page, ".wiz-states", "4")
    next_step(page, 5)
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".wiz-errors")).to_contain_text("Exposure per regime: 3 exposures for 4 regimes")
    expect(page.locator(".wiz-title")).to_contain_text("Step 5 of 7")
    fill(page, ".wiz-exposure", "0, 0.3, 0.6, 1")
    next_step(page, 6)


# ---- the agent ---------------------------------------------------------------------------------


def test_a_double_clicked_deploy_locally_creates_one_bot_on_the_agent(screen: Page, agent: AgentThread) -> None:
    assert agent.ctx is not None
    name = f"Double click {_viewport(screen)}"
    open_page(screen, agent, "wizard")
    _to_review(screen, name)
    screen.get_by_role("button", name="Deploy locally").dblclick()
    created = screen.locator(".wiz-created")
    expect(created).to_contain_text(f"Created {name}")
    expect(screen.locator(".wiz-deploy-local button")).to_be_disabled()
    bot_id = str(created.get_attribute("data-bot"))
    instances, _errors = list_instances(agent.ctx.home)
    assert [i.bot_id for i in instances if i.profile.basics.name == name] == [bot_id]
    agent.call(agent.ctx.supervisor.delete(bot_id))  # one bot was the point; it need not keep trading


def test_the_review_is_a_readable_table_and_its_confirmation_is_asked_again_after_an_edit(
    screen: Page, agent: AgentThread
) -> None:
    """Not a JSON tree with ``Array[3]``: one row per setting, in the trader's words; the
    confirmation is a labelled checkbox that an edit made after ticking it unticks."""
    open_page(screen, agent, "wizard")
    _to_review(screen, f"Readable review {_viewport(screen)}")
    table = screen.locator(".wiz-review table.wiz-review-table")
    expect(table).to_be_visible()
    expect(table.locator("caption")).to_have_text("Your bot, as it will be created")
    expect(table).to_contain_text("Exposure per regime")
    expect(table).not_to_contain_text("Array[")
    confirm = screen.get_by_role("checkbox", name="I reviewed these settings and accept the risks")
    expect(confirm).to_be_checked()  # ticked by _to_review through its label's name
    screen.get_by_role("button", name="Back").click()
    expect(screen.locator(".wiz-title")).to_contain_text("Step 6 of 7")
    next_step(screen, 7)
    expect(confirm).not_to_be_checked()  # asked again: what it confirmed may have changed


def test_the_agent_wizard_refuses_a_symbol_its_data_source_lacks_at_step_3(screen: Page, agent: AgentThread) -> None:
    open_page(screen, agent, "wizard")
    _refuses_a_symbol_missing_from_the_data_source(screen)


def test_the_agent_wizard_refuses_three_exposures_for_four_regimes_at_step_5(screen: Page, agent: AgentThread) -> None:
    open_page(screen, agent, "wizard")
    _refuses_three_exposures_for_four_regimes(screen)


@pytest.fixture(scope="module")
def finished_run(agent: AgentThread, tmp_path_factory: pytest.TempPathFactory) -> BacktestRun:
    """A walk-forward run of the small profile over 420 S&P 500 days, finished."""
    assert agent.ctx is not None
    bars = write_bars_csv(tmp_path_factory.mktemp("bt") / "bars.csv", 420)
    started = agent.call(agent.ctx.backtests.start(small_profile(bars), str(bars)))
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while (run := agent.ctx.backtests.get(started.run_id)) is None or run.status == "running":
        assert time.monotonic() < deadline, "the backtest did not finish"
        time.sleep(0.2)
    assert run.status == "done", run.error
    return run


def test_a_reopened_backtest_shows_plain_metrics_and_the_profile_it_used(
    screen: Page, agent: AgentThread, finished_run: BacktestRun
) -> None:
    assert screen.viewport_size is not None
    screen.goto(f"{agent.base}/backtests?run={finished_run.run_id}")
    expect(screen.locator(".bt-title")).to_have_attribute("data-run", finished_run.run_id)
    metrics = screen.locator(".bt-metrics")
    expect(metrics).to_contain_text("Max drawdown")
    expect(metrics).to_contain_text("Time per regime: Defensive · 20%")
    expect(metrics).not_to_contain_text("max_drawdown")
    used = screen.locator(".bt-profile")
    expect(used).to_contain_text("Profile used")
    expect(used).to_contain_text("regime 1: 20% · regime 2: 100%")
    expect(screen.locator(".bt-profile-json textarea")).to_have_value(json.dumps(finished_run.profile, indent=1))
    width = screen.evaluate("() => document.documentElement.scrollWidth")
    assert width <= screen.viewport_size["width"], _sticking_out(screen, screen.viewport_size["width"])


def test_a_refused_backtest_profile_is_named_at_its_field_once(screen: Page, agent: AgentThread) -> None:
    open_page(screen, agent, "backtests")
    editor = screen.locator(".bt-profile-json textarea")
    editor.fill(json.dumps({**example_profile(), "model": {"n_states": 4, "training_window": 504}}))
    editor.blur()  # a text area sends its value on change
    screen.get_by_role("button", name="Run walk-forward").click()
    status = screen.locator(".bt-status")
    expect(status).to_contain_text("Exposure per regime: 3 exposures for 4 regimes")
    expect(status).not_to_contain_text("Value error")
    expect(status).not_to_contain_text("profile profile")
    editor.fill('{"basics": ')
    editor.blur()
    screen.get_by_role("button", name="Run walk-forward").click()
    expect(status).to_contain_text("Profile JSON cannot be read")
    expect(screen.locator(".bt-status [data-state]")).to_have_attribute("data-state", "invalid")


def test_the_backtest_profile_is_edited_with_the_wizards_fields(screen: Page, agent: AgentThread) -> None:
    assert screen.viewport_size is not None
    open_page(screen, agent, "backtests")
    screen.locator(".bt-form").get_by_text("Edit with the wizard's fields").click()
    fill(screen, ".wiz-exposure", "0, 1")
    screen.locator(".bt-form-apply button").click()
    message = screen.locator(".bt-form-message")
    expect(message).to_contain_text("Exposure per regime: 2 exposures for 3 regimes")
    fill(screen, ".wiz-exposure", "0, 0.25, 1")
    fill(screen, ".wiz-window", "300")
    screen.locator(".bt-form-apply button").click()
    expect(message).to_contain_text("Applied")
    editor = screen.locator(".bt-profile-json textarea")
    expect(editor).to_have_value(re.compile(r'"training_window": 300'))
    assert json.loads(editor.input_value())["strategy"]["exposure_per_regime"] == [0.0, 0.25, 1.0]
    width = screen.evaluate("() => document.documentElement.scrollWidth")
    assert width <= screen.viewport_size["width"], _sticking_out(screen, screen.viewport_size["width"])


# ---- the web app -------------------------------------------------------------------------------


def _signed_in_wizard(page: Page, web: WebCloud) -> dict[str, str]:
    """A new user's wizard at step 1; the user's API headers."""
    email = new_email()
    headers = api_user(web, email)
    log_in(page, web, email, then="/bots/new")
    expect(page.locator(".wiz-title")).to_contain_text("Step 1 of 7")
    page.locator(".wiz-surface select").select_option("local")  # hosted needs a paid plan
    return headers


def test_a_double_clicked_create_bot_creates_one_bot_on_the_web(screen: Page, web: WebCloud) -> None:
    headers = _signed_in_wizard(screen, web)
    name = f"Twice clicked {_viewport(screen)}"
    _to_review(screen, name)
    screen.get_by_role("button", name="Create bot").dblclick()
    expect(screen.locator(".wiz-created")).to_contain_text(name)
    bot_id = screen.locator(".wiz-created").get_attribute("data-bot")

    async def created() -> list[Any] | None:
        assert web.cloud is not None
        bots = (await web.cloud.api.get("/api/v1/bots", headers=headers)).json()["bots"]
        return bots if any(b["id"] == bot_id for b in bots) else None

    bots = web.call(wait_for(created, timeout_s=30, what="the bot to exist"), 40)
    assert [b["name"] for b in bots] == [name]  # two clicks, one bot


def test_the_web_wizard_refuses_a_symbol_its_data_source_lacks_at_step_3(screen: Page, web: WebCloud) -> None:
    _signed_in_wizard(screen, web)
    _refuses_a_symbol_missing_from_the_data_source(screen)


def test_the_web_wizard_refuses_three_exposures_for_four_regimes_at_step_5(screen: Page, web: WebCloud) -> None:
    _signed_in_wizard(screen, web)
    _refuses_three_exposures_for_four_regimes(screen)
