"""A daily three-symbol bot (one model on SPY sets every symbol's exposure) on the Alpaca emulator.

As in ``test_live_bot_alpaca.py``, the emulator's clock is frozen and moved a session at a
time, and each ``--once`` run is a scale-to-zero wake after the close: orders are
market-on-open, filled at the next session's open.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from contracts.profile import BotProfile
from tests.alpacalive import alpaca, control, next_session, venue_orders, venue_positions, write_alpaca_bot
from tests.livebot import audit, run_once, state_dir
from trader.checkpoint import from_json
from venues.alpaca import AlpacaEmulator

__all__ = ["alpaca"]  # the fixture

SYMBOLS = ("SPY", "QQQ", "IWM")


def _bot(home: Path, emulator: AlpacaEmulator) -> Path:
    profile = BotProfile.model_validate(
        {
            "basics": {"name": "three etfs daily", "surface": "local", "mode": "paper"},
            "broker": {"connection": str(uuid.uuid4())},
            "market": {"symbols": list(SYMBOLS), "data_source": "broker", "bar_interval": "1d"},
            "model": {"n_states": 2, "training_window": 120, "refit_every": 60, "scope": "reference"},
            "strategy": {
                "exposure_per_regime": [0.5, 0.9],
                "max_drawdown_pct": 90,
                "max_daily_loss_pct": 50,
                "rebalance_band_pct": 0,
            },
            "schedule": {"confirmed": True, "starting_cash": 50_000},
        }
    )
    return write_alpaca_bot(home, emulator, profile)


def _book_positions(config: Path) -> dict[str, float]:
    checkpoint = from_json(json.loads((state_dir(config) / "checkpoint.json").read_text()))
    assert checkpoint.state.broker is not None
    return {s: checkpoint.state.broker.positions.get(s, 0.0) for s in SYMBOLS}


def test_a_crash_between_two_of_three_submits_is_completed_by_the_restart_without_a_duplicate(
    tmp_path: Path, alpaca: AlpacaEmulator
) -> None:
    config = _bot(tmp_path / "home", alpaca)
    crashed = run_once(config, HMMTRADE_FAILPOINTS="execution.after_ack.QQQ=crash")  # after SPY's and QQQ's acks
    assert crashed.returncode == 70, crashed.stderr
    before = {o["client_order_id"]: o["symbol"] for o in venue_orders(alpaca)}
    assert sorted(before.values()) == ["QQQ", "SPY"]
    restarted = run_once(config)
    assert restarted.returncode == 0, restarted.stderr
    after = {o["client_order_id"]: o["symbol"] for o in venue_orders(alpaca)}
    assert all(n == 1 for n in Counter(o["client_order_id"] for o in venue_orders(alpaca)).values())
    assert {k: v for k, v in after.items() if k not in before} == {
        next(o["client_order_id"] for o in venue_orders(alpaca) if o["symbol"] == "IWM"): "IWM"
    }  # the restart sent IWM's order alone; SPY's and QQQ's were found, not sent again
    decision = [r for r in audit(config) if "event" not in r][-1]  # the newest bar: the only one traded on
    assert sorted(e["symbol"] for e in decision["executions"]) == sorted(SYMBOLS)
    assert {e["client_order_id"] for e in decision["executions"]} == set(after)
    for _ in range(3):
        next_session(alpaca)
        done = run_once(config)
        assert done.returncode == 0, done.stderr
        assert "1 decision(s)" in done.stderr
    assert all(n == 1 for n in Counter(o["client_order_id"] for o in venue_orders(alpaca)).values())
    book, venue = _book_positions(config), venue_positions(alpaca, SYMBOLS)
    assert all(book[s] > 0 for s in SYMBOLS)
    assert book == pytest.approx(venue)


def test_kills_at_random_points_never_place_a_legs_order_twice(tmp_path: Path, alpaca: AlpacaEmulator) -> None:
    """Each session the bot is killed at a random moment, or crashes after one leg's order was
    acknowledged, then runs again to completion: every leg's order reaches the venue once."""
    config = _bot(tmp_path / "home", alpaca)
    assert run_once(config).returncode == 0
    rng = random.Random(15)
    for kill in range(10):
        next_session(alpaca)
        crash = {"HMMTRADE_FAILPOINTS": f"execution.after_ack.{SYMBOLS[kill % 3]}=crash"} if kill % 2 == 0 else {}
        bot = subprocess.Popen(
            [sys.executable, "-m", "trader.cli", "--config", str(config), "--once"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=os.environ | crash,
        )
        try:
            bot.wait(timeout=rng.uniform(0.5, 3.0))  # the run ends by itself, or crashes at the failpoint...
        except subprocess.TimeoutExpired:
            bot.send_signal(signal.SIGKILL)  # ...or is killed wherever it is
            bot.wait()
        done = run_once(config)
        assert done.returncode == 0, done.stderr
        assert all(n == 1 for n in Counter(o["client_order_id"] for o in venue_orders(alpaca)).values())
    next_session(alpaca)
    assert run_once(config).returncode == 0
    assert _book_positions(config) == pytest.approx(venue_positions(alpaca, SYMBOLS))
    decided = [r["bar"]["date"] for r in audit(config) if "event" not in r]
    assert len(decided) == len(set(decided))  # one decision per bar, however often it was killed
    legs = Counter((o["symbol"], o["submitted_at"][:10]) for o in venue_orders(alpaca))
    assert all(n == 1 for n in legs.values())  # at most one order per symbol per session


def test_a_position_changed_in_one_symbol_halts_the_bot_naming_it(tmp_path: Path, alpaca: AlpacaEmulator) -> None:
    config = _bot(tmp_path / "home", alpaca)
    assert run_once(config).returncode == 0
    next_session(alpaca)
    assert run_once(config).returncode == 0
    control(alpaca, "POST", "positions", {"symbol": "QQQ", "qty": venue_positions(alpaca, SYMBOLS)["QQQ"] + 7})
    next_session(alpaca)
    halted = run_once(config)
    assert "halted:" in halted.stdout and "QQQ" in halted.stdout
    assert "SPY" not in halted.stdout and "IWM" not in halted.stdout
    assert audit(config)[-1]["event"] == "halt"
    next_session(alpaca)
    adopted = run_once(config, HMMTRADE_ADOPT_VENUE_POSITION="1")
    assert adopted.returncode == 0 and "halted" not in adopted.stdout
    assert _book_positions(config) == pytest.approx(venue_positions(alpaca, SYMBOLS))
    records = audit(config)
    halt = max(i for i, r in enumerate(records) if r.get("event") == "halt")
    [note] = [n for n in records[halt + 1]["notes"] if "adopted" in n]  # the next decision says what was adopted
    assert "QQQ" in note and "SPY" not in note


def test_live_portfolio_decisions_equal_the_portfolio_backtest_on_the_same_bars(
    tmp_path: Path, alpaca: AlpacaEmulator
) -> None:
    """Backtest/live parity for a portfolio: the bars the live bot saw, replayed through
    ``trader.portfolio_backtest``, give the same regimes, probabilities and targets bar for bar."""
    from trader import portfolio_backtest
    from trader.config import engine_config
    from trader.instance import load_instance
    from trader.live_feed import BarTimes, VenueFeed, _read

    config = _bot(tmp_path / "home", alpaca)
    assert run_once(config).returncode == 0
    for _ in range(5):
        next_session(alpaca)
        assert run_once(config).returncode == 0
    live = [r for r in audit(config) if "event" not in r]
    times = BarTimes("1d", crypto=False)
    series = {s: VenueFeed.bars_of(_read(state_dir(config) / f"bars-{s}-1d.csv"), times) for s in SYMBOLS}
    profile = load_instance(config).profile
    result = portfolio_backtest.run(engine_config(profile, bot_id=config.stem), series)
    replayed = {r["bar"]["date"]: r for r in result.records}
    assert len(live) >= 6
    for record in live:
        twin = replayed[record["bar"]["date"]]
        assert record["models"] == twin["models"]  # regimes, probabilities, features of the model on SPY
        for symbol in SYMBOLS:
            assert record["symbols"][symbol]["target"] == twin["symbols"][symbol]["target"]
        assert sorted(o["symbol"] for o in record["orders"]) == sorted(o["symbol"] for o in twin["orders"])
