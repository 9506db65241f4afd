"""The dashboard in a real browser (Debian's headless Chromium via Playwright): the wizard
creates a bot that appears, ticks and fills the regime chart and the audit viewer; a
walk-forward backtest runs to its report and reopens; the reconnect prompt shows once the
offline grace is over; nothing is fetched from anywhere but the agent itself.

One agent and one browser serve the whole module. Screenshots land in test-artifacts/e2e/.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from agent.instances import list_instances, write_instance
from agent.runtime import AgentSettings
from agent.tokens import CachedLogin
from contracts.profile import BotProfile
from events.embedded import NatsServer, free_port
from tests.agentutil import processes_running
from tests.bars_data import small_profile, write_bars_csv
from tests.busauth import BUS_KEYS
from tests.e2e.agentserver import TIMEOUT_MS, AgentThread, artifacts_dir, fill, open_page
from tests.e2e.wizardwalk import next_step

REPO = Path(__file__).resolve().parents[2]
SHOTS = artifacts_dir(REPO)
expect.set_options(timeout=TIMEOUT_MS)  # a bot's first tick follows its warm-up fit


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, clock: Clock) -> Iterator[AgentThread]:
    root = tmp_path_factory.mktemp("agent")
    nats = NatsServer(root / "nats", keys=BUS_KEYS).start()
    settings = AgentSettings(
        home=root / "home",
        port=free_port(),
        nats_url=nats.url,
        sync_interval_s=3600,
        bot_env={"HMMTRADE_REPLAY_PACE": "20"},
        config_dir=root / "config",
        clock=clock,
    )
    thread = AgentThread(settings)
    thread.start()
    yield thread
    thread.stop()
    nats.stop()


def test_every_page_renders_from_the_agent_alone(page: Page, agent: AgentThread) -> None:
    for slug, heading in (
        ("bots", "Bots"),
        ("live", "HMM live detection"),
        ("audit", "Audit pipeline"),
        ("backtests", "Backtests (walk-forward)"),
        ("wizard", "New bot"),
        ("cloud", "Cloud"),
    ):
        open_page(page, agent, slug)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def test_wizard_rejects_bad_steps_with_the_field_named(page: Page, agent: AgentThread) -> None:
    open_page(page, agent, "wizard")
    fill(page, ".wiz-name", "bad<name>")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".wiz-errors")).to_contain_text("name may contain only letters")
    expect(page.locator(".wiz-title")).to_contain_text("Step 1 of 7")
    page.screenshot(path=SHOTS / "wizard-error.png")


def test_wizard_asks_for_the_live_confirmation_only_in_live_mode_and_refuses_broker_data_without_env_keys(
    page: Page, agent: AgentThread
) -> None:
    open_page(page, agent, "wizard")
    confirm = page.locator(".wiz-live-confirm input")
    expect(confirm).to_be_hidden()
    page.locator(".wiz-mode select").select_option("live")
    expect(confirm).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".wiz-errors")).to_contain_text("I understand this bot trades real money")
    page.locator(".wiz-mode select").select_option("paper")
    expect(confirm).to_be_hidden()

    fill(page, ".wiz-name", "Broker data bot")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".wiz-title")).to_contain_text("Step 2 of 7")
    page.locator(".wiz-connection-pick select").select_option(label="local: credentials from config/instances/.env")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".wiz-title")).to_contain_text("Step 3 of 7")
    page.locator(".wiz-data-source select").select_option("broker")
    for step in (3, 4, 5, 6):
        expect(page.locator(".wiz-title")).to_contain_text(f"Step {step} of 7")
        page.get_by_role("button", name="Next").click()
    expect(page.locator(".wiz-title")).to_contain_text("Step 7 of 7: Review")
    page.get_by_label("I reviewed these settings").check()
    page.get_by_role("button", name="Deploy locally").click()
    expect(page.locator(".wiz-errors")).to_contain_text("BROKER_KIND is missing in config/instances/.env")
    expect(page.locator(".wiz-created")).to_have_count(0)
    page.screenshot(path=SHOTS / "wizard-broker-env.png", full_page=True)


def _walk_wizard(page: Page, name: str) -> None:
    fill(page, ".wiz-name", name)
    page.get_by_role("button", name="Next").click()
    for step in (2, 3, 4, 5, 6):
        expect(page.locator(".wiz-title")).to_contain_text(f"Step {step} of 7")
        page.get_by_role("button", name="Next").click()
    expect(page.locator(".wiz-title")).to_contain_text("Step 7 of 7: Review")
    review = page.locator(".wiz-review")
    expect(review).to_contain_text("regime 1: 0% · regime 2: 100% · regime 3: 100%")
    expect(review).to_contain_text("$100,000.00")
    page.locator(".wiz-confirm input").check()


def test_a_double_clicked_deploy_locally_creates_one_bot(page: Page, agent: AgentThread) -> None:
    assert agent.ctx is not None
    open_page(page, agent, "wizard")
    _walk_wizard(page, "Double click bot")
    page.get_by_role("button", name="Deploy locally").dblclick()
    created = page.locator(".wiz-created")
    expect(created).to_contain_text("Created Double click bot")
    expect(page.locator(".wiz-deploy-local button")).to_be_disabled()
    bot_id = str(created.get_attribute("data-bot"))
    instances, _errors = list_instances(agent.ctx.home)
    assert [i.bot_id for i in instances if i.profile.basics.name == "Double click bot"] == [bot_id]
    agent.call(agent.ctx.supervisor.delete(bot_id))  # one bot was the point; it need not keep trading


def test_a_symbol_the_data_source_does_not_hold_is_refused_at_step_3_naming_the_field(
    page: Page, agent: AgentThread
) -> None:
    open_page(page, agent, "wizard")
    next_step(page, 2)
    next_step(page, 3)
    fill(page, ".wiz-symbols", "QQQ")
    page.get_by_role("button", name="Next").click()
    errors = page.locator(".wiz-errors")
    expect(errors).to_contain_text("Symbols: 'QQQ' is not in the sp500 data source")
    expect(errors).to_contain_text("pick data 'nasdaq' or 'broker'")
    expect(errors).not_to_contain_text("Value error")
    expect(page.locator(".wiz-error-symbols")).to_contain_text("'QQQ' is not in the sp500 data source")
    expect(page.locator(".wiz-title")).to_contain_text("Step 3 of 7")
    page.screenshot(path=SHOTS / "wizard-symbol-error.png", full_page=True)
    page.locator(".wiz-data-source select").select_option("nasdaq")
    next_step(page, 4)


def test_three_exposures_for_four_regimes_are_refused_at_step_5(page: Page, agent: AgentThread) -> None:
    open_page(page, agent, "wizard")
    for step in (2, 3, 4):
        next_step(page, step)
    fill(page, ".wiz-states", "4")
    next_step(page, 5)
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".wiz-errors")).to_contain_text("Exposure per regime: 3 exposures for 4 regimes")
    expect(page.locator(".wiz-title")).to_contain_text("Step 5 of 7")
    fill(page, ".wiz-exposure", "0, 0.3, 0.6, 1")
    next_step(page, 6)


def test_browser_back_goes_to_the_previous_step_and_keeps_the_values(page: Page, agent: AgentThread) -> None:
    open_page(page, agent, "wizard")
    fill(page, ".wiz-name", "Back and forth bot")
    next_step(page, 2)
    next_step(page, 3)
    fill(page, ".wiz-symbols", "QQQ")
    page.locator(".wiz-data-source select").select_option("nasdaq")
    next_step(page, 4)
    expect(page).to_have_url(re.compile(r"[?&]step=4\b"))

    page.go_back()
    expect(page.locator(".wiz-title")).to_contain_text("Step 3 of 7")
    expect(page).to_have_url(re.compile(r"[?&]step=3\b"))
    expect(page.locator(".wiz-symbols input")).to_have_value("QQQ")
    expect(page.locator(".wiz-data-source select")).to_have_value("nasdaq")
    page.go_back()
    page.go_back()
    expect(page.locator(".wiz-title")).to_contain_text("Step 1 of 7")
    expect(page.locator(".wiz-name input")).to_have_value("Back and forth bot")
    page.go_forward()
    expect(page.locator(".wiz-title")).to_contain_text("Step 2 of 7")

    next_step(page, 3)
    page.get_by_role("button", name="Back").click()  # the page's own Back keeps them too
    expect(page.locator(".wiz-title")).to_contain_text("Step 2 of 7")
    next_step(page, 3)
    expect(page.locator(".wiz-symbols input")).to_have_value("QQQ")


def test_wizard_bot_appears_ticks_and_fills_the_regime_chart_and_audit_viewer(page: Page, agent: AgentThread) -> None:
    open_page(page, agent, "wizard")
    _walk_wizard(page, "Browser bot")
    page.screenshot(path=SHOTS / "wizard-review.png", full_page=True)
    page.get_by_role("button", name="Deploy locally").click()
    created = page.locator(".wiz-created")
    expect(created).to_contain_text("Created Browser bot")
    bot_id = created.get_attribute("data-bot")
    assert bot_id and agent.ctx is not None
    assert agent.ctx.home.config_path(bot_id).exists()

    open_page(page, agent, "bots")
    row = page.locator(f'.bot-row[data-bot="{bot_id}"]')
    expect(row).to_have_attribute("data-status", "running")
    expect(row).not_to_have_attribute("data-ticks", "0")
    expect(row).to_contain_text("health healthy")
    page.screenshot(path=SHOTS / "bots.png", full_page=True)

    open_page(page, agent, f"live?bot={bot_id}")
    last = page.locator("#last-tick")
    expect(last).to_contain_text("bar ")
    expect(page.locator(".live-now")).to_contain_text("equity $")  # money, not 1.010e+05
    first_seq = int(last.get_attribute("data-seq") or 0)
    expect(last).not_to_have_attribute("data-seq", str(first_seq))  # it keeps ticking, pushed live
    points = page.evaluate(
        """() => { const out = {};
           for (const doc of Bokeh.documents) for (const m of doc._all_models.values())
             if (m.data && m.data.close) out.close = m.data.close.length;
             else if (m.data && m.data.p0) out.probs = m.data.p0.length;
           return out; }"""
    )
    assert points["close"] > 0 and points["probs"] > 0, points
    page.screenshot(path=SHOTS / "live.png", full_page=True)

    open_page(page, agent, f"audit?bot={bot_id}")
    expect(page.locator(".audit-count")).not_to_contain_text("0 records")
    page.locator(".audit-table .tabulator-row").first.click()
    drill = page.locator(".audit-drill")
    for stage in ("features", "probabilities", "regime", "target", "risk", "orders", "fills"):
        expect(drill).to_contain_text(stage)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSONL").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines and all(json.loads(line)["bot_id"] == bot_id for line in lines)
    page.screenshot(path=SHOTS / "audit.png", full_page=True)


def test_a_backtest_runs_with_progress_shows_its_report_and_reopens(
    page: Page, agent: AgentThread, tmp_path: Path
) -> None:
    bars = write_bars_csv(tmp_path / "bars.csv", 1000)  # 1000 S&P 500 days: ~470 out-of-sample decisions
    open_page(page, agent, "backtests")
    page.locator(".bt-data select").select_option("CSV file…")
    fill(page, ".bt-file", str(bars))
    page.get_by_role("button", name="Run walk-forward").click()
    status = page.locator(".bt-status [data-state]")
    expect(status).to_have_attribute("data-state", "running")
    expect(page.locator(".bt-status")).to_contain_text(" / 1000 bars")
    expect(status).to_have_attribute("data-state", "done", timeout=180_000)
    metrics = page.locator(".bt-metrics")
    for label in ("strategy", "buy and hold", "Sharpe", "Max drawdown"):
        expect(metrics).to_contain_text(label)
    curve = page.evaluate(
        """() => { for (const doc of Bokeh.documents) for (const m of doc._all_models.values())
             if (m.data && m.data.hold) return {n: m.data.hold.length, t: typeof m.data.t[0]};
           return null; }"""
    )
    assert curve is not None and curve["n"] > 400 and curve["t"] == "number", curve  # plotted on the time axis
    page.screenshot(path=SHOTS / "backtest.png", full_page=True)
    run_id = page.locator(".bt-title").get_attribute("data-run")

    open_page(page, agent, "backtests")
    expect(page.locator(".bt-report")).not_to_contain_text("Run ")
    page.locator(".bt-runs select").select_option(
        label=next(o for o in page.locator(".bt-runs option").all_inner_texts() if o.startswith(str(run_id)))
    )
    page.get_by_role("button", name="Open").click()
    expect(page.locator(".bt-title")).to_have_attribute("data-run", str(run_id))
    expect(page.locator(".bt-metrics")).to_contain_text("Sharpe")


def test_the_reconnect_prompt_shows_after_24_hours_without_the_cloud(
    page: Page, agent: AgentThread, clock: Clock
) -> None:
    assert agent.ctx is not None
    sync = agent.ctx.sync
    sync.store.save(CachedLogin("http://127.0.0.1:9", "me@example.com", "a", "r", clock.now.isoformat()))
    clock.now += timedelta(hours=23)
    assert agent.call(sync.run_once()) == "offline"  # nothing listens on port 9: the cloud is down
    open_page(page, agent, "bots")
    expect(page.locator(".reconnect-prompt")).to_be_hidden()

    clock.now += timedelta(hours=1, seconds=1)
    assert agent.call(sync.run_once()) == "reconnect"
    prompt = page.locator(".reconnect-prompt")
    expect(prompt).to_be_visible()
    expect(prompt).to_contain_text("Reconnect to the cloud")
    page.screenshot(path=SHOTS / "reconnect.png", full_page=True)
    sync.store.clear()
    assert agent.call(sync.run_once()) == "logged_out"
    expect(prompt).to_be_hidden()


def test_bots_page_controls_stop_start_show_the_log_and_delete(page: Page, agent: AgentThread, tmp_path: Path) -> None:
    assert agent.ctx is not None
    home = agent.ctx.home
    body = small_profile(write_bars_csv(tmp_path / "bars.csv", 4000)).model_dump(mode="json")  # runs for minutes
    body["basics"]["name"] = "Control bot"
    bot_id = write_instance(home, BotProfile.model_validate(body)).bot_id
    open_page(page, agent, "bots")
    row = page.locator(f'.bot-row[data-bot="{bot_id}"]')
    expect(row).to_have_attribute("data-status", "running")

    def click(label: str) -> None:
        page.locator(f".for-{bot_id}.bot-{label} button").click()

    click("log")
    expect(page.locator(".bot-log-view")).to_contain_text("seq=")
    click("stop")
    expect(row).to_have_attribute("data-status", "stopped")
    assert processes_running(home, bot_id) == []
    click("start")
    expect(row).to_have_attribute("data-status", "running")
    # a just-forked child shows its parent's argv until it execs: poll for the bot's process
    deadline = time.monotonic() + 15
    while len(processes_running(home, bot_id)) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(processes_running(home, bot_id)) == 1
    click("delete")
    click("delete-yes")  # delete asks first (issue 20)
    expect(row).to_have_count(0)
    assert not home.config_path(bot_id).exists() and processes_running(home, bot_id) == []


def test_a_killed_bot_is_rearmed_from_the_bots_page_after_a_confirmation_naming_it(
    page: Page, agent: AgentThread, tmp_path: Path
) -> None:
    assert agent.ctx is not None
    home = agent.ctx.home
    body = small_profile(write_bars_csv(tmp_path / "bars.csv", 1000)).model_dump(mode="json")
    body["basics"]["name"] = "Halting bot"
    # fully invested, killed at a 4% drawdown (its 13th decision on this data) until a person re-arms it
    body["strategy"].update(
        {"exposure_per_regime": [1.0, 1.0], "max_drawdown_pct": 4, "max_daily_loss_pct": 50, "rearm": "manual"}
    )
    bot_id = write_instance(home, BotProfile.model_validate(body)).bot_id
    open_page(page, agent, "bots")
    row = page.locator(f'.bot-row[data-bot="{bot_id}"]')
    expect(row.locator('.bot-risk[data-risk="killed"]')).to_be_visible()

    page.locator(f".for-{bot_id}.bot-rearm button").click()
    expect(page.locator(".bot-rearm-confirm").filter(has_text="Re-arm Halting bot?")).to_be_visible()
    page.locator(f".for-{bot_id}.bot-rearm-yes button").click()
    expect(page.locator(f".for-{bot_id}.bot-rearm-message")).to_contain_text(
        "Re-arm requested: Halting bot trades again"
    )

    audit = home.state_dir(str(bot_id)) / "audit.jsonl"
    deadline = time.monotonic() + 30
    while _manual_rearms(audit) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _manual_rearms(audit) == 1, "the bot applied the request, once"
    page.screenshot(path=SHOTS / "rearm.png", full_page=True)
    page.locator(f".for-{bot_id}.bot-delete button").click()
    page.locator(f".for-{bot_id}.bot-delete-yes button").click()  # delete asks first (issue 20)
    expect(row).to_have_count(0)


def _manual_rearms(audit: Path) -> int:
    """Records whose events include a manual re-arm (complete lines only: the bot may be mid-write)."""
    lines = audit.read_text().split("\n")[:-1] if audit.exists() else []
    events = [e for line in lines for e in json.loads(line).get("events", [])]
    return sum(e.get("kind") == "rearm" and e.get("rule") == "manual" for e in events)
