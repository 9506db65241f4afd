"""Intents done end to end with 1, 2 and 3 worker replicas, and on a 3-node R3 cluster against one R1 server.

Each configuration is its own ``hmmtrade up`` (``--nats-cluster 3`` for R3); extra worker replicas are
``hmmtrade workers`` processes on the same bus and database. The load is ``bench/intents``'s: N API
clients for the duration, each a logged-in team user creating, starting, stopping and deleting its bots
within its plan; done/s counts the outcomes published while the load ran, done p99 the time from the
request to its outcome.

Read the replica rows with docs/control-plane.md "Singletons by lease": the lifecycle projection runs on
one replica at a time (it fails over rather than scales), so more replicas are expected to add little to
intents done/s on this 2-core machine; the R3 row is the price of keeping every stream on three servers.

    ./dev bench cluster                     # all four configurations, 16 clients, 15 s each
    ./dev bench cluster --duration 5        # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.intents import measure_api, summarise
from bench.stack import LocalStack, local_stack

CONFIGS: tuple[tuple[str, int, int], ...] = (  # (bus, its nodes, worker replicas)
    ("R1", 1, 1),
    ("R1", 1, 2),
    ("R1", 1, 3),
    ("R3", 3, 1),
)
ENV = {"HMMTRADE_LOGIN_ATTEMPTS_PER_MINUTE": "10000", "HMMTRADE_SIGNUPS_PER_HOUR": "100000"}


@contextlib.contextmanager
def extra_workers(stack: LocalStack, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` more ``hmmtrade workers`` on the stack's bus and database (the stack runs one itself)."""
    keys = stack.data_dir / "keys"
    env = {
        **os.environ,
        "NATS_URL": stack.nats_url,
        "NATS_CREDS": str(keys / "bus" / "workers.creds"),
        "DATABASE_URL": stack.database_url,
        "HMMTRADE_BUS_KEY_FILE": str(keys / "bus" / "bus-keys.json"),
        "HMMTRADE_MACHINE_JWT_KEY_DIR": str(keys / "machine"),
        "HMMTRADE_LOG_LEVEL": "WARNING",
    }
    hmmtrade = Path(sys.executable).parent / "hmmtrade"
    processes = [
        subprocess.Popen([str(hmmtrade), "workers"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


async def measure(bus: str, nodes: int, replicas: int, clients: int, duration_s: float) -> dict[str, Any]:
    up_args = ("--nats-cluster", str(nodes)) if nodes > 1 else ()
    with local_stack(ENV, up_args=up_args) as stack, extra_workers(stack, replicas - 1):
        await asyncio.sleep(3)  # the extra replicas connect and stand by for the leases
        run = await measure_api(stack, clients, duration_s)
    row = summarise(run, ceiling=1.0, sequential=1.0)
    return {"bus": bus, "nodes": nodes, "workers": replicas, **{k: row[k] for k in KEYS}}


KEYS = ("clients", "accepted_per_s", "done_per_s", "done_p50_ms", "done_p99_ms", "not_done", "failed", "errors")


def print_table(rows: list[dict[str, Any]]) -> None:
    base = next((r for r in rows if r["bus"] == "R1" and r["workers"] == 1), None)
    columns = ("bus", "nodes", "workers", "clients", "accepted_per_s", "done_per_s", "done_p50_ms", "done_p99_ms")
    extra = ("vs 1 worker (done/s)", "not_done", "failed", "errors")
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)) + "  " + "  ".join(extra))
    for row in rows:
        ratio = f"{row['done_per_s'] / base['done_per_s']:.2f}" if base and base["done_per_s"] else "-"
        cells = "  ".join(str(row[c]).rjust(w) for c, w in zip(columns, widths, strict=True))
        print(f"{cells}  {ratio.rjust(len(extra[0]))}  {row['not_done']:>8}  {row['failed']:>6}  {row['errors']:>6}")
    r3 = next((r for r in rows if r["bus"] == "R3"), None)
    if base and r3 and base["done_per_s"]:
        print(
            f"cost of replication: R3 done/s / R1 done/s = {r3['done_per_s'] / base['done_per_s']:.2f}, "
            f"done p99 {r3['done_p99_ms']} ms vs {base['done_p99_ms']} ms (one worker replica each)"
        )


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for bus, nodes, replicas in CONFIGS:
        if args.only and f"{bus}x{replicas}" not in args.only:
            continue
        rows.append(await measure(bus, nodes, replicas, args.clients, args.duration))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load per configuration")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--only", nargs="*", default=[], help="e.g. R1x1 R3x1 (bus x worker replicas)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/cluster.json"))
    args = parser.parse_args()
    rows = asyncio.run(main_async(args))
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
