"""What a fleet of local bots costs in memory: forked from the agent's zygote against spawned.

The same fleet (N bots replaying S&P 500 bars at 2 bars/s, refits every 50 bars, so every
bot has loaded the fitting stack) runs twice in one run under the agent's supervisor: once
forked from the zygote, once as fresh interpreters (``HMMTRADE_ZYGOTE=0``). Once every bot
ticks and a settling window has passed, /proc/<pid>/smaps_rollup gives each process's RSS
(resident pages, shared ones counted in every process) and PSS (each shared page divided
among the processes that map it, so PSS adds up to what the fleet really holds). Baseline:
an interpreter that only imports the runner.

    ./dev bench agent --part memory [--bots 20] [--window 20]
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from agent.home import AgentHome
from agent.instances import write_instance
from agent.live import LiveFeed
from agent.supervisor import Supervisor
from bench.localbus import start_admin_bus
from contracts.profile import BotProfile
from events.bus import connect
from events.topology import ensure_topology
from tests.bars_data import small_profile, write_bars_csv

READY_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Memory:
    """One process's resident (RSS), proportional (PSS) and private (USS) set size, MiB."""

    rss: float
    pss: float
    uss: float  # pages no other process maps: what one more bot adds


@dataclass(frozen=True)
class Fleet:
    label: str
    bots: list[Memory]
    zygote: Memory | None
    ready_s: float


def memory_of(pid: int) -> Memory:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
            fields[name] = int(rest.split()[0]) / 1024
    return Memory(rss=fields["Rss"], pss=fields["Pss"], uss=fields["Private_Clean"] + fields["Private_Dirty"])


def bare_import() -> Memory:
    """An interpreter that imports the runner and waits: the floor under a spawned bot."""
    probe = subprocess.Popen(
        [sys.executable, "-c", "import trader.runner, sys; print(flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert probe.stdin is not None and probe.stdout is not None
    probe.stdout.readline()  # the imports are done
    memory = memory_of(probe.pid)
    probe.stdin.close()
    probe.wait()
    return memory


def fleet_memory(bots: int, *, settle_s: float) -> list[Fleet]:
    """The fleet forked from the zygote, then spawned, each measured after ``settle_s`` of ticking."""
    return [
        asyncio.run(_fleet(bots, zygote=True, settle_s=settle_s)),
        asyncio.run(_fleet(bots, zygote=False, settle_s=settle_s)),
    ]


async def _fleet(count: int, *, zygote: bool, settle_s: float) -> Fleet:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nats = start_admin_bus(root / "nats")
        home = AgentHome.at(root / "home")
        data = write_bars_csv(root / "bars.csv", 5000)
        for n in range(count):
            body = small_profile(data).model_dump(mode="json")
            body["basics"]["name"] = f"bench {n}"
            write_instance(home, BotProfile.model_validate(body))
        nc = await connect(nats.url, name="bench-topology")
        await ensure_topology(nc.jetstream())
        await nc.close()
        live = LiveFeed()
        await live.start(nats.url)
        supervisor = Supervisor(
            home, env={"NATS_URL": nats.url, "HMMTRADE_REPLAY_PACE": "2"}, last_status=live.last_status, zygote=zygote
        )
        started = time.monotonic()
        await supervisor.start()
        try:
            deadline = started + READY_TIMEOUT_S
            while time.monotonic() < deadline and not _all_ticking(supervisor, live, count):  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            ready_s = time.monotonic() - started
            await asyncio.sleep(settle_s)
            bots = [memory_of(bot.pid) for bot in supervisor.bots.values() if bot.pid is not None]
            zygote_pid = supervisor.zygote.pid if supervisor.zygote is not None else None
            zygote_memory = memory_of(zygote_pid) if zygote_pid is not None else None
        finally:
            await supervisor.close()
            await live.close()
            nats.stop()
    label = "forked from the zygote" if zygote else "spawned (HMMTRADE_ZYGOTE=0)"
    return Fleet(label, bots, zygote_memory, ready_s)


def _all_ticking(supervisor: Supervisor, live: LiveFeed, count: int) -> bool:
    ids = list(supervisor.bots)
    return len(ids) == count and all(live.health(b) == "healthy" and live.bot(b).last_tick_seq for b in ids)


def print_memory(fleets: list[Fleet], bare: Memory) -> None:
    header = ("procs", "RSS each", "PSS each", "USS each", "RSS all", "PSS all")
    print(f"{'memory, MiB':<34} {header[0]:>5}" + "".join(f" {h:>9}" for h in header[1:]))
    totals = {}
    for fleet in fleets:
        rss, pss, uss = [m.rss for m in fleet.bots], [m.pss for m in fleet.bots], [m.uss for m in fleet.bots]
        print(
            f"{fleet.label:<34} {len(rss):>5} {statistics.mean(rss):>9.1f} {statistics.mean(pss):>9.1f} "
            f"{statistics.mean(uss):>9.1f} {sum(rss):>9.1f} {sum(pss):>9.1f}"
        )
        extra = fleet.zygote or Memory(0.0, 0.0, 0.0)
        if fleet.zygote is not None:
            print(f"{'  + the zygote':<34} {1:>5} {extra.rss:>9.1f} {extra.pss:>9.1f} {extra.uss:>9.1f}")
        totals[fleet.label] = sum(pss) + extra.pss
        in_all = f"  in all (PSS), up in {fleet.ready_s:.0f} s"
        print(f"{in_all:<34} {'':>5}" + f" {'':>9}" * 4 + f" {totals[fleet.label]:>9.1f}")
    print(f"{'baseline: bare runner import':<34} {1:>5} {bare.rss:>9.1f} {bare.pss:>9.1f} {bare.uss:>9.1f}")
    if len(totals) == 2:
        forked, spawned = totals.values()
        print(f"{'PSS in all, forked / spawned':<34} {forked / spawned:>15.2f}x")
