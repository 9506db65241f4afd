"""Intent status: accepted, then done or failed with the reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import CurrentUser, Db
from api.problems import ProblemError, problem_responses
from contracts.api import IntentPublic
from store import intents

router = APIRouter(prefix="/api/v1/intents", tags=["intents"])


@router.get("/{intent_id}", response_model=IntentPublic, responses=problem_responses(401, 404, 422, 503))
async def get_intent(
    intent_id: Annotated[str, Path(min_length=1, max_length=128)], user: CurrentUser, db: Db
) -> IntentPublic:
    """Where one of your intents stands."""
    row = await intents.get_intent(db, intent_id, user_id=user.id)
    if row is None:
        raise ProblemError(404, f"No intent {intent_id} in your account.")
    return IntentPublic(
        id=row.id,
        kind=row.kind,
        status=row.status,
        bot_id=row.bot_id,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
