"""Binance's request signing, checked the way the venue checks it.

A signed endpoint carries ``X-MBX-APIKEY`` and, in the query string (GET/DELETE) or the
form body (POST), ``timestamp``, an optional ``recvWindow`` and last ``signature``: the
HMAC-SHA256 hex of everything before ``&signature=``, byte for byte as sent. Checking the
exact bytes (not re-encoded parameters) is what catches a client that signs one string
and sends another.

The timestamp is compared with the **wall clock**, not the emulator's simulated market
clock: the window guards the transport (a replayed or delayed request), and ccxt stamps
requests with the machine's time. ``GET /api/v3/time`` reports the simulated clock, so a
client must not enable ccxt's ``adjustForTimeDifference`` against an emulator whose clock
runs fast.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from venues.exchange.errors import BinanceError

MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
FUTURE_TOLERANCE_MS = 1_000


def sign(payload: str, secret: str) -> str:
    """The hex signature Binance expects for ``payload`` (the urlencoded parameters)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def verify(
    api_key_header: str | None,
    payload: str,
    *,
    api_key: str,
    api_secret: str,
    wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> dict[str, str]:
    """Check key, signature and time window of a signed request; return its parameters.

    ``payload`` is the raw query string or form body. Raises :class:`BinanceError` with
    the code Binance uses for each failure.
    """
    if not api_key_header:
        raise BinanceError(401, -2014, "API-key format invalid.")
    if not hmac.compare_digest(api_key_header, api_key):
        raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    signed, sep, signature = payload.rpartition("&signature=")
    if not sep or not signature or "&" in signature:
        raise BinanceError(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    if not hmac.compare_digest(sign(signed, api_secret), signature):
        raise BinanceError(400, -1022, "Signature for this request is not valid.")
    params = dict(parse_qsl(signed, keep_blank_values=True))
    try:
        timestamp = int(params["timestamp"])
        recv_window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
    except (KeyError, ValueError):
        raise BinanceError(
            400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        ) from None
    if not 0 < recv_window <= MAX_RECV_WINDOW_MS:
        raise BinanceError(400, -1131, "recvWindow must be less than 60000")
    now = wall_ms()
    if timestamp > now + FUTURE_TOLERANCE_MS:
        raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - timestamp > recv_window:
        raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    return params
