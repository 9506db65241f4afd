"""Canary: a unique broker secret goes through connect and a bot's launch, then is searched
for everywhere it must never be: a full Postgres dump, every message of every JetStream
stream, and every log line this process wrote."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pgserver
import pytest

from api.settings import ApiSettings
from events.bus import Bus
from tests.conftest import intent_settled
from tests.logcapture import all_logs
from tests.vaultutil import connect, create_bot, machine_headers


def _encodings(secret: str) -> list[bytes]:
    """The secret as text, hex (how pg_dump shows bytea) and base64 at every alignment."""
    raw = secret.encode()
    found = [raw, raw.hex().encode()]
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + raw)[4 if shift else 0 :]
        found.append(encoded[2:-4])  # a stable middle part, independent of the neighbours
    return found


def _pg_dump(dsn: str) -> bytes:
    binary = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    return subprocess.run([str(binary), "--data-only", "--inserts", dsn], check=True, capture_output=True).stdout


async def _every_stream_message(bus: Bus) -> list[bytes]:
    out: list[bytes] = []
    for info in await bus.js.streams_info():
        state = info.state
        for seq in range(state.first_seq, state.last_seq + 1):
            try:
                msg = await bus.js.get_msg(info.config.name, seq)
            except Exception:  # a deleted sequence
                continue
            out.append(msg.data or b"")
            out.append(repr(msg.headers).encode())
            out.append((msg.subject or "").encode())
    return out


async def test_the_canary_secret_is_in_no_dump_no_stream_and_no_log(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    workers: Any,
    db: asyncpg.Connection,
    bus: Bus,
    pg_dsn: str,
    api_settings: ApiSettings,
    capfd: pytest.CaptureFixture[str],
) -> None:
    canary = f"CANARY-{uuid.uuid4().hex}"
    with all_logs() as logs:
        # connect (alpaca and exchange), with an idempotent retry
        headers = {**auth, "Idempotency-Key": "canary-connect"}
        body = {
            "kind": "alpaca",
            "label": "canary",
            "credentials": {"api_key_id": f"id-{canary}", "api_secret_key": canary, "paper": True},
        }
        first = await api.post("/api/v1/brokers", json=body, headers=headers)
        assert (await api.post("/api/v1/brokers", json=body, headers=headers)).status_code == 202
        assert (await intent_settled(api, auth, first.json()["intent_id"]))["status"] == "done"
        connection_id = first.json()["connection_id"]
        await connect(
            api,
            auth,
            {
                "kind": "exchange",
                "label": "canary-ex",
                "credentials": {"exchange": "kraken", "api_key": canary, "api_secret": canary, "passphrase": canary},
            },
        )
        # bad input carrying the secret is refused without echoing it
        refused = await api.post(
            "/api/v1/brokers",
            json={"kind": "exchange", "label": "x", "credentials": {"exchange": "BAD NAME", "api_key": canary}},
            headers=auth,
        )
        assert refused.status_code == 422 and canary not in refused.text

        # the bot launch path: create, start, machine token, profile, broker token, stop
        bot_id = await create_bot(api, auth, connection_id)
        started = await api.post(f"/api/v1/bots/{bot_id}/start", headers=auth)
        assert (await intent_settled(api, auth, started.json()["intent_id"]))["status"] == "done"
        machine = await machine_headers(db, api_settings, bot_id)
        profile = await api.get(f"/api/v1/internal/bots/{bot_id}", headers=machine)
        assert profile.status_code == 200 and canary not in profile.text
        bundle = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
        assert bundle.status_code == 200
        assert bundle.json()["credentials"]["api_secret_key"] == canary  # the one place it may appear
        listed = await api.get("/api/v1/brokers", headers=auth)
        assert canary not in listed.text
        stopped = await api.post(f"/api/v1/bots/{bot_id}/stop", headers=auth)
        assert (await intent_settled(api, auth, stopped.json()["intent_id"]))["status"] == "done"
        assert (
            await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
        ).status_code == 401
        log_text = logs.getvalue().encode()

    assert b"intent.accepted" in log_text and b"http.request" in log_text  # the capture did capture
    captured = capfd.readouterr()
    dump = _pg_dump(pg_dsn)
    assert b"broker_connections" in dump and connection_id.encode() in dump  # the dump has the rows
    messages = await _every_stream_message(bus)
    assert any(b"broker.connect" in m for m in messages)  # and the streams have the intents
    haystacks = {
        "postgres dump": dump,
        "jetstream": b"\n".join(messages),
        "logs": log_text + captured.out.encode() + captured.err.encode(),
    }
    for where, haystack in haystacks.items():
        for needle in _encodings(canary):
            assert needle not in haystack, f"the secret appears in the {where} (as {needle[:12]!r}…)"
