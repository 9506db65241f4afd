"""The boot entrypoint keeps the machine's credentials to itself: once the trader runs (in boot's
process), neither its environment nor what /proc shows of it holds them, and a
bootstrap-launched boot holds its JWT in memory only."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx

from api.settings import ApiSettings
from store.pool import create_pool
from tests.apiserver import serve_api
from tests.conftest import wait_for
from tests.vaultutil import create_bot, machine_headers
from workers.app import WorkerRuntime
from workers.machine_identity import replace_machine_credential


async def trader_environ(boot: asyncio.subprocess.Process, home: Path, bot_id: str) -> bytes | None:
    """The environment /proc shows of the process running the trader, once the trader runs.

    Boot runs the trader in its own process; the trader has started when its audit file exists.
    """
    if boot.returncode is not None:
        raise AssertionError(f"boot exited with {boot.returncode} before the trader ran")
    if not (home / "state" / bot_id / "audit.jsonl").exists():
        return None
    return Path(f"/proc/{boot.pid}/environ").read_bytes()


async def spawn_boot(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fly.boot",
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def stop_boot(boot: asyncio.subprocess.Process) -> str:
    if boot.returncode is None:
        boot.send_signal(signal.SIGTERM)
    output, _ = await asyncio.wait_for(boot.communicate(), 60)
    return output.decode()


async def test_the_running_trader_has_no_machine_token_in_its_environment(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    api_settings: ApiSettings,
    workers: WorkerRuntime,
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    bot_id = await create_bot(api, auth)
    token = (await machine_headers(db, api_settings, bot_id))["Authorization"].removeprefix("Bearer ")
    async with serve_api(api_settings) as url:
        boot = await spawn_boot(
            {"BOT_ID": bot_id, "HMMTRADE_MACHINE_TOKEN": token, "HMMTRADE_API_URL": url,
             "HMMTRADE_HOME": str(tmp_path / "vm")}
        )  # fmt: skip
        try:
            environ = await wait_for(
                lambda: trader_environ(boot, tmp_path / "vm", bot_id), timeout_s=120, what="the trader running"
            )
        finally:
            output = await stop_boot(boot)
    assert b"HMMTRADE_API_URL=" in environ, "read the wrong process"
    assert token.encode() not in environ and b"HMMTRADE_MACHINE_TOKEN" not in environ, output


async def test_a_boot_exchanges_its_bootstrap_and_the_trader_gets_neither_the_bootstrap_nor_the_jwt(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    api_settings: ApiSettings,
    workers: WorkerRuntime,
    pg_dsn: str,
    tmp_path: Path,
) -> None:
    bot_id = await create_bot(api, auth)
    pool = await create_pool(pg_dsn, max_size=1)
    try:
        bootstrap = await replace_machine_credential(pool, uuid.UUID(bot_id))  # what a launch records
    finally:
        await pool.close()
    async with serve_api(api_settings) as url:
        boot = await spawn_boot(
            {"BOT_ID": bot_id, "HMMTRADE_MACHINE_BOOTSTRAP": bootstrap, "HMMTRADE_API_URL": url,
             "HMMTRADE_HOME": str(tmp_path / "vm")}
        )  # fmt: skip
        try:
            environ = await wait_for(
                lambda: trader_environ(boot, tmp_path / "vm", bot_id), timeout_s=120, what="the trader running"
            )
        finally:
            output = await stop_boot(boot)
        replay = await api.post("/api/v1/internal/machine_token", json={"bot_id": bot_id},
                                headers={"Authorization": f"Bearer {bootstrap}"})  # fmt: skip
    assert "machine token received" in output and "broker credentials received" in output, output
    assert bootstrap.encode() not in environ and b"HMMTRADE_MACHINE_BOOTSTRAP" not in environ
    assert b"=eyJ" not in environ, "a JWT in the trader's environment"
    assert replay.status_code == 401  # spent by the boot
