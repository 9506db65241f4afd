"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import State
from api.state import DatabaseUnavailable
from contracts.api import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health, "description": "Not ready"}})
async def readyz(state: State) -> JSONResponse:
    """200 only when both the bus and the database answer."""
    checks: dict[str, str] = {}
    checks["bus"] = "ok" if await state.bus.ping() else "unreachable"
    try:
        pool = await state.pool()
        await pool.fetchval("SELECT 1", timeout=2)
        checks["database"] = "ok"
    except (DatabaseUnavailable, OSError, Exception):  # noqa: BLE001 - any failure means not ready
        checks["database"] = "unreachable"
    ready = all(v == "ok" for v in checks.values())
    body = Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
