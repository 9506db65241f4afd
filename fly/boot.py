"""``python -m fly.boot``: what a hosted bot's VM runs (DESIGN.md, "Hosted bot boot").

1. ``BOT_ID`` and the single-use bootstrap (``HMMTRADE_MACHINE_BOOTSTRAP``) from the
   environment, exchanged once at ``POST /api/v1/internal/machine_token`` for the machine JWT,
   which stays in this process's memory (``HMMTRADE_MACHINE_TOKEN`` instead gives the JWT
   directly, for running boot by hand);
2. ``GET /api/v1/internal/bots/<id>``: the profile and connection metadata;
3. ``POST /api/v1/internal/broker_token``: short-lived broker credentials;
4. write ``config/instances/<id>.yaml`` and ``<id>.env`` under ``HMMTRADE_HOME``, the
   files a local install uses;
5. spawn the trader (``python -m trader.cli``) and tee its output to our stdout (the VM
   log) and to ``bots.<id>.log``;
6. SIGTERM/SIGINT: forward to the trader, wait while it finishes its bar and flushes its
   audit, exit 0.

The control plane unreachable or answering 5xx (a KMS outage is a 503) is retried with
backoff, each attempt logged with the reason, so a machine started during an outage boots
by itself when the outage ends. A 401 or 404 (token revoked, bot deleted) is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from contracts.events import BotLogLine
from contracts.profile import BotProfile
from events.auth.keys import write_creds
from events.bus import Bus, BusUnavailable
from events.topology import bot_subject
from trader.instance import write_instance

EXIT_FINAL = 3  # the control plane refused this machine for good: restarting will not help

BOOT_ONLY_ENV = ("HMMTRADE_MACHINE_TOKEN", "HMMTRADE_MACHINE_BOOTSTRAP")
"""Boot's own credentials: the trader never calls the control plane, so it never gets them
(a child's environment is readable in ``/proc/<pid>/environ`` and ends up in crash reports)."""


def trader_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Our environment minus boot's credentials, for the trader child.

    An inherited ``NATS_CREDS`` goes too: the trader uses the bot's own credentials, which
    the instance's ``.env`` names (the environment would override it).
    """
    return {name: value for name, value in environ.items() if name not in (*BOOT_ONLY_ENV, "NATS_CREDS")}


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
    print(f"boot: {line}", flush=True)


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
    """Steps 2-4: ask the control plane, write the instance files; the instance YAML's path."""
    bot = await _call(http, "GET", f"/api/v1/internal/bots/{settings.bot_id}", stop)
    profile = BotProfile.model_validate(bot["profile"])
    say(f"profile of {profile.basics.name!r} received ({profile.market.data_source}, {profile.basics.mode})")
    bundle = await _call(http, "POST", "/api/v1/internal/broker_token", stop, json={"bot_id": str(settings.bot_id)})
    say(f"broker credentials received ({bundle.get('kind', 'paper')}), valid until {bundle.get('expires_at')}")
    env = _credential_env(bundle)
    if settings.nats_url:
        env["NATS_URL"] = settings.nats_url
        env["NATS_CREDS"] = str(bus_creds_path(settings))
    if settings.pace:
        env["HMMTRADE_REPLAY_PACE"] = settings.pace
    return write_instance(settings.home, settings.bot_id, profile, env)


class LogTee:
    """Trader output to our stdout and, best effort, to ``bots.<id>.log``."""

    def __init__(self, bus: Bus | None, bot_id: uuid.UUID) -> None:
        self._bus, self._bot_id = bus, bot_id
        self._subject = bot_subject(bot_id, "log")

    async def pump(self, stream: asyncio.StreamReader, name: Literal["stdout", "stderr"]) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip("\n")
            (sys.stdout if name == "stdout" else sys.stderr).write(text + "\n")
            if self._bus is not None and self._bus.is_connected:
                message = BotLogLine(
                    correlation_id=str(self._bot_id), bot_id=self._bot_id, stream=name, line=text[:8_000]
                )
                with contextlib.suppress(BusUnavailable):
                    await self._bus.publish(self._subject, message)
        sys.stdout.flush()


def _terminate_with_parent() -> None:
    """In the child: SIGTERM when boot dies (even by SIGKILL), so the trader never outlives it."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def run_trader(settings: BootSettings, config: Path, bus: Bus | None, stop: asyncio.Event) -> int:
    """Step 5 and 6: the trader as a child; SIGTERM forwarded; its exit code."""
    args = [sys.executable, "-m", "trader.cli", "--config", str(config)]
    if settings.once:
        args.append("--once")  # scale-to-zero: the bars that are due, then exit and let the machine stop
        if settings.decisions_per_wake:
            args += ["--max-decisions", settings.decisions_per_wake]  # replayed data: one trading day a wake
    child = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=trader_environment(os.environ),
        preexec_fn=_terminate_with_parent,
    )
    assert child.stdout is not None and child.stderr is not None
    tee = LogTee(bus, settings.bot_id)
    pumps = asyncio.gather(tee.pump(child.stdout, "stdout"), tee.pump(child.stderr, "stderr"))
    waiter = asyncio.create_task(child.wait())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if not waiter.done():
        say("SIGTERM received: asking the trader to finish its bar and flush its audit")
        child.send_signal(signal.SIGTERM)
    code = await waiter
    stopper.cancel()
    await pumps
    return 0 if stop.is_set() and code in (0, -signal.SIGTERM) else code


async def boot(env: Mapping[str, str], stop: asyncio.Event) -> int:
    try:
        settings = BootSettings.from_env(env)
    except BootRefused as exc:
        say(f"error: {exc}")
        return EXIT_FINAL
    say(f"bot {settings.bot_id} on machine {env.get('FLY_MACHINE_ID', '?')} ({env.get('FLY_REGION', '?')})")
    bus: Bus | None = None
    try:
        async with httpx.AsyncClient(base_url=settings.api_url, timeout=10) as http:
            try:
                token = await machine_jwt(settings, http, stop)
                http.headers["Authorization"] = f"Bearer {token}"
                creds = await bus_credentials(settings, http, stop)
                if settings.nats_url and creds is not None:
                    bus = Bus(settings.nats_url, name=f"boot-{settings.bot_id}", creds=creds)
                    await bus.start(wait_s=5)
                config = await prepare(settings, http, stop)
            except BootRefused as exc:
                say(f"error: {exc}")
                return 0 if stop.is_set() else EXIT_FINAL
        code = await run_trader(settings, config, bus, stop)
        say(f"trader exited with {code}")
        return code
    finally:
        if bus is not None:
            await bus.close()


def main() -> int:
    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        return await boot(os.environ, stop)

    return asyncio.run(_main())


if __name__ == "__main__":
    sys.exit(main())
