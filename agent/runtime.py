"""``hmmtrade agent``: the local bus, live feed, supervisor, cloud sync and dashboard, together.

Start order: lock the home (one agent per folder) -> bus (embedded nats-server unless
``NATS_URL``) -> topology -> live feed -> supervisor (adopts bots a killed agent left
running) -> cloud sync -> dashboard. SIGTERM/SIGINT stop everything in reverse; the bots
get SIGTERM and checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

import httpx
import structlog

from agent.backtests import Backtests
from agent.bus_access import BotBusAccess
from agent.dashboard.app import make_server
from agent.dashboard.context import AgentContext
from agent.home import AgentHome
from agent.instances import InstanceError, read_instance
from agent.live import LiveFeed
from agent.metrics import agent_metrics, serve_metrics
from agent.notify import LocalNotifications
from agent.supervisor import Supervisor
from agent.sync import CloudSync, utc_now
from agent.tokens import TokenStore
from contracts.profile import BotProfile
from events.auth.keys import KEY_FILE_NAME, BusKeys, write_creds
from events.auth.roles import Role
from events.bus import connect
from events.embedded import NatsServer
from events.topology import ensure_topology
from metrics.exposition import TOKEN_ENV
from trader.threads import limit_math_threads

log = structlog.get_logger(__name__)

DEFAULT_PACE = "2"  # replayed bars per second for bots on bundled data: a demo you can watch


class AgentLocked(RuntimeError):
    pass


def lock_home(home: AgentHome) -> IO[str]:
    """Hold ``run/agent.lock`` for the agent's lifetime; the kernel frees it if we are killed."""
    handle = (home.run_dir / "agent.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise AgentLocked(f"another agent (pid {holder}) is running on {home.root}; stop it first") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


@dataclass
class AgentSettings:
    home: Path
    port: int = 5006
    nats_url: str | None = None
    sync_interval_s: float = 10.0
    bot_env: dict[str, str] = field(default_factory=dict)
    api_url: str = "http://127.0.0.1:8000"
    clock: Callable[[], datetime] = utc_now  # wall clock for the offline grace (tests inject one)
    http_factory: Callable[[str], httpx.AsyncClient] | None = None  # cloud transport (tests inject one)
    config_dir: Path | None = None  # where the login is cached; default the user config dir
    metrics_token: str | None = field(default_factory=lambda: os.environ.get(TOKEN_ENV) or None)  # /metrics


async def run_agent(
    settings: AgentSettings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[AgentContext], None] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT, or until ``stop`` is set when given (then no signal handlers)."""
    home = AgentHome.at(settings.home)
    lock = lock_home(home)
    nats: NatsServer | None = None
    stack = contextlib.AsyncExitStack()
    try:
        url = settings.nats_url
        bus_access: BotBusAccess | None = None
        agent_creds = dashboard_creds = None  # an external bus: NATS_CREDS from the environment
        if not url:
            # The agent's own server trusts keys only this home holds; each role and bot
            # gets its own credentials (agent.bus_access).
            keys = BusKeys.load_or_create(home.root / "keys" / KEY_FILE_NAME)
            nats = NatsServer(home.root / "nats", keys=keys).start()
            url = nats.url
            creds_dir = home.root / "keys" / "bus"
            agent_creds = write_creds(creds_dir / "agent.creds", keys.role_creds(Role.AGENT))
            dashboard_creds = write_creds(creds_dir / "dashboard.creds", keys.role_creds(Role.DASHBOARD))
            bus_access = BotBusAccess(home, keys, url)
            stack.push_async_callback(bus_access.close)
        nc = await connect(url, name="hmmtrade-agent", creds=agent_creds)
        await ensure_topology(nc.jetstream())
        await nc.close()

        live = LiveFeed()
        await live.start(url, creds=dashboard_creds)
        stack.push_async_callback(live.close)

        notifications = LocalNotifications(home, _profiles(home))
        await notifications.start(url, creds=dashboard_creds)
        stack.push_async_callback(notifications.close)

        env = {"NATS_URL": url, "HMMTRADE_REPLAY_PACE": os.environ.get("HMMTRADE_REPLAY_PACE", DEFAULT_PACE)}
        syncs: list[CloudSync] = []  # the supervisor tells sync about deletions; sync asks it to delete
        supervisor = Supervisor(
            home,
            env={**env, **settings.bot_env},
            last_status=live.last_status,
            on_deleted=lambda bot_id: syncs[0].forget_local(bot_id) if syncs else None,
            bus_access=bus_access,
            on_exit=notifications.bot_exited,
        )
        sync = CloudSync(
            home,
            TokenStore(settings.config_dir),
            clock=settings.clock,
            http_factory=settings.http_factory,
            delete_local=supervisor.delete,
        )
        syncs.append(sync)
        await supervisor.start()
        stack.push_async_callback(supervisor.close)
        await sync.start(settings.sync_interval_s)
        stack.push_async_callback(sync.close)

        ctx = AgentContext(home, supervisor, live, sync, Backtests(home), default_api_url=settings.api_url)
        server = make_server(ctx, port=settings.port)
        serve_metrics(server, agent_metrics(supervisor), token=settings.metrics_token)
        server.start()
        stack.callback(server.stop)
        print(f"HMM Trade agent: http://127.0.0.1:{settings.port}/bots  (home {home.root}, bus {url})", flush=True)
        if on_ready is not None:
            on_ready(ctx)
        if stop is None:
            await _wait_for_signal()
        else:
            await stop.wait()
    finally:
        await stack.aclose()
        if nats is not None:
            nats.stop()
        lock.close()
        print("Agent stopped.", flush=True)


def _profiles(home: AgentHome) -> Callable[[str], BotProfile | None]:
    """A bot's profile by id, read again only when its instance file changes."""
    cache: dict[str, tuple[float, BotProfile]] = {}

    def profile_of(bot_id: str) -> BotProfile | None:
        path = home.config_path(bot_id)
        try:
            mtime = path.stat().st_mtime
        except (OSError, ValueError):
            return None
        cached = cache.get(bot_id)
        if cached is None or cached[0] != mtime:
            try:
                cached = cache[bot_id] = (mtime, read_instance(path).profile)
            except InstanceError:
                return None
        return cached[1]

    return profile_of


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main(settings: AgentSettings) -> int:
    limit_math_threads()  # the dashboard runs walk-forward backtests in this process
    try:
        asyncio.run(run_agent(settings))
    except AgentLocked as exc:
        print(f"error: {exc}", flush=True)
        return 2
    return 0
