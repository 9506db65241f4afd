"""``CurrentMachine``: the bot a machine JWT speaks for, or 401.

A valid signature is not enough: the token's ``jti`` must be live in ``machine_tokens``
(revoked on bot stop and delete). Every refusal answers the same 401, so a caller
learns nothing about which check failed.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import Db
from api.problems import ProblemError
from api.security import Security
from store import machine_tokens
from vault.machine_jwt import InvalidMachineToken, MachineClaims

log = structlog.get_logger(__name__)

_bearer = HTTPBearer(auto_error=False, description="A machine JWT (sub = bot:<id>), issued with the bot's machine.")
_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="internal"'}


async def get_current_machine(
    security: Security, db: Db, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> MachineClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(401, "Send a machine token as 'Authorization: Bearer <token>'.", headers=_UNAUTHORIZED)
    try:
        claims = security.machine_tokens.verify(credentials.credentials)
    except InvalidMachineToken as exc:
        log.info("machine_token.refused", reason=str(exc))
        raise ProblemError(401, "The machine token is invalid, expired or revoked.", headers=_UNAUTHORIZED) from None
    if not await machine_tokens.is_live(db, jti=claims.jti, bot_id=claims.bot_id):
        log.info("machine_token.refused", reason="revoked or unknown jti", bot_id=str(claims.bot_id))
        raise ProblemError(401, "The machine token is invalid, expired or revoked.", headers=_UNAUTHORIZED)
    structlog.contextvars.bind_contextvars(bot_id=str(claims.bot_id))
    return claims


CurrentMachine = Annotated[MachineClaims, Depends(get_current_machine)]
