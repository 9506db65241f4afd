"""Re-arm a halted bot: ``POST /api/v1/bots/{bot_id}/rearm`` publishes a ``bot.rearm`` intent.

The lifecycle worker turns it into a request the bot reads before its next decision
(``trader.rearm``), which ends a drawdown halt whatever the profile's ``rearm`` rule. The
API refuses what it can tell is pointless from its read models: a bot on someone's own
computer (the cloud's bus does not reach it; its agent's dashboard re-arms it) and a bot
whose newest decision record says it is trading. Otherwise it accepts, and a bot that turns
out not to be halted says so in its next record.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import CurrentUser, Db, State
from api.problems import ProblemError, problem_responses
from api.routes.bots import IdempotencyKey, _correlation, _derived_id, _owned_bot, submit_intent
from contracts.api import IntentAccepted
from contracts.intents import RearmBot
from store import audit, intents
from store.bots import BotRow

router = APIRouter(prefix="/api/v1/bots", tags=["bots"])

HALTED = ("halted", "killed")


async def _refusal(db: Db, bot: BotRow) -> str | None:
    """Why a re-arm of ``bot`` cannot help, if the read models can tell."""
    if bot.surface == "local":
        return (
            f"Bot {bot.name!r} runs on your computer, which the cloud cannot reach: "
            "re-arm it with the Re-arm button of your agent's dashboard."
        )
    status = await audit.latest_risk_status(db, bot.id)
    if status is not None and status not in HALTED:
        return (
            f"Bot {bot.name!r} is not halted: its latest decision has risk status {status!r}. "
            "Re-arm a bot once its records show it halted or killed."
        )
    return None


@router.post(
    "/{bot_id}/rearm",
    status_code=202,
    response_model=IntentAccepted,
    responses=problem_responses(401, 404, 409, 422, 503),
)
async def rearm_bot(
    bot_id: uuid.UUID, user: CurrentUser, db: Db, state: State, idempotency_key: IdempotencyKey = None
) -> IntentAccepted:
    """Ask a bot halted by its drawdown limit to trade again from its next bar (any `rearm` rule).

    409 if the bot runs on your own computer (use the agent's dashboard) or its latest decision
    record says it is not halted. A retry with the same `Idempotency-Key` answers the same intent."""
    bot = await _owned_bot(db, user, bot_id)
    intent = RearmBot(
        **_correlation(
            {"id": str(_derived_id(user, idempotency_key, f"RearmBot:{bot_id}")), "user_id": user.id, "bot_id": bot_id}
        )
    )
    retried = idempotency_key is not None and await intents.get_intent(db, intent.id, user_id=user.id) is not None
    if not retried:  # a retry answers what the first request got, even once the bot has re-armed
        refusal = await _refusal(db, bot)
        if refusal is not None:
            raise ProblemError(409, refusal)
    await submit_intent(state, intent)
    return IntentAccepted(intent_id=intent.id)
