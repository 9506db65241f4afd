"""Bootstrap credentials: what a hosted bot's machine config carries instead of its machine JWT.

A bootstrap is 256 random bits, good for one exchange within minutes
(``POST /api/v1/internal/machine_token``) for the bot's machine JWT. Anyone who later reads the
machine config (the Fly API, a support dump, the emulator's state file) finds a spent or
expired string. The server keeps only its SHA-256: the bits are random, so no salt or slow hash
is needed for a database read to yield nothing usable.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "hmb_"  # tells a bootstrap from a JWT in a log line or a support ticket
DEFAULT_TTL_S = 600


def new_bootstrap() -> tuple[str, bytes]:
    """A fresh bootstrap and the hash to store."""
    token = PREFIX + secrets.token_urlsafe(32)
    return token, bootstrap_hash(token)


def bootstrap_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
