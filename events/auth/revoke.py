"""Revoking bus credentials: an account update pushed to the server's JWT resolver.

NATS revokes a user by listing its public key in the account JWT ("JWTs of this user
issued at or before T are void"); the server then refuses those credentials and closes
connections already made with them. The account JWT stored in the server's resolver is
the one list of revocations: :func:`revoke_users` reads it, adds the keys, drops entries
older than any credential can live, re-signs it with a newer ``iat`` and pushes it, then
reads it back until its keys are there (two revokers at once may overwrite each other;
the loser sees its keys missing and pushes again).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable

import structlog
from nats.aio.client import Client as NatsClient

from events.auth import jwt
from events.auth.keys import BusKeys

log = structlog.get_logger(__name__)

# No bot credential outlives this; older revocations only make the account JWT grow.
MAX_CREDENTIAL_LIFETIME_S = 7 * 24 * 3600
_ATTEMPTS = 5


class RevocationFailed(Exception):
    """The server did not take the account update (the bus is down or refused it)."""


async def current_account_jwt(system: NatsClient, keys: BusKeys, timeout_s: float = 2.0) -> str:
    reply = await system.request(f"$SYS.REQ.ACCOUNT.{keys.account_key}.CLAIMS.LOOKUP", b"", timeout=timeout_s)
    token = reply.data.decode().strip()
    if not token or token.startswith("{"):
        raise RevocationFailed(f"the server did not return the account JWT: {token[:200]!r}")
    return token


async def push_account_jwt(system: NatsClient, token: str, timeout_s: float = 2.0) -> None:
    reply = await system.request("$SYS.REQ.CLAIMS.UPDATE", token.encode(), timeout=timeout_s)
    try:
        answer = json.loads(reply.data)
    except ValueError as exc:
        raise RevocationFailed(f"unreadable answer to the account update: {reply.data[:200]!r}") from exc
    if "error" in answer:
        raise RevocationFailed(f"the server refused the account update: {answer['error']}")


async def revoke_users(
    system: NatsClient, keys: BusKeys, user_keys: Iterable[str], *, now: float | None = None
) -> None:
    """Void every credential of ``user_keys`` issued up to now, and disconnect their holders."""
    wanted = sorted(set(user_keys))
    if not wanted:
        return
    at = int(now if now is not None else time.time())
    for attempt in range(_ATTEMPTS):
        claims = jwt.claims_of(await current_account_jwt(system, keys))
        revocations: dict[str, int] = dict(claims.get("nats", {}).get("revocations", {}))
        if all(revocations.get(key, -1) >= at for key in wanted):
            if attempt:  # our push stuck (at attempt 0 they were revoked already)
                log.info("bus.revoked", users=len(wanted))
            return
        horizon = at - MAX_CREDENTIAL_LIFETIME_S
        revocations = {key: when for key, when in revocations.items() if when >= horizon}
        revocations.update({key: max(at, revocations.get(key, at)) for key in wanted})
        # A stored account JWT is replaced only by a newer one.
        iat = max(at, int(claims.get("iat", 0)) + 1)
        await push_account_jwt(system, keys.account_jwt(revocations=revocations, iat=iat))
        if attempt:
            await asyncio.sleep(0.05 * attempt)  # let a concurrent revoker's push land first
    claims = jwt.claims_of(await current_account_jwt(system, keys))
    revocations = claims.get("nats", {}).get("revocations", {})
    missing = [key for key in wanted if revocations.get(key, -1) < at]
    if missing:
        raise RevocationFailed(f"{len(missing)} revocation(s) did not stick after {_ATTEMPTS} attempts")
    log.info("bus.revoked", users=len(wanted))
