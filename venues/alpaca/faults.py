"""Fault switches the tests flip through ``POST /_emulator/faults`` (never persisted).

``http_429: N``         the next N trading REST calls answer 429 (the SDK retries 429 and 504)
``accept_then_504: N``  the next N order POSTs are accepted and stored, then answered 504
``stream_drop: true``   every stream connection open now closes right after the next message it sends
                        (a one-shot: connections made afterwards stay up)
``stream_stall_s: X``   streams send nothing for X wall seconds (bars queue up, then flow)
``stream_duplicate: true``  every bar is sent twice (as a venue reconnect re-delivers them)
``partial_fills: K``    market orders fill in K parts, one sim minute apart (1 = whole)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from venues.alpaca.wire import AlpacaError


@dataclass
class Faults:
    http_429: int = 0
    accept_then_504: int = 0
    drop_generation: int = 0  # stream_drop bumps it; a connection drops when it lags behind
    stream_stall_until: float = 0.0  # time.monotonic()
    stream_duplicate: bool = False
    partial_fills: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, body: dict[str, Any]) -> dict[str, Any]:
        known = {"http_429", "accept_then_504", "stream_drop", "stream_stall_s", "stream_duplicate", "partial_fills"}
        unknown = set(body) - known
        if unknown:
            raise AlpacaError(422, 40010001, f"unknown fault switch(es): {', '.join(sorted(unknown))}")
        with self._lock:
            try:
                if "http_429" in body:
                    self.http_429 = int(body["http_429"])
                if "accept_then_504" in body:
                    self.accept_then_504 = int(body["accept_then_504"])
                if body.get("stream_drop"):
                    self.drop_generation += 1
                if "stream_stall_s" in body:
                    self.stream_stall_until = time.monotonic() + float(body["stream_stall_s"])
                if "stream_duplicate" in body:
                    self.stream_duplicate = bool(body["stream_duplicate"])
                if "partial_fills" in body:
                    self.partial_fills = max(int(body["partial_fills"]), 1)
            except (TypeError, ValueError) as exc:
                raise AlpacaError(422, 40010001, f"bad fault value: {exc}") from None
            return self.to_json()

    def to_json(self) -> dict[str, Any]:
        return {
            "http_429": self.http_429,
            "accept_then_504": self.accept_then_504,
            "drop_generation": self.drop_generation,
            "stream_stall_s": max(self.stream_stall_until - time.monotonic(), 0.0),
            "stream_duplicate": self.stream_duplicate,
            "partial_fills": self.partial_fills,
        }

    def take_429(self) -> bool:
        with self._lock:
            if self.http_429 > 0:
                self.http_429 -= 1
                return True
            return False

    def take_504(self) -> bool:
        with self._lock:
            if self.accept_then_504 > 0:
                self.accept_then_504 -= 1
                return True
            return False

    def stalled(self) -> bool:
        return time.monotonic() < self.stream_stall_until
