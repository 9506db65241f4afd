"""The internal API a hosted bot calls while booting (machine JWT only), and the JWKS.

A machine token speaks for exactly one bot: any other bot id is a 404, as if it did not
exist. ``broker_token`` decrypts through the KMS inside the request and answers with a
bundle that is good for at most 15 minutes; nothing of it is stored or logged.

``broker_token`` is the last control-plane call of a boot, so it is also where the owner
learns how the boot went: ``bot.boot_waiting`` (with the reason) when the KMS is down and
the machine will retry, ``bot.booted`` when the credentials went out. The hosting worker
turns those into the bot's status; a bus outage only loses the status hint, never the call.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Response

from api.broker_secrets import open_credentials
from api.deps import Db, State
from api.machine_auth import CurrentMachine
from api.problems import ProblemError, problem_responses
from api.routes.brokers import public
from api.security import Security
from api.state import ApiState
from contracts.brokers import BrokerToken, BrokerTokenRequest, InternalBot
from contracts.events import BotEvent, BotStatus
from contracts.profile import BotProfile
from events.bus import BusUnavailable
from events.topology import bot_event_subject
from store import bots, connections
from store.bots import BotRow
from store.connections import ConnectionRow
from vault.machine_jwt import MachineClaims

log = structlog.get_logger(__name__)

BOOT_WAITING_KMS = (
    "Waiting to boot: the key management service is unavailable, so the broker credentials can't be"
    " decrypted. The machine retries by itself and the bot starts when the service is back."
)

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
async def internal_bot(bot_id: uuid.UUID, machine: CurrentMachine, db: Db, state: State) -> InternalBot:
    """The bot's profile, its broker connection's metadata (never secrets) and, where one can be made here,
    its first model (``api.first_fits``)."""
    bot = await _own_bot(db, machine, bot_id)
    row = await _connection(db, bot)
    profile = BotProfile.model_validate(bot.profile)
    return InternalBot(
        bot_id=bot.id,
        status=bot.status,
        profile=profile,
        connection=public(row) if row is not None else None,
        initial_models=await state.first_fits.for_profile(profile),
    )


@router.post(
    "/broker_token", response_model=BrokerToken, responses=problem_responses(400, 401, 404, 409, 413, 422, 503)
)
async def broker_token(
    body: BrokerTokenRequest, machine: CurrentMachine, db: Db, security: Security, state: State, response: Response
) -> BrokerToken:
    """Decrypt the bot's broker credentials (through KMS) into a short-lived bundle."""
    bot = await _own_bot(db, machine, body.bot_id)
    row = await _connection(db, bot)
    try:
        credentials = {} if row is None else await open_credentials(security, row)
    except ProblemError as exc:
        if exc.status == 503:
            await _tell_owner(state, bot, machine, "boot_waiting", "starting", BOOT_WAITING_KMS)
        raise
    if row is not None:
        await connections.touch(db, row.id)
    await _tell_owner(state, bot, machine, "booted", "running", "the machine received its broker credentials")
    response.headers["Cache-Control"] = "no-store"
    ttl = timedelta(seconds=min(security.settings.broker_token_ttl_s, 900))
    return BrokerToken(
        bot_id=bot.id,
        connection_id=row.id if row is not None else None,
        kind=row.kind if row is not None else "paper",
        credentials=credentials,
        expires_at=min(datetime.now(UTC) + ttl, datetime.fromtimestamp(machine.expires_at, UTC)),
    )


async def _tell_owner(
    state: ApiState,
    bot: BotRow,
    machine: MachineClaims,
    what: Literal["boot_waiting", "booted"],
    status: BotStatus,
    reason: str,
) -> None:
    """Publish how this machine's boot is going; one event per (machine token, outcome)."""
    event = BotEvent(
        id=f"{what}:{bot.id}:{machine.jti}",
        type=f"bot.{what}",
        bot_id=bot.id,
        user_id=bot.user_id,
        status=status,
        intent_id=f"machine:{machine.jti}",
        reason=reason,
    )
    try:
        await state.bus.publish(bot_event_subject(bot.id, what), event)
    except BusUnavailable as exc:
        log.warning("boot.status_not_published", bot_id=str(bot.id), what=what, error=str(exc))


@jwks_router.get("/.well-known/jwks.json")
async def jwks(security: Security, response: Response) -> dict[str, Any]:
    """The public keys that verify machine JWTs now (RFC 7517; Ed25519 as OKP, RFC 8037)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return security.machine_tokens.ring.jwks(time.time())
