"""Orders to a live venue, exactly once, and the venue's fills back into the bot's book.

Exactly once rests on three things:

- client order ids are derived from (bot, bar, leg), so a re-run of a bar after a crash
  sends an order with the same id as the run that crashed;
- every venue we support refuses a second order with an id it has seen (Alpaca: forever;
  our exchange path: the same), so a resend can at worst be refused;
- before anything is resent after an error whose outcome is unknown (a timeout, a 5xx,
  a rate limit — alpaca-py retries some of those *including order POSTs*, which is why the
  adapter turns its retries off), the order is looked up by its client order id.

The journal (``orders.jsonl``, fsync'd before each submit) names every order this bot may
have sent, so a start after a crash can tell its own orders from someone else's.

A portfolio sends up to one order per symbol at a bar, each fitted to its own symbol's
rules, sells before buys: a cash account may refuse a buy the sells' proceeds would pay
for. A spot exchange (crypto) fills a market order at once, so there the buys also wait
(briefly, ``SELL_FILL_WAIT_S``) for the sells to finish; a stock order decided after the
close is market-on-open, where the venue fills the sells and buys together at the open
and a broker with buying power (Alpaca) does not need the cash first. A buy the venue
still refuses is recorded as rejected, and the next bar decides again.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import structlog

from events.failpoints import Failpoints
from trader.broker import Fill, Order
from trader.live_state import LiveState, Outstanding
from trader.venue import (
    TERMINAL_STATUSES,
    DuplicateClientOrderId,
    OrderRejected,
    OrderRequest,
    SymbolRules,
    TimeInForce,
    Venue,
    VenueClock,
    VenueError,
    VenueOrder,
    VenueUnavailable,
)
from trader.venues.order_rules import fit_quantity

log = structlog.get_logger(__name__)

SELL_FILL_WAIT_S = 10.0  # how long a spot exchange's buys wait for the same bar's sells to fill


class OrderJournal:
    """Append-only record of the orders a bot is about to send; read back after a crash."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, order: Order) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(asdict(order), separators=(",", ":")) + "\n"
        if self._last_line_torn():
            line = "\n" + line  # else this order would be glued to the torn line and unreadable
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _last_line_torn(self) -> bool:
        """A crash mid-write leaves the file without its final newline."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(-1, os.SEEK_END)
                return handle.read(1) != b"\n"
        except OSError:  # no journal yet, or an empty one
            return False

    def orders(self) -> list[Order]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(Order(**json.loads(line)))
            except (ValueError, TypeError):
                continue  # a torn last line: that order was never sent (the write precedes the submit)
        return out


async def place_once(
    venue: Venue, request: OrderRequest, *, maybe_sent: bool, attempts: int = 5, wait_s: float = 0.25
) -> VenueOrder:
    """Submit ``request`` so that the venue holds exactly one order with its client order id.

    After an unknown outcome nothing is resent until a lookup has answered "no such order":
    Binance refuses a reused client id only while the first order is open, so a resend of an
    order that already filled would be a second order there.
    """
    if maybe_sent:
        known, found = await _lookup(venue, request)
        if found is not None:
            return found
        if not known:
            raise VenueUnavailable(f"{venue.name} could not say whether order {request.client_order_id} exists")
    last: VenueError | None = None
    attempt = 0
    while attempt < attempts:
        try:
            return await venue.submit(request)
        except DuplicateClientOrderId:
            known, found = await _lookup(venue, request)
            if found is not None:
                return found
            if not known:  # it exists, the lookup just failed: the next bar looks again
                raise VenueUnavailable(
                    f"{venue.name} has order {request.client_order_id} but did not show it"
                ) from None
            raise VenueError(
                f"{venue.name} says order {request.client_order_id} already exists but cannot find it"
            ) from None
        except VenueUnavailable as exc:
            last = exc
            log.warning("order.outcome_unknown", client_order_id=request.client_order_id, error=str(exc))
        while attempt < attempts:  # learn whether the order got in before anything is sent again
            await asyncio.sleep(wait_s * 2**attempt)
            attempt += 1
            known, found = await _lookup(venue, request)
            if found is not None:
                return found
            if known:
                break  # the venue says it has no such order: sending it is safe
    raise VenueUnavailable(f"{venue.name} did not take order {request.client_order_id} in {attempts} attempts: {last}")


async def _lookup(venue: Venue, request: OrderRequest) -> tuple[bool, VenueOrder | None]:
    """(whether the venue answered, the order if it has one)."""
    try:
        return True, await venue.order_by_client_id(request.client_order_id, request.symbol)
    except VenueUnavailable:
        return False, None


def time_in_force(*, crypto: bool, clock: VenueClock) -> TimeInForce:
    """Crypto never closes (and refuses ``day``); a stock order placed after the close is market-on-open."""
    if crypto:
        return "gtc"
    return "day" if clock.is_open else "opg"


class VenueExecution:
    """Sends a bot's orders to its venue and turns the venue's order states into fills."""

    def __init__(
        self,
        venue: Venue,
        journal: OrderJournal,
        live: LiveState,
        *,
        crypto: bool,
        failpoints: Failpoints | None = None,
        rules: Mapping[str, SymbolRules] | None = None,
        sell_fill_wait_s: float = SELL_FILL_WAIT_S,
    ) -> None:
        self.venue, self.journal, self.live = venue, journal, live
        self.crypto = crypto
        self._failpoints = failpoints or Failpoints()
        self._rules = dict(rules or {})  # per symbol, fetched once per run (the start-up check asked for them)
        self._sell_fill_wait_s = sell_fill_wait_s
        journaled = journal.orders()
        self.journaled = len(journaled)  # saved in the checkpoint: later entries come from a crashed run
        self._maybe_sent = {order.client_order_id for order in journaled}

    async def collect_fills(self, at: str) -> list[Fill]:
        """New fills of every outstanding order (partial ones included); finished orders are dropped."""
        fills = []
        for client_order_id, entry in list(self.live.outstanding.items()):
            try:
                venue_order = await self.venue.order_by_client_id(client_order_id, entry.order.symbol)
            except VenueUnavailable as exc:  # still outstanding: its fills are booked at a later bar
                log.warning("order.lookup_failed", client_order_id=client_order_id, error=str(exc))
                continue
            if venue_order is None:
                log.warning("order.not_at_venue", client_order_id=client_order_id, detail="it was never accepted")
                del self.live.outstanding[client_order_id]
                continue
            fill = entry.fill_from(venue_order, at)
            if fill is not None:
                fills.append(fill)
            if venue_order.done:
                del self.live.outstanding[client_order_id]
        return fills

    async def send(self, orders: list[Order], *, prices: Mapping[str, float], fresh: bool) -> list[dict[str, Any]]:
        """Send the engine's orders, sells first, each fitted to its symbol's filters; one audit entry each.

        ``prices``: the close each order was decided on, by symbol (what a quantity is fitted against).
        """
        if not orders:
            return []
        if not fresh:
            return [
                {
                    **_describe(order),
                    "status": "not sent",
                    "reason": "the bar is no longer the latest: no trading on an old price",
                }
                for order in orders
            ]
        ordered = sorted(orders, key=lambda order: order.side != "sell")  # stable: the engine's order otherwise
        try:
            for symbol in dict.fromkeys(order.symbol for order in ordered):
                if symbol not in self._rules:
                    self._rules[symbol] = await self.venue.rules(symbol)
            clock = await self.venue.clock()
        except VenueUnavailable as exc:  # nothing was sent: the next bar decides again on its own price
            return [{**_describe(order), "status": "not sent", "reason": str(exc)} for order in ordered]
        tif = time_in_force(crypto=self.crypto, clock=clock)
        executions = []
        sells: list[str] = []
        for order in ordered:
            if order.side == "buy" and sells and self.crypto:
                await self._wait_for_fills(sells)
                sells = []
            execution = await self._send_one(order, prices[order.symbol], tif)
            still_open = execution.get("venue_order_id") and execution["status"] not in TERMINAL_STATUSES
            if order.side == "sell" and still_open:
                sells.append(order.client_order_id)  # a spot exchange's buys wait for it
            executions.append(execution)
        return executions

    async def _send_one(self, order: Order, price: float, tif: TimeInForce) -> dict[str, Any]:
        quantity, reason = fit_quantity(order.quantity, price, self._rules[order.symbol])
        if reason is not None:
            return {**_describe(order), "status": "skipped", "reason": reason}
        fitted = Order(order.client_order_id, order.symbol, order.side, quantity, order.placed_at)
        maybe_sent = fitted.client_order_id in self._maybe_sent
        if not maybe_sent:
            self.journal.record(fitted)
            self.journaled += 1
            self._maybe_sent.add(fitted.client_order_id)
        request = OrderRequest(fitted.client_order_id, fitted.symbol, fitted.side, quantity, tif)
        entry = Outstanding(fitted)
        try:
            venue_order = await place_once(self.venue, request, maybe_sent=maybe_sent)
        except OrderRejected as exc:
            return {**_describe(fitted), "status": "rejected", "reason": str(exc)}
        except VenueUnavailable as exc:
            self.live.outstanding[fitted.client_order_id] = entry  # looked up again at the next bar
            return {**_describe(fitted), "status": "unknown", "reason": str(exc)}
        self._failpoints.hit_sync("execution.after_ack")
        self._failpoints.hit_sync(f"execution.after_ack.{fitted.symbol}")  # a crash between a portfolio's submits
        entry.venue_order_id = venue_order.venue_order_id
        self.live.outstanding[fitted.client_order_id] = entry
        return {
            **_describe(fitted),
            "venue_order_id": venue_order.venue_order_id,
            "status": venue_order.status,
            "time_in_force": tif,
        }

    async def _wait_for_fills(self, client_order_ids: list[str]) -> None:
        """Until the venue reports these orders done, or ``sell_fill_wait_s`` has passed (then the buys go anyway).

        Their fills are booked at the next bar by ``collect_fills``, like every fill.
        """
        deadline = asyncio.get_running_loop().time() + self._sell_fill_wait_s
        waiting = list(client_order_ids)
        pause = 0.05
        while waiting:
            still = []
            for client_order_id in waiting:
                symbol = self.live.outstanding[client_order_id].order.symbol
                try:
                    found = await self.venue.order_by_client_id(client_order_id, symbol)
                except VenueUnavailable:
                    found = None
                if found is None or not found.done:
                    still.append(client_order_id)
            waiting = still
            remaining = deadline - asyncio.get_running_loop().time()
            if not waiting or remaining <= 0:
                break
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, 1.0)
        if waiting:
            log.warning("order.sells_not_filled_before_buys", client_order_ids=waiting)


def _describe(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side,
        "quantity": order.quantity,
    }
