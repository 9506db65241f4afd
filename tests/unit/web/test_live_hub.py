"""The web app's fan-out: a page gets its own bot's messages only, and hostile messages are dropped."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from contracts.events import BotLogLine, Tick
from web.live import LOG_TAIL, LiveHub

A, B = str(uuid.uuid4()), str(uuid.uuid4())
BAR = datetime(2024, 1, 2, tzinfo=UTC)


def tick(bot: str, seq: int = 1) -> bytes:
    return (
        Tick(bot_id=uuid.UUID(bot), seq=seq, bar_at=BAR, close=100.0 + seq, regime=1, equity=1e5)
        .model_dump_json()
        .encode()
    )


def watcher(hub: LiveHub, bot: str) -> list[tuple[str, Any]]:
    got: list[tuple[str, Any]] = []
    hub.watch(bot, lambda kind, message: got.append((kind, message)))
    return got


def test_a_page_receives_its_bot_only() -> None:
    hub = LiveHub()
    a, b = watcher(hub, A), watcher(hub, B)
    hub.ingest(f"bots.{A}.tick", tick(A))
    hub.ingest(f"bots.{B}.tick", tick(B, 7))
    assert [(k, m.seq) for k, m in a] == [("tick", 1)]
    assert [(k, m.seq) for k, m in b] == [("tick", 7)]
    assert hub.last_tick(A) is not None and hub.last_tick(A).close == 101.0  # type: ignore[union-attr]


def test_a_message_naming_another_bot_than_its_subject_is_dropped() -> None:
    hub = LiveHub()
    a, b = watcher(hub, A), watcher(hub, B)
    hub.ingest(f"bots.{A}.tick", tick(B))  # published under A's subject, claiming to be B's
    assert a == [] and b == [] and hub.rejected == 1 and hub.last_tick(B) is None


def test_malformed_and_unknown_messages_are_dropped_without_harm() -> None:
    hub = LiveHub()
    a = watcher(hub, A)
    hub.ingest(f"bots.{A}.tick", b"{not json")
    hub.ingest(f"bots.{A}.tick", json.dumps({"bot_id": A, "seq": 0}).encode())
    hub.ingest(f"events.bot.{A}.started", b"[1, 2]")
    hub.ingest(f"bots.{A}.secrets", b"{}")  # not a kind pages are given
    assert a == [] and hub.rejected == 3
    hub.ingest(f"bots.{A}.tick", tick(A))
    assert len(a) == 1  # the feed goes on


def test_worker_events_reach_the_bots_page_as_event_kind() -> None:
    hub = LiveHub()
    a = watcher(hub, A)
    hub.ingest(f"events.bot.{A}.stopped", json.dumps({"status": "stopped"}).encode())
    assert a == [("event", ("stopped", {"status": "stopped"}))]


def test_unwatching_stops_delivery_and_a_failing_page_does_not_stop_others() -> None:
    hub = LiveHub()
    got: list[str] = []

    def broken(kind: str, message: Any) -> None:
        raise RuntimeError("closed browser")

    stop = hub.watch(A, lambda kind, m: got.append(kind))
    hub.watch(A, broken)
    hub.ingest(f"bots.{A}.tick", tick(A))
    stop()
    hub.ingest(f"bots.{A}.tick", tick(A, 2))
    assert got == ["tick"]


def test_log_lines_are_kept_as_a_bounded_tail_per_bot() -> None:
    hub = LiveHub()
    for n in range(LOG_TAIL + 5):
        line = BotLogLine(bot_id=uuid.UUID(A), line=f"line {n}")
        hub.ingest(f"bots.{A}.log", line.model_dump_json().encode())
    tail = hub.log_tail(A)
    assert len(tail) == LOG_TAIL and tail[0].line == "line 5" and tail[-1].line == f"line {LOG_TAIL + 4}"
    assert hub.log_tail(B) == []
