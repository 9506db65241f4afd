"""The runner with a 3-symbol portfolio: the portfolio backtest's decisions, exact resumes, every symbol checked."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from contracts.profile import BotProfile
from tests.portfolio_data import (
    PORTFOLIO_PROFILE,
    SYMBOLS,
    load_portfolio_files,
    make_portfolio_instance,
    portfolio_profile,
    write_portfolio_files,
)
from trader import portfolio_backtest
from trader.audit import JsonlSink
from trader.backtest import BacktestResult
from trader.bars import load_bundled, write_csv
from trader.checkpoint import CheckpointError
from trader.config import engine_config
from trader.feeds import feed_for
from trader.instance import load_instance, write_instance
from trader.live_state import LiveState
from trader.outbox import audit_envelope
from trader.portfolio_bars import align
from trader.runner import BotRunner, RunOptions, RunSummary, run_instance
from trader.state_store import FileStateStore

BARS = 330
GAP = {"BBB": 200}  # one date BBB's file lacks: dropped from every symbol


def _run(config: Path, out: io.StringIO | None = None, **options: Any) -> RunSummary:
    return asyncio.run(run_instance(load_instance(config, environ={}), RunOptions(**options), out=out or io.StringIO()))


def _state(home: Path) -> Path:
    (folder,) = home.glob("state/*")
    return folder


def _audit(home: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (_state(home) / "audit.jsonl").read_text().splitlines()]


def _checkpoint(home: Path) -> dict[str, Any]:
    return dict(json.loads((_state(home) / "checkpoint.json").read_text()))


def _backtest(pattern: Path, bot_id: str, scope: str) -> BacktestResult:
    instance_config = engine_config(_profile(pattern, scope), bot_id=bot_id)
    return portfolio_backtest.run(instance_config, load_portfolio_files(pattern))


def _profile(pattern: Path, scope: str) -> BotProfile:
    return portfolio_profile(str(pattern), scope=scope)


@pytest.mark.parametrize("scope", ["reference", "per_symbol"])
def test_the_runner_decides_exactly_what_the_portfolio_backtest_decides(tmp_path: Path, scope: str) -> None:
    pattern = write_portfolio_files(tmp_path / "data", BARS, missing=GAP)
    bot_id, config = make_portfolio_instance(tmp_path / "home", str(pattern), scope=scope)
    summary = _run(config)
    expected = _backtest(pattern, str(bot_id), scope)
    records = _audit(tmp_path / "home")
    assert summary.ended_by == "end of data" and summary.decisions == len(expected.records) > 150
    assert records == expected.records
    assert {o["symbol"] for r in records for o in r["orders"]} == set(SYMBOLS)
    models = {path.stem for path in (_state(tmp_path / "home") / "models").glob("*.json")}
    assert models == set(expected.models)


def test_a_bundled_spy_and_qqq_bot_decides_what_the_backtest_decides_on_the_same_bars(tmp_path: Path) -> None:
    body = copy.deepcopy(PORTFOLIO_PROFILE)
    body["market"] = {"symbols": ["SPY", "QQQ"], "data_source": "bundled"}
    body["strategy"]["weights"] = [0.6, 0.4]
    profile = BotProfile.model_validate(body)
    bot_id = uuid.uuid4()
    config = write_instance(tmp_path / "home", bot_id, profile)
    summary = _run(config, max_bars=260)
    aligned = align({"SPY": load_bundled("sp500"), "QQQ": load_bundled("nasdaq")}).bars
    seen = {symbol: bars.head(260) for symbol, bars in aligned.items()}
    expected = portfolio_backtest.run(engine_config(profile, bot_id=str(bot_id)), seen).records
    assert summary.bars_processed == 260 and summary.decisions == len(expected) > 100
    assert _audit(tmp_path / "home") == expected


def test_a_portfolio_resumed_in_steps_ends_where_one_uninterrupted_run_ends(tmp_path: Path) -> None:
    pattern = write_portfolio_files(tmp_path / "data", BARS, missing=GAP)
    bot_id, whole = make_portfolio_instance(tmp_path / "whole", str(pattern), scope="per_symbol")
    _, stepped = make_portfolio_instance(tmp_path / "stepped", str(pattern), bot_id=bot_id, scope="per_symbol")
    _run(whole)
    runs = 0
    while _run(stepped, once=True, max_bars=97).bars_processed:
        runs += 1
    assert runs == 4  # ceil(329 aligned bars / 97): every bar taken exactly once
    assert _audit(tmp_path / "stepped") == _audit(tmp_path / "whole")
    assert _checkpoint(tmp_path / "stepped") == _checkpoint(tmp_path / "whole")
    closes = _checkpoint(tmp_path / "whole")["last_bar"]["closes"]
    last = _audit(tmp_path / "whole")[-1]["symbols"]
    assert closes == {s: last[s]["bar"]["close"] for s in SYMBOLS}


def test_a_changed_last_close_of_any_symbol_is_refused_naming_it(tmp_path: Path) -> None:
    pattern = write_portfolio_files(tmp_path / "data", 200)
    _, config = make_portfolio_instance(tmp_path / "home", str(pattern))
    _run(config)
    bars = load_portfolio_files(pattern)["CCC"]
    bars.close[-1] *= 1.01
    bars.high[-1] = max(bars.high[-1], bars.close[-1])
    write_csv(bars, tmp_path / "data" / "CCC.csv")
    with pytest.raises(CheckpointError, match=r"bar 200 of CCC in .*\{symbol\}\.csv is \S+ close .* the data changed"):
        _run(config)


def test_a_checkpoint_of_other_symbols_is_refused_naming_them(tmp_path: Path) -> None:
    pattern = write_portfolio_files(tmp_path / "data", 200)
    bot_id, config = make_portfolio_instance(tmp_path / "home", str(pattern))
    _run(config)
    body = copy.deepcopy(PORTFOLIO_PROFILE)
    body["market"].update(symbols=["AAA", "BBB"], data_file=str(pattern))
    body["strategy"]["weights"] = [0.5, 0.5]
    write_instance(tmp_path / "home", bot_id, BotProfile.model_validate(body))  # CCC dropped from the profile
    with pytest.raises(CheckpointError, match=r"saved trading CCC, which .* does not serve"):
        _run(config)


def test_a_checkpoint_without_closes_per_symbol_still_resumes(tmp_path: Path) -> None:
    pattern = write_portfolio_files(tmp_path / "data", 220)
    bot_id, whole = make_portfolio_instance(tmp_path / "whole", str(pattern))
    _, older = make_portfolio_instance(tmp_path / "older", str(pattern), bot_id=bot_id)
    _run(whole)
    _run(older, max_bars=170)
    path = _state(tmp_path / "older") / "checkpoint.json"
    saved = json.loads(path.read_text())
    del saved["last_bar"]["closes"]  # as written before portfolios: the first symbol's close only
    path.write_text(json.dumps(saved))
    _run(older)
    assert _audit(tmp_path / "older") == _audit(tmp_path / "whole")


def test_each_decision_prints_one_line_with_every_symbols_position_and_target(tmp_path: Path) -> None:
    pattern = write_portfolio_files(tmp_path / "data", 190)
    _, config = make_portfolio_instance(tmp_path / "home", str(pattern))
    out = io.StringIO()
    summary = _run(config, out=out)
    lines = out.getvalue().splitlines()
    records = _audit(tmp_path / "home")
    assert len(lines) == summary.decisions == len(records) > 20
    for line, record in zip(lines, records, strict=True):
        assert line.startswith(f"seq={record['seq']} bar={record['bar']['date']} regimes=AAA:")
        assert f"equity={record['equity']:.2f}" in line
        for symbol, leg in record["symbols"].items():
            assert f"{symbol}:position={leg['position']:.4f},target={leg['target']:.2f}" in line


class _RefusingSession:
    """A venue session whose reconcile finds a stranger position: the bot must not trade."""

    journaled = 0

    async def start(self, engine: Any, bars: Any, live: LiveState) -> str:
        return "BBB: the venue holds 5 shares the bot did not buy"


def test_a_portfolio_that_halts_at_start_records_its_book_in_the_portfolio_layout(tmp_path: Path) -> None:
    pattern = write_portfolio_files(tmp_path / "data", 200)
    _, config = make_portfolio_instance(tmp_path / "home", str(pattern))
    _run(config, max_bars=180)
    instance = load_instance(config, environ={})
    state = instance.state_dir
    sink = JsonlSink(state / "audit.jsonl", resume=True)
    runner = BotRunner(
        instance,
        RunOptions(),
        feed=feed_for(instance.profile, base_dir=config.parent),
        store=FileStateStore(state / "checkpoint.json"),
        sinks=[sink],
        out=io.StringIO(),
        live=_RefusingSession(),  # type: ignore[arg-type]
    )
    summary = asyncio.run(runner.run())
    sink.close()
    *before, halt = _audit(tmp_path / "home")
    reason = "BBB: the venue holds 5 shares the bot did not buy"
    assert summary.ended_by == f"halted: {reason}" and halt["seq"] == before[-1]["seq"] + 1
    assert (halt["event"], halt["notes"], halt["risk"]) == ("halt", [reason], {"status": "halted", "reasons": [reason]})
    last_bar = before[-1]["bar"]["date"]  # the checkpoint's last bar, seen again
    assert halt["bar"] == {"date": last_bar} and halt["orders"] == halt["fills"] == []
    positions = _checkpoint(tmp_path / "home")["broker"]["positions"]
    assert halt["positions"] == positions and any(positions.values())
    legs = halt["symbols"]
    assert halt["equity"] == halt["cash"] + sum(positions[s] * legs[s]["bar"]["close"] for s in sorted(SYMBOLS))
    assert all(leg["target"] == 0.0 and leg["risk"]["status"] == "halted" for leg in legs.values())
    assert all(leg["bar"]["date"] == last_bar for leg in legs.values())


def test_a_portfolio_record_on_the_bus_carries_its_reference_models_regime(tmp_path: Path) -> None:
    pattern = write_portfolio_files(tmp_path / "data", 190)
    bot_id, config = make_portfolio_instance(tmp_path / "home", str(pattern), reference_symbol="BBB")
    _run(config)
    record = _audit(tmp_path / "home")[-1]
    envelope = audit_envelope(bot_id, record)
    assert list(record["models"]) == ["BBB"]
    assert envelope.regime == record["models"]["BBB"]["regime"]
    assert envelope.probabilities == record["models"]["BBB"]["probabilities"]
    assert envelope.detail == record
