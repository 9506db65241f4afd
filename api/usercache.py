"""A short-lived cache of user rows for authenticated requests.

Every authenticated request needs the caller's row; re-reading it each time was one
database round trip per request. Entries live ``ttl_s`` seconds, so a tier change or a
deleted account takes effect within that time. Time is a parameter for tests.
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

    def get(self, user_id: uuid.UUID, *, now: float | None = None) -> UserRow | None:
        entry = self._rows.get(user_id)
        if entry is None:
            return None
        stored_at, row = entry
        if (time.monotonic() if now is None else now) - stored_at > self.ttl_s:
            del self._rows[user_id]
            return None
        return row

    def put(self, row: UserRow, *, now: float | None = None) -> None:
        self._rows[row.id] = (time.monotonic() if now is None else now, row)
        self._rows.move_to_end(row.id)
        while len(self._rows) > self.max_entries:
            self._rows.popitem(last=False)

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop the row now, for changes that must not wait ``ttl_s`` (a session burn)."""
        self._rows.pop(user_id, None)
