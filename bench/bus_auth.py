"""Benchmark: what the bus's JWT authentication costs a bot, against the same bus without auth.

Two nats-server processes from the same binary with the same flags (JetStream, file store,
loopback, the same topology): one in operator mode trusting a fresh ``BusKeys``
(``events.embedded.NatsServer``, as ``hmmtrade up`` runs it), one plain with no auth at all
(the baseline). Every repetition measures both, alternating which goes first, and the
table gives medians over the repetitions:

1. **connect + first stored publish**: a bot's start on the bus. ``Bus.start`` (TCP, the
   server's INFO, with auth: signing the server's nonce with the bot's nkey and the server
   checking the user JWT's signature chain and permissions), then one ``publish_raw`` to
   ``bots.<id>.tick`` until JetStream's ack. Each auth repetition is a new bot with its own
   per-bot credentials (``BusKeys.bot_creds``), written to a file before the clock starts:
   a bot receives them from its host, it does not sign them.
2. **publish rate**: one connection (the bot's credentials, or anonymous) sends
   ``--count`` messages of ``--size`` bytes to ``bots.<id>.tick`` (the BOTS stream) with
   ``publish_async`` and waits for every ack; message ids are made before the clock starts.
   The nats-server's CPU time over the batch (from /proc) is reported per message.

Goal: auth costs at most 5% of the publish rate (auth/no-auth >= 0.95).

    ./dev bench bus_auth [--connects 30] [--batches 11] [--count 20000] [--size 300] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from events.auth.keys import BusKeys, write_creds
from events.auth.roles import Role
from events.bus import MSG_ID, Bus, connect
from events.embedded import NatsServer, find_nats_server, free_port, stop_process
from events.topology import bot_subject, ensure_topology
from stack.logging import configure_logging

GOAL_RATIO = 0.95  # auth keeps at least 95% of the no-auth publish rate


@dataclass
class Side:
    """One server under test and what was measured on it."""

    name: str
    url: str
    pid: int
    creds_dir: Path | None  # None: the plain server, anonymous connections
    keys: BusKeys | None = None
    fixed_creds: Path | None = None  # the control: every connection with these (admin) credentials
    connect_ms: list[float] = field(default_factory=list)
    first_ack_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    server_us_per_msg: list[float] = field(default_factory=list)

    def bot_creds(self, bot_id: uuid.UUID) -> Path | None:
        """A fresh bot's credentials file (auth side), the control's fixed file, or None (anonymous)."""
        if self.fixed_creds is not None:
            return self.fixed_creds
        if self.keys is None or self.creds_dir is None:
            return None
        text = self.keys.bot_creds(bot_id, uuid.uuid4().hex, expires_at=int(time.time()) + 3600)
        return write_creds(self.creds_dir / f"{bot_id}.creds", text)


def cpu_seconds(pid: int) -> float:
    """CPU time of one process's live threads, in ns resolution (/proc/<pid>/stat counts 10 ms ticks)."""
    total_ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total_ns += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just exited
    return total_ns / 1e9


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2) as sock:
                if sock.recv(4096).startswith(b"INFO"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nats-server did not accept connections on {host}:{port} within {timeout_s}s")


@contextmanager
def plain_server(store_dir: Path) -> Iterator[tuple[str, int]]:
    """The baseline: the same nats-server with JetStream and no auth; yields (url, pid)."""
    store_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with (store_dir / "nats-server.log").open("ab") as log_file:
        process = subprocess.Popen(
            [find_nats_server(), "-js", "-sd", str(store_dir), "-a", "127.0.0.1", "-p", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port("127.0.0.1", port, process)
        yield f"nats://127.0.0.1:{port}", process.pid
    finally:
        stop_process(process, 10.0)


async def prepare(url: str, creds: Path | None) -> None:
    nc = await connect(url, name="bench-admin", creds=creds)
    try:
        await ensure_topology(nc.jetstream())
    finally:
        await nc.close()


async def connect_and_first_ack(side: Side, payload: bytes) -> None:
    bot_id = uuid.uuid4()
    creds = side.bot_creds(bot_id)
    started = time.perf_counter()
    bus = Bus(side.url, name=f"bot-{bot_id}", creds=creds)
    try:
        await bus.start(wait_s=5)
        connected = time.perf_counter()
        await bus.publish_raw(bot_subject(bot_id, "tick"), payload, headers={MSG_ID: uuid.uuid4().hex})
        acked = time.perf_counter()
    finally:
        await bus.close()
    side.connect_ms.append((connected - started) * 1000)
    side.first_ack_ms.append((acked - connected) * 1000)
    side.total_ms.append((acked - started) * 1000)


async def publish_batch(side: Side, payload: bytes, count: int, *, record: bool = True) -> None:
    bot_id = uuid.uuid4()
    creds = side.bot_creds(bot_id)
    subject = bot_subject(bot_id, "tick")
    ids = [uuid.uuid4().hex for _ in range(count)]
    nc = await connect(side.url, name=f"bot-{bot_id}", creds=creds)
    try:
        js = nc.jetstream()
        await js.publish(subject, payload, headers={MSG_ID: uuid.uuid4().hex})  # reply inbox set up, off the clock
        cpu_before = cpu_seconds(side.pid)
        started = time.perf_counter()
        for msg_id in ids:
            await js.publish_async(subject, payload, headers={MSG_ID: msg_id})
        await js.publish_async_completed()
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(side.pid) - cpu_before
    finally:
        await nc.close()
    if record:
        side.rates.append(count / elapsed)
        side.server_us_per_msg.append(cpu / count * 1e6)


def alternate(rep: int, sides: tuple[Side, ...]) -> tuple[Side, ...]:
    return sides if rep % 2 == 0 else sides[::-1]


async def run(args: argparse.Namespace, plain: Side, auth: Side, admin: Side) -> None:
    await prepare(plain.url, None)
    await prepare(auth.url, admin.fixed_creds)
    payload = b"x" * args.size
    sides = (plain, auth, admin)
    for side in sides:  # warm-up, not recorded: first connections, stream files created
        await connect_and_first_ack(side, payload)
        await publish_batch(side, payload, min(args.count, 2000), record=False)
        side.connect_ms.clear()
        side.first_ack_ms.clear()
        side.total_ms.clear()
    for rep in range(args.connects):
        for side in alternate(rep, sides):
            await connect_and_first_ack(side, payload)
    print(f"connect: {args.connects} repetitions each done", flush=True)
    for rep in range(args.batches):
        for side in alternate(rep, sides):
            await publish_batch(side, payload, args.count)
        print(
            f"batch {rep + 1}/{args.batches}: no auth {plain.rates[-1]:,.0f} msg/s, "
            f"auth {auth.rates[-1]:,.0f} msg/s, auth admin {admin.rates[-1]:,.0f} msg/s",
            flush=True,
        )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))] if ordered else float("nan")


def summarise(
    args: argparse.Namespace, plain: Side, auth: Side, admin: Side, load: tuple[float, float]
) -> dict[str, Any]:
    def both(values: Any) -> dict[str, float]:
        a, b, c = values(plain), values(auth), values(admin)
        return {
            "no_auth": round(a, 3),
            "auth": round(b, 3),
            "ratio": round(b / a, 3),
            "auth_admin": round(c, 3),
            "admin_ratio": round(c / a, 3),
        }

    rate_ratio = median(auth.rates) / median(plain.rates)
    # Batches run in alternating pairs: each pair's ratio cancels the load of its moment.
    paired = sorted(a / p for a, p in zip(auth.rates, plain.rates, strict=True))
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_1m_before": round(load[0], 2),
        "load_1m_after": round(load[1], 2),
        "connects": args.connects,
        "batches": args.batches,
        "count": args.count,
        "size": args.size,
        "connect_p50_ms": both(lambda s: median(s.connect_ms)),
        "first_ack_p50_ms": both(lambda s: median(s.first_ack_ms)),
        "total_p50_ms": both(lambda s: median(s.total_ms)),
        "total_p90_ms": both(lambda s: p90(s.total_ms)),
        "publish_p50_per_s": both(lambda s: median(s.rates)),
        "publish_min_per_s": both(lambda s: min(s.rates)),
        "publish_max_per_s": both(lambda s: max(s.rates)),
        "server_cpu_us_per_msg": both(lambda s: median(s.server_us_per_msg)),
        "rate_ratio": round(rate_ratio, 3),
        "paired_ratio_p50": round(median(paired), 3),
        "paired_ratio_p25": round(paired[round(0.25 * (len(paired) - 1))], 3),
        "paired_ratio_p75": round(paired[round(0.75 * (len(paired) - 1))], 3),
        "goal_met": rate_ratio >= GOAL_RATIO,
        "raw": {
            side.name: {"total_ms": side.total_ms, "rates": side.rates, "server_us_per_msg": side.server_us_per_msg}
            for side in (plain, auth, admin)
        },
    }


def print_table(result: dict[str, Any]) -> None:
    print(
        f"bus_auth: {result['connects']} connects and {result['batches']} x {result['count']} publish_async of "
        f"{result['size']} B per side, alternating; {result['cpus']} CPUs, "
        f"load {result['load_1m_before']} -> {result['load_1m_after']}"
    )
    rows = [
        ("connect ms (p50)", "connect_p50_ms", 2),
        ("first ack ms (p50)", "first_ack_p50_ms", 2),
        ("connect + first ack ms (p50)", "total_p50_ms", 2),
        ("connect + first ack ms (p90)", "total_p90_ms", 2),
        ("publish_async msg/s (p50)", "publish_p50_per_s", 0),
        ("publish_async msg/s (min)", "publish_min_per_s", 0),
        ("publish_async msg/s (max)", "publish_max_per_s", 0),
        ("nats-server CPU us/msg (p50)", "server_cpu_us_per_msg", 2),
    ]
    print(f"{'':30}{'no auth':>10}{'auth bot':>10}{'ratio':>8}{'|':>3}{'auth admin':>11}{'ratio':>8}")
    for title, key, digits in rows:
        row = result[key]
        print(
            f"{title:30}{row['no_auth']:>10,.{digits}f}{row['auth']:>10,.{digits}f}{row['ratio']:>8.3f}"
            f"{'|':>3}{row['auth_admin']:>11,.{digits}f}{row['admin_ratio']:>8.3f}"
        )
    print("ratio: over no auth; auth admin: the same authenticated server, admin credentials (the control)")
    print(
        f"publish rate, auth bot/no auth per alternating pair: p50 {result['paired_ratio_p50']:.3f} "
        f"(p25 {result['paired_ratio_p25']:.3f}, p75 {result['paired_ratio_p75']:.3f})"
    )
    verdict = "met" if result["goal_met"] else "NOT met"
    print(
        f"goal: auth costs <= 5% of the publish rate (ratio of p50s >= {GOAL_RATIO}): "
        f"{result['rate_ratio']:.3f}, {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connects", type=int, default=30, help="connect + first ack repetitions per side")
    parser.add_argument("--batches", type=int, default=11, help="publish_async batches per side")
    parser.add_argument("--count", type=int, default=20_000, help="messages per batch")
    parser.add_argument("--size", type=int, default=300, help="payload bytes")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 connects, 3 batches of 2,000")
    parser.add_argument("--out", type=Path, default=Path("bench/results/bus_auth.json"))
    args = parser.parse_args()
    if args.quick:
        args.connects, args.batches, args.count = 5, 3, 2000
    configure_logging(level="WARNING", json_lines=False)
    for name in ("NATS_CREDS", "NATS_CA"):  # the baseline connects anonymously; auth gets explicit files
        os.environ.pop(name, None)

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-bus-auth-") as tmp:
        root = Path(tmp)
        keys = BusKeys.generate()
        server = NatsServer(root / "auth", keys=keys).start()
        try:
            assert server.process is not None
            with plain_server(root / "plain") as (plain_url, plain_pid):
                plain = Side("no_auth", plain_url, plain_pid, None)
                auth = Side("auth", server.url, server.process.pid, root / "creds", keys)
                admin_creds = write_creds(root / "creds" / "admin.creds", keys.role_creds(Role.ADMIN))
                admin = Side("auth_admin", server.url, server.process.pid, None, fixed_creds=admin_creds)
                asyncio.run(run(args, plain, auth, admin))
        finally:
            server.stop()
    result = summarise(args, plain, auth, admin, (load_before, os.getloadavg()[0]))
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
