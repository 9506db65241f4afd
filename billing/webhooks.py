"""Stripe webhook signatures: verify on the raw body; sign (for the emulator and tests).

``Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>…]`` where each ``v1`` is
HMAC-SHA256, keyed with the whole ``whsec_…`` secret, over ``"{t}.{raw body}"``. Any
matching ``v1`` passes (Stripe sends several while a secret is being rolled). The body is
checked byte for byte *before* it is parsed: re-serialised JSON would not match.
Time is a parameter so tests are deterministic.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

DEFAULT_TOLERANCE_S = 300


class InvalidSignature(Exception):
    """The webhook is not provably from Stripe; the message says which check failed."""


def compute_signature(secret: str, timestamp: int, payload: bytes) -> str:
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, payload: bytes, *, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` value Stripe would send for ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={compute_signature(secret, t, payload)}"


def verify(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """Check ``header`` against the raw ``payload``; return the parsed event.

    Raises :class:`InvalidSignature` for a missing or malformed header, a timestamp outside
    the tolerance (a replay), no matching ``v1`` (forged, altered, or the wrong secret),
    or a body that is not a JSON event.
    """
    if not header:
        raise InvalidSignature("the Stripe-Signature header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature("the Stripe-Signature timestamp is not a number") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None:
        raise InvalidSignature("the Stripe-Signature header has no timestamp (t=)")
    if not candidates:
        raise InvalidSignature("the Stripe-Signature header has no v1 signature")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise InvalidSignature(f"the signature timestamp is more than {tolerance_s} s from now (replayed or stale)")
    expected = compute_signature(secret, timestamp, payload)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise InvalidSignature("no v1 signature matches the body (forged, altered, or signed with another secret)")
    try:
        event = json.loads(payload)
    except ValueError:
        raise InvalidSignature("the signed body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise InvalidSignature("the signed body is not a Stripe event (no id or type)")
    return event
