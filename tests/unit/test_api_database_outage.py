"""The API's answer to a database outage raised anywhere in a route: 503 with Retry-After; any
other error of the same Python classes is still a 500."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from api.db_outage import DatabaseBreaker, install_database_outage_handler
from api.problems import ProblemError, install_problem_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_database_outage_handler(app)

    @app.get("/refused")
    async def refused() -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    @app.get("/closed")
    async def closed() -> None:
        raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    @app.get("/file")
    async def file() -> None:
        raise FileNotFoundError(2, "No such file or directory", "/etc/hmmtrade.toml")

    @app.get("/constraint")
    async def constraint() -> None:
        raise asyncpg.UniqueViolationError("duplicate key value violates unique constraint")

    return app


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path)


async def test_an_unreachable_database_is_a_503_problem_with_retry_after() -> None:
    for path in ("/refused", "/closed"):
        response = await _get(path)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "2"
        assert response.json()["detail"] == "The database is unavailable; try again shortly."
        assert response.json()["instance"] == path


async def test_other_errors_of_the_same_classes_stay_server_errors() -> None:
    assert (await _get("/file")).status_code == 500
    assert (await _get("/constraint")).status_code == 500


def test_the_breaker_refuses_at_once_for_its_open_time_then_lets_requests_try_again() -> None:
    now = [100.0]
    breaker = DatabaseBreaker(open_s=2.0, clock=lambda: now[0])
    breaker.check()  # closed: nothing raised
    breaker.trip()
    now[0] = 101.9
    with pytest.raises(ProblemError) as refused:
        breaker.check()
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "2"}
    now[0] = 102.0
    breaker.check()  # open time over: the next request tries the database
