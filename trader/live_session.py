"""A bot's connection to its venue for one run: reconcile, fills in, orders out, wait for bars.

The runner asks this object at four points of its loop (start, before a bar, after a
bar, between bars); the engine in between is the backtester's, unchanged. A portfolio's
session covers all its symbols at each point: every symbol's rules at start, one
reconciliation, one send per bar (sells first), and bars only once every symbol has them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import timedelta

import structlog

from events.failpoints import Failpoints
from trader.bars import Bars
from trader.broker import Fill
from trader.engine import Engine
from trader.execution import OrderJournal, VenueExecution
from trader.live_feed import VenueBookFeed
from trader.live_state import LiveState
from trader.reconcile import reconcile
from trader.venue import SymbolRules, UnknownSymbol, Venue, VenueAuthError, VenueError, VenueUnavailable

log = structlog.get_logger(__name__)

POLL_ENV = "HMMTRADE_LIVE_POLL_S"
ADOPT_ENV = "HMMTRADE_ADOPT_VENUE_POSITION"


class LiveSession:
    """One run's connection to the venue for a bot's symbols (one, or a portfolio's several)."""

    def __init__(
        self,
        venue: Venue,
        feed: VenueBookFeed,
        journal: OrderJournal,
        *,
        symbols: tuple[str, ...],
        crypto: bool,
        poll_s: float,
        adopt: bool = False,
    ) -> None:
        if not symbols:
            raise ValueError("a live session needs at least one symbol")
        self.venue, self.feed, self.journal = venue, feed, journal
        self.symbols, self.crypto, self.poll_s, self.adopt = symbols, crypto, poll_s, adopt
        self.live = LiveState()
        self.execution = self._execution()
        self.notes: list[str] = []
        self._stale_announced = False

    @property
    def symbol(self) -> str:
        """The first symbol: what names a one-symbol bot (``bench/live_fleet.py`` counts by it)."""
        return self.symbols[0]

    def _execution(self, rules: Mapping[str, SymbolRules] | None = None) -> VenueExecution:
        failpoints = Failpoints.from_env()
        return VenueExecution(
            self.venue, self.journal, self.live, crypto=self.crypto, failpoints=failpoints, rules=rules
        )

    async def start(self, engine: Engine, bars: Mapping[str, Bars], live: LiveState) -> str | None:
        """Reconcile the checkpointed book with the venue; the reason to halt, or None to trade."""
        self.live = live
        self.execution = self._execution(await self._rules())
        if self.live.halted and not self.adopt:
            return self.live.halted
        self.live.halted, self.live.halt_recorded = None, False  # adopting re-arms: reconcile decides again
        prices = {symbol: float(bars[symbol].close[-1]) if len(bars[symbol]) else 0.0 for symbol in self.symbols}
        result = await reconcile(
            self.venue, engine.broker, self.live, self.journal, symbols=self.symbols, prices=prices, adopt=self.adopt
        )
        self.notes.extend(result.notes)
        if result.halt:
            self.live.halted = result.halt
        return result.halt

    async def _rules(self) -> dict[str, SymbolRules]:
        """Every symbol's filters; an unknown or untradable symbol stops the bot here, before any order."""
        rules = {}
        for symbol in self.symbols:
            rules[symbol] = found = await self.venue.rules(symbol)
            if not found.tradable:
                raise UnknownSymbol(
                    f"{self.venue.name} lists {symbol!r} but it is not tradable: take it out of market.symbols"
                )
        return rules

    async def fills_before(self, label: str) -> list[Fill]:
        return await self.execution.collect_fills(label)

    async def send(self, engine: Engine, bars: Mapping[str, Bars], t: int) -> list[dict[str, object]]:
        orders = engine.broker.take_pending()
        now = self.feed.now
        fresh = now is not None and self.feed.is_fresh(t, now)
        prices = {symbol: float(bars[symbol].close[t]) for symbol in self.symbols}
        return await self.execution.send(orders, prices=prices, fresh=fresh)

    async def next_bars(self, have: int, stop: asyncio.Event) -> dict[str, Bars] | None:
        """Wait until every symbol has more than ``have`` bars (None if stopped); say so once when data is stale."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)
            if stop.is_set():
                return None
            try:
                bars = await self.feed.available()
            except VenueAuthError:
                raise
            except VenueError as exc:  # an outage: keep polling, trade nothing meanwhile
                log.warning("live.poll_failed", error=str(exc))
                continue
            if len(bars[self.symbols[0]]) > have:  # aligned: every symbol has the same number of bars
                self._stale_announced = False
                return bars
            await self._check_stale()
        return None

    async def _check_stale(self) -> None:
        if self.feed.now is None or self._stale_announced:
            return
        reason = self.feed.stale_reason(self.feed.now, grace=_grace(self.feed.times.interval))
        if reason is None:
            return
        self._stale_announced = True
        self.notes.append(f"waiting for data: {reason}")
        canceled = 0
        for entry in list(self.live.outstanding.values()):
            found = await self.venue.order_by_client_id(entry.order.client_order_id, entry.order.symbol)
            if found is not None and not found.done:
                with contextlib.suppress(VenueUnavailable):
                    await self.venue.cancel(found)
                    canceled += 1
        print(f"stale: {reason}; {canceled} open order(s) canceled; waiting for data", flush=True)
        log.warning("live.stale", reason=reason, canceled=canceled)

    @property
    def journaled(self) -> int:
        return self.execution.journaled

    async def close(self) -> None:
        await self.venue.close()


def _grace(interval: str) -> timedelta:
    return timedelta(minutes=30) if interval == "1d" else timedelta(minutes={"1m": 1, "5m": 5}.get(interval, 10))


def poll_seconds(env: Mapping[str, str], interval: str) -> float:
    configured = env.get(POLL_ENV)
    if configured:
        return max(0.01, float(configured))
    return 30.0 if interval == "1d" else 5.0
