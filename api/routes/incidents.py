"""Incidents for the status page and the banner, and a customer's service credits.

``GET /api/v1/incidents`` is public (the status page's history); the answer is reused for a few
seconds per replica so that anonymous polling costs one query per replica, not one per caller.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import CurrentUser, Db
from api.problems import problem_responses
from contracts.incidents import CreditedBot, IncidentHistory, ServiceCreditList, ServiceCreditPublic
from incidents.service import public
from store import billing as billing_store
from store import credits, incidents

router = APIRouter(prefix="/api/v1", tags=["health"])

HISTORY_DAYS = 90
CACHE_S = 5.0
_cache: dict[int, tuple[float, IncidentHistory]] = {}


@router.get("/incidents", response_model=IncidentHistory, responses=problem_responses(422, 503))
async def incident_history(
    db: Db, response: Response, days: Annotated[int, Query(ge=1, le=365)] = HISTORY_DAYS
) -> IncidentHistory:
    """Open incidents first, then those that ended in the last `days` (default 90), newest first,
    each with its updates. No login. Reused for 5 seconds."""
    response.headers["Cache-Control"] = f"public, max-age={int(CACHE_S)}"
    cached = _cache.get(days)
    if cached is not None and time.monotonic() - cached[0] < CACHE_S:
        return cached[1]
    history = await incidents.history(db, since=datetime.now(UTC) - timedelta(days=days), limit=200)
    answer = IncidentHistory(incidents=[public(i) for i in history])
    _cache[days] = (time.monotonic(), answer)
    return answer


@router.get("/incidents/mine", response_model=IncidentHistory, responses=problem_responses(401, 503))
async def my_open_incidents(user: CurrentUser, db: Db) -> IncidentHistory:
    """The open incidents that affect you: a hosted-machines (fly) incident if you have hosted bots,
    any other open incident in any case. What the banner shows."""
    has_hosted = bool(await billing_store.hosted_bots(db, user.id))
    open_now = await incidents.with_updates(db, await incidents.open_incidents(db))
    mine = [i for i in open_now if i.component != "fly" or has_hosted]
    return IncidentHistory(incidents=[public(i) for i in mine])


@router.get("/billing/credits", response_model=ServiceCreditList, responses=problem_responses(401, 503))
async def my_credits(user: CurrentUser, db: Db) -> ServiceCreditList:
    """Your service credits, newest first: what each incident cost your hosted bots and what we credited."""
    rows = await credits.of_user(db, user.id)
    found = {row.incident_id: await incidents.get(db, row.incident_id) for row in rows}
    return ServiceCreditList(
        credits=[
            ServiceCreditPublic(
                incident_id=row.incident_id,
                incident_title=incident.title,
                incident_started_at=incident.started_at,
                incident_ended_at=incident.ended_at,
                plan=row.plan,
                amount_cents=row.amount_cents,
                currency=row.currency,
                status=row.status,
                issued_at=row.issued_at,
                bots=[
                    CreditedBot(
                        bot_id=bot.bot_id,
                        name=bot.bot_name,
                        down_hours=round(bot.down_seconds / 3600, 4),
                        credited_hours=round(bot.credited_seconds / 3600, 4),
                    )
                    for bot in row.bots
                ],
            )
            for row in rows
            if (incident := found[row.incident_id]) is not None
        ]
    )
