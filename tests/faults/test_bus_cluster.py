"""A 3-node NATS cluster with every stream replicated three times (R3) loses a node in the middle
of a burst of intents: the node holding the intents stream's leadership is SIGKILLed while intents
are still being published and projected, and started again later. Every intent is done exactly
once (one ledger row, one outcome, each bot's events once and in order), none is lost.

Real servers on loopback (``events.embedded.NatsCluster``): three nats-server processes joined by
authenticated routes; the API and the workers are given every node's URL and fail over by themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from contracts.intents import BotIntent
from events.bus import Bus, BusUnavailable
from events.embedded import NatsCluster
from events.topology import EVENTS, INTENTS, intent_subject
from tests.busauth import BUS_KEYS
from tests.conftest import wait_for
from tests.intentburst import assert_done_once_in_order, mixed_burst, team_users, wait_all_settled

USERS = 10
BURST = 10_000


@pytest.fixture(autouse=True)
def replicated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMMTRADE_BUS_REPLICAS", "3")  # the API and workers declare every stream R3


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsCluster]:
    """This module's bus: the fixtures that connect to ``nats_server.url`` get all three nodes."""
    cluster = NatsCluster(tmp_path / "cluster", keys=BUS_KEYS, size=3).start()
    yield cluster
    cluster.stop()


async def _publish(bus: Bus, intent: BotIntent) -> None:
    """Publish until stored: while a node fails over a publish may go unanswered; the retry
    carries the same message id, so the stream stores it once whatever the first attempt did."""
    while True:
        try:
            await bus.publish(intent_subject(intent.type), intent)
            return
        except BusUnavailable:
            await asyncio.sleep(0.2)


async def _publish_in_users_order(bus: Bus, intents: list[BotIntent]) -> None:
    """Each user's intents one after another (as the API stores a request's intent before it
    answers), users side by side: a retried publish must not land after the user's next intent."""
    by_user: dict[Any, list[BotIntent]] = {}
    for intent in intents:
        by_user.setdefault(intent.user_id, []).append(intent)

    async def in_order(stream: list[BotIntent]) -> None:
        for intent in stream:
            await _publish(bus, intent)

    await asyncio.gather(*(in_order(stream) for stream in by_user.values()))


async def _jetstream_ready(bus: Bus) -> bool | None:
    try:
        await bus.js.stream_info(INTENTS.name)
    except Exception:
        return None
    return True


async def test_a_node_killed_mid_burst_loses_no_intent_and_does_none_twice(
    nats_server: NatsCluster, api: httpx.AsyncClient, workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    cluster = nats_server
    info = await bus.js.stream_info(INTENTS.name)
    assert info.config.num_replicas == 3 and len(info.cluster.replicas or []) == 2  # a leader and two followers
    user_ids = await team_users(api, db, USERS)
    burst = mixed_burst(user_ids, BURST)
    first_event = (await bus.js.stream_info(EVENTS.name)).state.last_seq + 1

    half = len(burst) // 2
    for chunk in range(0, half, 500):
        await _publish_in_users_order(bus, burst[chunk : chunk + 500])
    leader = (await bus.js.stream_info(INTENTS.name)).cluster.leader
    [victim] = [node for node in cluster.nodes if node.name == leader]
    victim.kill()  # SIGKILL: no goodbye to its routes or clients
    for chunk in range(half, len(burst), 500):
        await _publish_in_users_order(bus, burst[chunk : chunk + 500])

    await wait_all_settled(db, user_ids, BURST, timeout_s=600)  # on two nodes
    victim.start()  # it rejoins and catches up from its own store
    await wait_for(lambda: _jetstream_ready(bus), timeout_s=60, what="the cluster to answer again")
    await assert_done_once_in_order(db, bus, burst, first_event)
    assert (await bus.js.stream_info(INTENTS.name)).state.messages >= BURST
