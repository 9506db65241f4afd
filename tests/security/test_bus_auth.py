"""The bus refuses anonymous clients and holds every identity to its own subjects.

Real nats-server in operator mode (the test stack's), real API and workers; the attacks
of the security review are replayed with a bot's, the API's and the workers' credentials.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.client import RawCredentials
from nats.errors import Error as NatsError
from nats.errors import NoServersError

from api.settings import ApiSettings
from contracts.intents import RearmRequest
from events.auth.revoke import revoke_users
from events.auth.roles import Role
from events.bus import MSG_ID, Bus, connect, connect_options
from events.embedded import NatsServer
from events.topology import ensure_topology, rearm_request_key
from tests.busauth import BUS_KEYS, bot_creds_file, creds_file
from tests.busutil import count_on_subject
from tests.conftest import intent_settled, wait_for
from tests.hostedutil import hosted_user
from tests.integration.test_audit_ingest import audit_record
from tests.vaultutil import machine_headers
from trader.rearm import KvRearmSource
from workers.app import WorkerRuntime

HOSTED: dict[str, Any] = {
    "basics": {"name": "Bus bot", "surface": "hosted", "mode": "paper"},
    "broker": {"connection": "paper"},
    "market": {"symbols": ["SPY"], "bar_interval": "1d", "asset_class": "stock", "data_source": "sp500"},
    "model": {"n_states": 3, "features": ["log_return", "realized_vol"], "training_window": 504},
    "strategy": {"exposure_per_regime": [0.0, 0.5, 1.0]},
    "schedule": {"confirmed": True},
}


class Client:
    """A plain nats-py connection that keeps the errors the server sends it."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: NatsClient | None = None

    async def connect(self, url: str, creds: Path) -> Client:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc).lower())

        self.nc = await nats.connect(
            url, error_cb=on_error, allow_reconnect=False, connect_timeout=2, **connect_options(creds)
        )
        return self

    async def refused(self, what: str, subject: str) -> bool:
        """Whether the server sent a permissions violation for ``what`` (publish, subscription) to ``subject``."""
        assert self.nc is not None
        needle = f'permissions violation for {what} to "{subject.lower()}"'

        async def probe() -> bool:
            return any(needle in error for error in self.errors)

        return bool(await wait_for(probe, timeout_s=5, what=needle))

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        await client.close()


async def _client(made: list[Client], url: str, creds: Path) -> Client:
    client = await Client().connect(url, creds)
    made.append(client)
    return client


async def test_an_anonymous_client_cannot_connect(nats_server: NatsServer) -> None:
    with pytest.raises((NatsError, NoServersError)) as refused:
        await nats.connect(nats_server.url, allow_reconnect=False, connect_timeout=2)
    assert "authorization violation" in str(refused.value).lower() or isinstance(refused.value, NoServersError)


async def test_a_bot_reaches_only_its_own_subjects_and_checkpoint(
    nats_server: NatsServer, bus: Bus, clients: list[Client]
) -> None:
    await ensure_topology(bus.js)
    bot_a, bot_b = str(uuid.uuid4()), str(uuid.uuid4())
    creds_a = bot_creds_file(bot_a)

    own = Bus(nats_server.url, name="bot-a", creds=creds_a)
    await own.start(wait_s=5)
    try:
        for what in ("audit", "tick", "status", "log"):
            ack = await own.publish_raw(f"bots.{bot_a}.{what}", b"{}", headers={MSG_ID: f"{bot_a}:{what}"})
            assert ack.stream == "BOTS"
        kv = await own.js.key_value("bot_state")
        await kv.put(bot_a, b"checkpoint")
        assert (await kv.get(bot_a)).value == b"checkpoint"
    finally:
        await own.close()

    admin_kv = await bus.js.key_value("bot_state")
    await admin_kv.put(bot_b, b"b's checkpoint")
    attacker = await _client(clients, nats_server.url, creds_a)
    assert attacker.nc is not None
    await attacker.nc.subscribe("intents.>")
    assert await attacker.refused("subscription", "intents.>")
    await attacker.nc.subscribe("events.>")
    assert await attacker.refused("subscription", "events.>")
    forged = {
        "intents.bot.delete": b'{"bot_id": "x"}',
        "intents.broker.revoke": b'{"connection_id": "x"}',
        f"bots.{bot_b}.audit": b"{}",
        f"$KV.bot_state.{bot_b}": b"overwritten",
        f"$JS.API.DIRECT.GET.KV_bot_state.$KV.bot_state.{bot_b}": b"",
        f"events.bot.{bot_b}.started": b"{}",
    }
    for subject, payload in forged.items():
        await attacker.nc.publish(subject, payload)
        assert await attacker.refused("publish", subject)
    assert (await admin_kv.get(bot_b)).value == b"b's checkpoint"
    assert await count_on_subject(bus.js, "BOTS", f"bots.{bot_b}.audit") == 0
    assert await count_on_subject(bus.js, "INTENTS", "intents.bot.delete") == 0
    assert await count_on_subject(bus.js, "INTENTS", "intents.broker.revoke") == 0


async def test_a_bot_reads_its_own_rearm_request_but_neither_writes_it_nor_reads_another_bots(
    nats_server: NatsServer, bus: Bus, clients: list[Client]
) -> None:
    await ensure_topology(bus.js)
    bot_a, bot_b = uuid.uuid4(), uuid.uuid4()
    admin_kv = await bus.js.key_value("bot_state")
    for bot in (bot_a, bot_b):
        await admin_kv.put(rearm_request_key(bot), RearmRequest(bot_id=bot).model_dump_json().encode())
    creds_a = bot_creds_file(bot_a)

    own = Bus(nats_server.url, name="bot-a", creds=creds_a)
    await own.start(wait_s=5)
    try:
        request = await KvRearmSource(own, bot_a).latest()
        assert request is not None and request.bot_id == bot_a
    finally:
        await own.close()

    attacker = await _client(clients, nats_server.url, creds_a)
    assert attacker.nc is not None
    forged = {
        f"$JS.API.DIRECT.GET.KV_bot_state.$KV.bot_state.{bot_b}.rearm": b"",
        f"$KV.bot_state.{bot_b}.rearm": b'{"id": "forged"}',
        f"$KV.bot_state.{bot_a}.rearm": b'{"id": "self-rearm"}',
    }
    for subject, payload in forged.items():
        await attacker.nc.publish(subject, payload)
        assert await attacker.refused("publish", subject)
    for bot in (bot_a, bot_b):
        assert RearmRequest.model_validate_json((await admin_kv.get(rearm_request_key(bot))).value).bot_id == bot


async def test_the_api_cannot_publish_events_and_the_workers_cannot_publish_stripe_events(
    nats_server: NatsServer, bus: Bus, clients: list[Client]
) -> None:
    await ensure_topology(bus.js)
    api = await _client(clients, nats_server.url, creds_file(Role.API))
    assert api.nc is not None
    for subject in ("events.intent.x.done", f"events.bot.{uuid.uuid4()}.started"):
        await api.nc.publish(subject, b"{}")
        assert await api.refused("publish", subject)
    await api.nc.subscribe("bots.>")
    assert await api.refused("subscription", "bots.>")

    workers = await _client(clients, nats_server.url, creds_file(Role.WORKERS))
    assert workers.nc is not None
    await workers.nc.publish("stripe.events.customer.subscription.deleted", b"{}")
    assert await workers.refused("publish", "stripe.events.customer.subscription.deleted")
    assert await count_on_subject(bus.js, "STRIPE", "stripe.events.customer.subscription.deleted") == 0


async def test_a_hosted_bots_bus_credentials_die_with_the_bot(
    api: httpx.AsyncClient,
    api_settings: ApiSettings,
    workers: WorkerRuntime,
    db: asyncpg.Connection,
    nats_server: NatsServer,
    tmp_path: Path,
) -> None:
    auth = await hosted_user(api, db, "pro")
    created = await api.post("/api/v1/bots", json=HOSTED, headers=auth)
    assert created.status_code == 202, created.text
    bot_id = created.json()["bot_id"]
    await intent_settled(api, auth, created.json()["intent_id"])
    machine = await machine_headers(db, api_settings, bot_id)

    answer = await api.post("/api/v1/internal/bus_credentials", json={"bot_id": bot_id}, headers=machine)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    creds = tmp_path / "bot.creds"
    creds.write_text(answer.json()["creds"])
    other = await api.post("/api/v1/internal/bus_credentials", json={"bot_id": str(uuid.uuid4())}, headers=machine)
    assert other.status_code == 404

    live = await Client().connect(nats_server.url, creds)
    assert live.nc is not None
    await live.nc.publish(f"bots.{bot_id}.status", b"{}")
    await live.nc.flush()
    assert live.errors == []

    stopped = await api.post(f"/api/v1/bots/{bot_id}/stop", headers=auth)
    assert stopped.status_code == 202, stopped.text
    await intent_settled(api, auth, stopped.json()["intent_id"])

    async def disconnected() -> bool:
        return live.nc is not None and live.nc.is_closed

    await wait_for(disconnected, timeout_s=15, what="the stopped bot's bus connection to be closed")

    async def refused() -> bool:
        try:
            client = await nats.connect(
                nats_server.url, allow_reconnect=False, connect_timeout=2, **connect_options(creds)
            )
        except (NatsError, NoServersError):
            return True
        await client.close()
        return False

    assert await wait_for(refused, timeout_s=15, what="the stopped bot's credentials to be refused")


async def test_an_audit_record_naming_another_bot_is_dead_lettered(
    workers: WorkerRuntime, bus: Bus, nats_server: NatsServer, db: asyncpg.Connection
) -> None:
    bot_a, bot_b = uuid.uuid4(), uuid.uuid4()
    record = audit_record(bot_b, 1)  # on bot A's own subject, naming bot B
    own = Bus(nats_server.url, name="bot-a", creds=bot_creds_file(bot_a))
    await own.start(wait_s=5)
    try:
        await own.publish_raw(
            f"bots.{bot_a}.audit", record.model_dump_json().encode(), headers={MSG_ID: f"{bot_a}:forged"}
        )
    finally:
        await own.close()

    async def parked() -> int:
        return await count_on_subject(bus.js, "DLQ", f"dlq.bots.{bot_a}.audit")

    assert await wait_for(parked, timeout_s=15, what="the forged record in the DLQ") == 1
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE bot_id = $1", bot_b) == 0


async def test_a_revocation_survives_a_server_restart(nats_server: NatsServer) -> None:
    creds = bot_creds_file("restarted-bot", "launch-1")
    system = await connect(nats_server.url, name="test-revoker", creds=RawCredentials(BUS_KEYS.system_creds()))
    try:
        await revoke_users(system, BUS_KEYS, [BUS_KEYS.bot_user_key("restarted-bot", "launch-1")])
    finally:
        await system.close()
    nats_server.stop()
    revived = NatsServer(nats_server.store_dir, keys=BUS_KEYS, port=nats_server.port).start()
    try:
        with pytest.raises(NatsError, match=r"(?i)authorization violation"):
            await nats.connect(revived.url, allow_reconnect=False, connect_timeout=2, **connect_options(creds))
    finally:
        revived.stop()
