"""The pieces of ``bench.live``: the Alpaca emulator in its own process, and a fleet of live bots.

The emulator runs in a child process, as ``hmmtrade up`` runs it: in a thread of the bench
process it would share one GIL with the bots and the load generator and blur every figure
(the vault bench measured 0.5 ms -> 7 ms that way). It is started through the Python API
rather than ``hmmtrade alpaca-emulator`` because the CLI has no ``symbols`` option, and each
bot needs a symbol of its own (reconciliation assumes one bot per account and symbol).

A bot is the real live runner, ``trader.runner.run_instance`` on an instance written by
``trader.instance.write_instance``: it backfills, fits, reconciles, polls the venue's
clock and bars, decides, journals (fsync) and submits through alpaca-py. No product code
is changed; the bench observes two methods from outside, at class level:

- ``AlpacaVenue.submit``: the wall time the bot sent an order and got the venue's answer;
- ``LiveSession.next_bars``: each entry means "this bot is done with the bars it had and
  is waiting for the next one", which is when the driver may close the next bar.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import multiprocessing
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx

from contracts.profile import BotProfile
from trader.bars import Bars
from trader.instance import load_instance, write_instance
from trader.live_session import LiveSession
from trader.runner import RunOptions, RunSummary, run_instance
from trader.venue import OrderRequest, VenueOrder
from trader.venues.alpaca import AlpacaVenue

KEY, SECRET = "PKBENCHLIVE000000000", "bench-live-secret-0123456789abcdef"
HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
START = datetime(2026, 3, 2, tzinfo=UTC)  # on a bar boundary: bars close on whole 5 minutes
INTERVAL, BAR_S = "5m", 300.0
BOT_CASH = 1_000_000.0  # large, so a bar's price drift always needs a rebalance order above the minimum size
ACCOUNT_CASH = 1_000_000_000.0


def symbols(count: int, prefix: str = "BN") -> list[str]:
    """Distinct made-up crypto pairs (the emulator draws a synthetic path for any symbol)."""
    return [f"{prefix}{i:03d}/USD" for i in range(count)]


# ---- the emulator, in its own process ------------------------------------------------------


def _serve(data_dir: str, extra: list[str], ready: Any, stop: EventType) -> None:
    """Child-process body: start the emulator, report its URL, serve until told to stop."""
    from venues.alpaca import AlpacaEmulator

    emulator = AlpacaEmulator(
        key_id=KEY,
        secret_key=SECRET,
        data_dir=Path(data_dir),
        source="synthetic",
        speed=0.0,
        start=START,
        seed=7,
        cash=ACCOUNT_CASH,
        symbols=extra,
    ).start()
    ready.put(emulator.url)
    stop.wait()
    emulator.stop()


@dataclass
class EmulatorProcess:
    url: str
    process: multiprocessing.process.BaseProcess
    stop_event: EventType

    def stop(self) -> None:
        self.stop_event.set()
        self.process.join(15)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


def start_emulator(data_dir: Path, extra: list[str]) -> EmulatorProcess:
    """A frozen-clock Alpaca emulator (synthetic prices, state in ``data_dir``) in a spawned process."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    ready = context.Queue()
    stop = context.Event()
    process = context.Process(target=_serve, args=(str(data_dir), extra, ready, stop), daemon=True)
    process.start()
    url = ready.get(timeout=60)
    return EmulatorProcess(url, process, stop)


def advance(client: httpx.Client, url: str, seconds: float) -> None:
    client.post(f"{url}/_emulator/advance", json={"seconds": seconds}, headers=HEADERS).raise_for_status()


def order_count(url: str) -> int:
    answer = httpx.get(f"{url}/_emulator/orders", headers=HEADERS, timeout=30)
    answer.raise_for_status()
    return len(answer.json()["orders"])


# ---- what the bench observes -----------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    symbol: str
    sent: float  # perf_counter when the bot called submit
    acked: float  # perf_counter when the bot had the venue's answer
    seen: float  # perf_counter when the bot's poll last returned new bars before this order


@dataclass
class Probe:
    """Acks, "waiting for the next bar" counts and "new bars seen" times per symbol, from two wrapped methods."""

    acks: list[Ack] = field(default_factory=list)
    waits: dict[str, int] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    failed: int = 0  # submits that raised (refused, or no answer): never counted as acknowledged

    @contextlib.contextmanager
    def installed(self) -> Iterator[Probe]:
        submit, next_bars = AlpacaVenue.submit, LiveSession.next_bars

        async def timed_submit(venue: AlpacaVenue, order: OrderRequest) -> VenueOrder:
            sent = time.perf_counter()
            try:
                placed = await submit(venue, order)
            except Exception:
                self.failed += 1
                raise
            self.acks.append(Ack(order.symbol, sent, time.perf_counter(), self.seen.get(order.symbol, sent)))
            return placed

        async def counted_next_bars(session: LiveSession, have: int, stop: asyncio.Event) -> dict[str, Bars] | None:
            self.waits[session.symbol] = self.waits.get(session.symbol, 0) + 1
            bars = await next_bars(session, have, stop)
            self.seen[session.symbol] = time.perf_counter()
            return bars

        setattr(AlpacaVenue, "submit", timed_submit)  # noqa: B010 (mypy refuses assigning to a method)
        setattr(LiveSession, "next_bars", counted_next_bars)  # noqa: B010
        try:
            yield self
        finally:
            setattr(AlpacaVenue, "submit", submit)  # noqa: B010
            setattr(LiveSession, "next_bars", next_bars)  # noqa: B010

    def all_waiting(self, names: list[str], times: int) -> bool:
        return all(self.waits.get(name, 0) >= times for name in names)


# ---- the fleet ---------------------------------------------------------------------------------


def profile(symbol: str) -> BotProfile:
    """A small crypto bot on 5m broker bars that rebalances every bar (exposure 0.2 or 0.9).

    5m bars and (log return, high-low range): on the emulator's synthetic 1m bars the default
    features made the first fit degenerate (a regime under 1% of the window) for 33 of 40
    symbols, and a bot without a model never decides; with these every tried symbol fits.
    """
    return BotProfile.model_validate(
        {
            "basics": {"name": f"bench {symbol}", "surface": "local", "mode": "paper"},
            "broker": {"connection": str(uuid.uuid4())},
            "market": {"symbols": [symbol], "asset_class": "crypto", "data_source": "broker", "bar_interval": INTERVAL},
            # no refit inside a short bench: the measured path is poll -> decide -> submit, not EM
            "model": {
                "n_states": 2,
                "features": ["log_return", "hl_range"],
                "training_window": 100,
                "refit_every": 2520,
            },
            # rebalance every bar (no no-trade band): the bench measures the order path, so orders must flow
            "strategy": {
                "exposure_per_regime": [0.2, 0.9],
                "max_drawdown_pct": 90,
                "max_daily_loss_pct": 50,
                "rebalance_band_pct": 0,
            },
            "schedule": {"confirmed": True, "starting_cash": BOT_CASH},
        }
    )


def bot_env(url: str, poll_s: float) -> dict[str, str]:
    return {
        "BROKER_KIND": "alpaca",
        "BROKER_API_KEY_ID": KEY,
        "BROKER_API_SECRET_KEY": SECRET,
        "BROKER_PAPER": "true",
        "HMMTRADE_ALPACA_URL": url,
        "HMMTRADE_LIVE_POLL_S": str(poll_s),
    }


@dataclass
class BarClose:
    sent: float  # perf_counter just before the advance request: the bar closes after this
    answered: float  # perf_counter when the emulator said its clock had moved


@dataclass
class FleetRun:
    names: list[str]
    closes: list[BarClose]
    acks: list[Ack]
    startup_s: float
    summaries: list[RunSummary]
    failed: int


async def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench: {what} within {timeout_s:g} s")
        await asyncio.sleep(0.002)


async def run_fleet(home: Path, url: str, names: list[str], bars: int, poll_s: float) -> FleetRun:
    """Start one bot per symbol, close ``bars`` bars one at a time, and return what was observed.

    The next bar closes only when every bot waits again: one sample per bot and bar, and
    no bar is closed while a bot is still busy with the previous one.
    """
    # Each bot in production is its own process with its own thread pool; here one pool
    # serves every bot's alpaca-py calls and must not become a queue of its own.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=len(names) + 8))
    env = bot_env(url, poll_s)
    stop = asyncio.Event()
    started = time.perf_counter()
    with Probe().installed() as probe:
        tasks = [asyncio.create_task(_bot(home, name, env, stop, _Discard())) for name in names]
        closes: list[BarClose] = []
        try:
            await _wait_ready(probe, names, tasks, 1)
            startup = time.perf_counter() - started
            with httpx.Client(timeout=30) as control:
                for bar in range(1, bars + 1):
                    sent = time.perf_counter()
                    await asyncio.to_thread(advance, control, url, BAR_S)
                    closes.append(BarClose(sent, time.perf_counter()))
                    await _wait_ready(probe, names, tasks, bar + 1)
        finally:
            stop.set()
            summaries = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [s for s in summaries if isinstance(s, BaseException)]
    if failed:
        raise RuntimeError(f"bench: {len(failed)} bot(s) failed, first: {failed[0]!r}")
    return FleetRun(
        names, closes, probe.acks, startup, [s for s in summaries if isinstance(s, RunSummary)], probe.failed
    )


async def _wait_ready(probe: Probe, names: list[str], tasks: list[asyncio.Task[RunSummary]], times: int) -> None:
    def ready() -> bool:
        ended = next((t for t in tasks if t.done()), None)
        if ended is not None:  # a bot that returned or crashed will never wait again
            raise RuntimeError(f"bench: a bot ended early: {ended.exception() or ended.result().ended_by}")
        return probe.all_waiting(names, times)

    await _wait_for(ready, 300.0, f"{len(names)} bot(s) waiting for bar {times}")


class _Discard(io.TextIOBase):
    """The runner's per-bar lines, dropped: 50 bots printing would be the bench's own noise."""

    def write(self, text: str) -> int:
        return len(text)


def _bot(
    home: Path, symbol: str, env: dict[str, str], stop: asyncio.Event, out: Any
) -> Coroutine[Any, Any, RunSummary]:
    config = write_instance(home, uuid.uuid4(), profile(symbol), env)
    instance = load_instance(config, environ={})  # the .env beside it, nothing from this process
    return run_instance(instance, RunOptions(heartbeat_s=3600.0), stop, out=out)
