"""A bot profile against the caller's broker connection: exists, is theirs, fits the account.

Runs on create and on the wizard's validate, before anything is published. Refusals are
422 problem documents with per-field ``errors`` in the shape the request validator uses
(``loc``, ``field``, ``msg``, ``type``), so a client handles both the same way. Another
user's connection id gets exactly the answer a missing one gets: nothing says it exists.
"""

from __future__ import annotations

import uuid
from typing import Any

from api.problems import ProblemError
from contracts.profile import BotProfile
from contracts.venue_rules import FieldProblem, venue_problems
from store import connections
from store.connections import ConnectionRow

BROKER_DATA_NEEDS_CONNECTION = (
    "data_source 'broker' reads bars from your broker: pick one of your Alpaca or exchange connections "
    "(the built-in paper broker has no market data)"
)


def _not_yours(reference: str) -> FieldProblem:
    return FieldProblem(
        "broker.connection",
        f"no broker connection {reference} in your account: pick one of yours (GET /api/v1/brokers) "
        "or connect a broker first",
    )


async def owned_connection(db: Any, user_id: uuid.UUID, reference: str) -> ConnectionRow | None:
    """The caller's active connection with this id; None for a missing, revoked or foreign one."""
    row = await connections.get_connection(db, uuid.UUID(reference), user_id=user_id)
    return row if row is not None and row.status == "active" else None


async def connection_problems(db: Any, user_id: uuid.UUID, reference: str) -> list[FieldProblem]:
    """Step 2 alone: a connection id must be one of the caller's active connections."""
    if reference == "paper" or await owned_connection(db, user_id, reference) is not None:
        return []
    return [_not_yours(reference)]


def paper_connection_problems(profile: BotProfile) -> list[FieldProblem]:
    """A profile on the built-in paper broker (``connection: paper``): it has no market data."""
    if profile.market.data_source == "broker":
        return [FieldProblem("broker.connection", BROKER_DATA_NEEDS_CONNECTION)]
    return []


async def profile_problems(db: Any, user_id: uuid.UUID, profile: BotProfile) -> list[FieldProblem]:
    """Everything that stops ``profile`` from trading through the connection it names."""
    reference = profile.broker.connection
    if reference == "paper":
        return paper_connection_problems(profile)
    row = await owned_connection(db, user_id, reference)
    if row is None:
        return [_not_yours(reference)]
    return venue_problems(profile, kind=row.kind, paper=row.paper, exchange=row.exchange)


def refuse(problems: list[FieldProblem]) -> ProblemError:
    """The 422 for ``problems`` (at least one)."""
    errors = [
        {"loc": ["body", *p.field.split(".")], "field": p.field, "msg": p.msg, "type": "value_error"} for p in problems
    ]
    fields = ", ".join(dict.fromkeys(p.field for p in problems))
    return ProblemError(422, f"Invalid value for: {fields}. {problems[0].msg}.", errors=errors)
