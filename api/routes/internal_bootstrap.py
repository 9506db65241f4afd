"""``POST /api/v1/internal/machine_token``: a booting machine trades its bootstrap for its JWT.

The machine config carries only a single-use bootstrap (``vault.machine_bootstrap``) that
expires minutes after the launch; this route is the one place it is spent. Claiming the
bootstrap, minting the JWT and recording its ``jti`` happen in one transaction, so a failure
never burns a bootstrap without a live token, and two exchanges of the same bootstrap never
both get one. A refused exchange of a spent bootstrap is counted on its row and logged as a
warning: the machine config was read by someone else. It does not revoke the JWT already
issued, or anyone who can read a machine's config could stop that bot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import Db
from api.problems import ProblemError, problem_responses
from api.security import Security
from contracts.brokers import MachineToken, MachineTokenRequest
from store import machine_bootstraps, machine_tokens
from vault.machine_bootstrap import PREFIX, bootstrap_hash

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1/internal", tags=["internal"])

_bearer = HTTPBearer(auto_error=False, description="The machine's single-use bootstrap (hmb_…) from its config.")
_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="internal-bootstrap"'}
_REFUSED = "The bootstrap is invalid, expired or already used: relaunch the bot (stop and start it)."


@router.post("/machine_token", response_model=MachineToken, responses=problem_responses(400, 401, 413, 422, 503))
async def machine_token(
    body: MachineTokenRequest,
    db: Db,
    security: Security,
    response: Response,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> MachineToken:
    """Exchange the bootstrap (once, before it expires) for the bot's machine JWT."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials.startswith(PREFIX):
        raise ProblemError(401, f"Send the machine's bootstrap as 'Authorization: Bearer {PREFIX}…'.",
                           headers=_UNAUTHORIZED)  # fmt: skip
    token_hash = bootstrap_hash(credentials.credentials)
    async with db.acquire() as conn, conn.transaction():
        if not await machine_bootstraps.redeem(conn, token_hash=token_hash, bot_id=body.bot_id):
            replayed_bot = await machine_bootstraps.record_replay(conn, token_hash=token_hash)
            if replayed_bot is not None:
                log.warning("machine_bootstrap.replayed", bot_id=str(replayed_bot), claimed_bot_id=str(body.bot_id))
            else:
                log.info("machine_bootstrap.refused", bot_id=str(body.bot_id))
            refused = ProblemError(401, _REFUSED, headers=_UNAUTHORIZED)
        else:
            refused = None
            token, claims = security.machine_tokens.mint(body.bot_id)
            await machine_tokens.record_issued(
                conn,
                jti=claims.jti,
                bot_id=body.bot_id,
                kid=claims.kid,
                issued_at=claims.issued_at,
                expires_at=claims.expires_at,
            )
            await machine_bootstraps.set_machine_jti(conn, token_hash=token_hash, jti=claims.jti)
    if refused is not None:
        raise refused  # after the transaction commits: the replay count is the record of the attempt
    log.info("machine_bootstrap.exchanged", bot_id=str(body.bot_id), jti=str(claims.jti))
    response.headers["Cache-Control"] = "no-store"
    return MachineToken(bot_id=body.bot_id, token=token, expires_at=datetime.fromtimestamp(claims.expires_at, UTC))
