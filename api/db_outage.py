"""A database outage answers 503 with ``Retry-After``, never a 500 or a hang.

The pool is built lazily (``ApiState.pool``: ``DatabaseUnavailable`` while Postgres has never
answered); once built it outlives a restart, and whatever a route's query raises while Postgres
is away (refused or reset connections, a server starting up, a connect or query timeout) is
turned into the same problem document here, wherever in the route or its dependencies it came
from. Anything else still surfaces as the 500 it is.
"""

from __future__ import annotations

import asyncpg
import structlog
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

from api.problems import ProblemError, problem_response
from events.outage import DependencyDown, is_database_down

log = structlog.get_logger(__name__)

RETRY_AFTER = {"Retry-After": "2"}  # a restart takes seconds; clients back off from there
DETAIL = "The database is unavailable; try again shortly."


def database_unavailable() -> ProblemError:
    return ProblemError(503, DETAIL, headers=RETRY_AFTER)


def is_database_outage(exc: BaseException) -> bool:
    """Unreachable (``events.outage``), or too slow to answer a query: both mean "try again"."""
    return is_database_down(exc) or (isinstance(exc, TimeoutError) and _from_asyncpg(exc))


def _from_asyncpg(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if "/asyncpg/" in tb.tb_frame.f_code.co_filename.replace("\\", "/"):
            return True
        tb = tb.tb_next
    return False


def install_database_outage_handler(app: FastAPI) -> None:
    async def _outage(request: Request, exc: Exception) -> JSONResponse:
        if not is_database_outage(exc):
            raise exc  # not ours to translate: the server error handler answers 500
        log.warning("api.database_unavailable", path=request.url.path, error=f"{type(exc).__name__}: {exc}")
        return problem_response(503, DETAIL, instance=request.url.path, headers=RETRY_AFTER)

    # Starlette picks a handler by the exception's class hierarchy: these cover every class
    # ``is_database_outage`` accepts (ConnectionError and TimeoutError are OSErrors).
    for kind in (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, DependencyDown):
        app.add_exception_handler(kind, _outage)
