"""The bot runner: one bot, bar by bar, with the engine the backtester uses.

Start-up is the same path after a clean stop, a crash or a scale-to-zero wake: load the
checkpoint (if any), check the feed still agrees with its last bar, and continue with
the first bar after it. Per bar: engine -> audit sinks (local JSONL, and the bus outbox
when NATS is configured) -> tick -> flush -> checkpoint. The checkpoint is written after
the audit has reached the OS, so a kill at any point either repeats a bar the sinks
then recognise by its seq, or loses nothing.

Before each bar past warm-up the runner reads the bot's re-arm requests (``trader.rearm``):
a new one ends a drawdown halt at that bar, and its id is kept in the checkpoint.

SIGTERM/SIGINT set ``stop``: the current bar finishes, audit is flushed (and delivered
to the bus within a timeout), the checkpoint is written, and the runner returns.

A portfolio runs the same loop: its feed gives every symbol's bars aligned by date, the
engine decides all symbols at each bar, and the resume check compares every symbol's
last close with the checkpoint's.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import structlog

from contracts.events import BotHeartbeat, Tick
from contracts.events import BotStatus as BotStatusValue
from events.bus import Bus, BusUnavailable
from events.topology import bot_subject
from metrics import observe
from trader.audit import AuditSink, JsonlSink, encode
from trader.bars import Bars
from trader.bot_metrics import start_bot_metrics
from trader.checkpoint import Checkpoint, CheckpointError
from trader.config import engine_config
from trader.engine import Engine
from trader.execution import OrderJournal
from trader.feeds import Feed, feed_for
from trader.instance import Instance
from trader.live_feed import VenueBookFeed, VenueFeed
from trader.live_session import ADOPT_ENV, LiveSession, poll_seconds
from trader.live_state import LiveState
from trader.outbox import Outbox, audit_envelope
from trader.pacing import Pacer
from trader.rearm import REARM_FILE, FileRearmSource, KvRearmSource, RearmInbox, RearmSource
from trader.runner_records import console_line, halt_record, headline
from trader.state_store import FileStateStore, KvStateStore, MirroredStateStore, StateStore
from trader.venues.connect import venue_from_env

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RunOptions:
    once: bool = False  # process the bars that are due, then return (scale-to-zero)
    max_bars: int | None = None  # at most this many new bars in this run
    max_decisions: int | None = None  # at most this many decision bars (warm-up is free): one per wake
    pace: float = 0.0  # decision bars per second in a continuous replay; 0 = as fast as possible
    heartbeat_s: float = 5.0
    drain_timeout_s: float = 10.0


@dataclass(frozen=True)
class _Ended:
    next_bar: int
    reason: str | None


@dataclass
class RunSummary:
    bars_processed: int = 0
    decisions: int = 0
    first_seq: int | None = None
    last_seq: int = 0
    ended_by: str = "end of data"
    warnings: list[str] = field(default_factory=list)


class BotRunner:
    def __init__(
        self,
        instance: Instance,
        options: RunOptions,
        *,
        feed: Feed,
        store: StateStore,
        sinks: list[AuditSink],
        bus: Bus | None = None,
        stop: asyncio.Event | None = None,
        out: TextIO | None = None,
        live: LiveSession | None = None,
        rearm_sources: Sequence[RearmSource] | None = None,
    ) -> None:
        self.instance, self.options = instance, options
        self._rearm_sources = (
            [FileRearmSource(instance.state_dir / REARM_FILE)] if rearm_sources is None else list(rearm_sources)
        )
        self._rearm = RearmInbox(self._rearm_sources)
        self._feed, self._store, self._sinks, self._bus = feed, store, sinks, bus
        self.stop = stop or asyncio.Event()
        self._out = out or sys.stdout
        self._config = engine_config(instance.profile, bot_id=str(instance.bot_id))
        self._models_dir = instance.state_dir / "models"
        self._last_seq = 0
        self._live = LiveState()
        self._session = live

    async def run(self) -> RunSummary:
        bars = await self._feed.available()
        checkpoint = await self._store.load()
        start = 0 if checkpoint is None else self._check_resume(checkpoint, bars)
        engine = Engine(
            self._config, checkpoint.state if checkpoint else None, initial_models=self.instance.initial_models
        )
        self._rearm = RearmInbox(self._rearm_sources, checkpoint.rearm_handled if checkpoint else ())
        self._live = (checkpoint.live if checkpoint else None) or LiveState()
        self._last_seq = engine.state.seq
        summary = RunSummary(last_seq=engine.state.seq)
        if self._session is not None:
            halt = await self._session.start(engine, _heads(bars, start), self._live)
            if halt is not None:
                await self._halt(engine, bars, start, halt, summary)
                return summary
        heartbeat = asyncio.create_task(self._heartbeat_forever())
        pacer = Pacer(self.options.pace) if self.options.pace > 0 and not self.options.once else None
        await self._say("running")
        next_bar = start
        try:
            while True:
                ended = await self._run_bars(engine, bars, next_bar, summary, pacer)
                next_bar = ended.next_bar
                if ended.reason is not None:
                    summary.ended_by = ended.reason
                    break
                if self._session is None or self.options.once:
                    summary.ended_by = "all due bars processed" if self.options.once else "end of data"
                    break
                more = await self._session.next_bars(_length(bars), self.stop)
                if more is None:
                    summary.ended_by = "stop requested"
                    break
                bars = more
            if next_bar > start:
                await self._save(engine, next_bar, bars)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            for sink in self._sinks:
                sink.flush()
        summary.warnings = list(engine.state.warnings)
        await self._say("stopped")
        return summary

    async def _run_bars(
        self, engine: Engine, bars: Mapping[str, Bars], next_bar: int, summary: RunSummary, pacer: Pacer | None
    ) -> _Ended:
        """The bars from ``next_bar`` on; where it stopped, and why if it must not continue."""
        rearm_notes: list[str] = []
        dates = _first(bars).dates
        while next_bar < len(dates):
            if self.stop.is_set():
                return _Ended(next_bar, "stop requested")
            if self.options.max_bars is not None and summary.bars_processed >= self.options.max_bars:
                return _Ended(next_bar, f"--max-bars {self.options.max_bars} reached")
            if self.options.max_decisions is not None and summary.decisions >= self.options.max_decisions:
                return _Ended(next_bar, f"--max-decisions {self.options.max_decisions} reached")
            fills = None
            if self._session is not None:
                fills = await self._session.fills_before(str(dates[next_bar]))
            if engine.state.model is not None:  # no halt before the first fit: nothing to re-arm
                rearm_notes.extend(await self._rearm.check(engine.request_rearm))
            # The engine gets the bars up to this one only: the runner cannot look ahead.
            deciding = time.perf_counter()
            record = engine.on_bar(_heads(bars, next_bar + 1), next_bar, fills=fills)
            decision_s = time.perf_counter() - deciding
            if record is not None and self._session is not None:
                rearm_notes.extend(self._session.take_notes())
            if record is not None and rearm_notes:
                record["notes"] = [*record["notes"], *rearm_notes]
                rearm_notes = []
            if record is not None and self._session is not None:
                record["executions"] = await self._session.send(engine, bars, next_bar)
            observe.bot_bar(decision_s, record)
            next_bar += 1
            summary.bars_processed += 1
            if record is None:
                if summary.bars_processed % 256 == 0:
                    await asyncio.sleep(0)  # let the heartbeat and the outbox run during warm-up
                continue
            summary.decisions += 1
            summary.first_seq = summary.first_seq or record["seq"]
            summary.last_seq = self._last_seq = record["seq"]
            await self._emit(record, engine)
            await self._save(engine, next_bar, bars)
            if pacer is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), pacer.delay(time.monotonic()))
            else:
                await asyncio.sleep(0)
        return _Ended(next_bar, None)

    async def _halt(
        self, engine: Engine, bars: Mapping[str, Bars], bars_seen: int, reason: str, summary: RunSummary
    ) -> None:
        """Record why a live bot will not trade (once per halt), keep its state, and return."""
        summary.ended_by = f"halted: {reason}"
        print(f"halted: {reason}", flush=True)
        if self._live.halt_recorded or bars_seen == 0:
            return
        record = halt_record(engine, bars, bars_seen - 1, reason)
        self._live.halt_recorded = True
        summary.last_seq = self._last_seq = record["seq"]
        summary.first_seq = record["seq"]
        await self._emit(record, engine)
        await self._save(engine, bars_seen, bars)

    def _check_resume(self, checkpoint: Checkpoint, bars: Mapping[str, Bars]) -> int:
        """Where to continue: the checkpoint's bar count, once every symbol's last close is checked against it."""
        seen, available = checkpoint.bars_seen, _length(bars)
        if seen > available:
            raise CheckpointError(
                f"the checkpoint has seen {seen} bars but {self._feed.name} now has only {available}: "
                "the data was replaced; delete the bot's state to start over"
            )
        if not seen:
            return seen
        first = self._config.universe[0]
        saw = {first: checkpoint.last_bar_close, **(checkpoint.last_bar_closes or {})}  # older: the first's only
        gone = [symbol for symbol in saw if symbol not in bars]
        if gone:
            raise CheckpointError(
                f"the checkpoint was saved trading {', '.join(gone)}, which {self._feed.name} does not serve: "
                "the bot's symbols changed; delete the bot's state to start over"
            )
        for symbol, close in saw.items():
            series = bars[symbol]
            if (str(series.dates[seen - 1]), float(series.close[seen - 1])) != (checkpoint.last_bar_date, close):
                which = self._feed.name if len(bars) == 1 else f"{symbol} in {self._feed.name}"
                raise CheckpointError(
                    f"bar {seen} of {which} is {series.dates[seen - 1]} close "
                    f"{series.close[seen - 1]}, but the checkpoint last saw {checkpoint.last_bar_date} close {close}: "
                    "the data changed"
                )
        return seen

    async def _emit(self, record: dict[str, Any], engine: Engine) -> None:
        for sink in self._sinks:
            sink.write(record)
        for model in engine.models().values():
            path = self._models_dir / f"{model.model_id()}.json"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(encode({**model.to_json(), "features": list(self._config.feature_names)}) + "\n")
        await self._publish_tick(record)
        if record.get("event") == "halt":
            return  # said on its own line by _halt
        self._out.write(console_line(record) + "\n")
        self._out.flush()

    async def _save(self, engine: Engine, bars_seen: int, bars: Mapping[str, Bars]) -> None:
        for sink in self._sinks:
            sink.flush()
        last = bars_seen - 1
        live = None
        if self._session is not None:
            live = self._live
            live.journaled = self._session.journaled
        first = _first(bars)
        closes = {s: float(b.close[last]) for s, b in bars.items()} if len(bars) > 1 else None
        await self._store.save(
            Checkpoint(
                engine.state,
                bars_seen,
                str(first.dates[last]),
                float(first.close[last]),
                live,
                self._rearm.handled,
                last_bar_closes=closes,
            )
        )

    async def _publish_tick(self, record: dict[str, Any]) -> None:
        if self._bus is None or not self._bus.is_connected:
            return
        envelope = audit_envelope(self.instance.bot_id, record)
        line = headline(record)
        tick = Tick(
            id=f"{self.instance.bot_id}:{record['seq']}:tick",
            correlation_id=str(self.instance.bot_id),
            bot_id=self.instance.bot_id,
            seq=record["seq"],
            bar_at=envelope.bar_at,
            close=line.close,
            regime=line.regime,
            confidence=line.confidence,
            equity=record["equity"],
        )
        with contextlib.suppress(BusUnavailable):  # ticks are for live charts; the audit is the record
            await self._bus.publish(bot_subject(self.instance.bot_id, "tick"), tick)

    async def _say(self, status: BotStatusValue) -> None:
        if self._bus is None or not self._bus.is_connected:
            return
        beat = BotHeartbeat(
            correlation_id=str(self.instance.bot_id),
            bot_id=self.instance.bot_id,
            status=status,
            last_seq=self._last_seq,
        )
        with contextlib.suppress(BusUnavailable):
            await self._bus.publish(bot_subject(self.instance.bot_id, "status"), beat)

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.heartbeat_s)
            await self._say("running")


async def run_instance(
    instance: Instance, options: RunOptions, stop: asyncio.Event | None = None, *, out: TextIO | None = None
) -> RunSummary:
    """Wire the adapters an instance asks for (file only, or file + bus) and run it."""
    state_dir = instance.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    _metrics, listener = await start_bot_metrics(instance.env)
    session = live_session_for(instance)
    feed: Feed = session.feed if session else feed_for(instance.profile, base_dir=instance.config_path.parent)
    try:
        return await _run_with_sinks(instance, options, stop, out=out, feed=feed, session=session)
    finally:
        if session is not None:
            await session.close()
        if listener is not None:
            await listener.stop()


def live_session_for(instance: Instance) -> LiveSession | None:
    """The venue session of a ``data_source: broker`` bot (None for replayed data): a feed per symbol."""
    profile = instance.profile
    if profile.market.data_source != "broker":
        return None
    venue = venue_from_env(instance.env, profile)
    symbols, interval = tuple(profile.market.symbols), profile.market.bar_interval
    crypto = profile.market.asset_class == "crypto"
    warmup, cache_dir = profile.model.training_window, instance.state_dir
    feed = VenueBookFeed(
        [VenueFeed(venue, symbol, interval, cache_dir, warmup_bars=warmup, crypto=crypto) for symbol in symbols]
    )
    return LiveSession(
        venue,
        feed,
        OrderJournal(instance.state_dir / "orders.jsonl"),
        symbols=symbols,
        crypto=crypto,
        poll_s=poll_seconds(instance.env, interval),
        adopt=instance.env.get(ADOPT_ENV, "").lower() in ("1", "true", "yes"),
    )


async def _run_with_sinks(
    instance: Instance,
    options: RunOptions,
    stop: asyncio.Event | None,
    *,
    out: TextIO | None,
    feed: Feed,
    session: LiveSession | None,
) -> RunSummary:
    state_dir = instance.state_dir
    file_store = FileStateStore(state_dir / "checkpoint.json")
    sinks: list[AuditSink] = [JsonlSink(state_dir / "audit.jsonl", resume=True)]
    if instance.nats_url is None:
        runner = BotRunner(
            instance, options, feed=feed, store=file_store, sinks=sinks, stop=stop, out=out, live=session
        )
        try:
            return await runner.run()
        finally:
            for sink in sinks:
                sink.close()
    bus = Bus(
        instance.nats_url,
        name=f"bot-{instance.bot_id}",
        creds=instance.env.get("NATS_CREDS") or None,
        ca_file=instance.env.get("NATS_CA") or None,
    )
    await bus.start(wait_s=5)
    outbox = Outbox(state_dir, bus, instance.bot_id)
    outbox.start()
    observe.bot_outbox(lambda: outbox.pending_bytes)
    store = MirroredStateStore(file_store, KvStateStore(bus, str(instance.bot_id)))
    rearm: list[RearmSource] = [FileRearmSource(state_dir / REARM_FILE), KvRearmSource(bus, instance.bot_id)]
    runner = BotRunner(
        instance,
        options,
        feed=feed,
        store=store,
        sinks=[*sinks, outbox],
        bus=bus,
        stop=stop,
        out=out,
        live=session,
        rearm_sources=rearm,
    )
    try:
        return await runner.run()
    finally:
        delivered = await outbox.drain(options.drain_timeout_s)
        if not delivered:
            log.warning("runner.audit_buffered", pending_bytes=outbox.pending_bytes, detail="delivered on next start")
        await outbox.stop()
        for sink in sinks:
            sink.close()
        await bus.close()


def _first(bars: Mapping[str, Bars]) -> Bars:
    """The bot's first symbol's series: its dates are every symbol's (the feed aligns them)."""
    return next(iter(bars.values()))


def _length(bars: Mapping[str, Bars]) -> int:
    return len(_first(bars))


def _heads(bars: Mapping[str, Bars], n: int) -> dict[str, Bars]:
    """Each symbol's first ``n`` bars: what the bot had seen by bar ``n - 1``."""
    return {symbol: series.head(n) for symbol, series in bars.items()}


def describe(summary: RunSummary, state_dir: Path) -> str:
    seqs = "no decisions" if summary.first_seq is None else f"seq {summary.first_seq}..{summary.last_seq}"
    return (
        f"{summary.ended_by}: {summary.bars_processed} bar(s), {summary.decisions} decision(s), {seqs}; "
        f"state in {state_dir}"
    )
