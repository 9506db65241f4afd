"""A burst of mixed bot intents from many users, and the checks that it was carried out exactly
once and in each bot's order: shared by the burst, cluster and worker-replica tests."""

from __future__ import annotations

import uuid
from collections import defaultdict

import asyncpg
import httpx
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts.intents import BotIntent, CreateBot, DeleteBot, RearmBot, StartBot, StopBot
from contracts.profile import BotProfile
from events.bus import Bus
from events.topology import EVENTS
from tests.conftest import VALID_PROFILE, signup_and_login, wait_for

EVENT_OF = {"bot.create": "created", "bot.start": "started", "bot.stop": "stopped", "bot.delete": "deleted"}


async def team_users(api: httpx.AsyncClient, db: asyncpg.Connection, count: int) -> list[uuid.UUID]:
    """``count`` new users on the team plan (50 bots each)."""
    user_ids = []
    for _ in range(count):
        headers = await signup_and_login(api)
        user_ids.append(uuid.UUID((await api.get("/api/v1/me", headers=headers)).json()["id"]))
    await db.execute("UPDATE users SET tier = 'team' WHERE id = ANY($1::uuid[])", user_ids)
    return user_ids


def user_stream(user_id: uuid.UUID, profile: BotProfile, count: int) -> list[BotIntent]:
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


def mixed_burst(user_ids: list[uuid.UUID], count: int) -> list[BotIntent]:
    """``count`` intents, the users' streams interleaved intent by intent."""
    profile = BotProfile.model_validate(VALID_PROFILE)
    streams = [user_stream(user_id, profile, count // len(user_ids)) for user_id in user_ids]
    return [intent for round_ in zip(*streams, strict=True) for intent in round_]


async def settled(db: asyncpg.Connection, user_ids: list[uuid.UUID]) -> int:
    """How many of these users' intents have an outcome."""
    return int(
        await db.fetchval(
            "SELECT count(*) FROM intents WHERE user_id = ANY($1::uuid[]) AND status <> 'accepted'", user_ids
        )
    )


async def wait_all_settled(db: asyncpg.Connection, user_ids: list[uuid.UUID], count: int, timeout_s: float) -> None:
    async def all_settled() -> bool:
        return await settled(db, user_ids) == count

    await wait_for(all_settled, timeout_s=timeout_s, interval_s=0.5, what=f"all {count} intents to settle")


async def stored_bot_events(bus: Bus, first_seq: int, bots: set[str], count: int) -> dict[str, list[str]]:
    """The events of ``bots`` the EVENTS stream holds from ``first_seq`` on (stored once: replays
    are de-duplicated), read until ``count`` are found; other bots' events are passed over."""
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first_seq, ack_policy=AckPolicy.NONE
    )
    pull = await bus.js.pull_subscribe("events.bot.>", stream=EVENTS.name, config=config)
    seen: dict[str, list[str]] = defaultdict(list)
    received = 0
    while received < count:
        for msg in await pull.fetch(1_000, timeout=10):
            _, _, bot, event = msg.subject.split(".")[:4]
            if bot in bots:
                seen[bot].append(event)
                received += 1
    await pull.unsubscribe()
    return dict(seen)


def expected_events(burst: list[BotIntent]) -> dict[str, list[str]]:
    """Each bot's events, in the order its intents were accepted."""
    expected: dict[str, list[str]] = defaultdict(list)
    for intent in burst:
        if intent.type in EVENT_OF:
            expected[str(intent.bot_id)].append(EVENT_OF[intent.type])
    return dict(expected)


async def wait_intents_settled(db: asyncpg.Connection, intent_ids: list[str], timeout_s: float) -> None:
    async def all_settled() -> bool:
        settled = await db.fetchval(
            "SELECT count(*) FROM intents WHERE id = ANY($1::text[]) AND status <> 'accepted'", intent_ids
        )
        return bool(settled == len(intent_ids))

    await wait_for(all_settled, timeout_s=timeout_s, interval_s=0.5, what=f"all {len(intent_ids)} intents to settle")


async def assert_done_once(db: asyncpg.Connection, intent_ids: list[str]) -> None:
    """Every intent done, and carried out by exactly one ledger row of the lifecycle consumer."""
    outcomes = await db.fetch(
        "SELECT status, count(*) AS n FROM intents WHERE id = ANY($1::text[]) GROUP BY status", intent_ids
    )
    assert {row["status"]: row["n"] for row in outcomes} == {"done": len(intent_ids)}
    ledger = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT message_id) AS distinct_ids FROM processed_messages"
        " WHERE consumer = 'lifecycle' AND message_id = ANY($1::text[])",
        intent_ids,
    )
    assert (ledger["n"], ledger["distinct_ids"]) == (len(intent_ids), len(intent_ids)), "each intent carried out once"


async def assert_done_once_in_order(db: asyncpg.Connection, bus: Bus, burst: list[BotIntent], first_event: int) -> None:
    """Every intent done, by one ledger row each, and each bot's events stored once and in order."""
    await assert_done_once(db, [intent.id for intent in burst])
    expected = expected_events(burst)
    seen = await stored_bot_events(bus, first_event, set(expected), sum(map(len, expected.values())))
    wrong = {bot: (seen.get(bot), events) for bot, events in expected.items() if seen.get(bot) != events}
    # once each (replays are de-duplicated) and in each bot's order
    assert not wrong and seen.keys() == expected.keys(), f"{len(wrong)} bots differ, e.g. {list(wrong.items())[:3]}"
