"""Alpaca's wire shapes: JSON bodies, error bodies, timestamps and the symbols' assets.

Money and quantities are strings (the SDK's models reject numbers), ids are UUIDs, and
timestamps are RFC 3339 in UTC with a ``Z`` except where Alpaca speaks New York time
(``/v2/clock`` with an offset, ``/v2/calendar`` as ``HH:MM``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from venues.market import Bar, session_for

Json = dict[str, Any]
NEW_YORK = ZoneInfo("America/New_York")

# What the emulator lists: a few liquid US stocks and ETFs, and Alpaca's main crypto pairs.
STOCKS = {
    "SPY": "ARCA", "QQQ": "NASDAQ", "IWM": "ARCA", "DIA": "ARCA", "TLT": "NASDAQ", "GLD": "ARCA",
    "AAPL": "NASDAQ", "MSFT": "NASDAQ", "NVDA": "NASDAQ", "AMZN": "NASDAQ", "GOOGL": "NASDAQ",
    "META": "NASDAQ", "TSLA": "NASDAQ", "JPM": "NYSE", "XOM": "NYSE", "KO": "NYSE",
}  # fmt: skip
CRYPTO = ("BTC/USD", "ETH/USD", "SOL/USD", "DOGE/USD", "LTC/USD", "AVAX/USD", "LINK/USD")


class AlpacaError(Exception):
    """A refusal in Alpaca's shape: HTTP ``status`` and body ``{"code", "message"}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> Json:
        return {"code": self.code, "message": self.message}


UNAUTHORIZED = AlpacaError(401, 40110000, "request is not authorized")


def money(value: float) -> str:
    """A decimal string without float noise (Alpaca sends e.g. ``"100000"`` and ``"187.25"``)."""
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_york(value: datetime) -> str:
    return value.astimezone(NEW_YORK).isoformat()


def parse_time(text: str) -> datetime:
    """RFC 3339 or a date (``YYYY-MM-DD`` = that day 00:00 UTC); naive means UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_TIMEFRAME = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D)$")


def parse_timeframe(text: str) -> timedelta:
    """``5Min``/``1Hour``/``1Day`` → a timedelta; anything else is the venue's 422."""
    match = _TIMEFRAME.match(text)
    if not match:
        raise AlpacaError(422, 42210000, f"invalid timeframe: {text}")
    amount, unit = int(match.group(1)), match.group(2)
    if unit in ("Min", "T") and 1 <= amount <= 59:
        return timedelta(minutes=amount)
    if unit in ("Hour", "H") and 1 <= amount <= 23:
        return timedelta(hours=amount)
    if unit in ("Day", "D") and amount == 1:
        return timedelta(days=1)
    raise AlpacaError(422, 42210000, f"invalid timeframe: {text}")


def bar_json(bar: Bar) -> Json:
    typical = (bar.high + bar.low + bar.close) / 3
    return {
        "t": bar.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "o": bar.open,
        "h": bar.high,
        "l": bar.low,
        "c": bar.close,
        "v": bar.volume,
        "n": max(1, int(bar.volume // 100)),
        "vw": typical,
    }


@dataclass(frozen=True)
class Asset:
    symbol: str  # as orders and market data name it: SPY, BTC/USD
    exchange: str

    @property
    def crypto(self) -> bool:
        return session_for(self.symbol) == "24/7"

    @property
    def position_symbol(self) -> str:
        """Crypto positions drop the slash (``BTCUSD``), as Alpaca's do."""
        return self.symbol.replace("/", "")

    @property
    def id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"alpaca-emulator:{self.symbol}"))

    def to_json(self) -> Json:
        body: Json = {
            "id": self.id,
            "class": "crypto" if self.crypto else "us_equity",
            "exchange": self.exchange,
            "symbol": self.symbol,
            "name": self.symbol,
            "status": "active",
            "tradable": True,
            "marginable": not self.crypto,
            "shortable": not self.crypto,
            "easy_to_borrow": not self.crypto,
            "fractionable": True,
            "attributes": [],
        }
        if self.crypto:
            body.update(min_order_size="0.000001", min_trade_increment="0.000000001", price_increment="0.01")
        return body


class Assets:
    """The tradable symbols; lookups accept ``BTC/USD`` and ``BTCUSD`` alike."""

    def __init__(self, extra: list[str] | None = None) -> None:
        self._by_name: dict[str, Asset] = {}
        for symbol, exchange in STOCKS.items():
            self._add(Asset(symbol, exchange))
        for symbol in CRYPTO:
            self._add(Asset(symbol, "CRYPTO"))
        for symbol in extra or []:
            self._add(Asset(symbol.upper(), "CRYPTO" if session_for(symbol) == "24/7" else "NASDAQ"))

    def _add(self, asset: Asset) -> None:
        self._by_name[asset.symbol] = asset
        self._by_name[asset.position_symbol] = asset

    def find(self, symbol: str) -> Asset | None:
        return self._by_name.get(symbol.upper())

    def all(self) -> list[Asset]:
        return sorted({a.symbol: a for a in self._by_name.values()}.values(), key=lambda a: a.symbol)
