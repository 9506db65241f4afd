"""Benchmark: hosted bots on the local stack (API, workers, Fly Machines emulator, the real boot).

Starts a private ``hmmtrade up --no-demo`` whose hosted bots replay at ``--pace`` decision
bars per second, pays for ``team`` on the Stripe emulator (one user per 20 hosted bots, the
plan's limit), creates ``--bots`` hosted paper bots at once and measures:

- the time from ``POST /api/v1/bots`` to the bot's first ``bots.<id>.tick`` on the bus
  (machine create, process start, profile and token over HTTP, warm-up fit, first bar);
  by stage (``bench/hosted_profile.py``): API and lifecycle worker, hosting worker and Fly
  create, interpreter and boot imports, each control-plane round trip, trader imports, engine
  set-up, warm-up fit and first decision;
- the peak RSS and PSS of one bot's process tree (``fly.boot``), from /proc, beside a fresh
  interpreter that only imports the bot's modules (the floor), measured in the same run;

then adds ``--step`` bots at a time until the slowest bot no longer keeps 90% of its pace
(or memory runs short, or ``--most`` is reached): the most bots this machine ticks at once,
and their audit rows reaching Postgres per second, against the raw JetStream
``publish_async`` rate of one Python process measured in the same run.

    ./dev bench hosted [--bots 20] [--step 10] [--most 100] [--pace 1] [--window 20]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import nats

from bench.hosted_profile import BootTimeline, BotTree, bare_import_mib, bot_trees, stage_table
from bench.http1 import Http1Connection
from bench.intents import _login, _subscribe_team, measure_publish_ceiling, percentile
from bench.stack import LocalStack, local_stack

PROFILE: dict[str, Any] = {
    "basics": {"name": "Bench hosted bot", "surface": "hosted", "mode": "paper"},
    "market": {"symbols": ["SPY"], "bar_interval": "1d", "asset_class": "stock", "data_source": "sp500"},
    "model": {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 252},
    "strategy": {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 60, "max_daily_loss_pct": 20},
    "schedule": {"run": "every_bar", "confirmed": True},  # runs on (after_close would scale to zero)
}


TEAM_HOSTED_LIMIT = 20  # billing/plans.py: a team user may host 20 bots
KEEP_PACE = 0.9
MEM_RESERVE_MIB = 3072  # stop adding bots before the machine swaps


def _database_url(stack: LocalStack) -> str:
    return f"postgresql://postgres:@/postgres?host={stack.data_dir / 'postgres'}"


def _mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Fleet:
    """The bots created so far, their POST and first-tick times, and every tick's arrival."""

    conn: Http1Connection
    sent: dict[str, float] = field(default_factory=dict)
    first_tick: dict[str, float] = field(default_factory=dict)
    ticks: dict[str, list[float]] = field(default_factory=dict)
    users: list[dict[str, str]] = field(default_factory=list)
    timelines: dict[str, BootTimeline] = field(default_factory=dict)
    early: dict[str, list[tuple[str, bytes, float]]] = field(default_factory=dict)
    peak_rss_mib: float = 0.0
    peak_pss_mib: float = 0.0
    processes: int = 0  # the most processes one bot tree had
    last_trees: dict[str, BotTree] = field(default_factory=dict)

    def on_tick(self, bot_id: str) -> None:
        now = time.perf_counter()
        self.first_tick.setdefault(bot_id, now)
        self.ticks.setdefault(bot_id, []).append(now)
        if bot_id in self.timelines:
            self.timelines[bot_id].saw("tick", now)

    def on_bus(self, subject: str, data: bytes, when: float | None = None) -> None:
        """Start-up events of the bots being timed: lifecycle ``created``, boot log lines, first ``running``.

        An event can beat the POST's answer to the bench: it waits in ``early`` until the bot is known.
        """
        when = time.perf_counter() if when is None else when
        parts = subject.split(".")
        bot_id = parts[2] if parts[0] == "events" else parts[1]
        timeline = self.timelines.get(bot_id)
        if timeline is None:
            self.early.setdefault(bot_id, []).append((subject, data, when))
            return
        if parts[0] == "events" and parts[-1] == "created":
            timeline.saw("created", when)
        elif parts[-1] == "log":
            timeline.boot_line(json.loads(data).get("line", ""))
        elif parts[-1] == "status" and json.loads(data).get("status") == "running":
            timeline.saw("running", when)

    def sample_memory(self) -> None:
        """The largest bot tree's RSS and PSS seen so far; each bot's process start for its timeline."""
        self.last_trees = bot_trees()
        for bot_id, tree in self.last_trees.items():
            self.peak_rss_mib = max(self.peak_rss_mib, tree.rss_mib)
            self.peak_pss_mib = max(self.peak_pss_mib, tree.pss_mib)
            self.processes = max(self.processes, tree.processes)
            if bot_id in self.timelines:
                self.timelines[bot_id].saw("process", tree.started)

    async def add(self, count: int) -> list[str]:
        """``count`` more hosted bots, POSTed back to back; a new team user every 20 (the plan's limit)."""
        created: list[str] = []
        for _ in range(count):
            if len(self.sent) % TEAM_HOSTED_LIMIT == 0:
                headers = await _login(self.conn, f"hosted-bench-{uuid.uuid4().hex[:8]}@example.com")
                await _subscribe_team(self.conn, headers)
                self.users.append(headers)
            started = time.perf_counter()
            status, body = await self.conn.request(
                "POST", "/api/v1/bots", body=copy.deepcopy(PROFILE), headers=self.users[-1]
            )
            assert status == 202, body
            self.sent[body["bot_id"]] = started
            self.timelines[body["bot_id"]] = BootTimeline(started)
            for subject, data, when in self.early.pop(body["bot_id"], []):
                self.on_bus(subject, data, when)
            created.append(body["bot_id"])
        return created

    async def wait_first_ticks(self, bots: list[str], timeout_s: float) -> None:
        """Wait until every bot in ``bots`` ticked (or the timeout), sampling memory meanwhile."""
        deadline = time.perf_counter() + timeout_s
        while any(b not in self.first_tick for b in bots) and time.perf_counter() < deadline:
            self.sample_memory()
            await asyncio.sleep(0.5)

    async def sample_for(self, seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while (left := deadline - time.perf_counter()) > 0:
            self.sample_memory()
            await asyncio.sleep(min(1.0, left))

    def slowest_rate(self, since: float, window_s: float) -> float:
        """The lowest per-bot tick rate (ticks/s) in the ``window_s`` seconds from ``since``.

        Divided by the nominal window, so 18 ticks in 20 s is 0.90 (the sleep overshoots by
        milliseconds; dividing by the measured span turned exactly 90% into 89.95%).
        """
        until = since + window_s
        return min(sum(since <= t < until for t in self.ticks.get(b, [])) / window_s for b in self.sent)


async def run(stack: LocalStack, *, first: int, step: int, most: int, window_s: float, pace: float) -> dict[str, Any]:
    conn = Http1Connection(stack.api_host, stack.api_port)
    fleet = Fleet(conn)
    nc = await nats.connect(stack.nats_url, **stack.nats_options())

    async def on_tick(msg: Any) -> None:
        fleet.on_tick(msg.subject.split(".")[1])

    async def on_start_up(msg: Any) -> None:
        fleet.on_bus(msg.subject, msg.data)

    await nc.subscribe("bots.*.tick", cb=on_tick)
    for subject in ("events.bot.*.created", "bots.*.log", "bots.*.status"):
        await nc.subscribe(subject, cb=on_start_up)
    db = await asyncpg.connect(_database_url(stack))

    # 1. the first fleet at once: POST -> first tick by stage, and one bot tree's memory
    initial = await fleet.add(first)
    await fleet.wait_first_ticks(initial, timeout_s=900)
    latencies = [fleet.first_tick[b] - fleet.sent[b] for b in initial if b in fleet.first_tick]
    stages = stage_table([fleet.timelines[b] for b in initial])

    # 2. ramp: more bots until the slowest one no longer keeps its pace (or memory runs short)
    steps: list[dict[str, Any]] = []
    while True:
        await asyncio.sleep(window_s / 4)  # let the last step's boots (warm-up fits) finish
        before = await db.fetchval("SELECT count(*) FROM audit_events")
        since = time.perf_counter()
        await fleet.sample_for(window_s)
        until = time.perf_counter()
        rows = await db.fetchval("SELECT count(*) FROM audit_events") - before
        slowest = fleet.slowest_rate(since, window_s)
        kept = slowest >= KEEP_PACE * pace - 1e-9
        steps.append(
            {
                "bots": len(fleet.sent),
                "slowest_ticks_per_s": slowest,
                "audit_rows_per_s": rows / (until - since),
                "mem_available_mib": _mem_available_mib(),
                "load": os.getloadavg()[0],
                "kept_pace": kept,
            }
        )
        print(f"  {len(fleet.sent)} bots: slowest {slowest:.2f} ticks/s, {rows / (until - since):.0f} audit rows/s")
        if not kept or len(fleet.sent) + step > most or _mem_available_mib() < MEM_RESERVE_MIB:
            break
        added = await fleet.add(step)
        await fleet.wait_first_ticks(added, timeout_s=600)

    sample = await db.fetchval("SELECT octet_length(detail::text) FROM audit_events LIMIT 1") or 1500
    await db.close()
    await nc.close()
    await conn.close()
    ceiling, _ = await measure_publish_ceiling(stack, int(sample), count=5_000)
    sustained = [s for s in steps if s["kept_pace"]]
    return {
        "first": first,
        "ticked": len(latencies),
        "first_tick_p50_s": percentile(latencies, 50),
        "first_tick_p95_s": percentile(latencies, 95),
        "stages": stages,
        "peak_rss_mib": fleet.peak_rss_mib,
        "peak_pss_mib": fleet.peak_pss_mib,
        "processes": fleet.processes,
        "end_rss_mib": percentile([t.rss_mib for t in fleet.last_trees.values()], 50),
        "end_pss_mib": percentile([t.pss_mib for t in fleet.last_trees.values()], 50),
        "steps": steps,
        "most_sustained": max((s["bots"] for s in sustained), default=0),
        "sustained_audit_rows_per_s": max((s["audit_rows_per_s"] for s in sustained), default=0.0),
        "raw_publish_per_s": ceiling,
        "pace": pace,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=20, help="the first fleet, created at once")
    parser.add_argument("--step", type=int, default=10, help="bots added per ramp step")
    parser.add_argument("--most", type=int, default=100, help="stop the ramp here")
    parser.add_argument("--pace", type=float, default=1.0, help="decision bars per second per bot")
    parser.add_argument("--window", type=float, default=20.0, help="seconds each step is measured")
    args = parser.parse_args()
    bare_rss, bare_pss = bare_import_mib()
    with local_stack({"HMMTRADE_HOSTED_REPLAY_PACE": str(args.pace)}, timeout_s=180) as stack:
        result = asyncio.run(
            run(stack, first=args.bots, step=args.step, most=args.most, window_s=args.window, pace=args.pace)
        )
    print(f"\n{result['first']} hosted paper bots created at once, then +{args.step} a step, each deciding")
    print(f"{args.pace:g} bar/s (Fly emulator, real boot, {os.cpu_count()} cores); a step holds if its slowest")
    print(f"bot keeps {KEEP_PACE:.0%} of the pace")
    print(f"{'':<44}{'value':>10}")
    rows = (
        ("bots that ticked (first fleet)", f"{result['ticked']}/{result['first']}"),
        ("POST -> first tick p50 (s)", f"{result['first_tick_p50_s']:.1f}"),
        ("POST -> first tick p95 (s)", f"{result['first_tick_p95_s']:.1f}"),
        ("peak RSS of one bot tree (MiB)", f"{result['peak_rss_mib']:.0f}"),
        ("peak PSS of one bot tree (MiB)", f"{result['peak_pss_mib']:.0f}"),
        ("processes in one bot tree", f"{result['processes']}"),
        ("bot tree at the end, p50 RSS (MiB)", f"{result['end_rss_mib']:.0f}"),
        ("bot tree at the end, p50 PSS (MiB)", f"{result['end_pss_mib']:.0f}"),
        ("bare import of the bot's modules, RSS (MiB)", f"{bare_rss:.0f}"),
        ("bare import of the bot's modules, PSS (MiB)", f"{bare_pss:.0f}"),
        ("most bots ticking at pace", f"{result['most_sustained']}"),
        ("their audit rows into Postgres per s", f"{result['sustained_audit_rows_per_s']:.0f}"),
        ("raw JetStream publish_async per s", f"{result['raw_publish_per_s']:.0f}"),
        ("audit / raw publish", f"{result['sustained_audit_rows_per_s'] / result['raw_publish_per_s']:.3f}"),
    )
    for label, value in rows:
        print(f"{label:<44}{value:>10}")
    print(f"\nPOST -> first tick by stage, first fleet ({result['first']} at once){'p50 s':>12}{'bots':>6}")
    for label, p50, measured in result["stages"]:
        print(f"  {label:<54}{p50:>7.2f}{measured:>6}")
    print(f"\n{'bots':>6}{'slowest ticks/s':>17}{'audit rows/s':>14}{'MemAvail MiB':>14}{'load':>7}{'held':>6}")
    for s in result["steps"]:
        print(
            f"{s['bots']:>6}{s['slowest_ticks_per_s']:>17.2f}{s['audit_rows_per_s']:>14.0f}"
            f"{s['mem_available_mib']:>14.0f}{s['load']:>7.1f}{'yes' if s['kept_pace'] else 'no':>6}"
        )


if __name__ == "__main__":
    main()
