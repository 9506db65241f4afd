"""Where a bot keeps its checkpoint (a port): a local file, JetStream KV, or both.

- ``FileStateStore``: ``checkpoint.json`` written atomically (temp file, fsync, rename),
  so a kill at any instant leaves either the old checkpoint or the new one.
- ``KvStateStore``: the ``bot_state`` bucket, key = bot id, value zlib-compressed JSON;
  what a hosted bot uses, because a Fly Machine's disk does not survive a restart.
- ``MirroredStateStore``: the file always, KV when reachable; loading takes the newer
  of the two, so a bus outage never stops a bot from checkpointing.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Protocol

import structlog
from nats.js.errors import KeyNotFoundError

from events.bus import Bus
from events.topology import BOT_STATE_BUCKET
from trader.checkpoint import Checkpoint, from_json, to_json

log = structlog.get_logger(__name__)


class StateStore(Protocol):
    async def load(self) -> Checkpoint | None: ...

    async def save(self, checkpoint: Checkpoint) -> None: ...


def _encode(checkpoint: Checkpoint) -> bytes:
    return json.dumps(to_json(checkpoint), sort_keys=True, separators=(",", ":")).encode()


class FileStateStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> Checkpoint | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return from_json(json.loads(data))

    async def save(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as out:
            out.write(_encode(checkpoint))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)


class KvStateStore:
    def __init__(self, bus: Bus, key: str, *, bucket: str = BOT_STATE_BUCKET) -> None:
        self._bus, self._key, self._bucket = bus, key, bucket

    @property
    def reachable(self) -> bool:
        return self._bus.is_connected

    async def load(self) -> Checkpoint | None:
        kv = await self._bus.js.key_value(self._bucket)
        try:
            entry = await kv.get(self._key)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return from_json(json.loads(zlib.decompress(entry.value)))

    async def save(self, checkpoint: Checkpoint) -> None:
        kv = await self._bus.js.key_value(self._bucket)
        await kv.put(self._key, zlib.compress(_encode(checkpoint), 6))


def _newer(a: Checkpoint | None, b: Checkpoint | None) -> Checkpoint | None:
    if a is None or b is None:
        return a or b
    return a if (a.bars_seen, a.seq) >= (b.bars_seen, b.seq) else b


class MirroredStateStore:
    """The file is the truth on this machine; KV is the copy that outlives it."""

    def __init__(self, file: FileStateStore, kv: KvStateStore) -> None:
        self._file, self._kv = file, kv
        self._kv_behind = False

    async def load(self) -> Checkpoint | None:
        local = await self._file.load()
        try:
            if not self._kv.reachable:
                raise ConnectionError("not connected to NATS")
            remote = await self._kv.load()
        except Exception as exc:  # noqa: BLE001 - the bus may be down: the local copy will do
            log.warning("state.kv_load_failed", error=str(exc) or type(exc).__name__)
            remote = None
        return _newer(local, remote)

    async def save(self, checkpoint: Checkpoint) -> None:
        await self._file.save(checkpoint)
        try:
            if not self._kv.reachable:  # don't wait out a timeout on every bar of an outage
                raise ConnectionError("not connected to NATS")
            await self._kv.save(checkpoint)
        except Exception as exc:  # noqa: BLE001 - keep trading; the next save retries
            if not self._kv_behind:
                log.warning("state.kv_save_failed", error=str(exc) or type(exc).__name__)
            self._kv_behind = True
        else:
            self._kv_behind = False
