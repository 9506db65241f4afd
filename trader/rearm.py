"""A person re-arms a halted bot: where the bot finds the request, and how it applies it once.

A request (``contracts.intents.RearmRequest``) waits in one or two places the bot reads
before its decisions:

- ``rearm.json`` in the bot's state dir: what the local agent writes (and anyone running
  ``hmmtrade bot run`` from files alone can write by hand);
- the ``bot_state`` KV key ``<bot_id>.rearm`` next to the checkpoint: what the lifecycle
  worker writes for ``POST /api/v1/bots/{id}/rearm``. The bot may read this key, not write it.

Each request is applied once per id: the ids handled are kept in the checkpoint, so a
request read again on the next bar, written twice, or still there after a restart is a
no-op. A request that finds no drawdown halt is handled too, with a note in the next record.
Reading is best effort: a request that cannot be read now (bus down, half-written file)
is read on a later bar.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import structlog
from nats.js.errors import KeyNotFoundError
from pydantic import ValidationError

from contracts.intents import RearmRequest
from events.bus import Bus
from events.topology import BOT_STATE_BUCKET, rearm_request_key

log = structlog.get_logger(__name__)

REARM_FILE = "rearm.json"
READ_TIMEOUT_S = 2.0  # a slow bus must not hold up the bar: the request is read on a later one
HANDLED_KEPT = 32  # request ids remembered; only the latest request per source is ever waiting
NOT_HALTED = "re-arm requested but the bot was not halted"


class RearmSource(Protocol):
    """Where a bot's latest re-arm request waits (None if there is none)."""

    name: str

    async def latest(self) -> RearmRequest | None: ...


def _parse(data: bytes, where: str) -> RearmRequest | None:
    try:
        return RearmRequest.model_validate_json(data)
    except ValidationError as exc:
        log.warning("rearm.unreadable_request", where=where, error=str(exc).splitlines()[0])
        return None


class FileRearmSource:
    """``rearm.json`` in the state dir."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def latest(self) -> RearmRequest | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return _parse(data, str(self.path))


class KvRearmSource:
    """The bot's ``<bot_id>.rearm`` key in the ``bot_state`` bucket (a direct get its credentials allow)."""

    name = "kv"

    def __init__(self, bus: Bus, bot_id: object) -> None:
        self._bus, self._key = bus, rearm_request_key(bot_id)

    async def latest(self) -> RearmRequest | None:
        if not self._bus.is_connected:
            return None
        kv = await self._bus.js.key_value(BOT_STATE_BUCKET)
        try:
            entry = await kv.get(self._key)
        except KeyNotFoundError:
            return None
        return _parse(entry.value, self._key) if entry.value else None


def write_request_file(state_dir: Path, bot_id: uuid.UUID, request_id: str | None = None) -> RearmRequest:
    """Leave a re-arm request for a local bot (atomically: the bot never reads half a file)."""
    request = RearmRequest(bot_id=bot_id, correlation_id=str(bot_id), **({"id": request_id} if request_id else {}))
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / f"{REARM_FILE}.tmp"
    tmp.write_text(request.model_dump_json())
    os.replace(tmp, state_dir / REARM_FILE)
    return request


class RearmInbox:
    """The runner's view of re-arm requests: ``check`` before a decision, ``handled`` into the checkpoint.

    Sources are read at the first check and then at most every ``interval_s`` (a fast replay
    would otherwise read the bus on every bar); a live bot's bars are further apart than that.
    """

    def __init__(
        self,
        sources: Sequence[RearmSource],
        handled: Iterable[str] = (),
        *,
        interval_s: float = 1.0,
        read_timeout_s: float = READ_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sources, self._interval_s, self._clock = list(sources), interval_s, clock
        self._read_timeout_s = read_timeout_s
        self._handled = list(handled)[-HANDLED_KEPT:]
        self._next_check: float | None = None
        self._failing: set[str] = set()

    @property
    def handled(self) -> tuple[str, ...]:
        return tuple(self._handled)

    async def check(self, request_rearm: Callable[[], bool]) -> list[str]:
        """Apply every request not handled yet (``request_rearm`` says whether a halt was engaged); notes."""
        now = self._clock()
        if self._next_check is not None and now < self._next_check:
            return []
        self._next_check = now + self._interval_s
        notes: list[str] = []
        for request in await self._waiting():
            self._handled = [*self._handled, request.id][-HANDLED_KEPT:]
            asked = f"{request.occurred_at:%Y-%m-%d %H:%M:%S} UTC"
            if request_rearm():
                log.info("rearm.applied", request_id=request.id)
                notes.append(f"re-arm requested at {asked} (request {request.id}): the drawdown halt ends now")
            else:
                log.info("rearm.not_halted", request_id=request.id)
                notes.append(f"{NOT_HALTED} (request {request.id} at {asked})")
        return notes

    async def _waiting(self) -> list[RearmRequest]:
        waiting: dict[str, RearmRequest] = {}
        for source in self._sources:
            try:
                request = await asyncio.wait_for(source.latest(), self._read_timeout_s)
            except Exception as exc:  # noqa: BLE001 - keep trading; the request is read on a later bar
                if source.name not in self._failing:
                    log.warning("rearm.source_unreadable", source=source.name, error=str(exc) or type(exc).__name__)
                self._failing.add(source.name)
                continue
            self._failing.discard(source.name)
            if request is not None and request.id not in self._handled:
                waiting[request.id] = request
        return list(waiting.values())
