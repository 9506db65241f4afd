"""Hosted bots' machines carry the operator's venue endpoint overrides (the local Alpaca and
exchange emulators) when the workers are configured with them, and nothing otherwise."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import ApiSettings
from events.bus import Bus
from store import bots
from store.pool import create_pool
from tests.conftest import TEST_ACK_WAIT_S
from tests.fakes.fly import FakeMachines
from tests.vaultutil import create_bot
from workers import hosting
from workers.hosting_app import build_hosting_deps
from workers.settings import WorkerSettings

ALPACA = "http://127.0.0.1:18081"
EXCHANGE = "http://127.0.0.1:18082"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"HMMTRADE_ALPACA_URL": ALPACA, "HMMTRADE_EXCHANGE_URL": EXCHANGE},
            {"HMMTRADE_ALPACA_URL": ALPACA, "HMMTRADE_EXCHANGE_URL": EXCHANGE},
        ),
        ({"HMMTRADE_ALPACA_URL": ALPACA}, {"HMMTRADE_ALPACA_URL": ALPACA}),
        ({}, {}),
    ],
)
async def test_a_launched_machine_is_told_the_venue_overrides_only_when_they_are_set(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    workers: Any,
    api_settings: ApiSettings,
    machine_key_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    overrides: dict[str, str],
    expected: dict[str, str],
) -> None:
    for name in ("HMMTRADE_ALPACA_URL", "HMMTRADE_EXCHANGE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLY_API_TOKEN", "unused")  # the real Fly client is built, then swapped for a fake
    bot_id = await create_bot(api, auth)  # hosted, on the pro plan
    settings = WorkerSettings(
        NATS_URL=api_settings.nats_url,
        DATABASE_URL=api_settings.database_url,
        HMMTRADE_ACK_WAIT_S=TEST_ACK_WAIT_S,
        HMMTRADE_MACHINE_JWT_KEY_DIR=machine_key_dir,
        HMMTRADE_BOT_API_URL="http://127.0.0.1:9",
        **overrides,
    )
    pool = await create_pool(api_settings.database_url, max_size=2)
    bus = Bus(api_settings.nats_url, name="test-venue-env")
    await bus.start(wait_s=5)
    try:
        async with httpx.AsyncClient() as http:
            fly = FakeMachines()
            deps = dataclasses.replace(build_hosting_deps(settings, pool=pool, bus=bus, http=http), fly=fly)
            row = await bots.get_bot(pool, uuid.UUID(bot_id))
            assert row is not None
            machine = await hosting.launch(row, "launch-venue-env", deps)
            assert machine is not None
    finally:
        await bus.close()
        await pool.close()
    env = machine.config.env
    assert {k: v for k, v in env.items() if k in ("HMMTRADE_ALPACA_URL", "HMMTRADE_EXCHANGE_URL")} == expected
    assert env["BOT_ID"] == bot_id  # the rest of the boot environment is unchanged
