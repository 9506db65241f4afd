"""The emulator's listed symbols, their filters, and ``exchangeInfo`` as ccxt parses it.

Filter values are Binance spot's own for these pairs (tick 0.01, BTC step 0.00001, a
5 USDT minimum notional), so sizing code meets the same edges it meets in production.
ccxt reads ``orderTypes`` before every ``create_order`` (an absent list makes it refuse
locally with ``InvalidOrder``) and the three filters into ``market['limits']`` and
``market['precision']``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from venues.exchange.errors import filter_failure


@dataclass(frozen=True)
class SymbolSpec:
    """One spot pair; numbers are decimal strings on the wire, as Binance sends them."""

    symbol: str  # BTCUSDT
    base: str
    quote: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal

    @property
    def unified(self) -> str:
        """ccxt's name for it: ``BTC/USDT``."""
        return f"{self.base}/{self.quote}"

    def check(self, quantity: Decimal, price: Decimal | None, reference_price: Decimal) -> None:
        """Raise Binance's -1013 for the first filter the order fails (``price`` None: a market order)."""
        if price is not None and (
            price < self.min_price or price > self.max_price or (price - self.min_price) % self.tick_size != 0
        ):
            raise filter_failure("PRICE_FILTER")
        if quantity < self.min_qty or quantity > self.max_qty or (quantity - self.min_qty) % self.step_size != 0:
            raise filter_failure("LOT_SIZE")
        if quantity * (price if price is not None else reference_price) < self.min_notional:
            raise filter_failure("NOTIONAL")

    def info(self) -> dict[str, Any]:
        """This symbol's entry in ``GET /api/v3/exchangeInfo``."""
        return {
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "quoteOrderQtyMarketAllowed": False,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": _s(self.min_price),
                    "maxPrice": _s(self.max_price),
                    "tickSize": _s(self.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": _s(self.min_qty),
                    "maxQty": _s(self.max_qty),
                    "stepSize": _s(self.step_size),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": _s(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }


def _s(value: Decimal) -> str:
    return f"{value:.8f}"


def _spec(base: str, step: str, min_qty: str, max_qty: str) -> SymbolSpec:
    return SymbolSpec(
        symbol=f"{base}USDT",
        base=base,
        quote="USDT",
        tick_size=Decimal("0.01"),
        min_price=Decimal("0.01"),
        max_price=Decimal("1000000.00"),
        step_size=Decimal(step),
        min_qty=Decimal(min_qty),
        max_qty=Decimal(max_qty),
        min_notional=Decimal("5"),
    )


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    _spec("BTC", "0.00001", "0.00001", "9000"),
    _spec("ETH", "0.0001", "0.0001", "9000"),
    _spec("SOL", "0.001", "0.001", "90000"),
)


def exchange_info(symbols: tuple[SymbolSpec, ...], server_time_ms: int) -> dict[str, Any]:
    """The whole ``exchangeInfo`` document."""
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        ],
        "exchangeFilters": [],
        "symbols": [spec.info() for spec in symbols],
    }
