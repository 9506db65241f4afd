"""The scheduler's ``BotLauncher`` over the hosting consumer's :func:`workers.hosting.wake`.

Each wake is a fresh machine (and a fresh machine JWT) tagged with the wake id, resuming from
the ``bot_state`` KV checkpoint; a repeated wake id finds that machine and runs nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from contracts.envelope import utc_now
from fly.errors import FlyTransientError
from store import bots, downtime
from workers import hosting

_STILL_RUNNING = ("created", "starting", "started")


class BotStillRunning(RuntimeError):
    """The bot's previous run has not finished: replacing its machine now would cut it short."""


@dataclass(frozen=True)
class HostingLauncher:
    deps: hosting.HostingDeps

    async def wake(self, bot_id: str, wake_id: str) -> bool:
        bot = await bots.get_bot(self.deps.pool, uuid.UUID(bot_id))
        if bot is None:
            return False
        try:
            current = await self.deps.fly.find_by_bot(bot_id)
        except FlyTransientError:  # Fly is down at the close: the bot misses its wake until it is back
            if bot.status == "running":
                await downtime.open_downtime(
                    self.deps.pool, bot_id=bot.id, user_id=bot.user_id, cause="wake", at=utc_now()
                )
            raise
        if (
            current is not None
            and current.state in _STILL_RUNNING
            and current.config.metadata.get(hosting.LAUNCH_KEY) != wake_id
        ):
            # a launch replaces the machine by force: wait for the last run (its creation, a slow
            # wake) to exit rather than kill it mid-decision; the scheduler retries later
            raise BotStillRunning(f"machine {current.id} is still {current.state}")
        return await hosting.wake(bot, wake_id, self.deps) is not None
