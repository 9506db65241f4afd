"""Binance's error shape: every refusal is ``{"code": <negative int>, "msg": "..."}`` with an HTTP status.

The codes and messages are Binance's own, because ccxt maps them (by code and by message
text) onto its exception classes, and the bot's adapter maps those onto the venue port's.
An emulator that invented its own codes would test a mapping production never sees.
"""

from __future__ import annotations

from typing import Any


class BinanceError(Exception):
    """A request Binance would refuse; the server turns it into ``{"code","msg"}`` with ``status``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def bad_param(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def invalid_symbol() -> BinanceError:
    return BinanceError(400, -1121, "Invalid symbol.")


def filter_failure(name: str) -> BinanceError:
    return BinanceError(400, -1013, f"Filter failure: {name}")


def duplicate_order() -> BinanceError:
    return BinanceError(400, -2010, "Duplicate order sent.")


def insufficient_balance() -> BinanceError:
    return BinanceError(400, -2010, "Account has insufficient balance for requested action.")


def order_missing() -> BinanceError:
    return BinanceError(400, -2013, "Order does not exist.")


def cancel_unknown() -> BinanceError:
    return BinanceError(400, -2011, "Unknown order sent.")
