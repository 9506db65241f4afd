"""The notifier SIGKILLed mid-delivery: each notification reaches its channel once, or (killed
between the send and its record) twice with the same id, which the receiver drops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from events.bus import Bus
from events.embedded import NatsServer
from events.topology import bot_subject
from notify.signing import ID_HEADER, new_signing_secret
from store.pool import create_pool
from tests.conftest import TEST_ACK_WAIT_S, wait_for
from tests.notifyutil import HttpReceiver, audit_record, hosted_bot_with_channels, http_receiver
from vault.emulator import KmsEmulator
from vault.gcp import GoogleKms

HALT = [{"kind": "halt", "rule": "drawdown", "reason": "drawdown 21% exceeds the 20% limit"}]


class Worker:
    """``hmmtrade workers`` as a child process with a notifier that can open channels."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stack.cli", "workers"], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        return self.log_path.read_text()

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def spawn(
    nats_server: NatsServer, pg_dsn: str, kms_emulator: KmsEmulator, tmp_path: Path
) -> Iterator[Callable[[str], Worker]]:
    started: list[Worker] = []

    def start(failpoints: str = "") -> Worker:
        env = {
            **os.environ,
            "NATS_URL": nats_server.url,
            "DATABASE_URL": pg_dsn,
            "KMS_ENDPOINT": kms_emulator.endpoint,
            "KMS_EMULATOR_TOKEN": kms_emulator.token,
            "HMMTRADE_ACK_WAIT_S": str(TEST_ACK_WAIT_S),
            "HMMTRADE_NOTIFY_LEASE_S": "2",
            "HMMTRADE_FAILPOINTS": failpoints,
            "HMMTRADE_LOG_JSON": "1",
        }
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pg_dsn, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async with http_receiver() as started:
        yield started


async def _killed_at(failpoint: str, spawn: Callable[[str], Worker], bus: Bus, pool: asyncpg.Pool,
                     kms: GoogleKms, receiver: HttpReceiver) -> tuple[str, asyncpg.Record]:  # fmt: skip
    """Publish a halt, kill the worker paused at ``failpoint``, let a new one finish; (notification id, row)."""
    _, bot_id, (channel,) = await hosted_bot_with_channels(
        pool, kms, [("webhook", {"url": receiver.url, "signing_secret": new_signing_secret()})], events=["halt"]
    )
    doomed = spawn(f"{failpoint}=pause")

    async def ready() -> bool:
        return '"workers.started"' in doomed.log()

    await wait_for(ready, timeout_s=60, what="the first worker to start")
    await bus.publish(bot_subject(bot_id, "audit"), audit_record(bot_id, 9, events=HALT))

    async def paused() -> bool:
        return '"failpoint.hit"' in doomed.log()

    await wait_for(paused, timeout_s=30, what=f"the worker to reach {failpoint}")
    doomed.kill9()
    spawn("")

    async def settled() -> asyncpg.Record | None:
        row = await pool.fetchrow("SELECT status, attempts FROM notification_deliveries WHERE channel_id = $1", channel)
        info = await bus.js.consumer_info("BOTS", "notify-audit")
        done = row is not None and row["status"] == "sent" and info.num_ack_pending == 0 and info.num_pending == 0
        return row if done else None

    row = await wait_for(settled, timeout_s=60, what="the delivery to be recorded and the record acked")
    return f"{bot_id}:9:halt:0", row


async def test_killed_after_queueing_before_the_ack_the_notification_is_sent_once(
    spawn: Callable[[str], Worker], bus: Bus, pool: asyncpg.Pool, kms_emulator: KmsEmulator, receiver: HttpReceiver
) -> None:
    kms = GoogleKms.from_endpoint(kms_emulator.endpoint, emulator_token=kms_emulator.token)
    note_id, row = await _killed_at("notify.before_ack", spawn, bus, pool, kms, receiver)
    assert [r.headers[ID_HEADER] for r in receiver.received] == [note_id]
    assert row["attempts"] == 1


async def test_killed_between_send_and_record_the_resend_carries_the_same_id(
    spawn: Callable[[str], Worker], bus: Bus, pool: asyncpg.Pool, kms_emulator: KmsEmulator, receiver: HttpReceiver
) -> None:
    kms = GoogleKms.from_endpoint(kms_emulator.endpoint, emulator_token=kms_emulator.token)
    note_id, row = await _killed_at("notify.after_send", spawn, bus, pool, kms, receiver)
    # the documented window: sent, then killed before the ledger said so -> sent again after the
    # lease; a receiver that keeps the ids it has seen handles it once
    ids = [r.headers[ID_HEADER] for r in receiver.received]
    assert ids == [note_id, note_id]
    assert row["status"] == "sent"
