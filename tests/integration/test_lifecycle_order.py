"""Intents for one bot take effect in the order they were accepted, even within one pulled batch."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from contracts.intents import CreateBot, DeleteBot, StartBot, StopBot
from contracts.profile import BotProfile
from events.bus import Bus
from events.topology import intent_subject
from tests.conftest import VALID_PROFILE, intent_settled


async def test_back_to_back_intents_for_many_bots_end_in_the_last_requested_state(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    user_id = uuid.UUID((await api.get("/api/v1/me", headers=auth)).json()["id"])
    await db.execute("UPDATE users SET tier = 'team' WHERE id = $1", user_id)  # 24 bots: over free's limit
    profile = BotProfile.model_validate(VALID_PROFILE)
    expected: dict[uuid.UUID, str] = {}
    last_intents: list[str] = []
    for n in range(24):
        bot_id = uuid.uuid4()
        sequence: list[CreateBot | StartBot | StopBot | DeleteBot] = [
            CreateBot(user_id=user_id, bot_id=bot_id, profile=profile),
            StartBot(user_id=user_id, bot_id=bot_id),
        ]
        if n % 3 == 1:
            sequence.append(StopBot(user_id=user_id, bot_id=bot_id))
        if n % 3 == 2:
            sequence.append(DeleteBot(user_id=user_id, bot_id=bot_id))
        for intent in sequence:  # published back to back: the worker pulls them together
            await bus.publish(intent_subject(intent.type), intent)
        expected[bot_id] = {0: "starting", 1: "stopped", 2: "deleted"}[n % 3]
        last_intents.append(sequence[-1].id)

    for intent_id in last_intents:
        assert (await intent_settled(api, auth, intent_id))["status"] == "done"
    rows = await db.fetch("SELECT id, status FROM bots WHERE user_id = $1", user_id)
    assert {row["id"]: row["status"] for row in rows} == expected
    not_done = await db.fetchval("SELECT count(*) FROM intents WHERE user_id = $1 AND status <> 'done'", user_id)
    assert not_done == 0
