"""The health every page shows: the API's public status, polled once for the whole web app.

``GET /api/v1/status`` names each component (api, bus, database, fly, kms, stripe) with its
status and plain-words detail. No answer at all means the API itself is down: pages say so
and recover by themselves when it answers again (the poll never stops). One poll serves
every browser, so a thousand open pages cost the API one request every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)

COMPONENT_NAMES = {
    "api": "API",
    "bus": "Message bus",
    "database": "Database",
    "fly": "Hosted machines (Fly)",
    "kms": "Key management (KMS)",
    "stripe": "Payments (Stripe)",
}
IMPACT = {
    "fly": "hosted bots may not start or stop; your requests wait and are retried",
    "kms": "new broker connections and bot launches wait; running bots keep trading",
    "stripe": "checkout and the billing portal are unavailable; your plan is unchanged",
    "bus": "live views pause and bot changes wait; running bots keep trading",
    "database": "changes cannot be saved right now; running bots keep trading",
    "api": "pages cannot load your data; they recover by themselves",
}


@dataclass
class Health:
    api_reachable: bool = True
    components: list[dict[str, Any]] = field(default_factory=list)
    checked_at: float = 0.0

    def down(self) -> list[dict[str, Any]]:
        if not self.api_reachable:
            return [{"component": "api", "status": "down", "detail": "the API does not answer"}]
        return [c for c in self.components if c.get("status") != "ok"]

    def banner(self) -> str:
        """One sentence per failing component, or '' when all is well."""
        return " ".join(
            f"{COMPONENT_NAMES.get(str(c.get('component')), str(c.get('component')))} is "
            f"{'degraded' if c.get('status') == 'degraded' else 'down'}: "
            f"{IMPACT.get(str(c.get('component')), 'some features are unavailable')}."
            for c in self.down()
        )


class StatusWatch:
    def __init__(self, http: httpx.AsyncClient, *, every_s: float = 5.0) -> None:
        self._http = http
        self._every_s = every_s
        self.health = Health()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self._every_s)

    async def check(self) -> Health:
        try:
            # the API bounds each probe (2 s, in parallel); a slower answer is a loaded API, not a dead one
            response = await self._http.get("/api/v1/status", timeout=10.0)
            body = response.json()
            components = body.get("components") if isinstance(body, dict) else None
            if not isinstance(components, list):
                raise ValueError("no components in the status answer")
            self.health = Health(True, [c for c in components if isinstance(c, dict)], time.time())
        except (httpx.HTTPError, ValueError) as exc:
            if self.health.api_reachable:
                log.warning("web.api_unreachable", error=str(exc))
            self.health = Health(False, [], time.time())
        return self.health
