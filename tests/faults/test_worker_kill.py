"""A worker SIGKILLed in the middle of an intent: after restart it completes exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from events.bus import Bus
from events.embedded import NatsServer
from events.topology import intent_event_subject
from tests.busutil import count_on_subject
from tests.conftest import TEST_ACK_WAIT_S, VALID_PROFILE, intent_settled, wait_for


class WorkerProcess:
    """``hmmtrade workers`` as a child process, its log in a file."""

    def __init__(
        self, nats_url: str, dsn: str, log_path: Path, failpoints: str = "", extra: dict[str, str] | None = None
    ) -> None:
        env = {
            **os.environ,
            "NATS_URL": nats_url,
            "DATABASE_URL": dsn,
            "HMMTRADE_ACK_WAIT_S": str(TEST_ACK_WAIT_S),
            "HMMTRADE_FAILPOINTS": failpoints,
            "HMMTRADE_LOG_JSON": "1",
            **(extra or {}),
        }
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

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            return self.process.wait(20)
        return self.process.returncode


@pytest.fixture
def spawn_worker(nats_server: NatsServer, pg_dsn: str, tmp_path: Path) -> Iterator[type[WorkerProcess]]:
    started: list[WorkerProcess] = []

    def spawn(failpoints: str = "") -> WorkerProcess:
        worker = WorkerProcess(nats_server.url, pg_dsn, tmp_path / f"worker-{len(started)}.log", failpoints)
        started.append(worker)
        return worker

    yield spawn  # type: ignore[misc]
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


@pytest.mark.parametrize(
    "failpoint",
    [
        "lifecycle.in_transaction",  # side effects not yet committed
        "lifecycle.before_publish",  # committed, outcome events not yet published
        "lifecycle.before_ack",  # committed and published, ack not sent
    ],
)
async def test_intent_completes_exactly_once_after_the_worker_is_killed(
    failpoint: str,
    spawn_worker: type[WorkerProcess],
    api: httpx.AsyncClient,
    auth: dict[str, str],
    bus: Bus,
    db: asyncpg.Connection,
) -> None:
    doomed = spawn_worker(f"{failpoint}=pause")
    created = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)
    assert created.status_code == 202
    bot_id, intent_id = created.json()["bot_id"], created.json()["intent_id"]

    async def paused() -> bool:
        return '"failpoint.hit"' in doomed.log()

    await wait_for(paused, timeout_s=30, what=f"the worker to reach {failpoint}")
    doomed.kill9()

    survivor = spawn_worker()
    intent = await intent_settled(api, auth, intent_id, timeout_s=30)
    assert intent["status"] == "done"

    async def acked() -> bool:
        info = await bus.js.consumer_info("INTENTS", "lifecycle")
        # one intent, delivered twice (consumer seq 2 for stream seq 1), nothing left unacked
        redelivered = info.delivered.consumer_seq > info.delivered.stream_seq
        return info.num_pending == 0 and info.num_ack_pending == 0 and redelivered

    await wait_for(acked, timeout_s=30, what="the redelivered intent to be acked")
    assert await db.fetchval("SELECT count(*) FROM bots WHERE id = $1::uuid", bot_id) == 1
    assert await db.fetchval("SELECT count(*) FROM processed_messages WHERE message_id = $1", intent_id) == 1
    assert await count_on_subject(bus.js, "EVENTS", intent_event_subject(intent_id, "done")) == 1
    assert await count_on_subject(bus.js, "EVENTS", f"events.bot.{bot_id}.created") == 1
    bot = (await api.get(f"/api/v1/bots/{bot_id}", headers=auth)).json()
    assert bot["status"] == "stopped"
    assert survivor.stop() == 0, survivor.log()[-2000:]

    # the survivor's canonical log line names the intent, the bot and the request behind it
    lines = [json.loads(line) for line in survivor.log().splitlines() if line.startswith("{")]
    [handled] = [line for line in lines if line["event"] == "intent.handled"]
    assert handled["intent_id"] == intent_id and handled["bot_id"] == bot_id and handled["correlation_id"]
    assert handled["replay"] is (failpoint != "lifecycle.in_transaction")
