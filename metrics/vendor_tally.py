"""How this process's calls to each vendor went since someone last asked: the incident watch's
view of "the errors the workers already see", beside its own probes.

A plain tally, not a Prometheus metric: the watch needs "since my last look", and reading that
back out of a registry's cumulative counters would tie it to metric names and labels.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class VendorCalls:
    calls: int
    errors: Counter[str]  # by exception class name

    def all_failed_with(self, outage_errors: frozenset[str]) -> bool:
        """Every call failed, and at least one with an outage-kind error (not, say, a 404)."""
        outages = sum(count for name, count in self.errors.items() if name in outage_errors)
        return self.calls > 0 and sum(self.errors.values()) == self.calls and outages > 0


class VendorTally:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # the emulators' threads and to_thread calls may record too
        self._calls: Counter[str] = Counter()
        self._errors: dict[str, Counter[str]] = {}

    def record(self, vendor: str, error: BaseException | None) -> None:
        with self._lock:
            self._calls[vendor] += 1
            if error is not None:
                self._errors.setdefault(vendor, Counter())[type(error).__name__] += 1

    def take(self, vendor: str) -> VendorCalls:
        """The calls since the last ``take`` of ``vendor``, and reset."""
        with self._lock:
            calls = self._calls.pop(vendor, 0)
            errors = self._errors.pop(vendor, Counter())
        return VendorCalls(calls, errors)


TALLY = VendorTally()
