"""``hmmtrade incidents open|update|close|list``: operators record incidents by hand.

Through the same service as the incident watch (``incidents.service``): the same validation, the
same records, the same events. ``DATABASE_URL`` (or the embedded Postgres of ``--data-dir``) is
where incidents are kept; with ``NATS_URL`` (and ``NATS_CREDS``) each change is also published
(without it the credits worker's sweep still finds a closed incident).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from datetime import UTC, datetime, timedelta

from events.bus import Bus
from incidents.service import IncidentInputError, IncidentService
from store import incidents
from store.incidents import Incident, OpenAlready
from store.pool import create_pool

BUS_WAIT_S = 5.0


def run_incidents(args: argparse.Namespace) -> int:
    try:
        print(asyncio.run(_run(args)))
    except (IncidentInputError, OpenAlready) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


async def _run(args: argparse.Namespace) -> str:
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        from store.embedded import start_embedded_postgres

        dsn = start_embedded_postgres(args.data_dir.resolve() / "postgres")[0]
    pool = await create_pool(dsn, max_size=2)
    bus = await _bus()
    try:
        service = IncidentService(pool, bus)
        author = f"operator:{args.author or getpass.getuser()}"
        if args.incidents_command == "open":
            opened = await service.open(
                component=args.component,
                title=args.title,
                author=author,
                impact=args.impact,
                started_at=args.started_at,
                message=args.message,
            )
            return f"opened {opened.id}\n{describe(opened)}"
        if args.incidents_command == "update":
            updated = await service.update(args.incident_id, message=args.message, author=author, state=args.state)
            return describe(updated)
        if args.incidents_command == "close":
            closed = await service.close(args.incident_id, author=author, ended_at=args.ended_at, message=args.message)
            return describe(closed)
        history = await incidents.history(pool, since=datetime.now(UTC) - timedelta(days=args.days), limit=500)
        return "\n\n".join(describe(i) for i in history) or "no incidents"
    finally:
        if bus is not None:
            await bus.close()
        await pool.close()


async def _bus() -> Bus | None:
    url = os.environ.get("NATS_URL")
    if not url:
        print("note: NATS_URL is not set: the change is stored, not published", file=sys.stderr)
        return None
    bus = Bus(url, name="hmmtrade-incidents", creds=os.environ.get("NATS_CREDS"), ca_file=os.environ.get("NATS_CA"))
    await bus.start(wait_s=BUS_WAIT_S)
    if not bus.is_connected:
        print(
            f"note: the bus did not answer within {BUS_WAIT_S:g} s: the change is stored, not published",
            file=sys.stderr,
        )
    return bus


def describe(incident: Incident) -> str:
    state = "open" if incident.ended_at is None else f"closed {incident.ended_at:%Y-%m-%d %H:%M:%S} UTC"
    lines = [
        f"{incident.id}  {incident.component}  {incident.impact}  {state}",
        f"  {incident.title}",
        f"  started {incident.started_at:%Y-%m-%d %H:%M:%S} UTC, by {incident.opened_by}",
    ]
    lines += [f"  {u.at:%Y-%m-%d %H:%M} [{u.state}] {u.message} ({u.author})" for u in incident.updates]
    return "\n".join(lines)
