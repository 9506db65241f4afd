"""Shared pieces of the Alpaca emulator tests: a frozen-clock emulator and SDK clients pointed at it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.trading.client import TradingClient

from venues.alpaca import AlpacaEmulator

KEY, SECRET = "PKTESTKEY", "test-secret"
# Tuesday 2026-03-10, 15:00 UTC: the XNYS session is open (13:30-20:00 UTC)
MID_SESSION = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
T = TypeVar("T")


def emulator(data_dir: Path | None = None, *, start: datetime = MID_SESSION, page_size: int = 10_000) -> AlpacaEmulator:
    return AlpacaEmulator(key_id=KEY, secret_key=SECRET, speed=0, start=start, data_dir=data_dir, page_size=page_size)


def trading(emu: AlpacaEmulator, key: str = KEY, secret: str = SECRET) -> TradingClient:
    client = TradingClient(key, secret, paper=True, url_override=emu.url)
    client._retry_wait = 0  # private knob (BROKERS.md): the SDK sleeps 3 s between retries otherwise
    return client


def stock_data(emu: AlpacaEmulator) -> StockHistoricalDataClient:
    return StockHistoricalDataClient(KEY, SECRET, url_override=emu.url)


def crypto_data(emu: AlpacaEmulator) -> CryptoHistoricalDataClient:
    return CryptoHistoricalDataClient(KEY, SECRET, url_override=emu.url)


def control(emu: AlpacaEmulator, method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    response = httpx.request(
        method,
        f"{emu.url}/_emulator/{path}",
        json=body,
        headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET},
        timeout=10,
    )
    response.raise_for_status()
    result: dict[str, object] = response.json()
    return result


def until(probe: Callable[[], T | None], *, timeout_s: float = 15.0, what: str = "") -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or probe}")
        time.sleep(0.02)
