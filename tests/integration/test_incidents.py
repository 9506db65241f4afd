"""Incidents on a real Postgres and nats-server: validated changes, stored with their updates and
published as events; the operators' ``hmmtrade incidents`` commands, errors in plain words."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from contracts.incidents import IncidentEvent
from events.bus import Bus
from events.topology import ensure_topology
from incidents.service import IncidentInputError, IncidentService
from store import incidents
from store.incidents import OpenAlready
from store.pool import create_pool
from tests.busutil import messages_on

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pg_dsn, max_size=4)
    await pool.execute("DELETE FROM incidents")  # one open incident per component: start from none
    yield pool
    await pool.execute("DELETE FROM incidents")
    await pool.close()


async def test_an_incident_is_opened_updated_and_closed_with_an_event_for_each_change(
    pool: asyncpg.Pool, bus: Bus
) -> None:
    await ensure_topology(bus.js)
    service = IncidentService(pool, bus)
    started = datetime.now(UTC) - timedelta(minutes=20)
    opened = await service.open(
        component="fly", title="Machines do not start", author="operator:ana", started_at=started
    )
    await service.update(opened.id, message="Fly confirms a regional outage", author="operator:ana")
    closed = await service.close(opened.id, author="operator:ana", message="Machines start again")

    assert closed.started_at == started and closed.ended_at is not None and closed.opened_by == "operator:ana"
    assert [(u.state, u.message) for u in closed.updates] == [
        ("investigating", "Machines do not start"),
        ("identified", "Fly confirms a regional outage"),
        ("resolved", "Machines start again"),
    ]
    stored = await messages_on(bus.js, "EVENTS", f"events.incident.{opened.id}.*")
    assert [subject.rsplit(".", 1)[1] for subject, _ in stored] == ["opened", "updated", "closed"]
    last = IncidentEvent.model_validate(stored[-1][1])
    assert last.incident.ended_at == closed.ended_at and len(last.incident.updates) == 3
    assert "operator" not in stored[-1][1].__repr__()  # the public event names no operator

    history = await incidents.history(pool, since=datetime.now(UTC) - timedelta(days=1))
    assert [i.id for i in history] == [opened.id]


async def test_a_component_has_one_open_incident_at_a_time(pool: asyncpg.Pool) -> None:
    service = IncidentService(pool, None)
    first = await service.open(component="stripe", title="Payments fail", author="watch")
    with pytest.raises(OpenAlready, match="stripe already has an open incident"):
        await service.open(component="stripe", title="Payments fail again", author="operator:bo")
    await service.close(first.id, author="watch")
    again = await service.open(component="stripe", title="Payments fail again", author="operator:bo")
    assert again.id != first.id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"component": "flyy"}, "unknown component 'flyy': use one of api, bus, database, fly, kms, stripe"),
        ({"title": "  "}, "the title is empty"),
        ({"impact": "slow"}, "unknown impact 'slow'"),
        ({"started_at": datetime(2026, 1, 1, 12, 0)}, "has no time zone"),
        ({"started_at": datetime.now(UTC) + timedelta(hours=1)}, "is in the future"),
    ],
)
async def test_bad_input_to_open_is_refused_naming_what_is_wrong(
    pool: asyncpg.Pool, change: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"component": "kms", "title": "Keys fail", "author": "operator:ana", **change}
    with pytest.raises(IncidentInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await IncidentService(pool, None).open(**args)  # type: ignore[arg-type]
    assert await incidents.open_incidents(pool) == []


async def test_an_end_before_the_start_and_a_second_close_are_refused(pool: asyncpg.Pool) -> None:
    service = IncidentService(pool, None)
    started = datetime.now(UTC) - timedelta(hours=2)
    opened = await service.open(component="bus", title="Bus down", author="operator:ana", started_at=started)
    with pytest.raises(IncidentInputError, match="is before the incident's start"):
        await service.close(opened.id, author="operator:ana", ended_at=started - timedelta(seconds=1))
    assert (await incidents.get(pool, opened.id)).ended_at is None  # type: ignore[union-attr]
    await service.close(opened.id, author="operator:ana", ended_at=started + timedelta(hours=1))
    with pytest.raises(IncidentInputError, match="was closed at"):
        await service.close(opened.id, author="operator:ana")
    with pytest.raises(IncidentInputError, match="was closed at"):
        await service.update(opened.id, message="late", author="operator:ana")
    with pytest.raises(IncidentInputError, match="no incident"):
        await service.close(uuid.uuid4(), author="operator:ana")


def _cli(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": dsn, "HMMTRADE_LOG_JSON": "1"}
    env.pop("NATS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "stack.cli", "incidents", *args, "--author", "ana"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_operator_commands_open_update_close_and_list(pool: asyncpg.Pool, pg_dsn: str) -> None:
    opened = await asyncio.to_thread(
        _cli,
        "open",
        "--component",
        "fly",
        "--title",
        "Fly API errors",
        "--started-at",
        "2026-12-01T10:00:00+00:00",
        dsn=pg_dsn,
    )
    assert opened.returncode == 0, opened.stderr
    incident_id = opened.stdout.split()[1]
    assert "NATS_URL is not set" in opened.stderr  # stored, and the operator is told it was not published
    updated = await asyncio.to_thread(_cli, "update", incident_id, "--message", "Fly is on it", dsn=pg_dsn)
    assert updated.returncode == 0 and "[identified] Fly is on it (operator:ana)" in updated.stdout
    closed = await asyncio.to_thread(_cli, "close", incident_id, "--ended-at", "2026-12-01T11:30:00Z", dsn=pg_dsn)
    assert closed.returncode == 0 and "closed 2026-12-01 11:30:00 UTC" in closed.stdout
    listed = await asyncio.to_thread(_cli, "list", dsn=pg_dsn)
    assert incident_id in listed.stdout and "Fly API errors" in listed.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("open", "--component", "flyy", "--title", "x"), "error: unknown component 'flyy'"),
        (("open", "--component", "fly", "--title", "x", "--started-at", "yesterday"), "is not an ISO 8601 time"),
        (("open", "--component", "fly", "--title", "x", "--started-at", "2026-12-05T10:00"), "has no time zone"),
        (("close", "not-an-id"), "is not an incident id"),
        (("close", str(uuid.UUID(int=7))), f"error: no incident {uuid.UUID(int=7)}"),
    ],
)
async def test_the_operator_commands_refuse_bad_input_in_plain_words(
    pool: asyncpg.Pool, pg_dsn: str, args: tuple[str, ...], error: str
) -> None:
    done = await asyncio.to_thread(_cli, *args, dsn=pg_dsn)
    assert done.returncode == 2 and error in done.stderr, done.stderr


async def test_closing_before_the_start_from_the_command_line_names_both_times(pool: asyncpg.Pool, pg_dsn: str) -> None:
    opened = await IncidentService(pool, None).open(
        component="database",
        title="DB restarts",
        author="operator:ana",
        started_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
    )
    done = await asyncio.to_thread(_cli, "close", str(opened.id), "--ended-at", "2026-12-01T08:00:00+00:00", dsn=pg_dsn)
    assert done.returncode == 2
    assert "the end 2026-12-01T08:00:00+00:00 is before the incident's start 2026-12-01T09:00:00+00:00" in done.stderr
