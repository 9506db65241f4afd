"""Cached user rows expire after their time to live."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from api.usercache import UserCache
from store.users import UserRow


def _row() -> UserRow:
    return UserRow(id=uuid.uuid4(), email="a@example.com", password_hash="x", tier="free", created_at=datetime.now(UTC))


def test_row_is_served_until_its_ttl_then_reloaded() -> None:
    cache = UserCache(ttl_s=5)
    row = _row()
    cache.put(row, now=100.0)
    assert cache.get(row.id, now=104.9) is row
    assert cache.get(row.id, now=105.1) is None


def test_cache_is_bounded() -> None:
    cache = UserCache(max_entries=2)
    rows = [_row() for _ in range(3)]
    for row in rows:
        cache.put(row, now=0.0)
    assert cache.get(rows[0].id, now=0.0) is None
    assert cache.get(rows[2].id, now=0.0) is rows[2]
