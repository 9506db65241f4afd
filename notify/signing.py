"""Webhook signatures: ``X-HMMTrade-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The MAC covers ``"<t>.<body>"`` so a receiver can refuse a replayed old body (check ``t``
against its clock) as well as a forged one. Same scheme as Stripe's, so receivers know it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-HMMTrade-Signature"
ID_HEADER = "X-HMMTrade-Notification-Id"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


class SignatureMismatch(ValueError):
    """The header is missing, malformed, too old, or does not match the body."""


def new_signing_secret() -> str:
    """A fresh webhook secret (256 random bits), shown to its owner once."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: str, body: bytes, header: str, *, now: int, tolerance_s: int = DEFAULT_TOLERANCE_S) -> None:
    """Raise :class:`SignatureMismatch` unless ``header`` signs ``body`` within ``tolerance_s`` of ``now``.

    What a receiver runs (docs/notifications.md shows it standalone).
    """
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        raise SignatureMismatch("no timestamp in the signature header") from None
    if abs(now - timestamp) > tolerance_s:
        raise SignatureMismatch(f"signature timestamp is {abs(now - timestamp)} s away from now")
    expected = _mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", [])):
        raise SignatureMismatch("signature does not match the body")
