"""Delivers the emulator's events as signed webhooks, retrying failures like Stripe does.

One thread works through a schedule of (due time, event); a failed delivery (no
answer or not 2xx) is tried again after a growing delay, up to ``max_attempts``. Tests
may ``hold`` deliveries, then ``release`` them in any order, or ``resend`` one event
several times (Stripe delivers duplicates and out of order).
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from billing.webhooks import signature_header

RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    attempt: int
    status: int | None  # None: no answer
    error: str | None
    at: float


class WebhookSender:
    def __init__(self, url: str | None, secret: str | None, *, max_attempts: int = 8, timeout_s: float = 10.0) -> None:
        self.url = url
        self._secret = secret
        self.max_attempts = max_attempts
        self._timeout_s = timeout_s
        self._schedule: list[tuple[float, int, dict[str, Any], int]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._held: list[dict[str, Any]] | None = None
        self._stopped = False
        self._in_flight = 0
        self.deliveries: list[Delivery] = []
        self._thread = threading.Thread(target=self._run, name="stripe-emulator-webhooks", daemon=True)

    def configure(self, url: str | None, secret: str | None) -> None:
        with self._cond:
            self.url, self._secret = url, secret

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def enqueue(self, event: dict[str, Any]) -> None:
        with self._cond:
            if self._held is not None:
                self._held.append(event)
                return
            self._push(event, attempt=1, delay=0.0)

    def hold(self) -> None:
        """Keep new events back until :meth:`release`."""
        with self._cond:
            if self._held is None:
                self._held = []

    def release(self, *, reverse: bool = False) -> list[str]:
        """Send the held events (newest first with ``reverse``); returns their ids in sending order."""
        with self._cond:
            held, self._held = self._held or [], None
            if reverse:
                held.reverse()
            for offset, event in enumerate(held):
                self._push(event, attempt=1, delay=offset * 0.001)  # keeps the chosen order
            return [e["id"] for e in held]

    def resend(self, event: dict[str, Any], times: int = 1) -> None:
        with self._cond:
            for offset in range(times):
                self._push(event, attempt=1, delay=offset * 0.001)

    def idle(self) -> bool:
        """Nothing scheduled or being sent."""
        with self._cond:
            return not self._schedule and self._in_flight == 0

    def _push(self, event: dict[str, Any], *, attempt: int, delay: float) -> None:
        heapq.heappush(self._schedule, (time.monotonic() + delay, next(self._seq), event, attempt))
        self._cond.notify_all()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout_s) as http:
            while True:
                with self._cond:
                    while not self._stopped and (not self._schedule or self._schedule[0][0] > time.monotonic()):
                        wait = None if not self._schedule else max(0.0, self._schedule[0][0] - time.monotonic())
                        self._cond.wait(wait)
                    if self._stopped:
                        return
                    _, _, event, attempt = heapq.heappop(self._schedule)
                    url, secret = self.url, self._secret
                    self._in_flight += 1
                try:
                    if url is None or secret is None:
                        continue  # no endpoint configured: events stay listable via GET /v1/events
                    status, error = self._send(http, url, secret, event)
                    self.deliveries.append(Delivery(event["id"], event["type"], attempt, status, error, time.time()))
                    if (status is None or not 200 <= status < 300) and attempt < self.max_attempts:
                        delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S)) - 1]
                        with self._cond:
                            self._push(event, attempt=attempt + 1, delay=delay)
                finally:
                    with self._cond:
                        self._in_flight -= 1

    @staticmethod
    def _send(http: httpx.Client, url: str, secret: str, event: dict[str, Any]) -> tuple[int | None, str | None]:
        payload = json.dumps(event, indent=2).encode()  # Stripe pretty-prints its webhook bodies
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature_header(secret, payload),
        }
        try:
            response = http.post(url, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None
