"""The Alpaca emulator as the live-bot tests drive it: one paper account, a frozen clock moved a
session at a time, and the emulator's control endpoints (orders, positions, advance)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.profile import BotProfile
from trader.instance import write_instance
from venues.alpaca import AlpacaEmulator

KEY, SECRET = "PKLIVETEST0123456789", "live-secret-0123456789abcdef"
HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
START = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)  # a Monday, after the close
DAY = 86_400


@pytest.fixture
def alpaca(tmp_path: Path) -> Iterator[AlpacaEmulator]:
    emulator = AlpacaEmulator(
        key_id=KEY, secret_key=SECRET, data_dir=tmp_path / "alpaca", source="synthetic", speed=0.0, start=START
    ).start()
    yield emulator
    emulator.stop()


def control(emulator: AlpacaEmulator, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    answer = httpx.request(method, f"{emulator.url}/_emulator/{path}", json=body, headers=HEADERS, timeout=10)
    answer.raise_for_status()
    return answer.json()


def venue_orders(emulator: AlpacaEmulator) -> list[dict[str, Any]]:
    answer = control(emulator, "GET", "orders")
    return answer["orders"] if isinstance(answer, dict) else answer


def venue_positions(emulator: AlpacaEmulator, symbols: tuple[str, ...]) -> dict[str, float]:
    held = httpx.get(f"{emulator.url}/v2/positions", headers=HEADERS, timeout=10).json()
    return {s: sum(float(p["qty"]) for p in held if p["symbol"] == s) for s in symbols}


def next_session(emulator: AlpacaEmulator) -> None:
    control(emulator, "POST", "advance", {"seconds": DAY})


def write_alpaca_bot(home: Path, emulator: AlpacaEmulator, profile: BotProfile, *, paper: str = "true") -> Path:
    """An instance trading ``profile`` on the emulator's account."""
    env = {
        "BROKER_KIND": "alpaca",
        "BROKER_API_KEY_ID": KEY,
        "BROKER_API_SECRET_KEY": SECRET,
        "BROKER_PAPER": paper,
        "HMMTRADE_ALPACA_URL": emulator.url,
    }
    return write_instance(home, uuid.uuid4(), profile, env)
