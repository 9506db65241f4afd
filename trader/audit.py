"""Audit sinks: where a bot's per-bar records go. Records carry no wall-clock fields, and
are written with sorted keys, so the same run writes the same bytes.

Adapters here: JSON lines to a file (fresh, or resumed after a restart), and to stdout.
The bus adapter is ``trader.outbox.Outbox`` (``bots.<id>.audit``, msg id ``<bot id>:<seq>``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Protocol, TextIO

# One encoder for every record: json.dumps with these options builds a new one per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def encode(record: dict[str, Any]) -> str:
    return _ENCODER.encode(record)


class AuditSink(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...

    def flush(self) -> None:
        """Hand everything written so far to the OS (before a checkpoint records it as done)."""
        ...

    def close(self) -> None: ...


class JsonlSink:
    """One record per line. ``resume=True`` appends to an existing file and skips records
    whose ``seq`` it already holds, so a bot replaying a bar after a crash writes it once;
    a line torn by a kill mid-write is cut off first."""

    def __init__(self, path: Path, *, resume: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.last_seq = _repair_and_last_seq(path) if resume and path.exists() else 0
        self._file: TextIO = path.open("a" if resume else "w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        seq = int(record.get("seq", 0))
        if seq and seq <= self.last_seq:
            return
        self._file.write(encode(record) + "\n")
        self.last_seq = seq or self.last_seq

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _repair_and_last_seq(path: Path) -> int:
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with path.open("r+b") as handle:
            handle.truncate(len(complete))
    lines = complete.splitlines()
    return int(json.loads(lines[-1]).get("seq", 0)) if lines else 0


class StdoutSink:
    def write(self, record: dict[str, Any]) -> None:
        sys.stdout.write(encode(record) + "\n")

    def flush(self) -> None:
        sys.stdout.flush()

    def close(self) -> None:
        sys.stdout.flush()
