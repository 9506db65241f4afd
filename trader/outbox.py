"""The bus audit sink: records are written to a file first and published from there.

``write`` appends the record to ``outbox.jsonl`` (so it survives a kill or a bus outage
the moment the bot moves on); a background task publishes the lines after the
acknowledged offset (``outbox.offset``) to ``bots.<id>.audit`` with msg id
``<bot id>:<seq>``, and advances the offset only after JetStream acknowledged them.
After a crash or an outage the lines past the offset are sent again: JetStream drops
repeats within its duplicate window and audit ingest stores each (bot, seq) once, so
nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from contracts.events import AuditRecord
from events.aio import wait_event
from events.bus import MSG_ID, Bus, BusUnavailable, envelope_headers
from events.topology import bot_subject
from trader.audit import encode
from trader.runner_records import headline

log = structlog.get_logger(__name__)

COMPACT_BYTES = 4 * 1024 * 1024  # start a new outbox file once everything in it is delivered
BATCH = 256


def audit_envelope(bot_id: uuid.UUID, record: dict[str, Any]) -> AuditRecord:
    """The bus form of one trader record; only ``occurred_at`` depends on the wall clock."""
    bar_date = record["bar"]["date"]
    line = headline(record)  # a portfolio's first model: its reference
    return AuditRecord(
        id=f"{bot_id}:{record['seq']}",
        correlation_id=str(bot_id),
        bot_id=bot_id,
        seq=record["seq"],
        bar_at=datetime.fromisoformat(bar_date).replace(tzinfo=UTC),
        regime=line.regime,
        probabilities=line.probabilities,
        equity=record["equity"],
        detail=record,
    )


class Outbox:
    def __init__(self, directory: Path, bus: Bus, bot_id: uuid.UUID) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._path = directory / "outbox.jsonl"
        self._offset_path = directory / "outbox.offset"
        self._bus, self._bot_id = bus, bot_id
        self._subject = bot_subject(bot_id, "audit")
        self.last_seq = self._repair()
        self._file = self._path.open("ab")
        self._offset = self._read_offset()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ---- the sink side (synchronous, called by the runner per bar) -----------------------

    def write(self, record: dict[str, Any]) -> None:
        seq = int(record["seq"])
        if seq <= self.last_seq:
            return
        line = encode({"seq": seq, "envelope": audit_envelope(self._bot_id, record).model_dump(mode="json")})
        self._file.write(line.encode() + b"\n")
        self.last_seq = seq
        self._wake.set()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    @property
    def pending_bytes(self) -> int:
        self._file.flush()
        return self._path.stat().st_size - self._offset

    # ---- the delivery side ---------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._deliver_forever(), name=f"outbox-{self._bot_id}")

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every written record is acknowledged (True) or ``timeout_s`` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.pending_bytes > 0 and loop.time() < deadline:
            self._wake.set()
            await asyncio.sleep(0.05)
        return self.pending_bytes == 0

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._write_offset()
        self.close()

    async def _deliver_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                sent = await self._deliver_some()
            except BusUnavailable as exc:
                log.warning("outbox.bus_unavailable", error=str(exc), pending_bytes=self.pending_bytes)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.2
            if not sent:
                self._wake.clear()
                await wait_event(self._wake, 1.0)

    async def _deliver_some(self) -> int:
        """Publish up to ``BATCH`` lines past the offset; the number delivered."""
        self._file.flush()
        lines: list[bytes] = []
        with self._path.open("rb") as handle:
            handle.seek(self._offset)
            for line in handle:
                if not line.endswith(b"\n") or len(lines) >= BATCH:
                    break
                lines.append(line)
        if not lines:
            self._maybe_compact()
            return 0
        if not self._bus.is_connected:
            raise BusUnavailable("the message bus is not reachable")
        acks = []
        for line in lines:
            envelope = json.loads(line)["envelope"]
            message = AuditRecord.model_validate(envelope)
            headers = envelope_headers(message)
            assert headers[MSG_ID] == f"{self._bot_id}:{message.seq}"
            acks.append(self._bus.publish_raw(self._subject, message.model_dump_json().encode(), headers=headers))
        results = await asyncio.gather(*acks, return_exceptions=True)
        delivered = 0
        for line, result in zip(lines, results, strict=True):
            if isinstance(result, BaseException):
                break  # keep order: everything from the first failure is sent again
            self._offset += len(line)
            delivered += 1
        self._write_offset()
        if delivered < len(lines):
            failure = next(r for r in results if isinstance(r, BaseException))
            raise failure if isinstance(failure, BusUnavailable) else BusUnavailable(str(failure))
        return delivered

    # ---- files ---------------------------------------------------------------------------

    def _repair(self) -> int:
        """Cut a line torn by a kill mid-write (never acknowledged to anyone); the last seq kept."""
        if not self._path.exists():
            return 0
        data = self._path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete != len(data):
            with self._path.open("r+b") as handle:
                handle.truncate(complete)
        lines = data[:complete].splitlines()
        return int(json.loads(lines[-1])["seq"]) if lines else 0

    def _read_offset(self) -> int:
        try:
            offset = int(self._offset_path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        return offset if offset <= self._path.stat().st_size else 0

    def _write_offset(self) -> None:
        tmp = self._offset_path.with_suffix(".tmp")
        tmp.write_text(str(self._offset))
        os.replace(tmp, self._offset_path)

    def _maybe_compact(self) -> None:
        if self._offset < COMPACT_BYTES or self._offset != self._path.stat().st_size:
            return
        # Offset first: a crash between the two steps re-sends the old file (harmless),
        # never skips a new record.
        self._offset = 0
        self._write_offset()
        self._file.truncate(0)
        self._file.seek(0)
