"""The workers' side alone: how fast the lifecycle worker drains a backlog it did not see arrive.

The stack's workers process is paused (SIGSTOP) while clients have ``count`` intents accepted
(creates, starts and stops, every user inside its plan), then resumed; the rate is ``count``
over the time from the resume to the last outcome event. With the API idle during the drain,
this is the workers' own ceiling, which the closed-loop rows of ``bench/intents`` share the
two cores with.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import nats

from bench.http1 import Http1Connection
from bench.intents import _login, _subscribe_team
from bench.stack import LocalStack
from billing.plans import plan

CREATES_PER_USER = plan("team").max_bots - 1  # each user's own bot is the first of the plan's bots
USERS = 16


def workers_pid(stack: LocalStack) -> int:
    """The ``stack.cli workers`` process under this stack's ``hmmtrade up``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == stack.up_pid and b"stack.cli" in cmdline and b"workers" in cmdline:
            return int(proc.name)
    raise RuntimeError("no workers process under the stack")


async def _user(stack: LocalStack, profile: dict[str, Any]) -> tuple[Http1Connection, dict[str, str], str]:
    conn = Http1Connection(stack.api_host, stack.api_port)
    headers = await _login(conn, f"drain-{uuid.uuid4().hex[:10]}@example.com")
    await _subscribe_team(conn, headers)
    status, body = await conn.request("POST", "/api/v1/bots", body=profile, headers=headers)
    assert status == 202, body
    while True:
        status, intent = await conn.request("GET", f"/api/v1/intents/{body['intent_id']}", headers=headers)
        if status == 200 and intent["status"] != "accepted":
            return conn, headers, str(body["bot_id"])
        await asyncio.sleep(0.05)


async def measure_drain(stack: LocalStack, profile: dict[str, Any], count: int) -> dict[str, Any]:
    users = [await _user(stack, profile) for _ in range(USERS)]
    nc = await nats.connect(stack.nats_url, **stack.nats_options())
    settled: dict[str, float] = {}

    async def on_outcome(msg: Any) -> None:
        settled.setdefault(msg.subject.split(".")[2], time.perf_counter())

    await nc.subscribe("events.intent.*.done", cb=on_outcome)
    await nc.subscribe("events.intent.*.failed", cb=on_outcome)
    pid = workers_pid(stack)
    os.kill(pid, signal.SIGSTOP)
    accepted: list[str] = []
    try:

        async def one_user(conn: Http1Connection, headers: dict[str, str], bot: str, n: int) -> None:
            # create, start, stop, start while the plan has room; then starts and stops
            calls = [("/api/v1/bots", profile), (f"/api/v1/bots/{bot}/start", None)]
            calls += [(f"/api/v1/bots/{bot}/stop", None), (f"/api/v1/bots/{bot}/start", None)]
            for i in range(n):
                path, body = calls[i % len(calls) if i < 4 * CREATES_PER_USER else 1 + i % 2]
                status, reply = await conn.request("POST", path, body=body, headers=headers)
                assert status == 202, (status, reply)
                accepted.append(reply["intent_id"])

        shares = [count // USERS + (1 if i < count % USERS else 0) for i in range(USERS)]
        await asyncio.gather(*(one_user(*user, n) for user, n in zip(users, shares, strict=True)))
    finally:
        resumed = time.perf_counter()
        os.kill(pid, signal.SIGCONT)
    deadline = resumed + 120
    while time.perf_counter() < deadline and len(settled.keys() & set(accepted)) < len(accepted):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    done = [settled[i] for i in accepted if i in settled]
    await nc.close()
    for conn, _, _ in users:
        await conn.close()
    took = max(done, default=resumed) - resumed
    return {
        "intents": len(accepted),
        "settled": len(done),
        "drain_s": round(took, 2),
        "per_s": round(len(done) / took, 1),
    }
