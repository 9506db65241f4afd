"""The emulators' clock: sim time that runs at ``speed`` sim seconds per wall second.

Tests freeze it (``speed=0``) and move it with :meth:`SimClock.advance`, so nothing depends
on how fast the machine is. ``origin`` is the sim time the clock was first started at and
never changes across restarts: the market anchors its data on it, so a restarted emulator
serves the same prices it served before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"sim times are aware UTC datetimes, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class SimClock:
    """Sim time = the time at the last re-base + speed × wall seconds since + every advance."""

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        *,
        wall: Callable[[], float] = time.time,
        origin: datetime | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0 (0 freezes the clock), got {speed}")
        self._wall = wall
        self._lock = threading.Lock()
        self._base = _aware_utc(start)
        self._wall_base = wall()
        self.speed = float(speed)
        self.origin = _aware_utc(origin) if origin is not None else self._base

    def now(self) -> datetime:
        with self._lock:
            return self._base + timedelta(seconds=(self._wall() - self._wall_base) * self.speed)

    def advance(self, seconds: float) -> None:
        """Move sim time forward by ``seconds`` (never backwards: bars already served stay closed)."""
        if seconds < 0:
            raise ValueError(f"the sim clock only moves forward, got advance({seconds})")
        with self._lock:
            self._base += timedelta(seconds=seconds)

    def to_json(self) -> dict[str, Any]:
        return {"now": self.now().isoformat(), "speed": self.speed, "origin": self.origin.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any], wall: Callable[[], float] = time.time) -> SimClock:
        """Continue where a saved clock stopped (the wall time spent down does not count)."""
        return cls(
            datetime.fromisoformat(data["now"]),
            float(data.get("speed", 1.0)),
            wall=wall,
            origin=datetime.fromisoformat(data["origin"]) if data.get("origin") else None,
        )
