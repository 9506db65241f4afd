"""A billing worker that dies after committing but before publishing loses nothing on redelivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from billing.settings import StripeSettings
from billing.stripe_gateway import StripeClientGateway
from contracts.intents import BillingCanceled
from events.bus import Bus, BusUnavailable
from store.pool import create_pool
from tests.billingutil import canceled_user_with_hosted_bots
from tests.busutil import messages_on
from tests.fakes.nats_msg import FakeDelivery
from workers import billing
from workers.billing_deps import BillingDeps


class DyingBus(Bus):
    """Publishes nothing, as if the process died right after its transaction committed."""

    async def publish_raw(self, subject: str, payload: bytes, *, headers: Any) -> Any:
        raise BusUnavailable("the worker died here")


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(pg_dsn, max_size=4)
    yield p
    await p.close()


async def test_a_cancel_applied_before_a_crash_still_stops_every_bot_once_on_redelivery(
    pool: asyncpg.Pool, db: asyncpg.Connection, bus: Bus, nats_server: Any
) -> None:
    from events.topology import ensure_topology

    await ensure_topology(bus.js)
    user_id, bots = await canceled_user_with_hosted_bots(db, 2)
    intent = BillingCanceled(
        id="evt_crash:billing.canceled", user_id=user_id, subscription_id=f"sub_{user_id.hex[:12]}"
    )
    data = intent.model_dump_json().encode()
    gateway = StripeClientGateway(StripeSettings())
    dying = BillingDeps(
        pool=pool, bus=DyingBus(nats_server.url, name="dying"), gateway=gateway, stripe=StripeSettings()
    )
    with pytest.raises(BusUnavailable):
        await billing.handle(FakeDelivery(subject="intents.billing.canceled", data=data), dying)  # type: ignore[arg-type]
    assert await db.fetchval("SELECT tier FROM users WHERE id = $1", user_id) == "free"  # committed
    assert await messages_on(bus.js, "INTENTS", "intents.bot.stop") == []  # but nothing was published

    alive = BillingDeps(pool=pool, bus=bus, gateway=gateway, stripe=StripeSettings())
    for delivery in (2, 3):  # the redelivery replays the saved stops; a third changes nothing
        msg = FakeDelivery(subject="intents.billing.canceled", data=data, num_delivered=delivery)
        await billing.handle(msg, alive)  # type: ignore[arg-type]
    stops = [m for _, m in await messages_on(bus.js, "INTENTS", "intents.bot.stop")]
    assert sorted(m["bot_id"] for m in stops) == sorted(map(str, bots))
    assert {m["id"] for m in stops} == {billing.stop_intent_id(intent.id, b) for b in bots}
    assert {m["reason"] for m in stops} == {"subscription canceled"}
    await gateway.close()
