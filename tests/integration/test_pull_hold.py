"""The pull loop through a database outage, against a real nats-server: the delivery in hand is
held (kept alive with in-progress acks) and handled once when the database answers again; a
second replica pulling meanwhile is not handed it, and no delivery is spent."""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg

from events.bus import MSG_ID, Bus
from events.consume import settle
from events.pull import BatchPuller
from events.topology import BROKERS, ensure_topology
from tests.conftest import wait_for

ACK_WAIT_S = 1.0


async def test_a_database_outage_holds_the_delivery_without_spending_it(bus: Bus) -> None:
    await ensure_topology(bus.js, ack_wait_s=ACK_WAIT_S)
    database_up = asyncio.Event()
    handled: list[tuple[str, int]] = []

    async def handle(msg: Msg) -> None:
        if not database_up.is_set():
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        handled.append((msg.headers[MSG_ID] if msg.headers else "", msg.metadata.num_delivered))

    async def each(batch: list[Msg]) -> None:
        for msg in batch:
            await settle(msg, handle, bus=bus, consumer=BROKERS)

    holder = BatchPuller(bus, BROKERS, each, idle_wait_s=0.5)
    other_replica = BatchPuller(bus, BROKERS, each, idle_wait_s=0.5)
    holder.start()
    try:
        await bus.publish_raw("intents.broker.connect", b"{}", headers={MSG_ID: "held-intent"})

        async def in_hand() -> bool:
            return (await bus.js.consumer_info("INTENTS", BROKERS.durable)).num_ack_pending == 1

        await wait_for(in_hand, what="the first replica to hold the intent")
        other_replica.start()  # pulls all through the outage: a lapsed ack wait would hand it the intent
        await asyncio.sleep(3 * ACK_WAIT_S)  # the outage's length is the scenario, not a wait for something
        database_up.set()

        async def acked() -> bool:
            info = await bus.js.consumer_info("INTENTS", BROKERS.durable)
            return bool(handled) and info.num_ack_pending == 0

        await wait_for(acked, what="the held intent to be handled and acked once the database is back")
        info = await bus.js.consumer_info("INTENTS", BROKERS.durable)
        assert handled == [("held-intent", 1)]
        assert info.delivered.consumer_seq == 1 and info.num_redelivered == 0
        assert (await bus.js.stream_info("DLQ")).state.messages == 0
    finally:
        await holder.stop()
        await other_replica.stop()
