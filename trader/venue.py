"""The live-venue port: what a bot needs from a broker or exchange, and nothing else.

A venue adapter (``trader.venues.alpaca``, ``trader.venues.ccxt_venue``) turns one SDK into
this shape, so the bot runner, reconciliation and the exactly-once submit logic are written
once. Quantities are signed only on positions (short < 0); orders carry a side and a
positive quantity. Every call may raise one of the ``VenueError`` classes below, which say
whether the outcome is known: ``VenueUnavailable`` after a submit means *the order may or
may not exist*, so the caller looks it up by its client order id before anything is resent.

Credentials and endpoints come from the bot's settings (``.env`` on a laptop, the machine's
environment on a hosted VM): ``BROKER_KIND`` and the ``BROKER_*`` credentials the control
plane hands out, plus the operator-only endpoint overrides below, which point the SDKs at
the local emulators (production leaves them unset and the SDKs use the venues' own hosts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from trader.broker import Side

ALPACA_URL_ENV = "HMMTRADE_ALPACA_URL"  # http://host:port of an Alpaca-compatible server (all APIs)
EXCHANGE_URL_ENV = "HMMTRADE_EXCHANGE_URL"  # http://host:port of a Binance-spot-compatible server

OrderStatus = Literal["new", "partially_filled", "filled", "canceled", "rejected", "expired"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"filled", "canceled", "rejected", "expired"})
TimeInForce = Literal["day", "gtc", "ioc", "opg"]


class VenueError(Exception):
    """A venue call failed; the message is written for the trader and names what was wrong."""


class VenueAuthError(VenueError):
    """The venue refused the keys. Never retried: the keys must be fixed."""


class VenueUnavailable(VenueError):
    """Network error, timeout, 5xx or rate limit: the outcome of the call is unknown."""


class OrderRejected(VenueError):
    """The venue refused the order (and it does not exist there)."""


class DuplicateClientOrderId(VenueError):
    """The venue already has an order with this client order id: look it up, never resend."""


class UnknownSymbol(VenueError):
    """The venue does not list this symbol, or it is not tradable."""


@dataclass(frozen=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: Side
    quantity: float  # > 0, already fitted to the venue's rules
    time_in_force: TimeInForce = "day"
    limit_price: float | None = None  # None: a market order


@dataclass(frozen=True)
class VenueOrder:
    """An order as the venue reports it now; ``filled_quantity`` and ``average_price`` are cumulative."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    quantity: float
    filled_quantity: float
    average_price: float | None
    status: OrderStatus
    submitted_at: str | None = None
    fee_base: float = 0.0  # cumulative fees taken in the traded asset (Binance: a buy's fee in the coin bought)
    fee_quote: float = 0.0  # cumulative fees taken in the quote currency

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def base_change(self, booked_quantity: float = 0.0, booked_fee_base: float = 0.0) -> float:
        """How much of the traded asset this order moved beyond what is booked (fees in it included)."""
        sign = 1.0 if self.side == "buy" else -1.0
        return sign * (self.filled_quantity - booked_quantity) - (self.fee_base - booked_fee_base)


@dataclass(frozen=True)
class Position:
    symbol: str
    quantity: float  # signed: short < 0
    average_entry_price: float


@dataclass(frozen=True)
class Account:
    cash: float
    equity: float
    currency: str = "USD"
    paper: bool | None = None  # what the venue says, when it says (Alpaca: by the endpoint used)


@dataclass(frozen=True)
class SymbolRules:
    """The venue's filters for one symbol; zero means "no such filter"."""

    symbol: str
    tradable: bool = True
    min_quantity: float = 0.0
    quantity_step: float = 0.0
    min_notional: float = 0.0
    price_tick: float = 0.0


@dataclass(frozen=True)
class VenueClock:
    now: datetime  # the venue's time (an emulator's may run faster than the wall clock)
    is_open: bool
    next_open: datetime | None = None
    next_close: datetime | None = None


@dataclass(frozen=True)
class VenueBar:
    """One closed bar; ``start`` is the bar's open time (UTC)."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class Venue(Protocol):
    """One account at one venue. Every method is a network call; ``close`` releases the client."""

    name: str  # "alpaca" or "ccxt:<exchange>", for messages and the audit

    async def account(self) -> Account: ...

    async def positions(self) -> dict[str, Position]: ...

    async def rules(self, symbol: str) -> SymbolRules: ...

    async def clock(self) -> VenueClock: ...

    async def submit(self, order: OrderRequest) -> VenueOrder:
        """Send once. May raise ``VenueUnavailable`` (outcome unknown) or ``DuplicateClientOrderId``."""
        ...

    async def order_by_client_id(self, client_order_id: str, symbol: str) -> VenueOrder | None: ...

    async def open_orders(self, symbols: list[str]) -> list[VenueOrder]: ...

    async def cancel(self, order: VenueOrder) -> None: ...

    async def bars(self, symbol: str, interval: str, start: datetime, end: datetime | None = None) -> list[VenueBar]:
        """Closed bars with ``start <= bar.start`` (and ``< end``), oldest first, paged through."""
        ...

    async def close(self) -> None: ...
