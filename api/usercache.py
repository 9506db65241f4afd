"""A short-lived cache of user rows for authenticated requests.

Every authenticated request needs the caller's row; re-reading it each time was one
database round trip per request. A change to a row (tier, session burn, deletion) reaches
every replica at once through ``api.userevents`` (Postgres NOTIFY → ``forget``); entries
also expire after ``ttl_s`` seconds, which bounds staleness while that listener is
disconnected. Time is a parameter for tests.

A row read before a change but stored after its notice would be stale for a whole TTL, so
``put`` takes the ``epoch`` observed before the read and refuses the row if anything was
forgotten since.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict

from store.users import UserRow


class UserCache:
    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._rows: OrderedDict[uuid.UUID, tuple[float, UserRow]] = OrderedDict()
        self._epoch = 0

    @property
    def epoch(self) -> int:
        """Changes every time a row is forgotten: read it before loading a row to ``put``."""
        return self._epoch

    def get(self, user_id: uuid.UUID, *, now: float | None = None) -> UserRow | None:
        entry = self._rows.get(user_id)
        if entry is None:
            return None
        stored_at, row = entry
        if (time.monotonic() if now is None else now) - stored_at > self.ttl_s:
            del self._rows[user_id]
            return None
        return row

    def put(self, row: UserRow, *, now: float | None = None, read_at_epoch: int | None = None) -> None:
        """Cache ``row``, unless a change was announced after it was read (``read_at_epoch``)."""
        if read_at_epoch is not None and read_at_epoch != self._epoch:
            return
        self._rows[row.id] = (time.monotonic() if now is None else now, row)
        self._rows.move_to_end(row.id)
        while len(self._rows) > self.max_entries:
            self._rows.popitem(last=False)

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop the row now: it changed (a tier change, a session burn, a deleted account)."""
        self._epoch += 1
        self._rows.pop(user_id, None)

    def clear(self) -> None:
        """Drop every row: changes may have gone unannounced (the listener was reconnecting)."""
        self._epoch += 1
        self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)
