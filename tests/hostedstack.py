"""The hosted stack for tests: the API on a real loopback port (machines call it) and workers
whose hosting consumer launches bots on the Fly Machines emulator, which runs the real boot
entrypoint and trader as local processes. Used by the hosted integration tests and by the
dashboard's cloud browser tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.settings import ApiSettings
from fly.emulator import FlyEmulator
from tests.apiserver import serve_api
from tests.conftest import FLY_TOKEN, TEST_ACK_WAIT_S
from workers.app import WorkerRuntime, start_workers
from workers.settings import WorkerSettings


@dataclass
class Cloud:
    api: httpx.AsyncClient  # over a real port: the machines call it too
    url: str
    settings: WorkerSettings
    workers: list[WorkerRuntime]  # the running one last; a test may stop it and start another


@contextlib.asynccontextmanager
async def hosted_cloud(
    api_settings: ApiSettings,
    emulator: FlyEmulator,
    machine_key_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    replay_pace: float = 25,
    alpaca_url: str | None = None,
) -> AsyncIterator[Cloud]:
    """Run the API and hosting workers until the block ends; ``emulator`` was made with ``FLY_TOKEN``."""
    monkeypatch.setenv("FLY_API_TOKEN", FLY_TOKEN)  # the workers read the Fly settings from the environment
    monkeypatch.setenv("FLY_API_HOSTNAME", emulator.url)
    monkeypatch.setenv("FLY_APP_NAME", emulator.app_name)
    async with serve_api(api_settings) as url:
        settings = WorkerSettings(
            NATS_URL=api_settings.nats_url,
            DATABASE_URL=api_settings.database_url,
            HMMTRADE_ACK_WAIT_S=TEST_ACK_WAIT_S,
            HMMTRADE_MACHINE_JWT_KEY_DIR=machine_key_dir,
            HMMTRADE_BOT_API_URL=url,
            HMMTRADE_HOSTED_REPLAY_PACE=replay_pace,
            HMMTRADE_ALPACA_URL=alpaca_url,
        )
        runtimes = [await start_workers(settings)]
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                yield Cloud(client, url, settings, runtimes)
        finally:
            for runtime in runtimes:
                with contextlib.suppress(Exception):
                    await runtime.stop()
