"""A daily stock bot trading the Alpaca emulator through alpaca-py, as a real child process.

The emulator's clock is frozen and moved a session at a time: each ``--once`` run is what
a scale-to-zero wake after the close does. Orders placed after the close are
market-on-open, filled at the next session's open, exactly as the backtester assumes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from contracts.profile import LIVE_CONFIRMATION, BotProfile
from tests.alpacalive import SECRET, alpaca, control, next_session, venue_orders, venue_positions, write_alpaca_bot
from tests.livebot import audit, book_position, run_once, state_dir
from venues.alpaca import AlpacaEmulator

__all__ = ["alpaca"]  # the fixture


def _bot(home: Path, emulator: AlpacaEmulator, *, paper: str = "true", mode: str = "paper") -> Path:
    profile = BotProfile.model_validate(
        {
            "basics": {"name": "spy daily", "surface": "local", "mode": mode}
            | ({"live_confirmation": LIVE_CONFIRMATION} if mode == "live" else {}),
            "broker": {"connection": str(uuid.uuid4())},
            "market": {"symbols": ["SPY"], "data_source": "broker", "bar_interval": "1d"},
            "model": {"n_states": 2, "training_window": 120, "refit_every": 60},
            "strategy": {"exposure_per_regime": [0.5, 0.9], "max_drawdown_pct": 90, "max_daily_loss_pct": 50},
            "schedule": {"confirmed": True, "starting_cash": 50_000},
        }
    )
    return write_alpaca_bot(home, emulator, profile, paper=paper)


def _venue_spy(emulator: AlpacaEmulator) -> float:
    return venue_positions(emulator, ("SPY",))["SPY"]


def test_a_daily_bot_trades_market_on_open_and_its_book_equals_the_account(
    tmp_path: Path, alpaca: AlpacaEmulator
) -> None:
    config = _bot(tmp_path / "home", alpaca)
    first = run_once(config)
    assert first.returncode == 0, first.stderr
    for _ in range(3):
        next_session(alpaca)
        done = run_once(config)
        assert done.returncode == 0, done.stderr
        assert "1 decision(s)" in done.stderr
    records = audit(config)
    sent = [e for r in records for e in r.get("executions", []) if e.get("venue_order_id")]
    assert sent and all(e["time_in_force"] == "opg" for e in sent)  # decided after the close
    assert all(e["quantity"] == int(e["quantity"]) for e in sent)  # whole shares
    assert all(n == 1 for n in Counter(o["client_order_id"] for o in venue_orders(alpaca)).values())
    assert any(r["fills"] for r in records)
    assert book_position(config) == pytest.approx(_venue_spy(alpaca))


def test_504_after_accept_and_429_storms_place_exactly_one_order(tmp_path: Path, alpaca: AlpacaEmulator) -> None:
    config = _bot(tmp_path / "home", alpaca)
    control(alpaca, "POST", "faults", {"accept_then_504": 1})
    assert run_once(config).returncode == 0
    next_session(alpaca)
    control(alpaca, "POST", "faults", {"http_429": 3})
    assert run_once(config).returncode == 0
    orders = venue_orders(alpaca)
    assert orders and all(n == 1 for n in Counter(o["client_order_id"] for o in orders).values())
    next_session(alpaca)
    assert run_once(config).returncode == 0
    assert book_position(config) == pytest.approx(_venue_spy(alpaca))


def test_a_position_changed_while_the_bot_was_down_halts_it(tmp_path: Path, alpaca: AlpacaEmulator) -> None:
    config = _bot(tmp_path / "home", alpaca)
    assert run_once(config).returncode == 0
    next_session(alpaca)
    assert run_once(config).returncode == 0
    control(alpaca, "POST", "positions", {"symbol": "SPY", "qty": _venue_spy(alpaca) + 7, "avg_entry_price": 100})
    next_session(alpaca)
    halted = run_once(config)
    assert "halted:" in halted.stdout and "SPY" in halted.stdout
    assert audit(config)[-1]["event"] == "halt"
    adopted = run_once(config, HMMTRADE_ADOPT_VENUE_POSITION="1")
    assert adopted.returncode == 0 and "halted" not in adopted.stdout


def test_a_live_bot_on_a_paper_account_sends_nothing(tmp_path: Path, alpaca: AlpacaEmulator) -> None:
    config = _bot(tmp_path / "home", alpaca, paper="true", mode="live")
    refused = run_once(config)
    assert refused.returncode == 2 and "basics.mode is live" in refused.stderr
    assert venue_orders(alpaca) == []


def test_twenty_sigkills_at_random_points_never_place_an_order_twice(tmp_path: Path, alpaca: AlpacaEmulator) -> None:
    """Each session the bot is killed at a random moment (often mid-request, sometimes after the
    venue took the order and before the answer arrived), then runs again to completion."""
    config = _bot(tmp_path / "home", alpaca)
    assert run_once(config).returncode == 0
    rng = random.Random(2026)
    kills = 0
    while kills < 20:
        next_session(alpaca)
        bot = subprocess.Popen(
            [sys.executable, "-m", "trader.cli", "--config", str(config), "--once"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=os.environ | ({"HMMTRADE_FAILPOINTS": "execution.after_ack=crash"} if kills % 4 == 0 else {}),
        )
        try:
            bot.wait(timeout=rng.uniform(0.5, 3.0))  # the run ends by itself, or crashes at the failpoint...
        except subprocess.TimeoutExpired:
            bot.send_signal(signal.SIGKILL)  # ...or is killed wherever it is
            bot.wait()
        kills += 1
        done = run_once(config)
        assert done.returncode == 0, done.stderr
        assert all(n == 1 for n in Counter(o["client_order_id"] for o in venue_orders(alpaca)).values())
    next_session(alpaca)
    assert run_once(config).returncode == 0
    assert book_position(config) == pytest.approx(_venue_spy(alpaca))
    decided = [r["bar"]["date"] for r in audit(config) if "event" not in r]
    assert len(decided) == len(set(decided))  # one decision per bar, however often it was killed


def test_partial_fills_add_up_in_the_book_and_the_audit(tmp_path: Path, alpaca: AlpacaEmulator) -> None:
    config = _bot(tmp_path / "home", alpaca)
    control(alpaca, "POST", "faults", {"partial_fills": 3})
    assert run_once(config).returncode == 0
    for _ in range(3):
        next_session(alpaca)
        assert run_once(config).returncode == 0
    fills = [f for r in audit(config) for f in r["fills"]]
    by_order = Counter(f["client_order_id"] for f in fills)
    assert by_order  # (parts that land between two bars reach the bot as one cumulative fill; see test_execution)
    orders = {o["client_order_id"]: o for o in venue_orders(alpaca)}
    for client_order_id in by_order:
        booked = sum(f["quantity"] for f in fills if f["client_order_id"] == client_order_id)
        assert booked == pytest.approx(float(orders[client_order_id]["filled_qty"]))
    signed = sum(f["quantity"] * (1 if f["side"] == "buy" else -1) for f in fills)
    assert book_position(config) == pytest.approx(signed)


def test_an_unknown_symbol_and_wrong_keys_are_clear_errors_and_send_nothing(
    tmp_path: Path, alpaca: AlpacaEmulator
) -> None:
    config = _bot(tmp_path / "a", alpaca)
    text = config.read_text().replace("- SPY", "- NOSUCH")
    config.write_text(text)
    unknown = run_once(config)
    assert unknown.returncode == 2 and "NOSUCH" in unknown.stderr and "market.symbols" in unknown.stderr
    wrong = _bot(tmp_path / "b", alpaca)
    env_file = wrong.with_suffix(".env")
    env_file.write_text(env_file.read_text().replace(SECRET, "not-the-secret"))
    refused = run_once(wrong)
    assert refused.returncode == 2 and "refused the API keys" in refused.stderr
    assert SECRET not in refused.stderr and "not-the-secret" not in refused.stderr
    assert venue_orders(alpaca) == []


def test_live_decisions_equal_the_backtesters_on_the_same_bars(tmp_path: Path, alpaca: AlpacaEmulator) -> None:
    """Backtest/live parity: the bars a live bot saw, replayed through ``trader.backtest``,
    give the same regimes, probabilities and targets bar for bar."""
    from trader import backtest
    from trader.config import engine_config
    from trader.instance import load_instance
    from trader.live_feed import BarTimes, VenueFeed, _read

    config = _bot(tmp_path / "home", alpaca)
    assert run_once(config).returncode == 0
    for _ in range(5):
        next_session(alpaca)
        assert run_once(config).returncode == 0
    live = [r for r in audit(config) if "event" not in r]
    [cache] = state_dir(config).glob("bars-*.csv")
    bars = VenueFeed.bars_of(_read(cache), BarTimes("1d", crypto=False))
    profile = load_instance(config).profile
    replayed = {r["bar"]["date"]: r for r in backtest.run(engine_config(profile, bot_id=config.stem), bars).records}
    assert len(live) >= 6
    for record in live:
        twin = replayed[record["bar"]["date"]]
        assert (record["regime"], record["target"]) == (twin["regime"], twin["target"])
        assert record["probabilities"] == twin["probabilities"]
