"""Rotation: ``vault rewrap`` moves every data key to the new primary version; after the old
version is disabled every connection still decrypts; a stale row wrapped under a destroyed
version fails with the opaque error."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from google.cloud import kms

from api.settings import ApiSettings
from stack.cli import main
from stack.vault_cmd import rewrap_all
from store import connections
from store.connections import SealedColumns
from store.migrate import migrate
from store.pool import create_pool
from tests.vaultutil import alpaca, connect, create_bot, machine_headers
from vault import envelope
from vault.emulator import KmsEmulator
from vault.emulator.server import DEFAULT_KEY_NAME
from vault.errors import InvalidEnvelope
from vault.gcp import GoogleKms

KEY = DEFAULT_KEY_NAME
STATE = kms.CryptoKeyVersion.CryptoKeyVersionState


def _rotate(client: kms.KeyManagementServiceClient) -> str:
    version = client.create_crypto_key_version(parent=KEY, crypto_key_version={})
    client.update_crypto_key_primary_version(name=KEY, crypto_key_version_id=version.name.rsplit("/", 1)[1])
    return str(version.name)


def _set_state(client: kms.KeyManagementServiceClient, version: str, state: int) -> None:
    client.update_crypto_key_version(
        crypto_key_version={"name": version, "state": state}, update_mask={"paths": ["state"]}
    )


async def test_rewrap_then_disable_the_old_version_and_every_connection_still_decrypts(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    workers: Any,
    db: asyncpg.Connection,
    api_settings: ApiSettings,
    kms_emulator: KmsEmulator,
    pg_dsn: str,
) -> None:
    secrets = [f"rotating-secret-{i}" for i in range(3)]
    bots = []
    for secret in secrets:
        connection_id = await connect(api, auth, alpaca(secret))
        bot_id = await create_bot(api, auth, connection_id)
        bots.append((bot_id, await machine_headers(db, api_settings, bot_id), secret, connection_id))
    before = {
        str(r["id"]): r
        for r in await db.fetch("SELECT * FROM broker_connections WHERE id = ANY($1::uuid[])", [b[3] for b in bots])
    }
    stale_id = bots[0][3]
    stale = before[stale_id]  # a copy of the row as it was (a backup, say), wrapped under version 1

    adapter = GoogleKms.from_endpoint(kms_emulator.endpoint, emulator_token=kms_emulator.token)
    new_version = _rotate(adapter.client)
    pool = await create_pool(pg_dsn, max_size=2)
    try:
        report = await rewrap_all(pool, adapter, KEY)
    finally:
        await pool.close()
    # (the database is shared by the whole test session: rows sealed under other tests'
    # emulators fail here, and are reported, but this test's rows must all move)
    mine = {b[3] for b in bots}
    assert report.rewrapped >= 3 and mine.isdisjoint(report.failed)
    _set_state(adapter.client, f"{KEY}/cryptoKeyVersions/1", STATE.DISABLED)

    for bot_id, machine, secret, connection_id in bots:
        row = await db.fetchrow("SELECT * FROM broker_connections WHERE id = $1::uuid", connection_id)
        old = before[connection_id]
        assert row["kms_key_id"] == new_version and row["wrapped_key"] != old["wrapped_key"]
        assert (row["ciphertext"], row["iv"], row["tag"]) == (old["ciphertext"], old["iv"], old["tag"])
        bundle = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
        assert bundle.status_code == 200 and bundle.json()["credentials"]["api_secret_key"] == secret

    # old versions keep decrypting until disabled: re-enable, and the stale copy still opens…
    _set_state(adapter.client, f"{KEY}/cryptoKeyVersions/1", STATE.ENABLED)
    sealed = envelope.Sealed(
        ciphertext=bytes(stale["ciphertext"]),
        wrapped_key=bytes(stale["wrapped_key"]),
        iv=bytes(stale["iv"]),
        tag=bytes(stale["tag"]),
        kms_key_id=stale["kms_key_id"],
    )
    owner, cid = stale["user_id"], uuid.UUID(stale_id)
    assert await envelope.open_sealed(adapter, sealed, user_id=owner, connection_id=cid) == (
        b'{"api_key_id":"AKTESTKEYID","api_secret_key":"rotating-secret-0","paper":true}'
    )
    # …until the version is destroyed: then the stale row fails with the opaque error
    adapter.client.destroy_crypto_key_version(name=f"{KEY}/cryptoKeyVersions/1")
    with pytest.raises(InvalidEnvelope, match=r"^the sealed secret could not be decrypted$"):
        await envelope.open_sealed(adapter, sealed, user_id=owner, connection_id=cid)
    await db.execute(
        "UPDATE broker_connections SET wrapped_key = $2, kms_key_id = $3 WHERE id = $1::uuid",
        cid,
        stale["wrapped_key"],
        stale["kms_key_id"],
    )
    refused = await api.post("/api/v1/internal/broker_token", json={"bot_id": bots[0][0]}, headers=bots[0][1])
    assert refused.status_code == 409
    assert (
        refused.json()["detail"] == "The broker connection's credentials can't be decrypted; connect the broker again."
    )


def test_the_rewrap_command_reports_what_it_did(
    tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = KmsEmulator(tmp_path / "keys.json").start()
    database = f"rewrap_{uuid.uuid4().hex[:12]}"  # its own database: every row in it is this test's
    dsn = urlunsplit(urlsplit(pg_dsn)._replace(path=f"/{database}"))
    try:
        adapter = GoogleKms.from_endpoint(emulator.endpoint, emulator_token=emulator.token)

        async def seed() -> uuid.UUID:
            user_id, connection_id = uuid.uuid4(), uuid.uuid4()
            admin = await asyncpg.connect(pg_dsn)
            try:
                await admin.execute(f'CREATE DATABASE "{database}"')
            finally:
                await admin.close()
            await migrate(dsn)
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(
                    "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')", user_id, f"{user_id}@x.test"
                )
                sealed = await envelope.seal(adapter, KEY, b"{}", user_id=user_id, connection_id=connection_id)
                columns = SealedColumns(
                    sealed.ciphertext, sealed.wrapped_key, sealed.iv, sealed.tag, sealed.kms_key_id, 1
                )
                await connections.insert_connection(
                    conn, connection_id=connection_id, user_id=user_id, kind="alpaca", label="l", sealed=columns
                )
            finally:
                await conn.close()
            return connection_id

        connection_id = asyncio.run(seed())
        new_version = _rotate(adapter.client)
        # main() configures logging onto sys.stderr, which is capsys's stream here and closed after
        # this test: keep the session's logging as it is
        monkeypatch.setattr("stack.cli.configure_logging", lambda **_: None)
        monkeypatch.setenv("KMS_ENDPOINT", emulator.endpoint)
        monkeypatch.setenv("KMS_EMULATOR_TOKEN", emulator.token)
        monkeypatch.setenv("DATABASE_URL", dsn)
        assert main(["vault", "rewrap"]) == 0
        assert "re-wrapped" in capsys.readouterr().out

        async def kms_key_id() -> str:
            conn = await asyncpg.connect(dsn)
            try:
                return str(
                    await conn.fetchval("SELECT kms_key_id FROM broker_connections WHERE id = $1", connection_id)
                )
            finally:
                await conn.close()

        assert asyncio.run(kms_key_id()) == new_version
        emulator.stop()
        assert main(["vault", "rewrap"]) == 1  # KMS gone: a clear error, not a traceback
        assert "unreachable" in capsys.readouterr().out
    finally:
        emulator.stop()
