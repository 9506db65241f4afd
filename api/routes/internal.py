"""The internal API a hosted bot calls while booting (machine JWT only), and the JWKS.

A machine token speaks for exactly one bot: any other bot id is a 404, as if it did not
exist. ``broker_token`` decrypts through the KMS inside the request and answers with a
bundle that is good for at most 15 minutes; nothing of it is stored or logged.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Response

from api.broker_secrets import open_credentials
from api.deps import Db
from api.machine_auth import CurrentMachine
from api.problems import ProblemError, problem_responses
from api.routes.brokers import public
from api.security import Security
from contracts.brokers import BrokerToken, BrokerTokenRequest, InternalBot
from contracts.profile import BotProfile
from store import bots, connections
from store.bots import BotRow
from store.connections import ConnectionRow
from vault.machine_jwt import MachineClaims

router = APIRouter(prefix="/api/v1/internal", tags=["internal"])
jwks_router = APIRouter(tags=["internal"])


async def _own_bot(db: Any, machine: MachineClaims, bot_id: uuid.UUID) -> BotRow:
    bot = await bots.get_bot(db, bot_id) if bot_id == machine.bot_id else None
    if bot is None or bot.status == "deleted":
        raise ProblemError(404, f"No bot {bot_id} for this machine token.")
    return bot


async def _connection(db: Any, bot: BotRow) -> ConnectionRow | None:
    """The bot's connection (None for paper); 409 if it is gone or revoked."""
    reference = BotProfile.model_validate(bot.profile).broker.connection
    if reference == "paper":
        return None
    row = await connections.get_connection(db, uuid.UUID(reference), user_id=bot.user_id)
    if row is None or row.status != "active":
        raise ProblemError(409, "The bot's broker connection no longer exists; choose another in the bot's settings.")
    return row


@router.get("/bots/{bot_id}", response_model=InternalBot, responses=problem_responses(401, 404, 409, 422, 503))
async def internal_bot(bot_id: uuid.UUID, machine: CurrentMachine, db: Db) -> InternalBot:
    """The bot's profile and its broker connection's metadata (never secrets)."""
    bot = await _own_bot(db, machine, bot_id)
    row = await _connection(db, bot)
    return InternalBot(
        bot_id=bot.id,
        status=bot.status,
        profile=BotProfile.model_validate(bot.profile),
        connection=public(row) if row is not None else None,
    )


@router.post(
    "/broker_token", response_model=BrokerToken, responses=problem_responses(400, 401, 404, 409, 413, 422, 503)
)
async def broker_token(
    body: BrokerTokenRequest, machine: CurrentMachine, db: Db, security: Security, response: Response
) -> BrokerToken:
    """Decrypt the bot's broker credentials (through KMS) into a short-lived bundle."""
    bot = await _own_bot(db, machine, body.bot_id)
    row = await _connection(db, bot)
    credentials = {} if row is None else await open_credentials(security, row)
    if row is not None:
        await connections.touch(db, row.id)
    response.headers["Cache-Control"] = "no-store"
    ttl = timedelta(seconds=min(security.settings.broker_token_ttl_s, 900))
    return BrokerToken(
        bot_id=bot.id,
        connection_id=row.id if row is not None else None,
        kind=row.kind if row is not None else "paper",
        credentials=credentials,
        expires_at=min(datetime.now(UTC) + ttl, datetime.fromtimestamp(machine.expires_at, UTC)),
    )


@jwks_router.get("/.well-known/jwks.json")
async def jwks(security: Security, response: Response) -> dict[str, Any]:
    """The public keys that verify machine JWTs now (RFC 7517; Ed25519 as OKP, RFC 8037)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return security.machine_tokens.ring.jwks(time.time())
