"""The agent's pages on a portfolio bot: HMM live shows the book and a row per symbol above the
charts, which draw the reference symbol under its model's regime; the Bots page reads the regime
from the record (a portfolio's tick is one price), or says each symbol has its own."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import panel as pn
from bokeh.models import ColumnDataSource

from agent.dashboard.bots import _row_html, bot_summary
from agent.dashboard.context import AgentContext
from agent.dashboard.live import data_note, live_page
from agent.home import AgentHome
from agent.instances import list_instances, write_instance
from agent.live import BotLive, LiveFeed
from contracts.profile import BotProfile
from tests.unit.ui.builders import PORTFOLIO, portfolio_record, portfolio_run
from tests.unit.ui.test_wizard_steps import form
from ui.wizard_steps import profile_body

BOT = uuid.UUID("0b5a7c1e-0000-4000-8000-0000000000cc")


def _profile() -> BotProfile:
    return BotProfile.model_validate(
        profile_body(
            form(
                name="Pair bot", symbols=" ".join(PORTFOLIO), data_source="file", data_file="bars/{symbol}.csv",
                reference_symbol=PORTFOLIO[1], n_states=2, exposure_per_regime="0, 1",
            )
        )
    )  # fmt: skip


def _walk(layout: Any) -> list[Any]:
    found = [layout]
    for child in getattr(layout, "objects", []) or []:
        found += _walk(child)
    return found


def _close_sources(layout: Any) -> list[ColumnDataSource]:
    """The price series the page's charts draw (the linked figures share one source)."""
    found = {
        source.id: source
        for pane in _walk(layout)
        if isinstance(pane, pn.pane.Bokeh)
        for source in pane.object.select({"type": ColumnDataSource})
        if "close" in source.data
    }
    return list(found.values())


def test_the_live_page_shows_the_book_and_draws_the_reference_symbol(tmp_path: Path) -> None:
    home = AgentHome.at(tmp_path)
    write_instance(home, _profile(), bot_id=str(BOT))
    live = LiveFeed()
    bot = live.bots[str(BOT)] = BotLive()
    records = [portfolio_record(body, bot=BOT) for body in portfolio_run("per_symbol")]
    bot.audit.extend(records)
    ctx = AgentContext(home=home, supervisor=None, live=live, sync=SimpleNamespace(status="ok", message=""),
                       backtests=None)  # type: ignore[arg-type]  # fmt: skip
    layout = live_page(ctx)
    panes = _walk(layout)
    [now] = [p for p in panes if "live-now" in (getattr(p, "css_classes", None) or [])]
    assert f'data-seq="{records[-1].seq}"' in now.object and "portfolio of 2 symbols" in now.object
    assert all(f'data-symbol="{s}"' in now.object for s in PORTFOLIO)
    [source] = [p for p in panes if "live-source-note" in (getattr(p, "css_classes", None) or [])]
    assert "the files bars/{symbol}.csv" in source.object
    sources = _close_sources(layout)
    closes = [record.detail["symbols"][PORTFOLIO[1]]["bar"]["close"] for record in records]
    assert [list(source.data["close"]) for source in sources] == [closes]  # the reference symbol's prices

    [pick] = [p for p in panes if "live-chart-symbol" in (getattr(p, "css_classes", None) or [])]
    assert pick.visible and pick.options == list(PORTFOLIO) and pick.value == PORTFOLIO[1]
    pick.value = PORTFOLIO[0]  # the trader picks the other symbol: the chart draws its prices
    assert [list(source.data["close"]) for source in _close_sources(layout)] == [
        [record.detail["symbols"][PORTFOLIO[0]]["bar"]["close"] for record in records]
    ]


def test_the_data_note_names_the_bundled_pair(tmp_path: Path) -> None:
    home = AgentHome.at(tmp_path)
    profile = BotProfile.model_validate(profile_body(form(symbols="SPY, QQQ", data_source="bundled")))
    write_instance(home, profile, bot_id=str(BOT))
    [instance], _ = list_instances(home)
    assert "SPY, QQQ: prices are a replay of the bundled S&amp;P 500 (SPY) and NASDAQ (QQQ)" in data_note(instance)


def _context(tmp_path: Path, scope: str) -> AgentContext:
    live = LiveFeed()
    live.bots[str(BOT)] = BotLive()
    live.bots[str(BOT)].audit.extend(portfolio_record(body, bot=BOT) for body in portfolio_run(scope))
    return AgentContext(home=AgentHome.at(tmp_path), supervisor=SimpleNamespace(bots={}), live=live,
                        sync=SimpleNamespace(status="ok", message=""), backtests=None)  # type: ignore[arg-type]  # fmt: skip


def test_the_bots_page_reads_a_portfolios_regime_and_equity_from_its_record(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "reference")
    last = ctx.live.bots[str(BOT)].audit[-1]
    summary = bot_summary(ctx, str(BOT), "Pair bot", 100_000.0, exposures=[0.0, 1.0])
    assert summary["regime"] == last.detail["models"][PORTFOLIO[0]]["regime"]
    assert summary["equity"] == last.equity and summary["pnl"] == last.equity - 100_000.0
    per_symbol = bot_summary(_context(tmp_path, "per_symbol"), str(BOT), "Pair bot", 100_000.0)
    text = re.sub(r"<[^>]+>", "", _row_html(per_symbol))  # the row's text, as a browser reads it
    assert per_symbol["regime"] is None and "regime a regime per symbol" in text
