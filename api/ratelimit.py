"""A token-bucket limiter, keyed by any string (see ``api/authlimits.py`` for the keys).

In-process: each API replica limits on its own, which bounds an attacker at
replicas x rate. Time is a parameter for tests.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict


class RateLimiter:
    def __init__(self, per_minute: float, *, burst: int | None = None, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else per_minute)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @classmethod
    def per_hour(cls, count: int, *, max_keys: int = 100_000) -> RateLimiter:
        """``count`` at once, refilling one every ``3600 / count`` seconds."""
        return cls(count / 60.0, burst=count, max_keys=max_keys)

    def acquire(self, key: str, *, now: float | None = None) -> float:
        """Take one token for ``key``; return 0 when allowed, else seconds until allowed."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1 - tokens) / self.rate
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after_header(wait_s: float) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(wait_s)))}
