"""``hmmtrade up`` runs the KMS emulator too: a broker connected before a restart still
decrypts for a bot after it (key file and machine-JWT keys live in the data dir)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from events.embedded import free_port
from tests.conftest import VALID_PROFILE
from tests.e2e.test_up import Up
from vault.machine_jwt import open_machine_tokens
from workers.machine_identity import issue_machine_token


def _wait(probe: object, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _machine_token(dsn: str, key_dir: Path, bot_id: str) -> str:
    async def mint() -> str:
        conn = await asyncpg.connect(dsn)
        try:
            tokens = open_machine_tokens(key_dir, ttl_s=86_400)
            return await issue_machine_token(conn, tokens, uuid.UUID(bot_id))
        finally:
            await conn.close()

    return asyncio.run(mint())


def test_up_starts_the_kms_emulator_and_broker_secrets_survive_a_restart(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    first = Up(data_dir, port, tmp_path / "up-1.log")
    try:
        first.wait_ready()
        printed = first.out.read_text()
        assert re.search(r"^  kms +http://127\.0\.0\.1:\d+ ", printed, flags=re.MULTILINE), printed
        dsn = re.search(r"^  postgres +(\S+)", printed, flags=re.MULTILINE).group(1)  # type: ignore[union-attr]
        with httpx.Client(base_url=first.base, timeout=10) as http:
            creds = {"email": "vault@example.com", "password": "correct horse battery"}
            assert http.post("/api/v1/auth/signup", json=creds).status_code == 201
            headers = {"Authorization": f"Bearer {http.post('/api/v1/auth/login', json=creds).json()['access_token']}"}
            body = {
                "kind": "alpaca",
                "label": "up",
                "credentials": {"api_key_id": "AK", "api_secret_key": "survives-restarts", "paper": True},
            }
            connected = http.post("/api/v1/brokers", json=body, headers=headers)
            assert connected.status_code == 202, connected.text
            connection_id = connected.json()["connection_id"]
            _wait(lambda: http.get("/api/v1/brokers", headers=headers).json()["connections"], "connection stored")
            profile = {**VALID_PROFILE, "broker": {"connection": connection_id}}
            bot_id = http.post("/api/v1/bots", json=profile, headers=headers).json()["bot_id"]
            _wait(lambda: http.get(f"/api/v1/bots/{bot_id}", headers=headers).status_code == 200, "bot created")
    finally:
        assert first.stop() == 0
    assert (data_dir / "kms" / "keys.json").exists()

    second = Up(data_dir, port, tmp_path / "up-2.log")
    try:
        second.wait_ready()
        token = _machine_token(dsn, data_dir / "keys" / "machine", bot_id)
        with httpx.Client(base_url=second.base, timeout=10) as http:
            bundle = http.post(
                "/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers={"Authorization": f"Bearer {token}"}
            )
            assert bundle.status_code == 200, bundle.text
            assert bundle.json()["credentials"]["api_secret_key"] == "survives-restarts"
    finally:
        assert second.stop() == 0
