"""Re-arm requests as a bot reads them: each id applied once, the ids kept in the checkpoint, a request
that finds no halt noted, a half-written or unreadable request left for a later bar."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from contracts.intents import RearmRequest
from trader.checkpoint import Checkpoint, from_json, to_json
from trader.engine import EngineState
from trader.rearm import NOT_HALTED, REARM_FILE, FileRearmSource, RearmInbox, write_request_file


class Halt:
    """Stands in for ``Engine.request_rearm``: True while a halt is engaged, counting the calls."""

    def __init__(self, engaged: bool) -> None:
        self.engaged, self.calls = engaged, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.engaged


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_request_rearms_once_and_its_id_is_what_a_restart_remembers(tmp_path: Path) -> None:
    bot_id = uuid.uuid4()
    request = write_request_file(tmp_path, bot_id)
    clock, halt = Ticks(), Halt(engaged=True)
    inbox = RearmInbox([FileRearmSource(tmp_path / REARM_FILE)], interval_s=0, clock=clock)
    notes = await inbox.check(halt)
    assert halt.calls == 1 and len(notes) == 1 and request.id in notes[0] and "halt ends now" in notes[0]
    assert await inbox.check(halt) == [] and halt.calls == 1  # read again on the next bar: nothing
    assert inbox.handled == (request.id,)

    saved = from_json(to_json(Checkpoint(EngineState(), 10, "2020-01-02", 1.0, None, inbox.handled)))
    restarted = RearmInbox([FileRearmSource(tmp_path / REARM_FILE)], saved.rearm_handled, interval_s=0)
    assert await restarted.check(halt) == [] and halt.calls == 1

    newer = write_request_file(tmp_path, bot_id)
    assert len(await restarted.check(halt)) == 1 and halt.calls == 2
    assert restarted.handled == (request.id, newer.id)


async def test_a_request_without_a_halt_is_noted_and_handled(tmp_path: Path) -> None:
    request = write_request_file(tmp_path, uuid.uuid4())
    inbox = RearmInbox([FileRearmSource(tmp_path / REARM_FILE)], interval_s=0)
    (note,) = await inbox.check(Halt(engaged=False))
    assert note.startswith(NOT_HALTED) and request.id in note
    assert await inbox.check(Halt(engaged=True)) == []  # a halt that comes later is not ended by it


async def test_sources_are_read_at_the_first_bar_then_at_most_once_an_interval(tmp_path: Path) -> None:
    clock, halt = Ticks(), Halt(engaged=True)
    inbox = RearmInbox([FileRearmSource(tmp_path / REARM_FILE)], interval_s=1.0, clock=clock)
    assert await inbox.check(halt) == []
    write_request_file(tmp_path, uuid.uuid4())
    clock.now = 0.5
    assert await inbox.check(halt) == []
    clock.now = 1.0
    assert len(await inbox.check(halt)) == 1


async def test_an_unreadable_request_waits_and_a_checkpoint_from_before_rearm_requests_loads(tmp_path: Path) -> None:
    (tmp_path / REARM_FILE).write_text('{"id": "half')
    inbox = RearmInbox([FileRearmSource(tmp_path / REARM_FILE)], interval_s=0)
    assert await inbox.check(Halt(engaged=True)) == [] and inbox.handled == ()

    old = to_json(Checkpoint(EngineState(), 3, "2020-01-02", 1.0))
    del old["rearm_handled"]
    assert from_json(old).rearm_handled == ()


class Stuck:
    """A bus that does not answer until it is told to."""

    name = "kv"

    def __init__(self, request: RearmRequest) -> None:
        self.request, self.answering = request, asyncio.Event()

    async def latest(self) -> RearmRequest | None:
        await self.answering.wait()
        return self.request


async def test_a_source_that_does_not_answer_does_not_hold_up_the_bar_and_is_read_later(tmp_path: Path) -> None:
    stuck = Stuck(RearmRequest(bot_id=uuid.uuid4()))
    file_request = write_request_file(tmp_path, uuid.uuid4())
    halt = Halt(engaged=True)
    inbox = RearmInbox([stuck, FileRearmSource(tmp_path / REARM_FILE)], interval_s=0, read_timeout_s=0.01)
    notes = await inbox.check(halt)
    assert [file_request.id in note for note in notes] == [True]  # the other source still counts
    stuck.answering.set()
    assert [stuck.request.id in note for note in await inbox.check(halt)] == [True]
