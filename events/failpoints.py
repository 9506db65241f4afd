"""Named points where a fault test can freeze or crash a worker or a bot on purpose.

``HMMTRADE_FAILPOINTS="lifecycle.before_ack=pause,other=crash"`` enables them; unset,
``hit`` is a dictionary lookup. The kill -9 tests pause a worker after its side effects
commit and before it acks, then SIGKILL it: the only reliable way to land in that gap.
"""

from __future__ import annotations

import asyncio
import os

import structlog

log = structlog.get_logger(__name__)

ENV = "HMMTRADE_FAILPOINTS"


class Failpoints:
    def __init__(self, spec: str = "") -> None:
        self._actions: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, action = item.partition("=")
            if action not in ("pause", "crash"):
                raise ValueError(f"{ENV}: {item!r} must be NAME=pause or NAME=crash")
            self._actions[name] = action

    @classmethod
    def from_env(cls) -> Failpoints:
        return cls(os.environ.get(ENV, ""))

    async def hit(self, name: str) -> None:
        action = self._actions.get(name)
        if action is None:
            return
        log.warning("failpoint.hit", failpoint=name, action=action)
        if action == "crash":
            os._exit(70)
        await asyncio.Event().wait()  # paused until the process is killed

    def hit_sync(self, name: str) -> None:
        """``hit`` for code running in a thread (a venue SDK call): crash only."""
        if self._actions.get(name) == "crash":
            log.warning("failpoint.hit", failpoint=name, action="crash")
            os._exit(70)
