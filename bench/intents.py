"""Benchmark: accepted intents/s and latencies of the control plane, against a local stack.

C clients (one user and one keep-alive connection each) loop over POST /api/v1/bots,
POST /bots/{id}/start, POST /bots/{id}/stop and DELETE /bots/{id} (of a bot this client
created earlier whose create is done; another start while none is) for a fixed time. Every
user subscribes to ``team`` through the local Stripe emulator during the warm-up and stays
inside it as a careful client would: a create is sent only while the client's bots (its own,
those created and not yet asked to delete, those whose delete is not done) are fewer than the
plan's 50, else another start; so every failure is a real one. Every 202 is an intent
stored in JetStream; its ``events.intent.<id>.done`` event, observed on the bus, gives
the intent-to-done latency, and done/s counts outcomes seen while the load ran (a backlog
left for later does not count; "drain s" is how long after the load the last one came). A
503 with Retry-After is the API's backpressure (``HMMTRADE_INTENT_BACKLOG_MAX``). Then the
workers alone drain a backlog (``bench/intents_drain.py``). In the same run, one Python
process publishing raw JetStream messages with ``publish_async`` gives the ceiling.

    ./dev bench intents [--duration 20] [--clients 32 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats

from bench.http1 import Http1Connection
from bench.stack import LocalStack, local_stack
from billing.plans import plan
from events.bus import server_urls
from events.embedded import find_nats_server, free_port, port_is_free, stop_process

PROFILE: dict[str, Any] = {
    "basics": {"name": "Bench bot", "surface": "local", "mode": "paper"},
    "market": {"symbols": ["SPY"], "data_source": "sp500"},
    "model": {"n_states": 3},
    "strategy": {"exposure_per_regime": [0.0, 0.5, 1.0]},
    "schedule": {"confirmed": True},
}
PLAN_MAX_BOTS = plan("team").max_bots
GOALS = {"accepted_per_s": 1000.0, "request_p99_ms": 50.0, "done_p99_ms": 250.0}


@dataclass
class Run:
    clients: int
    duration_s: float
    accepted: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    request_ms: list[float] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)
    done_at: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    failed_at: dict[str, float] = field(default_factory=dict)
    load_from: float = 0.0
    load_until: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def _login(conn: Http1Connection, email: str) -> dict[str, str]:
    creds = {"email": email, "password": "benchmark password"}
    await conn.request("POST", "/api/v1/auth/signup", body=creds)
    status, body = await conn.request("POST", "/api/v1/auth/login", body=creds)
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}"}


async def _subscribe_team(conn: Http1Connection, headers: dict[str, str]) -> None:
    """Pay for ``team`` on the emulator's Checkout page and wait until the plan is in force."""
    status, session = await conn.request("POST", "/api/v1/billing/checkout", body={"plan": "team"}, headers=headers)
    assert status == 200, session
    url = urlsplit(session["url"])
    payer = Http1Connection(url.hostname or "127.0.0.1", url.port or 80)
    await payer.request("POST", url.path)
    await payer.close()
    for _ in range(600):
        status, billing = await conn.request("GET", "/api/v1/billing", headers=headers)
        if status == 200 and billing["plan"] == "team":
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the team plan never came into force")


async def _client(
    stack: LocalStack, run: Run, ready: asyncio.Queue[int], start: asyncio.Event, stop_at: list[float], n: int
) -> None:
    conn = Http1Connection(stack.api_host, stack.api_port)
    headers = await _login(conn, f"bench-{n}-{uuid.uuid4().hex[:8]}@example.com")
    status, body = await conn.request("POST", "/api/v1/bots", body=PROFILE, headers=headers)
    assert status == 202, body
    bot_id = body["bot_id"]
    while True:  # the bot must exist before it can be started
        status, intent = await conn.request("GET", f"/api/v1/intents/{body['intent_id']}", headers=headers)
        if status == 200 and intent["status"] == "done":
            break
        await asyncio.sleep(0.05)
    await _subscribe_team(conn, headers)
    ready.put_nowait(n)
    await start.wait()
    calls = [
        ("POST", "/api/v1/bots", PROFILE),
        ("POST", f"/api/v1/bots/{bot_id}/start", None),
        ("POST", f"/api/v1/bots/{bot_id}/stop", None),
        ("DELETE", "", None),
    ]
    created: list[tuple[str, str]] = []  # (create intent id, bot id), oldest first
    deletes: list[str] = []  # delete intent ids
    i = 0
    while time.perf_counter() < stop_at[0]:
        method, path, payload = calls[i % len(calls)]
        i += 1
        if method == "DELETE":
            if created and created[0][0] in run.done_at:
                path = f"/api/v1/bots/{created.pop(0)[1]}"
            else:
                method, path = "POST", f"/api/v1/bots/{bot_id}/start"
        elif path == "/api/v1/bots" and not _may_create(created, deletes, run):
            method, path, payload = "POST", f"/api/v1/bots/{bot_id}/start", None
        sent = time.perf_counter()
        try:
            status, reply = await conn.request(method, path, body=payload, headers=headers)
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            run.error("connection")
            conn = Http1Connection(stack.api_host, stack.api_port)
            continue
        run.request_ms.append((time.perf_counter() - sent) * 1000)
        if status == 202:
            run.accepted += 1
            run.sent_at[reply["intent_id"]] = sent
            if path == "/api/v1/bots":
                created.append((reply["intent_id"], reply["bot_id"]))
            elif method == "DELETE":
                deletes.append(reply["intent_id"])
        else:
            run.error(str(status))
    await conn.close()


def _may_create(created: list[tuple[str, str]], deletes: list[str], run: Run) -> bool:
    """Stay inside the plan, as a careful client would: its own bot, the bots it created and has not
    asked to delete, and those whose delete is not done yet all count against ``PLAN_MAX_BOTS``."""
    deletes[:] = [intent_id for intent_id in deletes if intent_id not in run.done_at]
    return 1 + len(created) + len(deletes) < PLAN_MAX_BOTS


async def measure_api(stack: LocalStack, clients: int, duration_s: float) -> Run:
    run = Run(clients=clients, duration_s=duration_s)
    nc = await nats.connect(server_urls(stack.nats_url), **stack.nats_options())

    async def on_done(msg: Any) -> None:
        run.done_at[msg.subject.split(".")[2]] = time.perf_counter()

    async def on_failed(msg: Any) -> None:
        run.failed_at[msg.subject.split(".")[2]] = time.perf_counter()
        run.failed[msg.subject.split(".")[2]] = json.loads(msg.data).get("error", "")

    await nc.subscribe("events.intent.*.done", cb=on_done)
    await nc.subscribe("events.intent.*.failed", cb=on_failed)
    start = asyncio.Event()
    ready: asyncio.Queue[int] = asyncio.Queue()
    stop_at = [float("inf")]
    tasks = [asyncio.create_task(_client(stack, run, ready, start, stop_at, n)) for n in range(clients)]
    for _ in range(clients):  # warm-up: every client is logged in and its own bot exists
        await ready.get()
    run.done_at.clear()
    run.load_from = time.perf_counter()
    stop_at[0] = run.load_from + duration_s
    start.set()
    await asyncio.gather(*tasks)
    run.load_until = time.perf_counter()
    deadline = time.perf_counter() + 15
    while time.perf_counter() < deadline and any(i not in run.done_at for i in run.sent_at):  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # let the workers drain (polling a condition on a shared dict)
    await nc.close()
    return run


async def measure_publish_ceiling(stack: LocalStack, payload_size: int, count: int = 20_000) -> tuple[float, float]:
    """(publish_async msg/s, sequential publish msg/s) from one Python process."""
    nc = await nats.connect(server_urls(stack.nats_url), **stack.nats_options())
    js = nc.jetstream()
    payload = b"x" * payload_size
    started = time.perf_counter()
    for _ in range(count):
        await js.publish_async("intents.bench.raw", payload, headers={"Nats-Msg-Id": str(uuid.uuid4())})
    await js.publish_async_completed()
    async_rate = count / (time.perf_counter() - started)
    sequential = count // 10
    started = time.perf_counter()
    for _ in range(sequential):
        await js.publish("intents.bench.raw", payload, headers={"Nats-Msg-Id": str(uuid.uuid4())})
    sequential_rate = sequential / (time.perf_counter() - started)
    await nc.close()
    return async_rate, sequential_rate


def summarise(run: Run, ceiling: float, sequential: float) -> dict[str, Any]:
    done_ms = [(run.done_at[i] - t) * 1000 for i, t in run.sent_at.items() if i in run.done_at]
    accepted_per_s = run.accepted / run.duration_s
    # done/s: outcomes seen while the load ran, so a backlog left for later does not count
    settled = [t for i, t in (*run.done_at.items(), *run.failed_at.items()) if i in run.sent_at]
    done_in_load = sum(1 for t in settled if run.load_from <= t <= run.load_until)
    return {
        "clients": run.clients,
        "accepted_per_s": round(accepted_per_s, 1),
        "done_per_s": round(done_in_load / (run.load_until - run.load_from), 1),
        "drain_s": round(max(settled, default=run.load_until) - run.load_until, 2),
        "request_p50_ms": round(percentile(run.request_ms, 50), 2),
        "request_p99_ms": round(percentile(run.request_ms, 99), 2),
        "done_p50_ms": round(percentile(done_ms, 50), 2),
        "done_p99_ms": round(percentile(done_ms, 99), 2),
        "not_done": run.accepted - len(done_ms),
        "failed": len(run.failed),
        "errors": sum(run.errors.values()),
        "error_kinds": dict(run.errors),
        "failure_examples": sorted(set(run.failed.values()))[:3],
        "raw_publish_async_per_s": round(ceiling, 1),
        "raw_publish_sequential_per_s": round(sequential, 1),
        "ratio_to_ceiling": round(accepted_per_s / ceiling, 3),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = [
        ("bus auth", "bus_auth"),
        ("clients", "clients"),
        ("accepted/s", "accepted_per_s"),
        ("done/s", "done_per_s"),
        ("drain s", "drain_s"),
        ("req p50 ms", "request_p50_ms"),
        ("req p99 ms", "request_p99_ms"),
        ("done p50 ms", "done_p50_ms"),
        ("done p99 ms", "done_p99_ms"),
        ("not done", "not_done"),
        ("failed", "failed"),
        ("errors", "errors"),
        ("raw async/s", "raw_publish_async_per_s"),
        ("raw seq/s", "raw_publish_sequential_per_s"),
        ("ratio", "ratio_to_ceiling"),
    ]
    widths = [max(len(title), *(len(str(r[key])) for r in rows)) for title, key in columns]
    print("  ".join(title.rjust(w) for (title, _), w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[key]).rjust(w) for (_, key), w in zip(columns, widths, strict=True)))
    for clients in sorted({row["clients"] for row in rows}):
        by_auth = {row["bus_auth"]: row for row in rows if row["clients"] == clients}
        if {"on", "off"} <= by_auth.keys() and by_auth["off"]["accepted_per_s"]:
            ratio = by_auth["on"]["accepted_per_s"] / by_auth["off"]["accepted_per_s"]
            print(f"{clients} clients: accepted/s with bus auth / without = {ratio:.3f} (goal >= 0.95)")
    print(
        f"goal: accepted/s >= {GOALS['accepted_per_s']:.0f}, req p99 < {GOALS['request_p99_ms']:.0f} ms, "
        f"done p99 < {GOALS['done_p99_ms']:.0f} ms; ratio = accepted/s over the raw publish_async ceiling"
    )


async def main_async(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    drains: list[dict[str, Any]] = []
    env = {"HMMTRADE_LOGIN_ATTEMPTS_PER_MINUTE": "10000", "HMMTRADE_SIGNUPS_PER_HOUR": "100000"}
    payload_size = len(json.dumps(PROFILE)) + 400  # the envelope and ids around the profile
    for auth in args.bus_auth:
        with contextlib.ExitStack() as outside:
            stack_env = dict(env)
            if auth == "off":
                # The baseline: the same stack on a bus without auth (the services' credentials are
                # ignored by a server that asks for none). Only the benchmark can run this way.
                stack_env["NATS_URL"] = outside.enter_context(plain_nats_server())
            with local_stack(stack_env) as stack:
                for clients in args.clients:
                    run = await measure_api(stack, clients, args.duration)
                    ceiling, sequential = await measure_publish_ceiling(stack, payload_size)
                    rows.append({"bus_auth": auth, **summarise(run, ceiling, sequential)})
                    print(json.dumps(rows[-1]), flush=True)
                if args.drain and auth == "on":
                    from bench.intents_drain import measure_drain  # it imports this module's helpers

                    drains.append(await measure_drain(stack, PROFILE, args.drain))
                    print(json.dumps({"drain": drains[-1]}), flush=True)
    return rows, drains


@contextlib.contextmanager
def plain_nats_server() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="hmmtrade-bench-noauth-") as tmp:
        port = free_port()
        argv = [find_nats_server(), "-js", "-sd", tmp, "-a", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while port_is_free(port) and time.monotonic() < deadline:
                time.sleep(0.05)
            yield f"nats://127.0.0.1:{port}"
        finally:
            stop_process(process, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per client count")
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--out", type=Path, default=Path("bench/results/intents.json"))
    parser.add_argument(
        "--bus-auth",
        nargs="+",
        choices=("on", "off"),
        default=["on", "off"],
        help="bus auth on (the product), off (baseline)",
    )
    parser.add_argument(
        "--drain", type=int, default=4_000, help="intents for the workers-alone drain (0: skip); under the 5,000 bound"
    )
    args = parser.parse_args()
    rows, drains = asyncio.run(main_async(args))
    print_table(rows)
    for drain in drains:
        print(
            f"workers alone (paused while {drain['intents']} intents were accepted, then resumed): "
            f"{drain['settled']} settled in {drain['drain_s']} s = {drain['per_s']} intents/s"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "drain": drains}, indent=2) + "\n")


if __name__ == "__main__":
    main()
