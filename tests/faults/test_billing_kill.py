"""A real ``hmmtrade workers`` process SIGKILLed while it applies a subscription cancel: frozen
after the tier change committed but before the bot stops were published, and after they were
published but before the ack. After a restart every hosted bot is stopped exactly once, with
the reason, and the tier stays what the subscription says."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from contracts.intents import BillingCanceled
from events.bus import Bus
from events.embedded import NatsServer
from events.topology import intent_subject
from tests.billingutil import canceled_user_with_hosted_bots
from tests.busutil import messages_on
from tests.conftest import TEST_ACK_WAIT_S, wait_for
from tests.controlplane import ControlPlane, control_plane_env
from workers import billing


@pytest.fixture
def plane(nats_server: NatsServer, pg_dsn: str, tmp_path: Path) -> Iterator[ControlPlane]:
    env = control_plane_env(NATS_URL=nats_server.url, DATABASE_URL=pg_dsn, HMMTRADE_ACK_WAIT_S=str(TEST_ACK_WAIT_S))
    control = ControlPlane(env, tmp_path)
    yield control
    control.kill_all()


@pytest.mark.parametrize("failpoint", ["billing.before_publish", "billing.before_ack"])
async def test_a_cancel_survives_a_sigkill_of_its_worker_and_stops_each_bot_once(
    failpoint: str, plane: ControlPlane, db: asyncpg.Connection, bus: Bus
) -> None:
    doomed = await plane.start_workers(f"{failpoint}=pause")
    user_id, bots = await canceled_user_with_hosted_bots(db, 2)
    intent = BillingCanceled(id=f"evt_kill_{uuid.uuid4().hex[:8]}:billing.canceled", user_id=user_id,
                             subscription_id=f"sub_{user_id.hex[:12]}")  # fmt: skip
    await bus.publish(intent_subject(intent.type), intent)

    async def frozen() -> bool:
        return f'"{failpoint}"' in doomed.log()

    await wait_for(frozen, timeout_s=60, what=f"the worker to freeze at {failpoint}")
    assert await db.fetchval("SELECT tier FROM users WHERE id = $1", user_id) == "free"  # committed
    published = await messages_on(bus.js, "INTENTS", "intents.bot.stop")
    assert len(published) == (0 if failpoint == "billing.before_publish" else 2)
    doomed.kill9()

    survivor = await plane.start_workers()

    async def all_stopped() -> list[asyncpg.Record] | None:
        rows = await db.fetch("SELECT status, status_reason FROM bots WHERE user_id = $1", user_id)
        return rows if all(r["status"] == "stopped" for r in rows) else None

    rows = await wait_for(all_stopped, timeout_s=60, what="both hosted bots to be stopped")
    assert {r["status_reason"] for r in rows} == {"subscription canceled"}
    stops = [m for _, m in await messages_on(bus.js, "INTENTS", "intents.bot.stop")]
    assert sorted(m["bot_id"] for m in stops) == sorted(map(str, bots))  # each bot once
    assert {m["id"] for m in stops} == {billing.stop_intent_id(intent.id, b) for b in bots}
    assert await db.fetchval("SELECT count(*) FROM processed_messages WHERE message_id = $1", intent.id) == 1
    assert await db.fetchval("SELECT tier FROM users WHERE id = $1", user_id) == "free"

    async def handled() -> list[dict[str, object]] | None:
        lines = [json.loads(line) for line in survivor.log().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("event") == "billing.intent_handled"] or None

    [line] = await wait_for(handled, timeout_s=30, what="the survivor's log line")
    assert line["replay"] is True and line["intent_id"] == intent.id
