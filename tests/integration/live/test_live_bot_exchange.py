"""A crypto bot trading the exchange emulator through ccxt, as a real child process.

The emulator's clock is frozen (speed 0) and moved bar by bar, so each run of the bot
(`--once`, what a scale-to-zero wake does) sees exactly the bars the test made due.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.profile import BotProfile
from tests.livebot import audit, book_position, run_once
from trader.instance import write_instance
from venues.exchange import ExchangeEmulator

KEY = "live-key-0123456789"
SECRET = "live-secret-abcdef0123456789"
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOUR = 3600


# The emulator charges Binance's 0.1%: a buy's fee in the coin bought, a sell's in USDT. The bot reads the
# fees from the order's trades, so its book still equals the balances.
@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[ExchangeEmulator]:
    emulator = ExchangeEmulator(
        api_key=KEY,
        api_secret=SECRET,
        data_dir=tmp_path / "exchange",
        speed=0.0,
        start=START,
        match_interval_s=0.05,
        fee_rate=0.0,
    ).start()
    yield emulator
    emulator.stop()


def _control(emulator: ExchangeEmulator, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    headers = {"X-MBX-APIKEY": KEY, "Authorization": f"Bearer {SECRET}"}
    answer = httpx.request(method, f"{emulator.url}/_emulator/{path}", json=body, headers=headers, timeout=10)
    answer.raise_for_status()
    return answer.json()


def _bot(home: Path, emulator: ExchangeEmulator, *, key: str = KEY) -> Path:
    profile = BotProfile.model_validate(
        {
            "basics": {"name": "btc hourly", "surface": "local", "mode": "paper"},
            "market": {
                "symbols": ["BTC/USDT"],
                "asset_class": "crypto",
                "data_source": "broker",
                "bar_interval": "1h",
            },
            "model": {"n_states": 2, "training_window": 100, "refit_every": 50},
            # always long: every bar rebalances a little, so every bar sends an order to count
            "strategy": {
                "exposure_per_regime": [0.9, 0.9],
                "max_drawdown_pct": 90,
                "max_daily_loss_pct": 50,
                "rebalance_band_pct": 0,
            },
            "schedule": {"confirmed": True, "starting_cash": 10_000},
        }
    )
    env = {
        "BROKER_KIND": "exchange",
        "BROKER_EXCHANGE": "binance",
        "BROKER_API_KEY": key,
        "BROKER_API_SECRET": SECRET,
        "BROKER_SANDBOX": "true",  # a paper bot trades a test account
        "HMMTRADE_EXCHANGE_URL": emulator.url,
    }
    return write_instance(home, uuid.uuid4(), profile, env)


def _venue_btc(emulator: ExchangeEmulator) -> float:
    with emulator.book.lock:
        return float(emulator.book.free.get("BTC", 0) + emulator.book.locked.get("BTC", 0))


def _orders_per_client_id(emulator: ExchangeEmulator) -> Counter[str]:
    return Counter(order["clientOrderId"] for order in _control(emulator, "GET", "orders")["orders"])


def test_each_new_bar_is_decided_once_and_the_book_equals_the_exchange(
    tmp_path: Path, exchange: ExchangeEmulator
) -> None:
    config = _bot(tmp_path / "home", exchange)
    first = run_once(config)
    assert first.returncode == 0, first.stderr
    for _ in range(3):
        _control(exchange, "POST", "advance", {"seconds": HOUR})
        done = run_once(config)
        assert done.returncode == 0, done.stderr
        assert "1 decision(s)" in done.stderr  # one new bar, one decision
    again = run_once(config)  # no new bar: nothing decided, nothing sent
    assert "0 decision(s)" in again.stderr
    records = audit(config)
    sent = [e for r in records for e in r.get("executions", []) if e.get("venue_order_id")]
    assert sent, "the always-long bot sent no order"
    assert all(count == 1 for count in _orders_per_client_id(exchange).values())
    fills = [f for r in records for f in r["fills"]]
    assert fills and all(f["price"] > 0 for f in fills)
    _control(exchange, "POST", "advance", {"seconds": HOUR})
    assert run_once(config).returncode == 0  # books the last fills
    assert book_position(config) == pytest.approx(_venue_btc(exchange), abs=1e-9)


def test_kills_after_the_exchange_accepted_an_order_never_send_it_twice(
    tmp_path: Path, exchange: ExchangeEmulator
) -> None:
    config = _bot(tmp_path / "home", exchange)
    assert run_once(config).returncode == 0
    crashes = 0
    for _ in range(6):
        _control(exchange, "POST", "advance", {"seconds": HOUR})
        crashed = run_once(config, HMMTRADE_FAILPOINTS="execution.after_ack=crash")  # dies once the order is in
        crashes += crashed.returncode == 70
        done = run_once(config)
        assert done.returncode == 0, done.stderr
        assert all(count == 1 for count in _orders_per_client_id(exchange).values())
    assert crashes >= 2  # seeded prices: the same bars send orders every run (most rebalances are under the minimum)
    _control(exchange, "POST", "advance", {"seconds": HOUR})
    assert run_once(config).returncode == 0
    assert book_position(config) == pytest.approx(_venue_btc(exchange), abs=1e-9)


def test_a_balance_changed_behind_the_bots_back_halts_it_with_the_reason(
    tmp_path: Path, exchange: ExchangeEmulator
) -> None:
    config = _bot(tmp_path / "home", exchange)
    assert run_once(config).returncode == 0
    _control(exchange, "POST", "advance", {"seconds": HOUR})
    assert run_once(config).returncode == 0
    _control(exchange, "POST", "balances", {"asset": "BTC", "free": _venue_btc(exchange) + 0.5})
    _control(exchange, "POST", "advance", {"seconds": HOUR})
    halted = run_once(config)
    assert "halted:" in halted.stdout and "BTC/USDT" in halted.stdout
    records = audit(config)
    assert records[-1].get("event") == "halt" and "difference" in records[-1]["risk"]["reasons"][0]
    before = sum(_orders_per_client_id(exchange).values())
    _control(exchange, "POST", "advance", {"seconds": HOUR})
    assert "halted:" in run_once(config).stdout  # stays halted: nothing sent
    assert sum(_orders_per_client_id(exchange).values()) == before
    adopted = run_once(config, HMMTRADE_ADOPT_VENUE_POSITION="true")
    assert adopted.returncode == 0


def test_wrong_keys_are_a_clear_error_not_a_retry_loop(tmp_path: Path, exchange: ExchangeEmulator) -> None:
    config = _bot(tmp_path / "home", exchange, key="not-the-key-000000")
    refused = run_once(config)
    assert refused.returncode == 2
    assert "error:" in refused.stderr and "key" in refused.stderr.lower()
    assert sum(_orders_per_client_id(exchange).values()) == 0


def _decisions(config: Path) -> list[str]:
    return [r["bar"]["date"] for r in audit(config) if "event" not in r]


def _wait_decisions(config: Path, count: int, bot: subprocess.Popen[str], timeout_s: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        decided = _decisions(config)
        if len(decided) >= count:
            return decided
        assert bot.poll() is None, "the continuous bot exited"
        time.sleep(0.05)
    raise AssertionError(f"{len(_decisions(config))} decisions after {timeout_s}s, expected {count}")


def test_a_continuous_bot_decides_each_bar_once_through_rate_limits_and_stalls(
    tmp_path: Path, exchange: ExchangeEmulator
) -> None:
    config = _bot(tmp_path / "home", exchange)
    bot = subprocess.Popen(
        [sys.executable, "-m", "trader.cli", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HMMTRADE_LIVE_POLL_S": "0.05"},
    )
    try:
        decided = _wait_decisions(config, 1, bot, timeout_s=120)
        faults = [{"http_429": 4}, {"stall_s": 0.3}, {"stall_s": 0}, {"http_429": 2}, {}]
        for fault in faults:
            if fault:
                _control(exchange, "POST", "faults", fault)
            _control(exchange, "POST", "advance", {"seconds": HOUR})
            decided = _wait_decisions(config, len(decided) + 1, bot)
        assert len(decided) == len(set(decided))  # never two decisions for one bar
        bot.send_signal(signal.SIGTERM)
        _, err = bot.communicate(timeout=60)
        assert bot.returncode == 0, err
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.communicate()
    assert all(count == 1 for count in _orders_per_client_id(exchange).values())


def test_an_order_under_the_minimum_notional_is_skipped_with_the_reason(
    tmp_path: Path, exchange: ExchangeEmulator
) -> None:
    config = _bot(tmp_path / "home", exchange)
    text = config.read_text().replace("starting_cash: 10000", "starting_cash: 100")
    assert text != config.read_text()
    config.write_text(text)  # $100 at 90%: the small daily rebalances fall under the $5 minimum
    assert run_once(config).returncode == 0
    for _ in range(4):
        _control(exchange, "POST", "advance", {"seconds": HOUR})
        assert run_once(config).returncode == 0
    executions = [e for r in audit(config) for e in r.get("executions", [])]
    skipped = [e for e in executions if e["status"] == "skipped"]
    assert skipped and all("minimum" in e["reason"] for e in skipped)
    sent = {order for order in _orders_per_client_id(exchange)}
    assert not sent & {e["client_order_id"] for e in skipped}  # never sent to be rejected


def test_an_unknown_exchange_is_a_clear_error(tmp_path: Path, exchange: ExchangeEmulator) -> None:
    config = _bot(tmp_path / "home", exchange)
    env_file = config.with_suffix(".env")
    env_file.write_text(env_file.read_text().replace("BROKER_EXCHANGE=binance", "BROKER_EXCHANGE=nosuchexchange"))
    refused = run_once(config)
    assert refused.returncode == 2 and "nosuchexchange" in refused.stderr
