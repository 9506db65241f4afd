"""Instrumentation sites record into the active process's registry, and only there."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import generate_latest

from events.consume import TransientError, settle
from events.topology import LIFECYCLE
from metrics import observe
from metrics.scope import ProcessMetrics, activate, deactivate
from tests.fakes.nats_msg import FakeDelivery, RecordingBus
from tests.metricsutil import parse, value


async def _settle(delivery: FakeDelivery, error: Exception | None) -> str:
    async def handle(_msg: Any) -> None:
        if error is not None:
            raise error

    return await settle(delivery, handle, bus=RecordingBus(), consumer=LIFECYCLE)  # type: ignore[arg-type]


def _samples(process: ProcessMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return parse(generate_latest(process.registry).decode())


async def test_settle_counts_outcomes_redeliveries_and_handle_time_per_consumer() -> None:
    workers = ProcessMetrics.for_workers()
    token = activate(workers)
    try:
        await _settle(FakeDelivery(num_delivered=1), None)
        await _settle(FakeDelivery(num_delivered=2), TransientError("db restarting"))
        await _settle(FakeDelivery(num_delivered=3), None)
    finally:
        deactivate(token)
    samples = _samples(workers)
    assert value(samples, "hmmtrade_consumer_messages_total", consumer="lifecycle", outcome="acked") == 2
    assert value(samples, "hmmtrade_consumer_messages_total", consumer="lifecycle", outcome="retrying") == 1
    assert value(samples, "hmmtrade_consumer_redeliveries_total", consumer="lifecycle") == 2
    assert value(samples, "hmmtrade_consumer_handle_duration_seconds_count", consumer="lifecycle") == 3


async def test_two_processes_in_one_interpreter_keep_separate_registries() -> None:
    api, workers = ProcessMetrics.for_api(), ProcessMetrics.for_workers()

    async def as_process(process: ProcessMetrics, kind: str) -> None:
        activate(process)  # a task's own context copy: the other task is not affected
        observe.intent_accepted(kind)
        observe.ledger_replay("lifecycle")

    await asyncio.gather(asyncio.create_task(as_process(api, "bot.create")), as_process(workers, "bot.stop"))
    assert value(_samples(api), "hmmtrade_intents_accepted_total", kind="bot.create") == 1
    assert value(_samples(api), "hmmtrade_intents_accepted_total", kind="bot.stop") == 0
    assert value(_samples(workers), "hmmtrade_ledger_replays_total", consumer="lifecycle") == 1
    assert value(_samples(api), "hmmtrade_ledger_replays_total", consumer="lifecycle") == 0


class KmsDown(Exception):
    pass


@observe.vendor_call("kms", "encrypt")
async def _encrypt(fail: bool) -> bytes:
    if fail:
        raise KmsDown("unreachable")
    return b"wrapped"


async def test_vendor_calls_are_timed_and_their_errors_counted_by_exception_class() -> None:
    api = ProcessMetrics.for_api()
    token = activate(api)
    try:
        assert await _encrypt(False) == b"wrapped"
        with pytest.raises(KmsDown):
            await _encrypt(True)
    finally:
        deactivate(token)
    assert await _encrypt(False) == b"wrapped"  # no active metrics: the call still works, nothing recorded
    samples = _samples(api)
    assert value(samples, "hmmtrade_vendor_call_duration_seconds_count", vendor="kms", operation="encrypt") == 2
    assert value(samples, "hmmtrade_vendor_call_errors_total", vendor="kms", operation="encrypt", error="KmsDown") == 1


def test_a_bot_bar_counts_the_tick_its_orders_and_the_decision_time() -> None:
    bot = ProcessMetrics.for_bot()
    token = activate(bot)
    try:
        observe.bot_bar(0.002, None)  # warm-up: a bar, no decision
        observe.bot_bar(0.004, {"executions": [{"status": "filled"}, {"status": "rejected"}, {"status": "filled"}]})
        observe.bot_outbox(lambda: 512)
    finally:
        deactivate(token)
    samples = _samples(bot)
    assert value(samples, "hmmtrade_bot_bars_total") == 2
    assert value(samples, "hmmtrade_bot_ticks_total") == 1
    assert value(samples, "hmmtrade_bot_decision_duration_seconds_count") == 2
    assert value(samples, "hmmtrade_bot_orders_total", outcome="filled") == 2
    assert value(samples, "hmmtrade_bot_orders_total", outcome="rejected") == 1
    assert value(samples, "hmmtrade_bot_audit_pending_bytes") == 512
    assert value(samples, "hmmtrade_bot_last_tick_timestamp_seconds") > 0


def test_audit_lag_and_the_newest_audit_per_bot() -> None:
    workers = ProcessMetrics.for_workers()
    token = activate(workers)
    try:
        observe.audit_stored([("bot-a", 1_000.0), ("bot-a", 2_000.0), ("bot-b", 1_500.0)])
    finally:
        deactivate(token)
    samples = _samples(workers)
    assert value(samples, "hmmtrade_bot_audit_lag_seconds_count") == 3
    assert value(samples, "hmmtrade_bot_last_audit_timestamp_seconds", bot_id="bot-a") == 2_000.0
    assert value(samples, "hmmtrade_bot_last_audit_timestamp_seconds", bot_id="bot-b") == 1_500.0
