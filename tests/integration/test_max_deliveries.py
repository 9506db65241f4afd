"""A message the server gave up redelivering (e.g. it crashed every worker) lands in the DLQ."""

from __future__ import annotations

import contextlib
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig

from events.bus import MSG_ID, Bus
from tests.busutil import messages_on
from tests.conftest import wait_for


async def test_message_that_exhausts_its_deliveries_is_dead_lettered(workers: Any, bus: Bus) -> None:
    config = ConsumerConfig(
        durable_name="crashy",
        filter_subject="intents.crashy.>",
        ack_policy=AckPolicy.EXPLICIT,
        max_deliver=2,
        ack_wait=0.3,
    )
    await bus.js.add_consumer("INTENTS", config)
    await bus.publish_raw("intents.crashy.job", b'{"poison": true}', headers={MSG_ID: "poison-1", "X-Trace": "t1"})
    crashy = await bus.js.pull_subscribe_bind("crashy", stream="INTENTS")

    async def dead_letter() -> list[tuple[str, dict[str, Any]]] | None:
        # Each fetch is a delivery that is never acked, like a worker dying mid-message; the
        # fetch after the last allowed delivery makes the server raise the advisory.
        with contextlib.suppress(TimeoutError):
            await crashy.fetch(1, timeout=0.5)
        return await messages_on(bus.js, "DLQ", "dlq.intents.crashy.job") or None

    [(_, letter)] = await wait_for(dead_letter, timeout_s=20, interval_s=0, what="the max-deliveries dead letter")
    assert letter["original_subject"] == "intents.crashy.job"
    assert letter["original_headers"]["X-Trace"] == "t1"
    assert letter["consumer"] == "crashy" and letter["deliveries"] == 2
    assert "max_deliver reached" in letter["reason"]
