"""The exchange emulator on loopback and ccxt clients pointed at it (shared by the venue tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import httpx
import pytest
import pytest_asyncio

from venues.exchange import ExchangeEmulator

KEY = "emu-key-0123456789"
SECRET = "emu-secret-abcdef0123456789"
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # frozen (speed 0): moves only by advance()
SPOT_OPTIONS = {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}}


def start_emulator(data_dir: Path, **overrides: Any) -> ExchangeEmulator:
    settings: dict[str, Any] = {
        "api_key": KEY,
        "api_secret": SECRET,
        "data_dir": data_dir,
        "speed": 0.0,
        "start": START,
        "source": "synthetic",
        "match_interval_s": 0.05,
    }
    return ExchangeEmulator(**(settings | overrides)).start()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[ExchangeEmulator]:
    emu = start_emulator(tmp_path / "exchange")
    yield emu
    emu.stop()


def binance_at(url: str, *, key: str = KEY, secret: str = SECRET) -> Any:
    """Real ccxt Binance with every api.binance.com base pointed at ``url``."""
    client = ccxt.binance({"apiKey": key, "secret": secret, "options": dict(SPOT_OPTIONS)})
    client.urls["api"] = {
        name: base.replace("https://api.binance.com", url) if isinstance(base, str) else base
        for name, base in client.urls["api"].items()
    }
    return client


@pytest_asyncio.fixture
async def binance(emulator: ExchangeEmulator) -> AsyncIterator[Any]:
    client = binance_at(emulator.url)
    yield client
    await client.close()


def control(emulator: ExchangeEmulator, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call a test control (``/_emulator/...``) with the key and the secret as bearer."""
    response = httpx.request(
        method,
        f"{emulator.url}/_emulator/{path}",
        json=body,
        headers={"X-MBX-APIKEY": KEY, "Authorization": f"Bearer {SECRET}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def orders_with_client_id(emulator: ExchangeEmulator, client_order_id: str) -> list[dict[str, Any]]:
    return [o for o in control(emulator, "GET", "orders")["orders"] if o["clientOrderId"] == client_order_id]
