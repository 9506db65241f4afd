"""Audit sinks: where a bot's per-bar records go. Records carry no wall-clock fields, and
are written with sorted keys, so the same run writes the same bytes.

Adapters here: JSON lines to a file, and to stdout. (The NATS adapter comes with the bot
runner: ``bots.<id>.audit`` with msg id ``<bot id>:<seq>``.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Protocol, TextIO


def encode(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)


class AuditSink(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class JsonlSink:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(encode(record) + "\n")

    def close(self) -> None:
        self._file.close()


class StdoutSink:
    def write(self, record: dict[str, Any]) -> None:
        sys.stdout.write(encode(record) + "\n")

    def close(self) -> None:
        sys.stdout.flush()
