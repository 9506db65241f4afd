"""The public service status: what the cloud web app's /status page and incident banner read."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.status import StatusBoard
from contracts.api import StatusReport

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/status", response_model=StatusReport)
async def service_status(request: Request, response: Response) -> StatusReport:
    """The health of each part of the service: api, bus, database, fly, kms, stripe. No login.

    Each is `ok`, `degraded` (answering, but slowly or only in part) or `down`, with the time it was
    checked and a plain-words detail. Reports are reused for a few seconds (`HMMTRADE_STATUS_CACHE_S`,
    default 5), so polling this faster shows the same report. Always 200: the body says what is down."""
    board: StatusBoard = request.app.state.status
    report = await board.report()
    response.headers["Cache-Control"] = f"public, max-age={int(request.app.state.api.settings.status_cache_s)}"
    return report
