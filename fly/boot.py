"""``python -m fly.boot``: what a hosted bot's VM runs (DESIGN.md, "Hosted bot boot").

1. ``BOT_ID`` and the single-use bootstrap (``HMMTRADE_MACHINE_BOOTSTRAP``) from the
   environment, exchanged once at ``POST /api/v1/internal/machine_token`` for the machine JWT,
   which stays in this process's memory (``HMMTRADE_MACHINE_TOKEN`` instead gives the JWT
   directly, for running boot by hand);
2. ``GET /api/v1/internal/bots/<id>``: the profile and connection metadata;
3. ``POST /api/v1/internal/broker_token``: short-lived broker credentials;
4. write ``config/instances/<id>.yaml`` and ``<id>.env`` under ``HMMTRADE_HOME``, the
   files a local install uses;
5. run the trader in this process (what ``python -m trader.cli`` runs), our stdout and
   stderr teed line by line to the VM log and to ``bots.<id>.log`` (boot's own lines too,
   those said before the bus was up once it is);
6. SIGTERM/SIGINT: the trader finishes its bar and flushes its audit, exit 0.

One interpreter, not boot plus a trader child: a second Python start and a second copy of
the imports cost about a second of CPU and ~60 MiB a bot, which ten machines booting at
once on a shared host feel (bench/README.md, ``./dev bench hosted``). The trader never
needed boot's credentials: before it runs they leave ``os.environ`` and are blanked in the
process's initial environment block, so ``/proc/<pid>/environ`` and crash reports do not
show them. Each line boot says carries the seconds since the process started, which the
hosted benchmark reads as its start-up profile.

The control plane unreachable or answering 5xx (a KMS outage is a 503) is retried with
backoff, each attempt logged with the reason, so a machine started during an outage boots
by itself when the outage ends. A 401 or 404 (token revoked, bot deleted) is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import io
import os
import signal
import sys
import time
import traceback
import uuid
from collections import deque
from collections.abc import Coroutine, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO, cast

import httpx

from contracts.events import BotLogLine
from contracts.profile import BotProfile
from events.auth.keys import write_creds
from events.bus import Bus, BusUnavailable
from events.topology import bot_subject
from trader.instance import write_instance

EXIT_FINAL = 3  # the control plane refused this machine for good: restarting will not help

BOOT_ONLY_ENV = ("HMMTRADE_MACHINE_TOKEN", "HMMTRADE_MACHINE_BOOTSTRAP")
"""Boot's own credentials: the trader never calls the control plane, so it never sees them
(an environment is readable in ``/proc/<pid>/environ`` and ends up in crash reports)."""

NOT_FOR_THE_TRADER = (*BOOT_ONLY_ENV, "NATS_CREDS")
"""Removed before the trader runs. An inherited ``NATS_CREDS`` goes too: the trader uses the
bot's own credentials, which the instance's ``.env`` names (the environment would override it)."""


class BootRefused(Exception):
    """The control plane said no for good (401/403/404/409/422); the message says why."""


@dataclass(frozen=True)
class BootSettings:
    bot_id: uuid.UUID
    machine_token: str | None  # the JWT given directly; None: exchange ``bootstrap`` for it
    bootstrap: str | None
    api_url: str
    nats_url: str | None
    home: Path
    once: bool
    pace: str | None
    decisions_per_wake: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BootSettings:
        missing = [name for name in ("BOT_ID", "HMMTRADE_API_URL") if not env.get(name)]
        if not env.get("HMMTRADE_MACHINE_BOOTSTRAP") and not env.get("HMMTRADE_MACHINE_TOKEN"):
            missing.append("HMMTRADE_MACHINE_BOOTSTRAP (or HMMTRADE_MACHINE_TOKEN)")
        if missing:
            raise BootRefused(f"missing environment variable(s): {', '.join(missing)}")
        try:
            bot_id = uuid.UUID(env["BOT_ID"])
        except ValueError:
            raise BootRefused(f"BOT_ID {env['BOT_ID']!r} is not a UUID") from None
        return cls(
            bot_id=bot_id,
            machine_token=env.get("HMMTRADE_MACHINE_TOKEN") or None,
            bootstrap=env.get("HMMTRADE_MACHINE_BOOTSTRAP") or None,
            api_url=env["HMMTRADE_API_URL"].rstrip("/"),
            nats_url=env.get("NATS_URL") or None,
            home=Path(env.get("HMMTRADE_HOME") or "bot-home"),
            once=env.get("HMMTRADE_RUN_ONCE", "") in ("1", "true", "yes"),
            pace=env.get("HMMTRADE_REPLAY_PACE") or None,
            decisions_per_wake=env.get("HMMTRADE_DECISIONS_PER_WAKE") or None,
        )


def say(line: str) -> None:
    """One boot line, stamped with the seconds since this process started (the start-up profile)."""
    print(f"boot: [{process_age_s():.2f}s] {line}", flush=True)


def process_age_s() -> float:
    """Seconds since this process was started (interpreter start-up and imports included)."""
    if sys.platform != "linux":
        return time.monotonic() - _IMPORTED_AT
    started_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    return max(0.0, uptime_s - started_ticks / os.sysconf("SC_CLK_TCK"))


_IMPORTED_AT = time.monotonic()


async def _call(http: httpx.AsyncClient, method: str, path: str, stop: asyncio.Event, **kwargs: Any) -> Any:
    """One control-plane call, retried with backoff until it answers or ``stop`` is set."""
    delay = 0.5
    while True:
        try:
            response = await http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            reason = f"control plane unreachable ({type(exc).__name__})"
        else:
            if response.status_code < 300:
                return response.json()
            detail = _detail(response)
            if response.status_code in (401, 403, 404, 409, 422):
                raise BootRefused(f"{method} {path} -> {response.status_code}: {detail}")
            reason = f"{method} {path} -> {response.status_code}: {detail}"
        say(f"{reason}; retrying in {delay:.1f}s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            raise BootRefused("stopped while waiting for the control plane")
        delay = min(delay * 2, 30.0)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail") or body.get("title") or body)[:300] if isinstance(body, dict) else str(body)[:300]


def _credential_env(bundle: Mapping[str, Any]) -> dict[str, str]:
    """Broker credentials as ``BROKER_*`` settings for the trader's ``.env`` (never logged)."""
    env = {"BROKER_KIND": str(bundle.get("kind", "paper")), "BROKER_EXPIRES_AT": str(bundle.get("expires_at", ""))}
    for name, value in (bundle.get("credentials") or {}).items():
        env[f"BROKER_{name.upper()}"] = str(value)
    return env


async def machine_jwt(settings: BootSettings, http: httpx.AsyncClient, stop: asyncio.Event) -> str:
    """Step 1: the JWT given, or the one the bootstrap is exchanged for (once: a second try is refused)."""
    if settings.machine_token is not None:
        return settings.machine_token
    answer = await _call(
        http,
        "POST",
        "/api/v1/internal/machine_token",
        stop,
        json={"bot_id": str(settings.bot_id)},
        headers={"Authorization": f"Bearer {settings.bootstrap}"},
    )
    say(f"machine token received, valid until {answer.get('expires_at')}")
    return str(answer["token"])


def bus_creds_path(settings: BootSettings) -> Path:
    return settings.home / "state" / str(settings.bot_id) / "bus.creds"


async def bus_credentials(settings: BootSettings, http: httpx.AsyncClient, stop: asyncio.Event) -> Path | None:
    """Step 1b: this bot's own bus identity (publishes only ``bots.<id>.>``), as a 0600 file."""
    if not settings.nats_url:
        return None
    answer = await _call(http, "POST", "/api/v1/internal/bus_credentials", stop, json={"bot_id": str(settings.bot_id)})
    say(f"bus credentials received, valid until {answer.get('expires_at')}")
    return write_creds(bus_creds_path(settings), str(answer["creds"]))


async def prepare(settings: BootSettings, http: httpx.AsyncClient, stop: asyncio.Event) -> Path:
    """Steps 2-4: ask the control plane (both calls at once), write the instance files; the instance YAML's path."""
    bot, bundle = await all_or_refused(
        _call(http, "GET", f"/api/v1/internal/bots/{settings.bot_id}", stop),
        _call(http, "POST", "/api/v1/internal/broker_token", stop, json={"bot_id": str(settings.bot_id)}),
    )
    profile = BotProfile.model_validate(bot["profile"])
    say(f"profile of {profile.basics.name!r} received ({profile.market.data_source}, {profile.basics.mode})")
    say(f"broker credentials received ({bundle.get('kind', 'paper')}), valid until {bundle.get('expires_at')}")
    env = _credential_env(bundle)
    if settings.nats_url:
        env["NATS_URL"] = settings.nats_url
        env["NATS_CREDS"] = str(bus_creds_path(settings))
    if settings.pace:
        env["HMMTRADE_REPLAY_PACE"] = settings.pace
    models = bot.get("initial_models") or None
    if models:
        say(f"first model received, fitted by the control plane ({len(models)})")
    return write_instance(settings.home, settings.bot_id, profile, env, initial_models=models)


async def all_or_refused(*calls: Coroutine[Any, Any, Any]) -> list[Any]:
    """The calls' answers, run side by side; the first refusal cancels the rest and is raised as is."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except* BootRefused as refused:
        raise _first_leaf(refused) from None
    return [task.result() for task in tasks]


def _first_leaf(group: BaseExceptionGroup[BootRefused]) -> BootRefused:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


class LogTee:
    """Our stdout and stderr, line by line, also to ``bots.<id>.log`` (best effort).

    Lines are queued (at most ``limit``, the oldest dropped) and published by ``pump`` once a
    bus is attached, so what boot said before it had bus credentials reaches the log too.
    Writes may come from any thread; publishing happens on the event loop.
    """

    def __init__(self, bot_id: uuid.UUID, *, limit: int = 2_000) -> None:
        self._bot_id = bot_id
        self._subject = bot_subject(bot_id, "log")
        self._pending: deque[tuple[Literal["stdout", "stderr"], str]] = deque(maxlen=limit)
        self._bus: Bus | None = None
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._finishing = False

    def stream(self, real: TextIO, name: Literal["stdout", "stderr"]) -> TextIO:
        return cast(TextIO, _TeeStream(real, name, self))

    def offer(self, name: Literal["stdout", "stderr"], line: str) -> None:
        self._pending.append((name, line))
        with contextlib.suppress(RuntimeError):  # a late write after the loop closed stays in the VM log only
            self._loop.call_soon_threadsafe(self._wake.set)

    def attach(self, bus: Bus) -> None:
        self._bus = bus
        self._wake.set()

    async def pump(self) -> None:
        """Publish queued lines while a bus is attached, until :meth:`finish` (then the last ones too).

        It ends by itself rather than by a cancel: on Python 3.11 a cancel that lands as a publish's
        ack arrives can be lost (``wait_for`` returns the ack and drops the cancel), the pump then
        waited forever for lines that never came, and a finished bot's machine never stopped."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.publish_pending()
            if self._finishing:
                return

    def finish(self) -> None:
        """Ask :meth:`pump` to publish what is queued and return."""
        self._finishing = True
        self._wake.set()

    async def publish_pending(self) -> None:
        while self._pending and self._bus is not None and self._bus.is_connected:
            name, line = self._pending.popleft()
            message = BotLogLine(correlation_id=str(self._bot_id), bot_id=self._bot_id, stream=name, line=line[:8_000])
            with contextlib.suppress(BusUnavailable):
                await self._bus.publish(self._subject, message)


class _TeeStream(io.TextIOBase):
    """A text stream that writes through to ``real`` and offers each complete line to the tee."""

    def __init__(self, real: TextIO, name: Literal["stdout", "stderr"], tee: LogTee) -> None:
        super().__init__()
        self._real, self._name, self._tee = real, name, tee
        self._partial = ""

    def write(self, text: str) -> int:
        self._real.write(text)
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._tee.offer(self._name, line)
        return len(text)

    def flush(self) -> None:
        self._real.flush()

    def isatty(self) -> bool:
        return self._real.isatty()

    def fileno(self) -> int:
        return self._real.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._real.encoding


@contextlib.contextmanager
def teeing(tee: LogTee) -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` through ``tee`` for the duration."""
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = tee.stream(real_out, "stdout"), tee.stream(real_err, "stderr")
    try:
        yield
    finally:
        sys.stdout, sys.stderr = real_out, real_err


def forget_boot_credentials(environ: MutableMapping[str, str] = os.environ) -> None:
    """Boot's credentials out of the environment before the trader runs in this process.

    ``os.environ`` drops them (and the C ``environ`` they came from), and on Linux their bytes in
    the initial environment block, which ``/proc/<pid>/environ`` shows, are zeroed.
    """
    for name in NOT_FOR_THE_TRADER:
        environ.pop(name, None)
    if sys.platform == "linux":
        _blank_initial_environ({name.encode() for name in NOT_FOR_THE_TRADER})


def _blank_initial_environ(names: set[bytes]) -> None:
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    env_start, env_end = int(fields[47]), int(fields[48])  # stat fields 50 and 51 (fields[0] is field 3)
    block = ctypes.string_at(env_start, env_end - env_start)
    offset = 0
    for entry in block.split(b"\0"):
        if entry.split(b"=", 1)[0] in names:
            ctypes.memset(env_start + offset, 0, len(entry))
        offset += len(entry) + 1


async def run_trader(settings: BootSettings, config: Path, stop: asyncio.Event) -> int:
    """Steps 5 and 6: the trader in this process, as ``python -m trader.cli`` runs it; its exit code."""
    # Imported here, after the control plane answered: a refused or waiting boot never pays for
    # the trading stack, and boot's own start (and first log lines) stays quick.
    from trader.bars import BarDataError
    from trader.checkpoint import CheckpointError
    from trader.feeds import FeedError
    from trader.instance import InstanceError, load_instance
    from trader.runner import RunOptions, describe, run_instance
    from trader.threads import limit_math_threads
    from trader.venue import VenueError

    forget_boot_credentials()
    limit_math_threads()
    say("trader loaded")

    async def announce_stop() -> None:
        await stop.wait()
        say("SIGTERM received: asking the trader to finish its bar and flush its audit")

    announcer = asyncio.create_task(announce_stop())
    try:
        instance = load_instance(config)
        max_decisions = int(settings.decisions_per_wake) if settings.once and settings.decisions_per_wake else None
        options = RunOptions(
            once=settings.once,  # scale-to-zero: the bars that are due, then exit and let the machine stop
            max_decisions=max_decisions,  # replayed data: one trading day a wake
            pace=float(instance.env.get("HMMTRADE_REPLAY_PACE") or 0),
        )
        summary = await run_instance(instance, options, stop)
    except (InstanceError, FeedError, BarDataError, CheckpointError, VenueError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 (a trader crash: exit 1 with the traceback, as the child process did)
        traceback.print_exc()  # through the tee: the reason reaches bots.<id>.log
        return 1
    finally:
        announcer.cancel()
    for warning in summary.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(describe(summary, instance.state_dir), file=sys.stderr)
    return 0


async def boot(env: Mapping[str, str], stop: asyncio.Event) -> int:
    try:
        settings = BootSettings.from_env(env)
    except BootRefused as exc:
        say(f"error: {exc}")
        return EXIT_FINAL
    tee = LogTee(settings.bot_id)
    pump = asyncio.create_task(tee.pump())
    bus: Bus | None = None
    try:
        with teeing(tee):
            say(f"bot {settings.bot_id} on machine {env.get('FLY_MACHINE_ID', '?')} ({env.get('FLY_REGION', '?')})")
            try:
                config, bus = await ask_control_plane(settings, stop)
            except BootRefused as exc:
                say(f"error: {exc}")
                return 0 if stop.is_set() else EXIT_FINAL
            if bus is not None:
                tee.attach(bus)
            code = await run_trader(settings, config, stop)
            say(f"trader exited with {code}")
            return code
    finally:
        await wind_down(tee, pump, bus)


async def wind_down(tee: LogTee, pump: asyncio.Task[None], bus: Bus | None, *, timeout_s: float = 5.0) -> None:
    """Publish the last log lines (why it exited) and close the bus, each within ``timeout_s``.

    Neither is awaited beyond its deadline, not even to finish a cancel: a task that loses its
    cancel would otherwise hold a finished bot's machine up for good."""
    tee.finish()
    _, late = await asyncio.wait({pump}, timeout=timeout_s)
    for task in late:
        task.cancel()  # the bus is slow or gone: those lines stay in the VM's log only
    if bus is not None:
        await asyncio.wait({asyncio.ensure_future(bus.close())}, timeout=timeout_s)


async def ask_control_plane(settings: BootSettings, stop: asyncio.Event) -> tuple[Path, Bus | None]:
    """Steps 1-4: the JWT first, then bus credentials, profile and broker token side by side."""
    bus: Bus | None = None

    async def connect_bus() -> None:
        nonlocal bus
        creds = await bus_credentials(settings, http, stop)
        if settings.nats_url and creds is not None:
            bus = Bus(settings.nats_url, name=f"boot-{settings.bot_id}", creds=creds)
            await bus.start(wait_s=5)

    async with httpx.AsyncClient(base_url=settings.api_url, timeout=10) as http:
        token = await machine_jwt(settings, http, stop)
        http.headers["Authorization"] = f"Bearer {token}"
        try:
            _, config = await all_or_refused(connect_bus(), prepare(settings, http, stop))
        except BootRefused:
            if bus is not None:
                await bus.close()
            raise
    return config, bus


def main() -> int:
    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        code = await boot(os.environ, stop)
        # The VM's main process ends when the trader is done: its audit and checkpoint are written
        # and delivered (run_instance awaited them). Whatever still runs in this process must not
        # keep a finished bot's machine up: a clean-clone CI run saw a scale-to-zero bot print
        # "trader exited with 0" and its process live on for 4 minutes (interpreter clean-up
        # after two bus clients in one loop), so its machine never stopped.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    return asyncio.run(_main())


if __name__ == "__main__":
    sys.exit(main())
