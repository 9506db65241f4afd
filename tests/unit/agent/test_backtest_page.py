"""The agent's Backtests page runs and shows a portfolio backtest (it read flat one-symbol records before)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import panel as pn
import pytest

from agent.backtests import BacktestRun, Backtests, _child
from agent.dashboard.backtests import backtests_page, example_portfolio, metrics_table, report_figure
from agent.home import AgentHome
from contracts.profile import BotProfile
from tests.unit.trader.test_portfolio_report import _file_profile
from trader.report import load_inputs


def test_a_portfolio_run_from_the_page_writes_its_files_and_shows_a_row_per_symbol(tmp_path: Path) -> None:
    profile = BotProfile.model_validate_json(_file_profile(tmp_path).read_text())
    folder = tmp_path / "run"
    folder.mkdir()
    done, total = SimpleNamespace(value=0), SimpleNamespace(value=0)
    _child(profile.model_dump_json(), "profile", str(folder), "r1", done, total)
    assert json.loads((folder / "outcome.json").read_text()) == {"status": "done", "error": None}
    assert done.value == total.value == 419  # the common dates: QQQ's file lacks one
    run = BacktestRun("r1", folder, "profile", profile.model_dump(mode="json"), status="done")
    records, metrics = run.records(), run.metrics()
    assert records and metrics is not None
    table = metrics_table(metrics)
    assert '<tr data-symbol="SPY"><td>SPY</td><td>60%</td>' in table
    assert '<tr data-symbol="QQQ"><td>QQQ</td><td>30%</td>' in table
    assert "buy and hold, same weights" in table
    figure = report_figure(records)
    hold = figure.renderers[-1].data_source.data["hold"]
    last, first = records[-1]["symbols"], records[0]["symbols"]
    held = 0.1 + sum(leg["weight"] * last[s]["bar"]["close"] / leg["bar"]["close"] for s, leg in first.items())
    assert len(hold) == len(records) and hold[0] == pytest.approx(records[0]["equity"])
    assert hold[-1] == pytest.approx(records[0]["equity"] * held)  # 10% of the book is never invested


def test_the_bundled_spy_and_qqq_choice_gives_both_series_on_common_dates() -> None:
    profile = BotProfile.model_validate(example_portfolio())
    series = load_inputs(profile, "bundled")
    assert isinstance(series, dict) and list(series) == ["SPY", "QQQ"]
    assert series["SPY"].dates[-1] == series["QQQ"].dates[-1]


def test_picking_the_example_portfolio_selects_the_bundled_spy_and_qqq_data(tmp_path: Path) -> None:
    home = AgentHome.at(tmp_path)
    ctx = SimpleNamespace(home=home, backtests=Backtests(home), sync=SimpleNamespace(status="ok", message=""))
    selects = {w.name: w for w in backtests_page(ctx).select(pn.widgets.Select)}  # type: ignore[arg-type]
    assert "SPY + QQQ (bundled)" in selects["Data"].options
    selects["Profile"].value = next(k for k in selects["Profile"].options if "portfolio" in k)
    assert selects["Data"].value == "bundled"
