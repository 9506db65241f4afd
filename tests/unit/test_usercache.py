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


def test_a_row_read_before_a_change_was_announced_is_not_cached() -> None:
    """A request that read the row, then lost the race with a change's notice, must not keep it."""
    cache = UserCache(ttl_s=5)
    row = _row()
    epoch = cache.epoch  # the request starts reading the row
    cache.forget(row.id)  # the change's notice arrives before the read returns
    cache.put(row, now=0.0, read_at_epoch=epoch)
    assert cache.get(row.id, now=0.0) is None
    cache.put(row, now=0.0, read_at_epoch=cache.epoch)
    assert cache.get(row.id, now=0.0) is row


def test_clear_drops_every_row() -> None:
    cache = UserCache(ttl_s=5)
    rows = [_row() for _ in range(3)]
    for row in rows:
        cache.put(row, now=0.0)
    cache.clear()
    assert len(cache) == 0 and all(cache.get(r.id, now=0.0) is None for r in rows)
