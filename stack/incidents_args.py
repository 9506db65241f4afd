"""The arguments of ``hmmtrade incidents`` (kept apart from the command: the CLI builds its parser
without importing the database and bus clients)."""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime
from pathlib import Path


def add_incident_commands(sub: argparse._SubParsersAction, data_dir: Path) -> None:  # type: ignore[type-arg]
    inc = sub.add_parser("incidents", help="open, update, close and list incidents (the status page's history)")
    inc_sub = inc.add_subparsers(dest="incidents_command", required=True)
    opened = inc_sub.add_parser("open", help="open an incident for a component")
    opened.add_argument("--component", required=True, help="api, bus, database, fly, kms or stripe")
    opened.add_argument("--title", required=True, help="one line for the status page")
    opened.add_argument("--impact", default="down", help="down (the default) or degraded")
    opened.add_argument("--started-at", type=_when, help="ISO time with zone (default: now), e.g. 2026-12-05T10:00Z")
    opened.add_argument("--message", help="the first update (default: the title)")
    update = inc_sub.add_parser("update", help="add an update to an open incident")
    update.add_argument("incident_id", type=_incident_id)
    update.add_argument("--message", required=True)
    update.add_argument("--state", default="identified", help="investigating, identified (default) or monitoring")
    close = inc_sub.add_parser("close", help="close an open incident (its service credits follow)")
    close.add_argument("incident_id", type=_incident_id)
    close.add_argument("--ended-at", type=_when, help="ISO time with zone (default: now)")
    close.add_argument("--message", help="the closing update")
    listing = inc_sub.add_parser("list", help="open incidents and those closed in the last --days")
    listing.add_argument("--days", type=int, default=90)
    for parser in (opened, update, close, listing):
        parser.add_argument(
            "--data-dir", type=Path, default=data_dir, help="embedded Postgres when DATABASE_URL is unset"
        )
        parser.add_argument("--author", default=None, help="who is acting (default: your login name)")


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time, e.g. 2026-12-05T10:00:00+00:00") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add one, e.g. {text}+00:00")
    return value


def _incident_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an incident id (see `hmmtrade incidents list`)") from None
