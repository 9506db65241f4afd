"""A projected batch's events reach the stream in each bot's order before the batch is acked,
even when the bus fails some publishes (a node failing over): the puller must not move on to
the next batch, whose events would then be stored before these."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any, cast

import pytest

from contracts.intents import StartBot, StopBot
from events.bus import MSG_ID, Bus, BusUnavailable
from events.failpoints import Failpoints
from store.fences import FenceLost
from workers import lifecycle_batch
from workers.lease import Fence
from workers.lifecycle import LifecycleDeps
from workers.lifecycle_batch import Projected, _publish_and_ack


class FlakyBus:
    """Stores what it is sent; refuses the publishes of ``refuse`` the first ``times`` attempts each."""

    def __init__(self, refuse: set[str], times: int) -> None:
        self.stored: list[str] = []
        self._refusals = dict.fromkeys(refuse, times)
        self.log: list[str] = []

    async def publish_raw(self, subject: str, payload: bytes, *, headers: Mapping[str, str]) -> None:
        event_id = headers[MSG_ID]
        self.log.append(event_id)
        await asyncio.sleep(0)  # publishes of other bots interleave
        if self._refusals.get(event_id, 0) > 0:
            self._refusals[event_id] -= 1
            raise BusUnavailable("the message bus did not acknowledge the publish (NoStreamResponseError)")
        if event_id not in self.stored:  # the stream de-duplicates by message id
            self.stored.append(event_id)


class Delivery:
    def __init__(self, bus: FlakyBus) -> None:
        self._bus = bus
        self.is_acked = False
        self.in_progress_calls = 0
        self.stored_when_acked: list[str] = []

    async def ack(self) -> None:
        self.stored_when_acked = list(self._bus.stored)
        self.is_acked = True

    async def in_progress(self) -> None:
        self.in_progress_calls += 1


def _event(bot: str, n: int) -> dict[str, Any]:
    return {"subject": f"events.bot.{bot}.e{n}", "payload": "{}", "id": f"{bot}-{n}", "type": "BotEvent"}


def _batch(bus: FlakyBus, bots: dict[str, uuid.UUID], events_per_intent: int = 2) -> list[Projected]:
    projected: list[Projected] = []
    user = uuid.uuid4()
    for round_ in range(2):
        for name, bot_id in bots.items():
            intent = (StartBot if round_ == 0 else StopBot)(user_id=user, bot_id=bot_id)
            events = [_event(name, round_ * events_per_intent + k) for k in range(events_per_intent)]
            projected.append((cast(Any, Delivery(bus)), intent, events))
    return projected


def _deps(bus: FlakyBus, fence: Fence | None = None) -> LifecycleDeps:
    return LifecycleDeps(pool=cast(Any, None), bus=cast(Bus, bus), failpoints=Failpoints(), fence=fence, ack_wait_s=0.3)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle_batch, "FIRST_RETRY_S", 0.05)
    monkeypatch.setattr(lifecycle_batch, "MAX_RETRY_S", 0.1)


async def test_refused_publishes_are_retried_in_place_and_each_bot_keeps_its_order() -> None:
    bus = FlakyBus(refuse={"a-1", "b-0"}, times=3)
    bots = {"a": uuid.uuid4(), "b": uuid.uuid4()}
    projected = _batch(bus, bots)

    await _publish_and_ack(projected, _deps(bus))

    for name in bots:
        assert [e for e in bus.stored if e.startswith(name)] == [f"{name}-{n}" for n in range(4)]
    # nothing acked before every event of the batch was stored
    assert all(cast(Delivery, msg).stored_when_acked == bus.stored for msg, _, _ in projected)
    # a bot's next event is not sent while an earlier one is unstored
    assert bus.log.index("a-2") > max(i for i, e in enumerate(bus.log) if e == "a-1")


async def test_deliveries_are_kept_in_progress_while_the_bus_refuses() -> None:
    bus = FlakyBus(refuse={"a-0"}, times=8)  # about 0.75 s of retries, over two ack waits
    projected = _batch(bus, {"a": uuid.uuid4()})

    await _publish_and_ack(projected, _deps(bus))

    assert all(cast(Delivery, msg).in_progress_calls >= 2 for msg, _, _ in projected)
    assert all(cast(Delivery, msg).is_acked for msg, _, _ in projected)


async def test_a_replica_that_lost_its_lease_stops_retrying_and_acks_nothing() -> None:
    bus = FlakyBus(refuse={"a-0"}, times=1_000)
    fence = Fence(name="lifecycle", token=1)
    projected = _batch(bus, {"a": uuid.uuid4()})
    fence.lost.set()

    with pytest.raises(FenceLost):
        await _publish_and_ack(projected, _deps(bus, fence))
    assert bus.stored == [] and not any(cast(Delivery, msg).is_acked for msg, _, _ in projected)
