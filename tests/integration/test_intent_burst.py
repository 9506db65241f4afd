"""A burst of 5,000 mixed intents from many users is carried out completely, in order, without deadlocks.

The lifecycle worker projects a pulled batch in concurrent transactions (one per shard). Creates
lock their user's row (plan limits are counted under that lock); when shards were cut by bot, two
users' creates landed in two shards in opposite orders, Postgres broke the deadlock after its
``deadlock_timeout`` (1 s) and the aborted shard went down the one-at-a-time path: under load the
workers sat idle while tens of thousands of intents waited. The burst here has that shape.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
import httpx
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts.intents import BotIntent, CreateBot, DeleteBot, RearmBot, StartBot, StopBot
from contracts.profile import BotProfile
from events.bus import Bus
from events.topology import EVENTS, intent_subject
from tests.conftest import VALID_PROFILE, signup_and_login, wait_for

USERS = 10
INTENTS = 5_000
EVENT_OF = {"bot.create": "created", "bot.start": "started", "bot.stop": "stopped", "bot.delete": "deleted"}


async def _stored_bot_events(bus: Bus, first_seq: int, count: int) -> dict[str, list[str]]:
    """The bot events the EVENTS stream holds from ``first_seq`` on (stored once: replays are de-duplicated)."""
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first_seq, ack_policy=AckPolicy.NONE
    )
    pull = await bus.js.pull_subscribe("events.bot.>", stream=EVENTS.name, config=config)
    seen: dict[str, list[str]] = defaultdict(list)
    received = 0
    while received < count:
        for msg in await pull.fetch(1_000, timeout=10):
            seen[msg.subject.split(".")[2]].append(msg.subject.split(".")[3])
            received += 1
    await pull.unsubscribe()
    return dict(seen)


def _user_stream(user_id: uuid.UUID, profile: BotProfile, count: int) -> list[BotIntent]:
    """``count`` intents of one user, bot after bot; three bots in four end deleted (the plan's 50 bots hold)."""
    stream: list[BotIntent] = []
    n = 0
    while len(stream) < count:
        bot_id = uuid.uuid4()
        last: BotIntent = (
            StopBot(user_id=user_id, bot_id=bot_id) if n % 4 == 3 else DeleteBot(user_id=user_id, bot_id=bot_id)
        )
        stream += [
            CreateBot(user_id=user_id, bot_id=bot_id, profile=profile),
            StartBot(user_id=user_id, bot_id=bot_id),
            StopBot(user_id=user_id, bot_id=bot_id),
            RearmBot(user_id=user_id, bot_id=bot_id),
            StartBot(user_id=user_id, bot_id=bot_id),
            last,
        ]
        n += 1
    return stream[:count]


async def test_a_burst_of_mixed_intents_is_done_completely_in_order_without_deadlocks(
    api: httpx.AsyncClient, workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    profile = BotProfile.model_validate(VALID_PROFILE)
    user_ids = []
    for _ in range(USERS):
        headers = await signup_and_login(api)
        user_ids.append(uuid.UUID((await api.get("/api/v1/me", headers=headers)).json()["id"]))
    await db.execute("UPDATE users SET tier = 'team' WHERE id = ANY($1::uuid[])", user_ids)
    streams = [_user_stream(user_id, profile, INTENTS // USERS) for user_id in user_ids]
    burst = [intent for round_ in zip(*streams, strict=True) for intent in round_]  # users interleaved

    first_event = (await bus.js.stream_info(EVENTS.name)).state.last_seq + 1
    deadlocks_before = await db.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    for chunk in range(0, len(burst), 500):
        await asyncio.gather(*(bus.publish(intent_subject(i.type), i) for i in burst[chunk : chunk + 500]))

    async def all_settled() -> bool:
        settled = await db.fetchval(
            "SELECT count(*) FROM intents WHERE user_id = ANY($1::uuid[]) AND status <> 'accepted'", user_ids
        )
        return bool(settled == INTENTS)

    await wait_for(all_settled, timeout_s=300, interval_s=0.5, what=f"all {INTENTS} intents to settle")
    outcomes = await db.fetch(
        "SELECT status, count(*) AS n FROM intents WHERE user_id = ANY($1::uuid[]) GROUP BY status", user_ids
    )
    assert {row["status"]: row["n"] for row in outcomes} == {"done": INTENTS}

    expected_events: dict[str, list[str]] = defaultdict(list)
    expected_status: dict[uuid.UUID, str] = {}
    for intent in burst:
        if intent.type in EVENT_OF:
            expected_events[str(intent.bot_id)].append(EVENT_OF[intent.type])
            expected_status[intent.bot_id] = {"created": "stopped", "started": "starting"}.get(
                EVENT_OF[intent.type], EVENT_OF[intent.type]
            )

    seen = await _stored_bot_events(bus, first_event, sum(map(len, expected_events.values())))
    assert seen == dict(expected_events)  # each bot's events in the order its intents were accepted
    rows = await db.fetch("SELECT id, status FROM bots WHERE user_id = ANY($1::uuid[])", user_ids)
    assert {row["id"]: row["status"] for row in rows} == expected_status
    deadlocks = await db.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    assert deadlocks == deadlocks_before, "the lifecycle worker's shards deadlocked on users' rows"
