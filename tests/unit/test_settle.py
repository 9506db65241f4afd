"""settle() turns a handler's outcome into ack, nak with backoff, or a dead letter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from events.consume import MalformedMessage, PermanentError, TransientError, settle
from events.outage import DependencyDown
from events.topology import LIFECYCLE
from tests.fakes.nats_msg import FakeDelivery, RecordingBus


async def _run(delivery: FakeDelivery, error: Exception | None, give_ups: list[str] | None = None) -> str:
    async def handle(_msg: Any) -> None:
        if error is not None:
            raise error

    async def on_give_up(_msg: Any, reason: str) -> None:
        if give_ups is not None:
            give_ups.append(reason)

    bus = RecordingBus()
    delivery.bus = bus  # type: ignore[attr-defined]
    return await settle(delivery, handle, bus=bus, consumer=LIFECYCLE, on_give_up=on_give_up)  # type: ignore[arg-type]


async def test_success_acks() -> None:
    delivery = FakeDelivery()
    assert await _run(delivery, None) == "acked"
    assert delivery.settled == [("ack", None)]


@pytest.mark.parametrize(("delivered", "delay"), [(1, 0.5), (2, 2.0), (3, 5.0), (4, 15.0)])
async def test_transient_failure_is_retried_with_growing_delay(delivered: int, delay: float) -> None:
    delivery = FakeDelivery(num_delivered=delivered)
    assert await _run(delivery, TransientError("db restarting")) == "retrying"
    assert delivery.settled == [("nak", delay)]


async def test_last_delivery_dead_letters_with_the_last_error_and_marks_failure() -> None:
    delivery = FakeDelivery(num_delivered=LIFECYCLE.max_deliver)
    give_ups: list[str] = []
    assert await _run(delivery, RuntimeError("boom"), give_ups) == "dead_lettered"
    assert delivery.settled == [("term", None)]
    [(subject, payload, headers)] = delivery.bus.published  # type: ignore[attr-defined]
    letter = json.loads(payload)
    assert subject == "dlq.intents.bot.create"
    assert headers["Nats-Msg-Id"] == "dlq:INTENTS:7"
    assert f"failed on all {LIFECYCLE.max_deliver} deliveries" in letter["reason"] and "boom" in letter["reason"]
    assert give_ups == [letter["reason"]]


@pytest.mark.parametrize(
    ("error", "prefix"),
    [(MalformedMessage("profile: Field required"), "malformed message"), (PermanentError("no"), "permanent failure")],
)
async def test_permanent_failures_skip_retries(error: Exception, prefix: str) -> None:
    delivery = FakeDelivery(num_delivered=1)
    assert await _run(delivery, error) == "dead_lettered"
    [(_, payload, _)] = delivery.bus.published  # type: ignore[attr-defined]
    assert json.loads(payload)["reason"].startswith(prefix)
    assert delivery.settled == [("term", None)]


@pytest.mark.parametrize("delivered", [1, LIFECYCLE.max_deliver])
async def test_database_outage_leaves_the_delivery_unsettled_for_the_puller_to_hold(delivered: int) -> None:
    """Not a failed attempt: no nak, no dead letter, even on what would be the last delivery."""
    delivery = FakeDelivery(num_delivered=delivered)
    with pytest.raises(DependencyDown):
        await _run(delivery, ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"))
    assert delivery.settled == []
    assert delivery.bus.published == []  # type: ignore[attr-defined]
