"""Plan limits as the API enforces them (the lifecycle worker checks again, authoritatively).

The tier is read from Postgres, not from the 5 s user cache, so an upgrade counts at once.
"""

from __future__ import annotations

import uuid
from typing import Any

from api.problems import ProblemError
from billing.plans import LimitExceeded, check_create, check_hosted
from store import billing as billing_store
from store import bots


def _refuse(limit: LimitExceeded, field: str) -> ProblemError:
    return ProblemError(
        403,
        limit.message,
        errors=[
            {
                "loc": ["body", *field.split(".")],
                "field": field,
                "msg": limit.message,
                "type": f"plan_limit.{limit.limit}",
                "plan": limit.plan,
                "limit": limit.allowed,
            }
        ],
    )


async def enforce_create(db: Any, user_id: uuid.UUID, surface: str, *, retry_of: uuid.UUID | None = None) -> None:
    """403 naming the plan and the limit when the user may not add a bot on ``surface``.

    ``retry_of``: the bot id an ``Idempotency-Key`` derives; if that bot exists, the request
    is a retry of a create that already counted, and passes.
    """
    if retry_of is not None and await bots.get_bot(db, retry_of, user_id=user_id) is not None:
        return
    usage = await billing_store.usage(db, user_id)
    refused = check_create(usage.tier, surface, bots=usage.bots, hosted_bots=usage.hosted_bots)
    if refused is not None:
        raise _refuse(refused, "basics.surface" if refused.limit == "max_hosted_bots" else "basics")


async def enforce_start(db: Any, user_id: uuid.UUID, surface: str) -> None:
    """403 when a hosted bot is started on a plan without hosted bots (e.g. after a cancel)."""
    if surface != "hosted":
        return
    usage = await billing_store.usage(db, user_id)
    refused = check_hosted(usage.tier)
    if refused is not None:
        raise _refuse(refused, "surface")
