"""Benchmark: hosted bots on the local stack (API, workers, Fly Machines emulator, the real boot).

Starts a private ``hmmtrade up --no-demo`` with hosted bots replaying at full speed, pays
for ``team`` on the Stripe emulator, then creates ``--bots`` hosted paper bots at once and
measures:

- the time from ``POST /api/v1/bots`` to the bot's first ``bots.<id>.tick`` on the bus
  (machine create, process start, profile and token over HTTP, warm-up fit, first bar);
- the peak RSS of one bot's process tree (``fly.boot`` + ``trader.cli``), from /proc;
- audit rows reaching Postgres per second while every bot replays, against the raw
  JetStream ``publish_async`` rate of one Python process measured in the same run.

    ./dev bench hosted [--bots 5] [--window 20]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import nats

from bench.http1 import Http1Connection
from bench.intents import _login, _subscribe_team, measure_publish_ceiling, percentile
from bench.stack import LocalStack, local_stack

PROFILE: dict[str, Any] = {
    "basics": {"name": "Bench hosted bot", "surface": "hosted", "mode": "paper"},
    "market": {"symbols": ["SPY"], "bar_interval": "1d", "asset_class": "stock", "data_source": "sp500"},
    "model": {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 252},
    "strategy": {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 60, "max_daily_loss_pct": 20},
    "schedule": {"confirmed": True},
}


def _bot_trees_rss_mib() -> list[float]:
    """RSS of each running bot's process tree (boot + trader), MiB."""
    by_bot: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "fly.boot" not in cmdline and "trader.cli" not in cmdline:
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
            status = (proc / "status").read_text()
        except OSError:
            continue
        bot = next((e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"BOT_ID=")), None)
        if bot is None:
            continue
        rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        by_bot[bot] = by_bot.get(bot, 0.0) + rss_kib / 1024
    return list(by_bot.values())


def _database_url(stack: LocalStack) -> str:
    return f"postgresql://postgres:@/postgres?host={stack.data_dir / 'postgres'}"


async def run(stack: LocalStack, bots: int, window_s: float) -> dict[str, Any]:
    conn = Http1Connection(stack.api_host, stack.api_port)
    headers = await _login(conn, f"hosted-bench-{uuid.uuid4().hex[:8]}@example.com")
    await _subscribe_team(conn, headers)
    nc = await nats.connect(stack.nats_url)
    first_tick: dict[str, float] = {}
    sent: dict[str, float] = {}

    async def on_tick(msg: Any) -> None:
        bot_id = msg.subject.split(".")[1]
        first_tick.setdefault(bot_id, time.perf_counter())

    await nc.subscribe("bots.*.tick", cb=on_tick)
    for _ in range(bots):
        started = time.perf_counter()
        status, body = await conn.request("POST", "/api/v1/bots", body=copy.deepcopy(PROFILE), headers=headers)
        assert status == 202, body
        sent[body["bot_id"]] = started
    peak_rss = 0.0
    deadline = time.perf_counter() + 600
    while len(first_tick) < bots and time.perf_counter() < deadline:
        peak_rss = max(peak_rss, *_bot_trees_rss_mib())
        await asyncio.sleep(0.5)
    db = await asyncpg.connect(_database_url(stack))
    before = await db.fetchval("SELECT count(*) FROM audit_events")
    started = time.perf_counter()
    while time.perf_counter() - started < window_s:
        peak_rss = max(peak_rss, *_bot_trees_rss_mib())
        await asyncio.sleep(0.5)
    rows = await db.fetchval("SELECT count(*) FROM audit_events") - before
    elapsed = time.perf_counter() - started
    sample = await db.fetchval("SELECT octet_length(detail::text) FROM audit_events LIMIT 1") or 1500
    await db.close()
    await nc.close()
    await conn.close()
    ceiling, _ = await measure_publish_ceiling(stack.nats_url, int(sample), count=5_000)
    latencies = [first_tick[b] - sent[b] for b in sent if b in first_tick]
    return {
        "bots": bots,
        "ticked": len(latencies),
        "first_tick_p50_s": percentile(latencies, 50),
        "first_tick_p95_s": percentile(latencies, 95),
        "peak_rss_mib": peak_rss,
        "audit_rows_per_s": rows / elapsed,
        "raw_publish_per_s": ceiling,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=5)
    parser.add_argument("--window", type=float, default=20.0, help="seconds of audit throughput sampling")
    args = parser.parse_args()
    with local_stack({"HMMTRADE_HOSTED_REPLAY_PACE": "0"}, timeout_s=180) as stack:
        result = asyncio.run(run(stack, args.bots, args.window))
    print(f"{result['bots']} hosted paper bots created at once on the local stack (Fly emulator, real boot)")
    print(f"{'':<38}{'value':>10}")
    rows = (
        ("bots that ticked", f"{result['ticked']}"),
        ("POST -> first tick p50 (s)", f"{result['first_tick_p50_s']:.1f}"),
        ("POST -> first tick p95 (s)", f"{result['first_tick_p95_s']:.1f}"),
        ("peak RSS of one bot tree (MiB)", f"{result['peak_rss_mib']:.0f}"),
        ("audit rows into Postgres per s", f"{result['audit_rows_per_s']:.0f}"),
        ("raw JetStream publish_async per s", f"{result['raw_publish_per_s']:.0f}"),
        ("audit / raw publish", f"{result['audit_rows_per_s'] / result['raw_publish_per_s']:.3f}"),
    )
    for label, value in rows:
        print(f"{label:<38}{value:>10}")


if __name__ == "__main__":
    main()
