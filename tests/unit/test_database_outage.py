"""Which failures count as "the database is away" (wait, answer 503) rather than a failure."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import pytest

from api.db_outage import is_database_outage
from events.outage import DependencyDown, is_database_down


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        ConnectionResetError(104, "Connection reset by peer"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
        asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
        DependencyDown("held"),
    ],
)
def test_connection_failures_mean_the_database_is_down(error: Exception) -> None:
    assert is_database_down(error) and is_database_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad profile"),
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.InterfaceError("the number of query arguments cannot exceed 32767"),
        TimeoutError(),  # not raised by asyncpg: someone else's timeout
        FileNotFoundError(2, "No such file or directory"),
    ],
)
def test_other_failures_are_the_messages_own(error: Exception) -> None:
    assert not is_database_down(error) and not is_database_outage(error)


def _rollback_after_a_reset() -> None:
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError:
        raise RuntimeError("rollback failed")  # noqa: B904 - the implicit context is what is tested


def test_a_failure_while_rolling_back_a_lost_connection_is_traced_to_its_cause() -> None:
    with pytest.raises(RuntimeError) as caught:
        _rollback_after_a_reset()
    assert is_database_down(caught.value)


async def test_a_host_that_never_answers_is_down_after_the_connect_timeout() -> None:
    """A listening socket that accepts and says nothing, like a hung server behind a firewall."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with pytest.raises(TimeoutError) as caught:
            await asyncpg.connect(f"postgresql://u@127.0.0.1:{port}/db", timeout=0.2)
    assert is_database_down(caught.value)


async def test_a_query_timeout_is_an_outage_for_the_api_but_not_for_a_worker(pg_dsn: str) -> None:
    """The API answers 503 to a query Postgres does not answer in time; a worker retries the
    message under its usual policy (holding it forever could stall a consumer on one slow query)."""
    conn = await asyncpg.connect(pg_dsn)
    try:
        with pytest.raises(asyncio.TimeoutError) as caught:
            await conn.fetchval("SELECT pg_sleep(5)", timeout=0.1)
    finally:
        conn.terminate()
    assert is_database_outage(caught.value) and not is_database_down(caught.value)
