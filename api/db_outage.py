"""A database outage answers 503 with ``Retry-After``, never a 500 or a hang.

The pool is built lazily (``ApiState.pool``: ``DatabaseUnavailable`` while Postgres has never
answered); once built it outlives a restart, and whatever a route's query raises while Postgres
is away (refused or reset connections, a server starting up, a connect or query timeout) is
turned into the same problem document here, wherever in the route or its dependencies it came
from. Anything else still surfaces as the 500 it is.

Meeting the outage also opens a short breaker (``DatabaseBreaker``, checked in ``get_db``): for
the next ``Retry-After`` seconds requests that need the database are refused at once instead of
each waiting out its own connect or query timeout against a server that does not answer, which
under load would queue them behind the pool's stuck connections and look like a hang.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg
import structlog
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

from api.problems import ProblemError, problem_response
from events.outage import DependencyDown, is_database_down

log = structlog.get_logger(__name__)

RETRY_AFTER_S = 2  # a restart takes seconds; clients back off from there
RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_S)}
DETAIL = "The database is unavailable; try again shortly."


def database_unavailable() -> ProblemError:
    return ProblemError(503, DETAIL, headers=RETRY_AFTER)


class DatabaseBreaker:
    """Open for ``open_s`` after an outage was met; while open, ``check`` refuses at once."""

    def __init__(self, open_s: float = RETRY_AFTER_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._open_s = open_s
        self._clock = clock
        self._open_until = 0.0

    def trip(self) -> None:
        self._open_until = self._clock() + self._open_s

    def check(self) -> None:
        """Raise the 503 problem while open; afterwards the next request tries the database again."""
        if self._clock() < self._open_until:
            raise database_unavailable()


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
        state = getattr(request.app.state, "api", None)
        if state is not None:
            state.db_breaker.trip()
        return problem_response(503, DETAIL, instance=request.url.path, headers=RETRY_AFTER)

    # Starlette picks a handler by the exception's class hierarchy: these cover every class
    # ``is_database_outage`` accepts (ConnectionError and TimeoutError are OSErrors).
    for kind in (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, DependencyDown):
        app.add_exception_handler(kind, _outage)
