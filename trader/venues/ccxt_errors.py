"""ccxt's exceptions translated to the venue port's, at the adapter's edge.

::

    ccxt.BaseError
    ├── NetworkError (ExchangeNotAvailable, RequestTimeout, DDoSProtection,
    │   RateLimitExceeded, InvalidNonce, a 4xx/5xx without a JSON code)  → VenueUnavailable
    │   └── …whose body carries Binance's -2015 (ccxt calls a revoked key a
    │       "DDoSProtection" once it has authenticated before)             → VenueAuthError
    └── ExchangeError
        ├── AuthenticationError, PermissionDenied                          → VenueAuthError
        ├── BadSymbol                                                      → UnknownSymbol
        ├── InvalidOrder whose message has "Duplicate order"               → DuplicateClientOrderId
        ├── InvalidOrder, InsufficientFunds, BadRequest "Filter failure"   → OrderRejected
        └── anything else                                                  → VenueError

``OrderNotFound`` (an ``InvalidOrder``) is the one the adapter handles itself: a lookup that
finds nothing returns ``None``. Messages name the exchange and what was asked, and never
carry the keys or a request signature (ccxt puts the signed URL into some messages).
"""

from __future__ import annotations

import re

import ccxt.async_support as ccxt

from trader.venue import (
    DuplicateClientOrderId,
    OrderRejected,
    UnknownSymbol,
    VenueAuthError,
    VenueError,
    VenueUnavailable,
)

_SIGNED_QUERY = re.compile(r"\?\S*")
_MAX_DETAIL = 300


def translate(exc: ccxt.BaseError, venue: str, what: str, secrets: tuple[str, ...] = ()) -> VenueError:
    """The port's exception for ``exc``, raised by ``venue`` while doing ``what``."""
    detail = _scrub(str(exc), secrets)
    text = f"{venue} {what}: {detail}"
    if isinstance(exc, ccxt.NetworkError):
        if '"code":-2015' in detail:
            return VenueAuthError(
                f"{venue} refused the API key ({what}); check the key, its IP allow-list and permissions"
            )
        return VenueUnavailable(f"{venue} did not answer {what} (outcome unknown): {detail}")
    if isinstance(exc, ccxt.AuthenticationError):
        return VenueAuthError(f"{venue} refused the API keys ({what}); fix the keys before retrying: {detail}")
    if isinstance(exc, ccxt.BadSymbol):
        return UnknownSymbol(text)
    if isinstance(exc, ccxt.InvalidOrder):
        if "Duplicate order" in detail:
            return DuplicateClientOrderId(text)
        return OrderRejected(text)
    if isinstance(exc, ccxt.InsufficientFunds):
        return OrderRejected(text)
    if isinstance(exc, ccxt.BadRequest) and "Filter failure" in detail:
        return OrderRejected(text)
    return VenueError(text)


def _scrub(message: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    message = _SIGNED_QUERY.sub("", message)  # drop query strings: timestamps and signatures
    return message if len(message) <= _MAX_DETAIL else message[:_MAX_DETAIL] + "…"
