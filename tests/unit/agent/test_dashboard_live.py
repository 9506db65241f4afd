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
from agent.dashboard.live import OUTSIDE, bot_options, data_note, feed_of, live_page
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


def _instances(tmp_path: Path, *bots: tuple[str, str]) -> list[Any]:
    home = AgentHome.at(tmp_path)
    for n, (name, symbols) in enumerate(bots):
        profile = BotProfile.model_validate(profile_body(form(name=name, symbols=symbols, data_source="bundled")))
        write_instance(home, profile, bot_id=f"0b5a7c1e-0000-4000-8000-{n:012d}")
    return list_instances(home)[0]


def test_each_bot_is_listed_once_by_name_and_namesakes_by_symbol_then_a_counter(tmp_path: Path) -> None:
    instances = _instances(tmp_path, ("Trend", "SPY"), ("Trend", "QQQ"), ("Trend", "QQQ"), ("Solo", "SPY"))
    options = bot_options(instances)
    assert list(options) == ["Trend · SPY", "Trend · QQQ", "Trend · QQQ (2)", "Solo"]
    assert list(options.values()) == [i.bot_id for i in instances]
    assert not any(i.bot_id[:8] in label for i in instances for label in options)  # no ids to read


def test_a_bot_outside_the_agent_is_listed_only_while_it_publishes(tmp_path: Path) -> None:
    [instance] = _instances(tmp_path, ("Trend", "SPY"))
    outside = str(uuid.uuid4())
    assert bot_options([instance], outside) == {"Trend": instance.bot_id, OUTSIDE: outside}
    assert bot_options([instance], None) == {"Trend": instance.bot_id}


def test_the_data_note_says_replay_or_live_market_feed(tmp_path: Path) -> None:
    [instance] = _instances(tmp_path, ("Trend", "SPY"))
    note = data_note(instance)
    assert feed_of(instance) == "replay" and 'data-feed="replay"' in note and ">REPLAY</span>" in note
    live = instance.profile.model_copy(
        update={"market": instance.profile.market.model_copy(update={"data_source": "broker"})}
    )
    broker = SimpleNamespace(profile=live)
    assert feed_of(broker) == "live"  # type: ignore[arg-type]
    assert "LIVE MARKET FEED" in data_note(broker)  # type: ignore[arg-type]
    assert "prices are live bars from the broker" in data_note(broker)  # type: ignore[arg-type]


def test_a_page_opened_without_bots_says_how_to_make_one_and_shows_nothing_else(tmp_path: Path) -> None:
    ctx = AgentContext(home=AgentHome.at(tmp_path), supervisor=None, live=LiveFeed(),  # type: ignore[arg-type]
                       sync=SimpleNamespace(status="ok", message=""), backtests=None)  # type: ignore[arg-type]  # fmt: skip
    panes = _walk(live_page(ctx))
    [empty] = [p for p in panes if "live-empty" in (getattr(p, "css_classes", None) or [])]
    assert empty.visible and "New bot wizard" in empty.object
    assert not any(isinstance(p, pn.widgets.Select) and p.visible and _shown(p, panes) for p in panes)


def _shown(pane: Any, panes: list[Any]) -> bool:
    """Whether no layout holding ``pane`` is hidden."""
    return all(getattr(parent, "visible", True) for parent in panes if pane in (getattr(parent, "objects", None) or []))
