"""A hosted paper bot on an Alpaca connection, end to end on loopback: the API, the workers'
hosting consumer, the Fly Machines emulator running the real boot entrypoint and trader,
the bus, audit ingest, and the Alpaca emulator driven through alpaca-py.

create -> boot (credentials from the broker token) -> backfill -> decisions on the
emulator's bars -> orders on the emulator's account -> fills in the audit (through the
API, which the dashboard reads) -> the emulator's position equals the bot's book.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api.settings import ApiSettings
from fly.emulator import FlyEmulator
from tests.conftest import intent_settled, wait_for
from tests.hostedstack import Cloud, hosted_cloud
from tests.hostedutil import HOSTED_PROFILE, audit_records, hosted_user
from venues.alpaca import AlpacaEmulator

KEY, SECRET = "PKHOSTEDTEST01234567", "hosted-secret-0123456789abcdef"
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}


@pytest.fixture
def alpaca(tmp_path: Path) -> Iterator[AlpacaEmulator]:
    emulator = AlpacaEmulator(
        key_id=KEY, secret_key=SECRET, data_dir=tmp_path / "alpaca", source="synthetic", speed=0.0, start=START
    ).start()
    yield emulator
    emulator.stop()


@pytest.fixture
async def cloud(
    api_settings: ApiSettings,
    emulator: FlyEmulator,
    machine_key_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    alpaca: AlpacaEmulator,
) -> AsyncIterator[Cloud]:
    async with hosted_cloud(api_settings, emulator, machine_key_dir, monkeypatch, alpaca_url=alpaca.url) as running:
        yield running


def _profile(connection_id: str) -> dict[str, Any]:
    profile = copy.deepcopy(HOSTED_PROFILE)
    profile["basics"] = {"name": "BTC 5-minute bot", "surface": "hosted", "mode": "paper"}
    profile["broker"] = {"connection": connection_id}
    profile["market"] = {"symbols": ["BTC/USD"], "asset_class": "crypto", "data_source": "broker", "bar_interval": "5m"}
    profile["model"] = {"n_states": 2, "training_window": 100, "refit_every": 50}
    profile["strategy"] = {"exposure_per_regime": [0.5, 0.9], "max_drawdown_pct": 90, "max_daily_loss_pct": 50}
    return profile


def _venue_btc(alpaca: AlpacaEmulator) -> float:
    held = httpx.get(f"{alpaca.url}/v2/positions", headers=HEADERS, timeout=10).json()
    return sum(float(p["qty"]) for p in held if p["symbol"] in ("BTCUSD", "BTC/USD"))


def _orders(alpaca: AlpacaEmulator) -> list[dict[str, Any]]:
    answer = httpx.get(f"{alpaca.url}/_emulator/orders", headers=HEADERS, timeout=10).json()
    return list(answer["orders"])


async def test_a_hosted_paper_bot_trades_its_alpaca_account_and_its_book_equals_the_venue(
    cloud: Cloud, db: asyncpg.Connection, alpaca: AlpacaEmulator
) -> None:
    api = cloud.api
    auth = await hosted_user(api, db, "pro")
    connect = {
        "kind": "alpaca",
        "label": "Alpaca paper (emulator)",
        "credentials": {"api_key_id": KEY, "api_secret_key": SECRET, "paper": True},
    }
    connected = await api.post("/api/v1/brokers", json=connect, headers=auth)
    assert connected.status_code == 202, connected.text
    assert (await intent_settled(api, auth, connected.json()["intent_id"]))["status"] == "done"
    connection_id = connected.json()["connection_id"]

    created = await api.post("/api/v1/bots", json=_profile(connection_id), headers=auth)
    assert created.status_code == 202, created.text
    bot_id = created.json()["bot_id"]

    async def sent_and_filled() -> list[dict[str, Any]] | None:
        records = await audit_records(api, auth, bot_id) or []
        details = [r["detail"] for r in records]
        sent = [e for d in details for e in d.get("executions", []) if e.get("venue_order_id")]
        filled = [f for d in details for f in d["fills"]]
        if sent and filled:
            return details
        alpaca.advance(300)  # the next 5-minute bar closes; the bot polls for it
        return None

    details = await wait_for(sent_and_filled, timeout_s=240, interval_s=1.0, what="an order sent and filled")
    bars = [d["bar"]["date"] for d in details]
    assert len(bars) == len(set(bars))  # one decision per bar
    assert all(n == 1 for n in Counter(o["client_order_id"] for o in _orders(alpaca)).values())

    # The bot books a fill at the bar after it happened, so the venue holds the book's position plus
    # whatever the orders of the last decision have filled since.
    async def book_matches() -> bool | None:
        records = await audit_records(api, auth, bot_id) or []
        last = records[-1]["detail"]
        by_id = {o["client_order_id"]: o for o in _orders(alpaca)}
        pending = 0.0
        for execution in last.get("executions", []):
            order = by_id.get(execution["client_order_id"])
            if order is not None:
                pending += float(order["filled_qty"]) * (1 if order["side"] == "buy" else -1)
        return abs(last["position"] + pending - _venue_btc(alpaca)) < 1e-9 or None

    await wait_for(book_matches, timeout_s=60, interval_s=0.5, what="the bot's book to equal the venue's position")
