"""How long the Fly client waits before trying again: exponential backoff with jitter,
bounded attempts, and ``Retry-After`` honoured when Fly sends one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Retry budget of one API call.

    ``max_attempts`` counts the first try. Without a ``Retry-After`` the n-th retry waits a random
    time in [d/2, d] with d = min(max_delay_s, base_delay_s * 2**(n-1)): jitter spreads the retries
    of many workers that were refused together. A ``Retry-After`` longer than ``max_retry_after_s``
    is not slept through: the call fails with the hint attached, so a worker can nak its message
    with that delay instead of holding it.
    """

    max_attempts: int = 6
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    max_retry_after_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("delays must be non-negative")

    def delay_s(self, retry: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        if retry_after_s is not None:
            return retry_after_s
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1))
        return rng.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
