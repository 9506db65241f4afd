"""A two-symbol portfolio in the agent's pages, in a real browser. The wizard: the bundled SPY + QQQ
data, the reference series and the capital weights asked only once there are two symbols, a weight
error shown at its field, the review in words, and the profile the bot is created with; that bot
then runs and shows its book on HMM live and the Bots page. HMM live and Audit on records of a
known portfolio run (pushed through the agent's bus feed): the book and a row per symbol.

Its own module (one agent, one browser) so it runs without the whole dashboard suite.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from agent.instances import list_instances, write_instance
from agent.runtime import AgentSettings
from contracts.profile import BotProfile
from events.embedded import NatsServer, free_port
from tests.busauth import BUS_KEYS
from tests.e2e.agentserver import TIMEOUT_MS, AgentThread, artifacts_dir, fill, open_page
from tests.e2e.wizardwalk import next_step
from tests.unit.ui.builders import PORTFOLIO, portfolio_record, portfolio_run
from ui.wizard_portfolio import BUNDLED_LABEL

SHOTS = artifacts_dir(Path(__file__).resolve().parents[2])
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentThread]:
    root = tmp_path_factory.mktemp("agent")
    nats = NatsServer(root / "nats", keys=BUS_KEYS).start()
    settings = AgentSettings(
        home=root / "home",
        port=free_port(),
        nats_url=nats.url,
        sync_interval_s=3600,
        bot_env={"HMMTRADE_REPLAY_PACE": "20"},
        config_dir=root / "config",
    )
    thread = AgentThread(settings)
    thread.start()
    yield thread
    thread.stop()
    nats.stop()


def test_a_bundled_pair_walks_the_wizard_then_trades_and_shows_its_book(page: Page, agent: AgentThread) -> None:
    assert agent.ctx is not None
    open_page(page, agent, "wizard")
    fill(page, ".wiz-name", "Pair bot")
    next_step(page, 2)
    next_step(page, 3)
    fill(page, ".wiz-symbols", "SPY QQQ")
    page.locator(".wiz-data-source select").select_option(label=BUNDLED_LABEL)  # Panel's options carry their labels
    next_step(page, 4)
    expect(page.locator(".wiz-scope select")).to_be_visible()
    page.locator(".wiz-reference select").select_option("QQQ")
    fill(page, ".wiz-states", "2")  # a small model: the bot's first decision follows its warm-up fit
    fill(page, ".wiz-window", "150")
    next_step(page, 5)
    fill(page, ".wiz-exposure", "0.2, 1")

    weights = page.locator(".wiz-weights input")
    expect(weights).to_have_value("equal")
    fill(page, ".wiz-weights", "70, 40")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".wiz-error-weights")).to_contain_text("they add up to 110% (70% + 40%)")
    expect(page.locator(".wiz-title")).to_contain_text("Step 5 of 7")
    page.screenshot(path=SHOTS / "wizard-portfolio-weights.png", full_page=True)
    fill(page, ".wiz-weights", "60, 40")
    next_step(page, 6)
    next_step(page, 7)

    review = page.locator(".wiz-review")
    expect(review).to_contain_text("bundled: S&P 500 + NASDAQ (SPY, QQQ)")
    expect(review).to_contain_text("one model on QQQ sets every symbol's exposure")
    expect(review).to_contain_text("SPY 60% · QQQ 40%")
    page.screenshot(path=SHOTS / "wizard-portfolio-review.png", full_page=True)
    page.locator(".wiz-confirm input").check()
    page.get_by_role("button", name="Deploy locally").click()
    created = page.locator(".wiz-created")
    expect(created).to_contain_text("Created Pair bot")

    bot_id = str(created.get_attribute("data-bot"))
    instances, _errors = list_instances(agent.ctx.home)
    [profile] = [i.profile for i in instances if i.bot_id == bot_id]
    assert (profile.market.symbols, profile.market.data_source) == (["SPY", "QQQ"], "bundled")
    assert (profile.model.scope, profile.model.reference_symbol) == ("reference", "QQQ")
    assert profile.strategy.weights == [0.6, 0.4]

    open_page(page, agent, f"live?bot={bot_id}")  # the bot runs: its book, as the runner publishes it
    now = page.locator(".live-now")
    expect(now).to_contain_text("portfolio of 2 symbols")
    expect(now.locator("tbody tr").first).to_have_attribute("data-symbol", "SPY")  # the bot's order, not A-Z
    expect(now.locator('tr[data-symbol="SPY"]')).to_contain_text("60%")
    expect(now.locator('tr[data-symbol="QQQ"]')).to_contain_text("40%")
    expect(page.locator(".live-chart-symbol select")).to_have_value("QQQ")  # the reference series
    page.screenshot(path=SHOTS / "live-portfolio-bot.png", full_page=True)
    open_page(page, agent, "bots")
    row = page.locator(f'.bot-row[data-bot="{bot_id}"]')
    expect(row).to_have_attribute("data-status", "running")
    expect(row).to_contain_text(re.compile(r"regime \S+ (Defensive|Risk-on)"))  # the model's regime, by name
    agent.call(agent.ctx.supervisor.delete(bot_id))


def test_a_portfolios_records_show_the_book_and_a_row_per_symbol_on_live_and_audit(
    page: Page, agent: AgentThread
) -> None:
    assert agent.ctx is not None
    bot = uuid.UUID("0b5a7c1e-0000-4000-8000-00000000b00c")
    profile = BotProfile.model_validate(
        {
            "basics": {"name": "Book bot", "surface": "local", "mode": "paper"},
            "broker": {"connection": "paper"},
            "market": {"symbols": list(PORTFOLIO), "data_source": "file", "data_file": "bars/{symbol}.csv"},
            "model": {"n_states": 2, "training_window": 150, "scope": "reference"},
            "strategy": {"exposure_per_regime": [0.0, 1.0], "weights": [0.6, 0.4]},
            "schedule": {"confirmed": True},
        }
    )
    write_instance(agent.ctx.home, profile, bot_id=str(bot))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    open_page(page, agent, f"live?bot={bot}")
    records = [portfolio_record(body, bot=bot) for body in portfolio_run("reference")]
    live = agent.ctx.live

    async def publish() -> None:  # as the bus delivers them: parsed, kept, pushed to the open page
        for record in records:
            live.ingest(f"bots.{bot}.audit", record.model_dump_json().encode())

    agent.call(publish())
    expect(page.locator("#last-tick")).to_have_attribute("data-seq", str(records[-1].seq))
    now = page.locator(".live-now")
    expect(now).to_contain_text("portfolio of 2 symbols")
    for symbol in PORTFOLIO:
        expect(now.locator(f'tr[data-symbol="{symbol}"]')).to_be_visible()
    expect(now.locator(f'tr[data-symbol="{PORTFOLIO[0]}"]')).to_contain_text("60%")
    expect(page.locator(".live-chart-symbol select")).to_have_value(PORTFOLIO[0])  # the reference: the first
    page.screenshot(path=SHOTS / "live-portfolio.png", full_page=True)

    open_page(page, agent, f"audit?bot={bot}")
    expect(page.locator(".audit-count")).to_contain_text(f"{len(records)} records")
    page.locator(".audit-table .tabulator-row").first.click()
    summary = page.locator(".audit-summary")
    expect(summary).to_contain_text("book target")
    for symbol in PORTFOLIO:
        expect(summary.locator(f'tr[data-symbol="{symbol}"]')).to_be_visible()
    page.screenshot(path=SHOTS / "audit-portfolio.png", full_page=True)
    assert errors == []
    agent.call(agent.ctx.supervisor.delete(str(bot)))  # its bar files never existed: it only lent its records
