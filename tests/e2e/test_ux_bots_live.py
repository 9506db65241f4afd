"""The review's Bots table and HMM live items (issue 20, ``docs/ux-review.md``), in a real browser at
1280x800 and 390x844: every at-a-glance field of UX.md under its header (labelled cell by cell on a
phone, no wider than the screen), a killed bot's reason and date, a stopped bot that says only
"stopped" and loses the stop reason once it runs again; HMM live's empty state, each bot once by
name, replay or live feed said, the symbol on the price axis."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from agent.instances import list_instances, write_instance
from contracts.profile import BotProfile
from tests.bars_data import small_profile, write_bars_csv
from tests.e2e.agentserver import TIMEOUT_MS, AgentThread, artifacts_dir, open_page, replaying_agent
from tests.e2e.conftest import loopback_tab
from ui.bots_table import COLUMNS
from ui.format import GAIN_COLOR, LOSS_COLOR

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
SHOTS = artifacts_dir(Path(__file__).resolve().parents[2])
MONEY = r"[+−]?\$[\d,]+\.\d\d"
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentThread]:
    with replaying_agent(tmp_path_factory.mktemp("agent")) as thread:
        yield thread


def _bot(agent: AgentThread, folder: Path, name: str, bars: int = 4000, **strategy: object) -> str:
    assert agent.ctx is not None
    body = small_profile(write_bars_csv(folder / "bars.csv", bars)).model_dump(mode="json")
    body["basics"]["name"] = name
    body["strategy"].update(strategy)
    return str(write_instance(agent.ctx.home, BotProfile.model_validate(body)).bot_id)


@pytest.fixture(scope="module")
def trading_bot(agent: AgentThread, tmp_path_factory: pytest.TempPathFactory) -> str:
    return _bot(agent, tmp_path_factory.mktemp("trading"), "Table bot")


@pytest.fixture(scope="module")
def killed_bot(agent: AgentThread, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Fully invested, killed at a 4% drawdown (its 13th decision on this data) until a person re-arms it."""
    return _bot(agent, tmp_path_factory.mktemp("killed"), "Killed table bot", 1000,
                exposure_per_regime=[1.0, 1.0], max_drawdown_pct=4, max_daily_loss_pct=50, rearm="manual")  # fmt: skip


@pytest.fixture(params=list(VIEWPORTS))
def screen(request: pytest.FixtureRequest, browser: Browser, agent: AgentThread) -> Iterator[Page]:
    width, height = VIEWPORTS[request.param]
    phone = request.param == "phone"
    with loopback_tab(browser, width, height, mobile=phone, touch=phone, what="the dashboard") as tab:
        yield tab


def _cell(row: Locator, field: str) -> Locator:
    return row.locator(f'.bot-cell[data-field="{field}"]')


# the first element matching ``css``, found through Panel's shadow roots
FIND = """(function find(root) { const hit = root.querySelector(css); if (hit) return hit;
  for (const e of root.querySelectorAll('*')) if (e.shadowRoot) { const d = find(e.shadowRoot);
  if (d) return d; } return null; })(document)"""


def _sign_and_color(page: Page, row_css: str, field: str) -> tuple[str, str]:
    """A P&L's sign and drawn colour, read in one JS task (the row is redrawn as the bot ticks)."""
    sign, color = page.evaluate(
        f"""(css) => {{ const pnl = {FIND}.querySelector('.bot-cell[data-field="{field}"] .pnl');
            return [pnl.dataset.sign, getComputedStyle(pnl).color]; }}""",
        row_css,
    )
    return str(sign), str(color)


def _rgb(hex_color: str) -> str:
    return "rgb({}, {}, {})".format(*(int(hex_color[i : i + 2], 16) for i in (1, 3, 5)))


def test_hmm_live_without_bots_says_how_to_make_one_and_follows_bots_made_and_deleted(
    screen: Page, agent: AgentThread, tmp_path: Path
) -> None:
    """The module's first test: the agent has no bot yet."""
    assert agent.ctx is not None and list_instances(agent.ctx.home)[0] == []
    open_page(screen, agent, "live")
    empty = screen.locator(".live-empty")
    expect(empty).to_contain_text("No bots yet")
    expect(empty.get_by_role("link", name="New bot wizard")).to_have_attribute("href", "./wizard")
    expect(screen.locator(".live-bot select")).to_be_hidden()  # no empty picker, no empty charts

    bot_id = _bot(agent, tmp_path, "Fresh bot", 1000)  # made while the page is open: listed without a reload
    try:
        picker = screen.locator(".live-bot select")
        expect(picker.locator("option")).to_have_text(["Fresh bot"])
        expect(picker).to_have_value("Fresh bot")  # Bokeh's <option> values are the labels
        expect(empty).to_be_hidden()
    finally:
        agent.call(agent.ctx.supervisor.delete(bot_id))  # deleted: gone from the page, which says what to do again
    expect(empty).to_be_visible()
    expect(picker).to_be_hidden()


def test_the_bots_table_shows_every_field_under_its_header_and_fits_the_screen(
    screen: Page, agent: AgentThread, trading_bot: str
) -> None:
    open_page(screen, agent, "bots")
    row = screen.locator(f'.bot-row[data-bot="{trading_bot}"]')
    expect(row).to_have_attribute("data-risk", "ok")  # a first decision arrived
    expect(_cell(row, "bot")).to_contain_text("Table bot")
    expect(_cell(row, "bot")).to_contain_text("paper")
    expect(_cell(row, "bot")).to_contain_text("SPX")
    expect(_cell(row, "risk")).to_contain_text("OK")
    expect(_cell(row, "regime")).to_contain_text(re.compile(r"(Defensive · 20%|Risk-on · 100%) \d+\.\d% confident"))
    expect(_cell(row, "position")).to_contain_text(re.compile(r"\d+\.\d% invested [\d.,]+ held"))
    expect(_cell(row, "equity")).to_have_text(re.compile(r"equity \$[\d,]+\.\d\d"))
    expect(_cell(row, "pnl_total")).to_contain_text(re.compile(rf"{MONEY} [+−]?(<0\.1|[\d,]+\.\d)%"))
    expect(_cell(row, "pnl_today")).to_contain_text(re.compile(MONEY))
    expect(_cell(row, "last_bar")).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d"))
    expect(_cell(row, "status")).to_contain_text("running")
    expect(_cell(row, "status")).to_contain_text("healthy")
    for field in ("pnl_total", "pnl_today"):  # coloured by sign: green up, red down, plain when $0.00
        sign, color = _sign_and_color(screen, f'.bot-row[data-bot="{trading_bot}"]', field)
        if sign in ("up", "down"):
            assert color == {"up": _rgb(GAIN_COLOR), "down": _rgb(LOSS_COLOR)}[sign], (field, sign)
        else:  # the page's own text colour, whichever theme sheet set it: just not a gain's or a loss's
            assert sign == "" and color not in (_rgb(GAIN_COLOR), _rgb(LOSS_COLOR)), (field, sign, color)

    assert screen.viewport_size is not None
    width = screen.viewport_size["width"]
    head = screen.locator(".bots-head")
    labels = row.locator(".cell-label")
    # the row is redrawn as the bot ticks: measure the header and the row in one JS task
    head_cells, row_cells = (_cell_boxes(screen, css) for css in (".bots-head", f'.bot-row[data-bot="{trading_bot}"]'))
    if width >= 1000:  # a header over aligned columns; the cells' own labels are for screen readers only
        expect(head).to_be_visible()
        for field, title in COLUMNS:
            expect(head.locator(f'.bot-cell[data-field="{field}"]')).to_have_text(title)
        assert {f: box["x"] for f, box in head_cells.items()} == {f: box["x"] for f, box in row_cells.items()}
        assert all(box["label_width"] <= 1 for box in row_cells.values()), row_cells
    else:  # a phone: no header; each cell says what it is, and nothing passes the screen's edge
        expect(head).to_be_hidden()
        for label in labels.all():
            expect(label).to_be_visible()
        assert all(box["x"] >= 0 and box["right"] <= width + 0.5 for box in row_cells.values()), row_cells
    assert screen.evaluate("() => document.documentElement.scrollWidth") <= width
    screen.screenshot(path=SHOTS / f"ux-bots-table-{width}.png", full_page=True)


def _cell_boxes(page: Page, css: str) -> dict[str, dict[str, float]]:
    """Left and right edges of each cell of the first element matching ``css`` (through Panel's shadow
    roots), and the width of the cell's own label."""
    found: dict[str, dict[str, float]] = page.evaluate(
        """(css) => { const out = {};
           const el = FIND_EL;
           for (const cell of el.querySelectorAll('.bot-cell')) { const r = cell.getBoundingClientRect();
             const label = cell.querySelector('.cell-label');
             out[cell.dataset.field] = {x: Math.round(r.x), right: r.right,
                                        label_width: label ? label.getBoundingClientRect().width : 0}; }
           return out; }""".replace("FIND_EL", FIND),
        css,
    )
    assert list(found) == [field for field, _ in COLUMNS], found
    return found


def test_a_killed_bot_shows_killed_with_its_reason_and_the_date_it_began(
    screen: Page, agent: AgentThread, killed_bot: str
) -> None:
    open_page(screen, agent, "bots")
    row = screen.locator(f'.bot-row[data-bot="{killed_bot}"]')
    risk = _cell(row, "risk")
    expect(risk.locator('.bot-risk[data-risk="killed"]')).to_contain_text(re.compile(r"KILLED: \S"))
    expect(risk).to_contain_text(re.compile(r"since \d{4}-\d\d-\d\d"))
    expect(risk).not_to_contain_text("or earlier")  # the agent heard every record of this bot
    total = _cell(row, "pnl_total").locator(".pnl")
    expect(total).to_have_attribute("data-sign", "down")  # killed at a 4% drawdown: a loss, in red
    expect(total).to_have_text(re.compile(r"−\$[\d,]+\.\d\d"))
    assert _sign_and_color(screen, f'.bot-row[data-bot="{killed_bot}"]', "pnl_total") == ("down", _rgb(LOSS_COLOR))


def test_a_stopped_bot_says_only_stopped_and_the_reason_goes_when_it_runs_again(
    screen: Page, agent: AgentThread, tmp_path: Path
) -> None:
    assert agent.ctx is not None
    bot_id = _bot(agent, tmp_path, "Stop and go bot")
    open_page(screen, agent, "bots")
    row = screen.locator(f'.bot-row[data-bot="{bot_id}"]')
    status = _cell(row, "status")
    expect(status).to_contain_text("healthy")  # its heartbeats arrive

    screen.locator(f".for-{bot_id}.bot-stop button").click()
    expect(row).to_have_attribute("data-status", "stopped")
    expect(status).to_contain_text("stopped on request")
    expect(status).not_to_contain_text("health")  # not "stopped · healthy": its last heartbeat is recent

    screen.locator(f".for-{bot_id}.bot-start button").click()
    expect(row).to_have_attribute("data-status", "running")
    expect(status).not_to_contain_text("stopped on request")
    agent.call(agent.ctx.supervisor.delete(bot_id))


def test_hmm_live_lists_each_bot_once_by_name_says_replay_and_names_the_symbol_on_the_price_axis(
    screen: Page, agent: AgentThread, trading_bot: str, killed_bot: str, tmp_path: Path
) -> None:
    assert agent.ctx is not None
    namesake = _bot(agent, tmp_path, "Table bot", 1000)  # a second "Table bot": told apart without an id
    try:
        open_page(screen, agent, f"live?bot={trading_bot}")
        picker = screen.locator(".live-bot select")
        # namesakes are counted in the order the agent lists its bots (by id)
        expect(picker).to_have_value("Table bot · SPX" if trading_bot < namesake else "Table bot · SPX (2)")
        labels = picker.locator("option")
        expect(labels).to_have_count(3)
        names = labels.all_inner_texts()
        assert sorted(names) == ["Killed table bot", "Table bot · SPX", "Table bot · SPX (2)"], names
        assert not any(re.search(r"[0-9a-f]{8}", name) for name in names), names

        feed = screen.locator('.live-feed[data-feed="replay"]')
        expect(feed).to_have_text("REPLAY")
        expect(screen.locator(".live-source")).to_contain_text("SPX: prices are a replay of the file")
        expect(screen.locator("#last-tick")).to_contain_text("bar ")
        price_axes = screen.evaluate(
            """() => { const out = [];
               for (const doc of Bokeh.documents) for (const m of doc._all_models.values())
                 if (m.title && m.title.text && m.title.text.includes('price, shaded by regime'))
                   for (const axis of m.left) out.push(axis.axis_label);
               return out; }"""
        )
        assert price_axes == ["SPX (replay)"], price_axes
        assert screen.viewport_size is not None
        screen.screenshot(path=SHOTS / f"ux-live-names-{screen.viewport_size['width']}.png", full_page=True)

        agent.call(agent.ctx.supervisor.delete(namesake))  # deleted while listed: gone without a reload
        expect(labels).to_have_count(2)
        assert sorted(labels.all_inner_texts()) == ["Killed table bot", "Table bot"]  # no namesake to tell apart
        assert screen.evaluate("() => document.documentElement.scrollWidth") <= screen.viewport_size["width"]

        open_page(screen, agent, f"live?bot={namesake}")  # an old link to the deleted bot: said, not listed
        expect(screen.locator(".live-gone")).to_contain_text("not one of this agent's bots")
        expect(labels).to_have_count(2)
        assert namesake[:8] not in " ".join(labels.all_inner_texts())
    finally:
        agent.call(agent.ctx.supervisor.delete(namesake))  # again, if the test failed first: harmless
