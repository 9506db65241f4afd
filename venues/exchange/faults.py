"""Test switches that make the emulator misbehave the ways a real exchange does.

Set with ``POST /_emulator/faults`` (any subset of the fields); counts are consumed one
request at a time, ``stall_s`` stays until it is set back to 0.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

FAULT_FIELDS = ("http_429", "accept_then_504", "stall_s", "partial_fills")


@dataclass
class Faults:
    http_429: int = 0  # the next N /api requests answer 429 (ccxt: DDoSProtection)
    accept_then_504: int = 0  # the next N order POSTs are placed, then answered 504 with an HTML body
    stall_s: float = 0.0  # every /api response waits this long first (client timeouts)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take(self, name: str) -> bool:
        """Consume one of a counted fault; True when it fires for this request."""
        with self._lock:
            left = int(getattr(self, name))
            if left <= 0:
                return False
            setattr(self, name, left - 1)
            return True

    def public(self) -> dict[str, Any]:
        return {"http_429": self.http_429, "accept_then_504": self.accept_then_504, "stall_s": self.stall_s}
