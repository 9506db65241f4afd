"""``POST /api/v1/internal/bus_credentials``: a booting machine's own, scoped bus identity.

Authenticated by the machine JWT, like the other internal routes. The credentials are
derived from the token's jti (``BusKeys.bot_user_key``) and expire with it; the token's
row records that they went out, so revoking the token (stop, delete, relaunch) also
revokes them on the bus (``workers.bus_revoker``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Response

from api.deps import Db, State
from api.machine_auth import CurrentMachine
from api.problems import ProblemError, problem_responses
from contracts.brokers import BusCredentials, BusCredentialsRequest
from events.auth.keys import BusKeys
from store import bots, machine_tokens

router = APIRouter(prefix="/api/v1/internal", tags=["internal"])


@lru_cache(maxsize=4)
def _keys(path: Path) -> BusKeys:
    return BusKeys.load(path)


@router.post(
    "/bus_credentials", response_model=BusCredentials, responses=problem_responses(400, 401, 404, 413, 422, 503)
)
async def bus_credentials(
    body: BusCredentialsRequest, machine: CurrentMachine, db: Db, state: State, response: Response
) -> BusCredentials:
    """Credentials that publish only this bot's subjects and touch only its checkpoint.

    Whether the bot may run is the machine token's liveness (a stop revokes it), as for
    the other internal routes.
    """
    if state.settings.bus_key_file is None:
        raise ProblemError(503, "This control plane hands out no bus credentials (HMMTRADE_BUS_KEY_FILE is not set).")
    bot = await bots.get_bot(db, body.bot_id) if body.bot_id == machine.bot_id else None
    if bot is None or bot.status == "deleted":
        raise ProblemError(404, f"No bot {body.bot_id} for this machine token.")
    keys = _keys(state.settings.bus_key_file)
    # Recorded first: a crash after this line leaves a revocation that is merely unneeded.
    await machine_tokens.mark_bus_creds_issued(db, machine.jti)
    creds = keys.bot_creds(bot.id, str(machine.jti), expires_at=machine.expires_at)
    response.headers["Cache-Control"] = "no-store"
    return BusCredentials(bot_id=bot.id, creds=creds, expires_at=datetime.fromtimestamp(machine.expires_at, UTC))
