"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import State
from api.state import ApiState
from contracts.api import Health, IntentBacklogReport

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health, "description": "Not ready"}})
async def readyz(state: State, request: Request) -> JSONResponse:
    """200 only when both the bus and the database answer; also the bot intents waiting for the workers.
    503 ``draining`` from the moment a shutdown begins, so a load balancer sends new requests elsewhere."""
    if request.app.state.drain.draining:
        draining = Health(status="unavailable", checks={"api": "draining"})
        return JSONResponse(draining.model_dump(), status_code=503)
    checks: dict[str, str] = {}
    checks["bus"] = "ok" if await state.bus.ping() else "unreachable"
    checks["database"] = "ok" if await _database_answers(state) else "unreachable"
    ready = all(v == "ok" for v in checks.values())
    # A backlog over the bound refuses new bot intents but leaves the API ready: every replica
    # shares the one backlog, so reporting not-ready would take them all out of service.
    backlog = await state.backlog.current() if checks["bus"] == "ok" else None
    report = (
        None
        if backlog is None
        else IntentBacklogReport(waiting=backlog.total, limit=backlog.limit, accepting=not backlog.over_limit)
    )
    body = Health(status="ok" if ready else "unavailable", checks=checks, intent_backlog=report)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


async def _database_answers(state: ApiState, timeout_s: float = 2.0) -> bool:
    """``SELECT 1`` within ``timeout_s``, connecting included (an unanswering host must not hang the probe)."""

    async def select_one() -> None:
        pool = await state.pool()
        await pool.fetchval("SELECT 1")

    try:
        await asyncio.wait_for(select_one(), timeout_s)
    except Exception:  # noqa: BLE001 - any failure (down, restarting, refusing us) means not ready
        return False
    return True
