"""A wire-compatible Alpaca emulator (trading REST, market-data REST, both streams) over ``venues.market``."""

from venues.alpaca.server import AlpacaEmulator

__all__ = ["AlpacaEmulator"]
