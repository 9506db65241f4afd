"""Relaunch hosted bots whose machine was refused at boot (exit 3), with a fresh bootstrap.

A machine's config carries a single-use bootstrap (``vault.machine_bootstrap``). A machine that
boots a second time from the same config (Fly's on-failure restart after a crash, the local
emulator restarting its started machines) finds it spent: ``fly/boot.py`` exits 3 and the
machine stops, while the bot still says ``running``. Fly's API keeps that exit code in the
machine's events, so this watch finds such machines by polling the app's machine list and
launches the bot again through :func:`workers.hosting.launch`, which records a new bootstrap and
revokes the old credentials.

Bounded: each relaunch counts itself in the new machine's metadata (``relaunches``). A bot whose
machines were refused ``max_relaunches`` times in a row is set ``failed`` with the reason instead:
exit 3 also means the control plane refused the bot for good (say, its profile no longer
validates), and relaunching that forever would only burn machines. A start or a wake launches a
machine without the count, so the budget is per run of refusals, not per bot lifetime.
Recorded: each relaunch is a ``hosting.relaunched`` warning and a ``bot.provisioned`` event whose
intent is ``relaunch:<refused machine id>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass

import structlog

from fly.models import Machine
from store import bots
from workers.hosting import HostingDeps, fail_bot, launch

log = structlog.get_logger(__name__)

BOOT_REFUSED_EXIT = 3  # fly.boot.EXIT_FINAL (not imported: boot pulls in the trader)
RELAUNCHES_KEY = "relaunches"  # machine metadata: how many refused machines preceded this one
WATCHED_STATUSES = ("running", "starting")


@dataclass(frozen=True)
class Relaunch:
    """What the watch did about one refused machine."""

    bot_id: str
    refused_machine_id: str
    new_machine_id: str | None  # None: the bot was failed instead (budget spent or tier)


def refused_at_boot(machine: Machine) -> bool:
    """The machine stopped on its own because its boot exited 3 (not a requested stop)."""
    if machine.state != "stopped":
        return False
    for event in machine.events:  # newest first: only the last exit counts
        exit_event = (event.request or {}).get("exit_event") if event.type == "exit" else None
        if isinstance(exit_event, dict):
            return exit_event.get("exit_code") == BOOT_REFUSED_EXIT and not exit_event.get("requested_stop", False)
    return False


async def relaunch_refused(deps: HostingDeps, *, max_relaunches: int) -> list[Relaunch]:
    """One sweep over the app's machines: relaunch (or fail) every bot whose current machine was refused."""
    done: list[Relaunch] = []
    for machine in await deps.fly.list():
        if machine.bot_id is None or not refused_at_boot(machine):
            continue
        bot = await bots.get_bot(deps.pool, uuid.UUID(machine.bot_id))
        # only the bot's current machine, and only while the bot should be running: a stopped or
        # deleted bot's machine stays down, and a newer launch already replaced an older machine
        if bot is None or bot.surface != "hosted" or bot.status not in WATCHED_STATUSES or bot.machine_id != machine.id:
            continue
        count = int(machine.config.metadata.get(RELAUNCHES_KEY, "0") or 0)
        bound = structlog.contextvars.bound_contextvars(bot_id=str(bot.id), refused_machine_id=machine.id)
        with bound:
            if count >= max_relaunches:
                reason = (
                    f"its machine was refused at boot {count + 1} times in a row (exit {BOOT_REFUSED_EXIT}); "
                    "see the machine's log, then stop and start the bot"
                )
                log.error("hosting.relaunch_gave_up", relaunches=count)
                await fail_bot(bot, reason, deps)
                done.append(Relaunch(str(bot.id), machine.id, None))
                continue
            new = await launch(
                bot, f"relaunch:{machine.id}", deps, metadata={RELAUNCHES_KEY: str(count + 1)}, cause="relaunch"
            )
            log.warning(
                "hosting.relaunched",
                new_machine_id=new.id if new else None,
                relaunch=count + 1,
                max_relaunches=max_relaunches,
                detail="the machine booted again from a spent bootstrap (crash restart or host restart)",
            )
            done.append(Relaunch(str(bot.id), machine.id, new.id if new else None))
    return done


async def watch_refused_machines(
    deps: HostingDeps, stop: asyncio.Event, *, every_s: float, max_relaunches: int
) -> None:
    """Sweep every ``every_s`` until ``stop``; a failed sweep is logged and tried again next time."""
    while not stop.is_set():
        try:
            await relaunch_refused(deps, max_relaunches=max_relaunches)
        except Exception:  # Fly or Postgres away for a while: the next sweep sees the same machines
            log.exception("hosting.relaunch_sweep_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
