"""A two-coin hourly bot on the exchange emulator (spot, exact cash), through ccxt.

The emulator's clock is frozen and moved an hour at a time; each ``--once`` run sees the
bars the test made due. Market orders fill at once, and a buy the USDT balance cannot pay
for is refused, so the bot's sells go first and its buys wait for them.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.profile import BotProfile
from tests.livebot import audit, run_once, state_dir
from trader.checkpoint import from_json
from trader.instance import write_instance
from venues.exchange import ExchangeEmulator

KEY = "live-key-0123456789"
SECRET = "live-secret-abcdef0123456789"
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOUR = 3600
SYMBOLS = ("BTC/USDT", "ETH/USDT")


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


def _bot(home: Path, emulator: ExchangeEmulator) -> Path:
    profile = BotProfile.model_validate(
        {
            "basics": {"name": "two coins hourly", "surface": "local", "mode": "paper"},
            "market": {
                "symbols": list(SYMBOLS),
                "asset_class": "crypto",
                "data_source": "broker",
                "bar_interval": "1h",
            },
            "model": {"n_states": 2, "training_window": 100, "refit_every": 50, "scope": "per_symbol"},
            # always long: every bar rebalances both coins a little (one up, one down: a sell and a buy)
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
        "BROKER_API_KEY": KEY,
        "BROKER_API_SECRET": SECRET,
        "BROKER_SANDBOX": "true",
        "HMMTRADE_EXCHANGE_URL": emulator.url,
    }
    return write_instance(home, uuid.uuid4(), profile, env)


def _venue_coins(emulator: ExchangeEmulator) -> dict[str, float]:
    with emulator.book.lock:
        book = emulator.book
        return {s: float(book.free.get(s.split("/")[0], 0) + book.locked.get(s.split("/")[0], 0)) for s in SYMBOLS}


def _book_coins(config: Path) -> dict[str, float]:
    checkpoint = from_json(json.loads((state_dir(config) / "checkpoint.json").read_text()))
    assert checkpoint.state.broker is not None
    return {s: checkpoint.state.broker.positions.get(s, 0.0) for s in SYMBOLS}


def test_a_two_coin_bot_trades_both_each_bar_sells_first_and_its_book_equals_the_balances(
    tmp_path: Path, exchange: ExchangeEmulator
) -> None:
    config = _bot(tmp_path / "home", exchange)
    assert run_once(config).returncode == 0
    for _ in range(5):
        _control(exchange, "POST", "advance", {"seconds": HOUR})
        done = run_once(config)
        assert done.returncode == 0, done.stderr
        assert "1 decision(s)" in done.stderr
    orders = _control(exchange, "GET", "orders")["orders"]
    assert all(n == 1 for n in Counter(o["clientOrderId"] for o in orders).values())
    assert {o["symbol"] for o in orders} == {"BTCUSDT", "ETHUSDT"}
    sent = [[e for e in r.get("executions", []) if e.get("venue_order_id")] for r in audit(config)]
    assert any(len(bar) == 2 for bar in sent)  # both coins traded in one bar
    for bar in sent:
        sides = [e["side"] for e in bar]
        assert sides == sorted(sides, key=lambda side: side != "sell")  # sells before buys
    assert not [e for r in audit(config) for e in r.get("executions", []) if e["status"] == "rejected"]
    # the last bar's market orders filled at once; the bot books them before its next bar
    expected = _book_coins(config)
    for e in audit(config)[-1]["executions"]:
        if e["status"] == "filled":
            expected[e["symbol"]] += e["quantity"] if e["side"] == "buy" else -e["quantity"]
    assert expected == pytest.approx(_venue_coins(exchange), abs=1e-9)
