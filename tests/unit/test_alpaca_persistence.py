"""The Alpaca emulator's snapshot + change log: replayed in order, torn lines and stale lines ignored."""

from __future__ import annotations

import json
from pathlib import Path

from venues.alpaca import persistence
from venues.alpaca.persistence import StateFiles


def _state(orders: list[dict[str, object]], cash: float = 100.0) -> dict[str, object]:
    return {"clock": {"t": 0}, "broker": {"orders": orders, "cash": cash, "positions": {}}}


def _change(orders: list[dict[str, object]], cash: float, t: int) -> dict[str, object]:
    return {"orders": orders, "cash": cash, "positions": {"SPY": [1.0, 2.0]}, "clock": {"t": t}}


def test_changes_replay_over_the_snapshot_latest_wins(tmp_path: Path) -> None:
    files = StateFiles(tmp_path / "s.json")
    files.write_snapshot(_state([{"id": "a", "status": "new"}]))
    files.append(_change([{"id": "a", "status": "filled"}, {"id": "b", "status": "new"}], 90.0, 1))
    files.append(_change([{"id": "b", "status": "canceled"}], 80.0, 2))
    loaded = StateFiles(tmp_path / "s.json").load()
    assert loaded is not None
    assert {o["id"]: o["status"] for o in loaded["broker"]["orders"]} == {"a": "filled", "b": "canceled"}
    assert loaded["broker"]["cash"] == 80.0 and loaded["clock"] == {"t": 2}


def test_a_torn_last_line_is_a_change_that_never_happened(tmp_path: Path) -> None:
    files = StateFiles(tmp_path / "s.json")
    files.write_snapshot(_state([]))
    files.append(_change([{"id": "a", "status": "new"}], 90.0, 1))
    with files.log.open("a") as handle:
        handle.write('{"orders": [{"id": "b"')
    loaded = StateFiles(tmp_path / "s.json").load()
    assert loaded is not None and [o["id"] for o in loaded["broker"]["orders"]] == ["a"]


def test_lines_already_in_the_snapshot_are_not_replayed_again(tmp_path: Path) -> None:
    files = StateFiles(tmp_path / "s.json")
    files.write_snapshot(_state([]))
    files.append(_change([{"id": "a", "status": "new"}], 90.0, 1))
    stale = files.log.read_text()
    files.write_snapshot(_state([{"id": "a", "status": "filled"}], cash=70.0))
    files.log.write_text(stale)  # a crash after the snapshot, before the log was removed
    loaded = StateFiles(tmp_path / "s.json").load()
    assert loaded is not None and loaded["broker"]["orders"] == [{"id": "a", "status": "filled"}]
    assert loaded["broker"]["cash"] == 70.0


def test_the_log_asks_to_be_folded_after_enough_changes(tmp_path: Path) -> None:
    files = StateFiles(tmp_path / "s.json")
    files.write_snapshot(_state([]))
    due = [files.append(_change([], 1.0, n)) for n in range(persistence.COMPACT_EVERY)]
    assert due[-1] and not any(due[:-1])
    assert len(files.log.read_text().splitlines()) == persistence.COMPACT_EVERY
    assert json.loads(files.log.read_text().splitlines()[-1])["n"] == persistence.COMPACT_EVERY
