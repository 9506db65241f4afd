"""Benchmark: tick-to-browser latency on the HMM live page, and what 20 supervised bots cost.

Latency: the bench publishes ``bots.<id>.tick`` on JetStream as a bot does (its publish
time in the message) and the page itself records, with a MutationObserver, the moment
the tick number changes in the DOM; latency = page time - publish time (one clock, one
machine). Baseline in the same run: publish -> a plain Python NATS subscriber.
Resources: 20 bots (``hmmtrade bot run`` replaying S&P 500 bars at 2 bars/s) under the
agent's supervisor; RSS and CPU per bot process from /proc over a sampling window.
Baseline: a bare interpreter that only imports the runner.

Memory (``bench.agent_memory``): the same fleet twice in one run, forked from the agent's
zygote and spawned as fresh interpreters (``HMMTRADE_ZYGOTE=0``), RSS and PSS per bot and in all.

    ./dev bench agent [--ticks 200] [--rate 10] [--bots 20] [--window 20] [--part all|page|memory]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.home import AgentHome
from agent.instances import write_instance
from agent.runtime import AgentSettings
from bench.agent_memory import bare_import, fleet_memory, print_memory
from bench.localbus import start_admin_bus
from contracts.events import Tick
from contracts.profile import BotProfile
from events.bus import Bus, connect
from events.embedded import free_port
from events.topology import bot_subject
from tests.bars_data import small_profile, write_bars_csv
from tests.e2e.agentserver import AgentThread, chromium

OBSERVE = """() => {
  window.__arrivals = [];
  const find = (root) => {
    const el = root.querySelector('#last-tick');
    if (el) return el;
    for (const host of root.querySelectorAll('*')) {
      if (host.shadowRoot) { const f = find(host.shadowRoot); if (f) return f; }
    }
    return null;
  };
  const el = find(document);
  const root = el.getRootNode();
  let last = el.dataset.seq;
  new MutationObserver(() => {
    const now = Date.now();
    const cur = find(root);
    if (cur && cur.dataset.seq !== last) { last = cur.dataset.seq; window.__arrivals.push([Number(last), now]); }
  }).observe(root, {subtree: true, childList: true, characterData: true, attributes: true});
  return true;
}"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def nats_baseline(url: str, n: int, rate: float) -> list[float]:
    """Publish -> plain subscriber latency (ms): the floor under anything the page can do."""
    nc = await connect(url, name="bench-sub")
    got: dict[int, float] = {}

    async def on(msg: Any) -> None:
        got[Tick.model_validate_json(msg.data).seq] = time.time()

    bot = uuid.uuid4()
    await nc.subscribe(f"bots.{bot}.tick", cb=on)
    bus = Bus(url, name="bench-pub")
    await bus.start(wait_s=5)
    sent: dict[int, float] = {}
    for seq in range(1, n + 1):
        sent[seq] = time.time()
        tick = Tick(bot_id=bot, seq=seq, bar_at=datetime.now(UTC), close=100.0 + seq, regime=seq % 3, confidence=0.9)
        await bus.publish(bot_subject(bot, "tick"), tick)
        await asyncio.sleep(1 / rate)
    await asyncio.sleep(0.5)
    await bus.close()
    await nc.close()
    return [1000 * (got[s] - sent[s]) for s in sent if s in got]


async def publish_ticks(url: str, bot: uuid.UUID, n: int, rate: float, first: int) -> dict[int, float]:
    bus = Bus(url, name="bench-pub")
    await bus.start(wait_s=5)
    sent: dict[int, float] = {}
    for seq in range(first, first + n):
        tick = Tick(bot_id=bot, seq=seq, bar_at=datetime.now(UTC), close=100.0 + seq, regime=seq % 3, confidence=0.9)
        sent[seq] = time.time()
        await bus.publish(bot_subject(bot, "tick"), tick)
        await asyncio.sleep(1 / rate)
    await asyncio.sleep(1.0)
    await bus.close()
    return sent


def in_thread(coro: Any) -> Any:
    """Run a coroutine on a fresh loop in another thread (Playwright's sync API owns this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def page_latency(browser: Any, base: str, url: str, n: int, rate: float, first: int) -> list[float]:
    bot = uuid.uuid4()
    in_thread(publish_ticks(url, bot, 1, rate, first - 1))  # the page shows this bot from its first tick
    page = browser.new_page()
    page.goto(f"{base}/live?bot={bot}")
    page.locator("#last-tick").wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    page.evaluate(OBSERVE)
    sent = in_thread(publish_ticks(url, bot, n, rate, first))
    arrivals = dict(page.evaluate("() => window.__arrivals"))
    page.close()
    return [arrivals[s] - 1000 * sent[s] for s in sent if s in arrivals]


def proc_stats(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds) of one process."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="ticks per second")
    parser.add_argument("--bots", type=int, default=20)
    parser.add_argument("--window", type=float, default=20.0, help="seconds of resource sampling")
    parser.add_argument(
        "--part",
        choices=("all", "page", "memory"),
        default="all",
        help="page: latency + RSS/CPU under the agent (needs Chromium); memory: RSS/PSS forked vs spawned",
    )
    args = parser.parse_args()
    if args.part in ("all", "page"):
        page_and_resources(args)
    if args.part in ("all", "memory"):
        print()
        print_memory(fleet_memory(args.bots, settle_s=args.window), bare_import())


def page_and_resources(args: argparse.Namespace) -> None:
    """Tick-to-browser latency, then RSS and CPU of the agent's bots (forked from its zygote)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nats = start_admin_bus(root / "nats")
        home = AgentHome.at(root / "home")
        agent = AgentThread(
            AgentSettings(
                home=home.root,
                port=free_port(),
                nats_url=nats.url,
                sync_interval_s=3600,
                bot_env={"HMMTRADE_REPLAY_PACE": "2"},
                config_dir=root / "config",
            )
        )
        ctx = agent.start()
        try:
            base_ms = asyncio.run(nats_baseline(nats.url, args.ticks, args.rate))
            with chromium() as browser:
                idle_ms = page_latency(browser, agent.base, nats.url, args.ticks, args.rate, first=2)

                data = write_bars_csv(root / "bars.csv", 5000)
                for n in range(args.bots):
                    body = small_profile(data).model_dump(mode="json")
                    body["basics"]["name"] = f"bench {n}"
                    write_instance(home, BotProfile.model_validate(body))
                started = time.monotonic()
                deadline = started + 600
                while time.monotonic() < deadline:
                    ids = list(ctx.supervisor.bots)
                    if len(ids) == args.bots and all(
                        ctx.live.health(b) == "healthy" and ctx.live.bot(b).last_tick_seq for b in ids
                    ):
                        break
                    time.sleep(0.5)
                ready_s = time.monotonic() - started
                pids = [b.pid for b in ctx.supervisor.bots.values() if b.pid]
                sampled_at = time.monotonic()
                before = {p: proc_stats(p) for p in pids}
                agent_before = proc_stats(os.getpid())
                loaded_ms = page_latency(
                    browser, agent.base, nats.url, int(args.window * args.rate), args.rate, first=2
                )
                after = {p: proc_stats(p) for p in pids}
                agent_after = proc_stats(os.getpid())
                window = time.monotonic() - sampled_at
            bare = bare_import().rss
        finally:
            agent.stop()
            nats.stop()

    rss = [after[p][0] for p in pids]
    cpu = [100 * (after[p][1] - before[p][1]) / window for p in pids]
    print(
        f"agent benchmark: {len(pids)} bots up and ticking in {ready_s:.1f} s; sampled over {window:.1f} s; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    print()
    print(f"{'tick -> browser (ms)':<34} {'n':>5} {'p50':>8} {'p99':>8} {'max':>8}")
    for label, values in (
        ("baseline: NATS -> Python sub", base_ms),
        ("page, no bots running", idle_ms),
        (f"page, {len(pids)} bots running", loaded_ms),
    ):
        print(f"{label:<34} {len(values):>5} {pct(values, 0.5):>8.1f} {pct(values, 0.99):>8.1f} {max(values):>8.1f}")
    print(f"{'page p50 / NATS p50 (idle)':<34} {'':>5} {pct(idle_ms, 0.5) / max(pct(base_ms, 0.5), 1e-3):>7.0f}x")
    print()
    print(f"{'resources':<34} {'per bot':>10} {'total':>10}")
    print(f"{'RSS MiB (' + str(len(pids)) + ' bots)':<34} {statistics.mean(rss):>10.1f} {sum(rss):>10.1f}")
    print(f"{'CPU % of one core (' + str(len(pids)) + ' bots)':<34} {statistics.mean(cpu):>10.2f} {sum(cpu):>10.2f}")
    print(f"{'baseline: bare runner import, RSS':<34} {bare:>10.1f}")
    print(f"{'bot RSS / bare import':<34} {statistics.mean(rss) / bare:>9.2f}x")
    agent_rss, agent_cpu = agent_after[0], 100 * (agent_after[1] - agent_before[1]) / window
    print(f"{'agent + dashboard + bench process':<34} {'':>10} {agent_rss:>7.1f} MiB, {agent_cpu:.1f}% CPU")


if __name__ == "__main__":
    main()
