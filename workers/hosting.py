"""The hosting consumer: a hosted bot's lifecycle events -> its Fly Machine.

It follows ``events.bot.<id>.{created,started,stopped,deleted}`` (what the lifecycle
projection committed) and does the side effects on Fly, so the projection stays fast and
a Fly outage only delays machines, never the API:

- created / started: check the user's tier; record a single-use bootstrap that the machine's
  boot exchanges for its JWT, revoking the credentials of any machine it replaces (they
  also die when a bot stops); create the machine tagged
  ``bot_id`` + the launching event's id, replacing an older one; record its id; publish ``events.bot.<id>.provisioned``.
- stopped: stop the machine with SIGTERM (the boot entrypoint flushes the audit) and
  wait until it is stopped; the machine and its state are kept.
- deleted: destroy the machine (the lifecycle already revoked the JWT).
- boot_waiting / booted (published by the internal API as a machine boots): the bot shows
  ``starting`` with the reason while its machine waits (say, for the KMS), ``running`` after.

Stock bots on daily bars scale to zero: their machine runs ``--once`` (one decision a wake
for replayed data) and stops; ``wake`` launches the next run on a fresh machine, which
resumes from the JetStream KV checkpoint.

Idempotent: a redelivered event finds the machine it already made by its metadata, so a
crash between the Fly call and the ack never makes a second machine. Transient Fly errors
are retried with backoff; a permanent one sets the bot ``failed`` with the reason.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import asyncpg
import structlog
from nats.aio.msg import Msg
from pydantic import ValidationError

from contracts.envelope import utc_now
from contracts.events import BotEvent
from contracts.profile import BotProfile
from events.bus import Bus
from events.consume import MalformedMessage, PermanentError, TransientError, settle
from events.topology import HOSTING, bot_event_subject
from fly.client import FlyMachines
from fly.errors import FlyPermanentError, FlyTransientError
from fly.models import Machine, RestartPolicy, bot_machine_config
from store import bots, downtime, users
from store.bots import BotRow
from store.downtime import DowntimeCause
from vault.machine_bootstrap import DEFAULT_TTL_S
from vault.machine_jwt import MachineTokens
from workers.failpoints import Failpoints
from workers.machine_identity import replace_machine_credential

log = structlog.get_logger(__name__)

HOSTED_TIERS = ("pro", "team")
LAUNCH_KEY = "launch"  # machine metadata: the id of the event that launched it
FREE_TIER_REASON = (
    "hosted bots need the pro or team plan: upgrade in billing, or run this bot on your laptop with the local agent"
)


@dataclass(frozen=True)
class BotMachineSettings:
    """What every hosted bot's machine is told at boot."""

    image: str
    api_url: str  # the control plane as the machines reach it
    nats_url: str  # the bus as the machines reach it
    replay_pace: float = 0.0  # decision bars per second for replayed data (demos)
    stop_timeout_s: int = 30
    bootstrap_ttl_s: int = DEFAULT_TTL_S  # how long a new machine has to exchange its bootstrap
    # Operator-only venue overrides (the local emulators); None in production, and then absent
    # from the machine's environment, so the bot uses the venue's real endpoints.
    alpaca_url: str | None = None
    exchange_url: str | None = None

    def venue_env(self) -> dict[str, str]:
        """The venue endpoint overrides a machine is told, only those that are set."""
        overrides = {"HMMTRADE_ALPACA_URL": self.alpaca_url, "HMMTRADE_EXCHANGE_URL": self.exchange_url}
        return {name: url for name, url in overrides.items() if url}


@dataclass(frozen=True)
class HostingDeps:
    pool: asyncpg.Pool
    bus: Bus
    fly: FlyMachines
    tokens: MachineTokens
    machines: BotMachineSettings
    failpoints: Failpoints = field(default_factory=Failpoints)


def parse_event(data: bytes) -> BotEvent | None:
    """The lifecycle event, or None for events this consumer does not act on."""
    try:
        event = BotEvent.model_validate_json(data)
    except ValidationError as exc:
        raise MalformedMessage(str(exc.errors()[:3])) from exc
    return event if event.type in _HANDLED else None


_HANDLED = ("bot.created", "bot.started", "bot.stopped", "bot.deleted", "bot.boot_waiting", "bot.booted")


async def handle(msg: Msg, deps: HostingDeps) -> None:
    event = parse_event(msg.data)
    if event is None:
        return
    bot = await bots.get_bot(deps.pool, event.bot_id)
    if bot is None or bot.surface != "hosted":
        return
    structlog.contextvars.bind_contextvars(bot_id=str(bot.id), intent_id=event.intent_id)
    try:
        if event.type in ("bot.created", "bot.started"):
            await launch(bot, event.id, deps)
        elif event.type == "bot.boot_waiting":
            await bots.set_status_from(deps.pool, bot.id, ("running", "starting"), "starting", event.reason)
            log.warning("hosting.boot_waiting", reason=event.reason)
        elif event.type == "bot.booted":
            await bots.set_status_from(deps.pool, bot.id, ("starting",), "running", None)
        elif event.type == "bot.stopped":
            await halt(bot, deps, reason=event.reason)
        else:
            await destroy(bot, deps)
    except FlyTransientError as exc:
        raise TransientError(f"Fly Machines: {exc}") from exc
    except FlyPermanentError as exc:
        await fail_bot(bot, f"the hosting provider refused: {exc}", deps)
        raise PermanentError(str(exc)) from exc


async def launch(
    bot: BotRow,
    launch_id: str,
    deps: HostingDeps,
    *,
    metadata: Mapping[str, str] | None = None,
    cause: DowntimeCause = "launch",
) -> Machine | None:
    """Make sure the bot runs on a machine launched for ``launch_id``; None if its tier forbids it.

    ``metadata`` is added to a new machine's (the relaunch watch counts its relaunches there).
    While Fly refuses (``FlyTransientError``), the bot's downtime is open (``store.downtime``,
    what service credits are computed from); it closes once a launch gets through, or the bot
    no longer wants a machine.
    """
    try:
        machine = await _launch(bot, launch_id, deps, metadata=metadata)
    except FlyTransientError:
        await downtime.open_downtime(deps.pool, bot_id=bot.id, user_id=bot.user_id, cause=cause, at=utc_now())
        raise
    await downtime.close_downtime(deps.pool, bot.id, at=utc_now())
    return machine


async def _launch(
    bot: BotRow, launch_id: str, deps: HostingDeps, *, metadata: Mapping[str, str] | None = None
) -> Machine | None:
    if bot.status == "deleted":
        return None
    user = await users.user_by_id(deps.pool, bot.user_id)
    if user is None or user.tier not in HOSTED_TIERS:
        await fail_bot(bot, FREE_TIER_REASON, deps)
        return None
    existing = await deps.fly.find_by_bot(str(bot.id))
    if existing is not None and existing.config.metadata.get(LAUNCH_KEY) == launch_id:
        # This launch already happened (a redelivery after a crash, a repeated wake). Fly boots
        # a machine on create; if it has stopped since, its run is over: starting it again would
        # run it twice.
        machine = existing
    else:
        if existing is not None:  # launched for an earlier start or wake: replace it
            await deps.fly.delete(existing.id, force=True, missing_ok=True)
        # one live credential per bot: the replaced machine's token (a wake's predecessor is
        # still live, its bot never stopped) dies as the new machine's bootstrap is recorded
        bootstrap = await replace_machine_credential(deps.pool, bot.id, ttl_s=deps.machines.bootstrap_ttl_s)
        settings = deps.machines
        env = {
            "BOT_ID": str(bot.id),
            "HMMTRADE_MACHINE_BOOTSTRAP": bootstrap,  # single-use; boot exchanges it for the JWT
            "HMMTRADE_API_URL": settings.api_url,
            "NATS_URL": settings.nats_url,
            "HMMTRADE_REPLAY_PACE": str(settings.replay_pace),
            **settings.venue_env(),
        }
        restart = None
        if scales_to_zero(bot):
            # one run per wake, then the process exits 0 and the machine stops (no restart)
            env.update({"HMMTRADE_RUN_ONCE": "1", "HMMTRADE_DECISIONS_PER_WAKE": "1"})
            restart = RestartPolicy(policy="no")
        config = bot_machine_config(
            bot_id=str(bot.id), image=settings.image, env=env, restart=restart, stop_timeout_s=settings.stop_timeout_s
        )
        config = config.model_copy(update={"metadata": {**config.metadata, **(metadata or {}), LAUNCH_KEY: launch_id}})
        machine = await deps.fly.create(config)
        await deps.failpoints.hit("hosting.after_create")  # the kill -9 test's gap: created, not recorded
    await bots.set_machine(deps.pool, bot.id, machine.id, status="running")
    await _publish(bot, "provisioned", launch_id, deps, status="running", reason=f"machine {machine.id}")
    log.info("hosting.launched", machine_id=machine.id)
    return machine


def scales_to_zero(bot: BotRow) -> bool:
    """Stock bots on daily bars run once after each close and sleep in between; the rest run on."""
    profile = (
        BotProfile.model_validate_json(bot.profile)
        if isinstance(bot.profile, str)
        else BotProfile.model_validate(bot.profile)
    )
    return (
        profile.market.asset_class == "stock"
        and profile.market.bar_interval == "1d"
        and profile.schedule.run == "after_close"
    )


async def wake(bot: BotRow, wake_id: str, deps: HostingDeps) -> Machine | None:
    """A scale-to-zero wake: a fresh machine (and token) resumes the bot from its KV checkpoint.

    A new machine rather than a restart, because the token the last one booted with may have
    expired overnight; ``wake_id`` (one per session close) makes a repeated wake a no-op.
    """
    if bot.status != "running" or not scales_to_zero(bot):
        return None
    return await launch(bot, wake_id, deps, cause="wake")


async def halt(bot: BotRow, deps: HostingDeps, *, reason: str | None = None) -> None:
    """Stop the bot's machine, and say the bot is stopped.

    The status matters when a stop came right after a create or start: the lifecycle projected
    the stop (``stopped``) before this consumer launched the machine, and the launch then said
    ``running``; this stop, handled after that launch, puts it right (a start that follows is
    handled after it again).
    """
    await downtime.close_downtime(deps.pool, bot.id, at=utc_now())  # stopped by its owner: no longer down
    machine = await deps.fly.find_by_bot(str(bot.id))
    if machine is not None and machine.state not in ("stopped", "destroyed", "destroying"):
        await deps.fly.stop(machine.id, signal="SIGTERM", timeout_s=deps.machines.stop_timeout_s)
        await deps.fly.wait(machine.id, "stopped", timeout_s=deps.machines.stop_timeout_s + 30)
        log.info("hosting.stopped", machine_id=machine.id)
    await bots.set_status_from(deps.pool, bot.id, ("running", "starting"), "stopped", reason)


async def destroy(bot: BotRow, deps: HostingDeps) -> None:
    await downtime.close_downtime(deps.pool, bot.id, at=utc_now())
    machine = await deps.fly.find_by_bot(str(bot.id))
    if machine is not None:
        await deps.fly.delete(machine.id, force=True, missing_ok=True)
        log.info("hosting.destroyed", machine_id=machine.id)


async def fail_bot(bot: BotRow, reason: str, deps: HostingDeps) -> None:
    await bots.set_status(deps.pool, bot.id, "failed", reason)
    await downtime.close_downtime(deps.pool, bot.id, at=utc_now())
    await _publish(bot, "failed", f"hosting:{bot.id}:{uuid.uuid4()}", deps, status="failed", reason=reason)


async def _publish(bot: BotRow, what: str, cause: str, deps: HostingDeps, *, status: str, reason: str) -> None:
    event = BotEvent(
        id=f"{cause}:{what}"[:128],
        type=f"bot.{what}",
        bot_id=bot.id,
        user_id=bot.user_id,
        status=status,
        intent_id=cause[:120],
        reason=reason[:500],
    )
    await deps.bus.publish(bot_event_subject(bot.id, what), event)


async def handle_batch(batch: list[Msg], deps: HostingDeps) -> None:
    """Bots in parallel, each bot's events in order (a stop never overtakes its start).

    Most bot events are about bots this consumer does not host (local bots): one query for
    the whole batch finds those, and their events are acknowledged unread instead of each
    costing a read of its bot row.
    """
    per_bot: dict[str, list[Msg]] = defaultdict(list)
    for msg in batch:
        per_bot[msg.subject.split(".")[2] if msg.subject.count(".") >= 3 else ""].append(msg)
    local = await bots.local_among(deps.pool, [_bot_id(key) for key in per_bot])

    async def one_bot(messages: list[Msg]) -> None:
        for msg in messages:
            await settle(msg, partial(handle, deps=deps), bus=deps.bus, consumer=HOSTING)

    await asyncio.gather(
        *(msg.ack() for key, messages in per_bot.items() if _bot_id(key) in local for msg in messages),
        *(one_bot(messages) for key, messages in per_bot.items() if _bot_id(key) not in local),
    )


def _bot_id(subject_token: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(subject_token)
    except ValueError:
        return None  # handled (and dead-lettered if malformed) one by one
