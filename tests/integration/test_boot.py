"""A hosted bot's boot entrypoint against the real internal API: profile and credentials over HTTP,
instance files written, the trader's audit through the bus into the API, SIGTERM handled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from api.settings import ApiSettings
from events.bus import Bus
from events.topology import BOTS
from tests.apiserver import serve_api
from tests.busutil import messages_on
from tests.conftest import wait_for
from tests.vaultutil import create_bot, machine_headers
from workers.app import WorkerRuntime


async def _boot(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fly.boot",
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def _first_audit(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str) -> list[dict[str, Any]] | None:
    response = await api.get(f"/api/v1/bots/{bot_id}/audit", headers=auth)
    return response.json()["records"] if response.status_code == 200 and response.json()["records"] else None


async def test_a_booted_bot_trades_and_its_audit_reaches_the_api_then_sigterm_stops_it_cleanly(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    api_settings: ApiSettings,
    workers: WorkerRuntime,
    db: asyncpg.Connection,
    bus: Bus,
    tmp_path: Path,
) -> None:
    bot_id = await create_bot(api, auth)
    token = (await machine_headers(db, api_settings, bot_id))["Authorization"].removeprefix("Bearer ")
    async with serve_api(api_settings) as url:
        home = tmp_path / "vm"
        boot = await _boot(
            {
                "BOT_ID": bot_id,
                "HMMTRADE_MACHINE_TOKEN": token,
                "HMMTRADE_API_URL": url,
                "NATS_URL": api_settings.nats_url,
                "HMMTRADE_HOME": str(home),
                "HMMTRADE_REPLAY_PACE": "50",
                "FLY_MACHINE_ID": "test-machine",
            }
        )
        try:
            records = await wait_for(lambda: _first_audit(api, auth, bot_id), timeout_s=240, what="the first audit")
        except AssertionError:
            with contextlib.suppress(ProcessLookupError):  # it may have exited on its own: show why
                boot.kill()
            raise AssertionError((await boot.communicate())[0].decode()[-3000:]) from None
        assert records[0]["seq"] == 1
        env_file = home / "config" / "instances" / f"{bot_id}.env"
        assert (home / "config" / "instances" / f"{bot_id}.yaml").exists()
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600 and "BROKER_KIND=paper" in env_file.read_text()
        boot.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(boot.communicate(), 60)
    text = output.decode()
    assert boot.returncode == 0, text
    assert "SIGTERM received" in text and "stop requested" in text
    logs = await messages_on(bus.js, BOTS.name, f"bots.{bot_id}.log")
    assert any(body["line"].startswith("seq=1 ") for _, body in logs)
    last_logged = max(int(body["line"].split()[0][4:]) for _, body in logs if body["line"].startswith("seq="))
    audited = await messages_on(bus.js, BOTS.name, f"bots.{bot_id}.audit")
    assert [body["seq"] for _, body in audited] == list(range(1, last_logged + 1))  # flushed before exit


async def test_a_token_for_another_bot_or_a_garbage_token_is_refused_for_good(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    api_settings: ApiSettings,
    db: asyncpg.Connection,
    workers: WorkerRuntime,
    tmp_path: Path,
) -> None:
    bot_a, bot_b = await create_bot(api, auth), await create_bot(api, auth)
    token_b = (await machine_headers(db, api_settings, bot_b))["Authorization"].removeprefix("Bearer ")
    async with serve_api(api_settings) as url:
        for token, says in ((token_b, "404"), ("not-a-jwt", "401")):
            boot = await _boot(
                {"BOT_ID": bot_a, "HMMTRADE_MACHINE_TOKEN": token, "HMMTRADE_API_URL": url,
                 "HMMTRADE_HOME": str(tmp_path / uuid.uuid4().hex)}
            )  # fmt: skip
            output, _ = await asyncio.wait_for(boot.communicate(), 60)
            assert boot.returncode == 3
            assert f"-> {says}" in output.decode() and "error:" in output.decode()
