"""Fixed-rate pacing of a replay: ``--pace 2`` means two decisions a second, however long each takes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Pacer:
    """Decision *n* is due one interval after decision *n - 1* was due, not after it finished.

    Sleeping a whole interval after each decision would add the decision's own time to every
    interval, so a bot would run slower than its pace by however loaded the machine is. A bot
    that falls more than an interval behind starts over from now instead of bursting to catch up.
    """

    rate: float  # decisions per second, > 0
    _due: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"pace must be positive, got {self.rate}")

    def delay(self, now: float) -> float:
        """Seconds to wait, at monotonic time ``now``, before the next decision."""
        interval = 1 / self.rate
        if self._due is None or now - self._due > interval:
            self._due = now
        self._due += interval
        return max(0.0, self._due - now)
