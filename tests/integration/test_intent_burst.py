"""A burst of 5,000 mixed intents from many users is carried out completely, in order, without deadlocks.

The lifecycle worker projects a pulled batch in concurrent transactions (one per shard). Creates
lock their user's row (plan limits are counted under that lock); when shards were cut by bot, two
users' creates landed in two shards in opposite orders, Postgres broke the deadlock after its
``deadlock_timeout`` (1 s) and the aborted shard went down the one-at-a-time path: under load the
workers sat idle while tens of thousands of intents waited. The burst here has that shape.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx

from events.bus import Bus
from events.topology import EVENTS, intent_subject
from tests.intentburst import assert_done_once_in_order, expected_events, mixed_burst, team_users, wait_all_settled

USERS = 10
INTENTS = 5_000


async def test_a_burst_of_mixed_intents_is_done_completely_in_order_without_deadlocks(
    api: httpx.AsyncClient, workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    user_ids = await team_users(api, db, USERS)
    burst = mixed_burst(user_ids, INTENTS)
    first_event = (await bus.js.stream_info(EVENTS.name)).state.last_seq + 1
    deadlocks_before = await db.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    for chunk in range(0, len(burst), 500):
        await asyncio.gather(*(bus.publish(intent_subject(i.type), i) for i in burst[chunk : chunk + 500]))

    await wait_all_settled(db, user_ids, INTENTS, timeout_s=300)
    await assert_done_once_in_order(db, bus, burst, first_event)
    final = {bot_id: events[-1] for bot_id, events in expected_events(burst).items()}
    rows = await db.fetch("SELECT id, status FROM bots WHERE user_id = ANY($1::uuid[])", user_ids)
    assert {str(row["id"]): row["status"] for row in rows} == {
        bot_id: {"created": "stopped", "started": "starting"}.get(last, last) for bot_id, last in final.items()
    }
    deadlocks = await db.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    assert deadlocks == deadlocks_before, "the lifecycle worker's shards deadlocked on users' rows"
