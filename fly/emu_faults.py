"""Switches that make the Machines emulator misbehave the way Fly does: outages, rate limits,
answers lost after the work was done. Tests flip them in-process (``emulator.faults``) or over
HTTP (``PUT /_emulator/faults``) when the emulator runs as its own process.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Refusal:
    """An injected answer: a status and, for 429/503, an optional ``Retry-After`` in seconds."""

    status: int
    retry_after_s: int | None = None


@dataclass
class TokenBucket:
    rate_per_s: float
    burst: int
    tokens: float
    updated: float

    def take(self, now: float) -> float | None:
        """Take a token; ``None`` if one was there, else the seconds until the next one."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_per_s)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate_per_s


@dataclass
class Faults:
    """What the emulator does wrong, on purpose. All off by default.

    - ``outage``: every Machines API call answers ``outage_status`` (503) until switched off.
    - ``fail_next``: the next calls answer these refusals, one each, in order.
    - ``lose_next_create_answers``: the next N creates make the machine, then answer 500, like a
      proxy that dropped the answer.
    - ``rate_limit(per_s, burst)``: Fly's per-action, per-machine limit (≈1/s, burst 3), answered
      with 429 and a ``Retry-After``.

    ``refused`` counts the calls answered with an injected failure, so tests can wait for them.
    """

    outage: bool = False
    outage_status: int = 503
    fail_next: deque[Refusal] = field(default_factory=deque)
    lose_next_create_answers: int = 0
    rate_per_s: float | None = None
    burst: int = 3
    refused: int = 0
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)

    def rate_limit(self, per_s: float | None, burst: int = 3) -> None:
        """Limit each (action, machine) to ``per_s`` calls a second with bursts of ``burst``; None lifts it."""
        self.rate_per_s = per_s
        self.burst = burst
        self._buckets.clear()

    def refusal_for(self, action: str, target: str) -> Refusal | None:
        """The injected answer for this call, if any (``target`` is the machine id, or the app)."""
        refusal = self._pick(action, target)
        if refusal is not None:
            self.refused += 1
        return refusal

    def _pick(self, action: str, target: str) -> Refusal | None:
        if self.outage:
            return Refusal(self.outage_status)
        if self.fail_next:
            return self.fail_next.popleft()
        if self.rate_per_s:
            now = self.clock()
            bucket = self._buckets.get((action, target))
            if bucket is None:
                bucket = self._buckets[(action, target)] = TokenBucket(self.rate_per_s, self.burst, self.burst, now)
            wait = bucket.take(now)
            if wait is not None:
                return Refusal(429, retry_after_s=max(1, math.ceil(wait)))
        return None

    def take_lost_create(self) -> bool:
        if self.lose_next_create_answers > 0:
            self.lose_next_create_answers -= 1
            self.refused += 1
            return True
        return False

    def snapshot(self) -> dict[str, Any]:
        return {
            "outage": self.outage,
            "outage_status": self.outage_status,
            "fail_next": [{"status": r.status, "retry_after": r.retry_after_s} for r in self.fail_next],
            "lose_next_create_answers": self.lose_next_create_answers,
            "rate_limit": None if self.rate_per_s is None else {"per_s": self.rate_per_s, "burst": self.burst},
            "refused": self.refused,
        }

    def apply(self, body: dict[str, Any]) -> None:
        """Set switches from a JSON body (the keys of :meth:`snapshot`; absent keys keep their value)."""
        if "outage" in body:
            self.outage = bool(body["outage"])
        if "outage_status" in body:
            self.outage_status = int(body["outage_status"])
        if "fail_next" in body:
            self.fail_next = deque(
                Refusal(int(item["status"]), None if item.get("retry_after") is None else int(item["retry_after"]))
                for item in body["fail_next"]
            )
        if "lose_next_create_answers" in body:
            self.lose_next_create_answers = int(body["lose_next_create_answers"])
        if "rate_limit" in body:
            limit = body["rate_limit"]
            if limit is None:
                self.rate_limit(None)
            else:
                self.rate_limit(float(limit["per_s"]), int(limit.get("burst", 3)))
