"""First models fitted once per set-up and shipped to booting hosted bots (``trader.initial_models``).

A booting bot's ``GET /api/v1/internal/bots/<id>`` carries the first fit its engine would
make, so the bot neither imports the fitting stack nor fits before its first decision. Bots
with the same data and model settings share one fit (an in-process cache, by a digest of
the profile's market and model sections). Fits run one at a time in a thread; a boot waits
at most ``wait_s`` for one, then goes without (the fit finishes and serves the next boot, and
the bot fits its own meanwhile, as it always could). When hosting is configured the fitting
stack is imported in the background at start-up, so the first boot waits only for the fit.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from typing import Any

import structlog

from contracts.profile import BotProfile

log = structlog.get_logger(__name__)


class FirstFits:
    def __init__(self, *, preload: bool, wait_s: float = 3.0, cache_size: int = 256) -> None:
        self._wait_s = wait_s
        self._cache_size = cache_size
        self._done: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._running: dict[str, asyncio.Task[list[dict[str, Any]]]] = {}
        self._one_at_a_time = asyncio.Lock()
        if preload:
            threading.Thread(target=_import_fitting_stack, name="fitting-stack-import", daemon=True).start()

    async def for_profile(self, profile: BotProfile) -> list[dict[str, Any]]:
        """The shipped first fits for ``profile`` (JSON), or [] if none can be made or it is not ready in time."""
        from trader.first_fit import shippable  # the trading stack stays out of the API's start-up

        if not shippable(profile):
            return []
        key = _setup_key(profile)
        if key in self._done:
            self._done.move_to_end(key)
            return self._done[key]
        task = self._running.get(key)
        if task is None:
            task = self._running[key] = asyncio.create_task(self._fit(key, profile))
        try:
            return await asyncio.wait_for(asyncio.shield(task), self._wait_s)
        except TimeoutError:
            log.info("first_fit.not_ready", waited_s=self._wait_s)
            return []

    async def _fit(self, key: str, profile: BotProfile) -> list[dict[str, Any]]:
        from trader import initial_models
        from trader.first_fit import first_fits

        try:
            async with self._one_at_a_time:
                models = await asyncio.to_thread(first_fits, profile)
            shipped = initial_models.to_json(models)
        except Exception as exc:  # noqa: BLE001 - the bot fits its own; nothing is lost
            log.warning("first_fit.failed", error=f"{type(exc).__name__}: {exc}")
            shipped = []
        finally:
            self._running.pop(key, None)
        self._done[key] = shipped
        while len(self._done) > self._cache_size:
            self._done.popitem(last=False)
        return shipped


def _setup_key(profile: BotProfile) -> str:
    """What the first fit depends on: the market and the model settings (the rest of the profile does not enter it)."""
    text = profile.market.model_dump_json() + profile.model.model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()


def _import_fitting_stack() -> None:
    try:
        import hmmlearn.hmm  # noqa: F401

        import trader.first_fit  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - the fit will import (or fail) on demand
        log.warning("first_fit.preload_failed", error=str(exc))
