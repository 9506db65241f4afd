"""A Binance-spot-compatible exchange emulator (REST subset ccxt uses) on the shared simulated market."""

from venues.exchange.server import ExchangeEmulator

__all__ = ["ExchangeEmulator"]
