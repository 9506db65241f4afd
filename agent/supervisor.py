"""The supervisor: one ``hmmtrade bot run`` subprocess per instance file.

It reconciles twice a second: every instance that is not marked stopped has exactly one
live process (spawned, or adopted from a previous agent that died); a crashed bot is
restarted after a backoff (1 s, 2 s, 4 s ... 30 s, reset after a minute of uptime); a bot
that exits 0 (end of replay data) is done and a bad config (exit 2) is failed, neither is
retried. Stop, restart and delete are explicit requests; "stopped" survives agent restarts.

Bots are forked from a preloaded zygote (``agent.zygote``) so they share its imported pages;
without one (``HMMTRADE_ZYGOTE=0``, still preloading, or dead) a bot starts as a fresh
interpreter. Either way the supervisor holds a real pid it signals and watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog

from agent import procs
from agent.bus_access import BotBusAccess
from agent.home import AgentHome
from agent.instances import delete_instance, list_instances
from agent.zygote_client import Zygote, ZygoteChild, ZygoteLost
from agent.zygote_client import enabled as zygote_enabled

log = structlog.get_logger(__name__)

ProcState = Literal["starting", "running", "backoff", "stopping", "stopped", "finished", "failed"]
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
HEALTHY_UPTIME_S = 60.0
BAD_CONFIG_EXIT = 2
ZYGOTE_READY_TIMEOUT_S = 60.0  # the preload takes a few seconds; past this, start bots plainly


def default_command(config: Path) -> list[str]:
    """``hmmtrade bot run --config <path>`` through this interpreter (works without the entry script)."""
    return [sys.executable, "-m", "stack.cli", "bot", "run", "--config", str(config)]


@dataclass
class BotProcess:
    """What the supervisor knows about one bot's process."""

    bot_id: str
    state: ProcState = "stopped"
    pid: int | None = None
    child: subprocess.Popen[bytes] | ZygoteChild | None = None  # None when adopted (or its zygote died)
    started_at: float = 0.0
    restarts: int = 0
    crashes_in_a_row: int = 0
    next_start_at: float = 0.0
    last_exit: int | None = None
    reason: str = ""
    adopted: bool = False
    stop_requested_at: float | None = None
    history: list[str] = field(default_factory=list)


class Supervisor:
    """Keeps the bots of ``home`` running. All methods run on the agent's event loop."""

    def __init__(
        self,
        home: AgentHome,
        *,
        env: Mapping[str, str],
        command: Callable[[Path], list[str]] = default_command,
        clock: Callable[[], float] = time.monotonic,
        last_status: Callable[[str], str | None] = lambda _bot_id: None,
        stop_timeout_s: float = 15.0,
        on_deleted: Callable[[str], None] = lambda _bot_id: None,
        bus_access: BotBusAccess | None = None,
        on_exit: Callable[[str, str, str], object] = lambda _bot_id, _state, _reason: None,
        zygote: bool | None = None,
    ) -> None:
        self.home = home
        self._bus_access = bus_access
        self._env = dict(env)
        self._command = command
        self._clock = clock
        self._last_status = last_status
        self._stop_timeout_s = stop_timeout_s
        self._on_deleted = on_deleted
        self._on_exit = on_exit  # (bot id, new state, reason): an exit nobody asked for (notifications)
        self.bots: dict[str, BotProcess] = {}
        self.config_errors: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Future[None]] = set()
        use_zygote = zygote_enabled() if zygote is None else zygote
        common_env = {**os.environ, **self._env}
        self.zygote = Zygote(home.logs_dir / "zygote.log", env=common_env) if use_zygote else None

    # ---- lifecycle of the supervisor itself ---------------------------------------

    async def start(self, interval_s: float = 0.5) -> None:
        if self.zygote is not None:
            await self._start_zygote()
        self.reconcile()
        self._task = asyncio.create_task(self._loop(interval_s), name="supervisor")

    async def _loop(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.reconcile()
            except Exception:
                log.exception("supervisor.reconcile_failed")

    async def _start_zygote(self) -> None:
        """Start the zygote and wait for its preload, so the first bots already share its pages."""
        assert self.zygote is not None
        self.zygote.keep_alive()
        deadline = time.monotonic() + ZYGOTE_READY_TIMEOUT_S
        while not self.zygote.ready and not self.zygote.gave_up and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            self.zygote.keep_alive()

    async def close(self, *, stop_bots: bool = True) -> None:
        """Stop supervising; with ``stop_bots`` also SIGTERM every bot (they checkpoint and exit)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if stop_bots:
            await asyncio.gather(*(self._terminate(bot) for bot in self.bots.values() if bot.pid is not None))
        if self.zygote is not None:
            await asyncio.to_thread(self.zygote.close)  # its children, if any still run, run on

    # ---- requests -------------------------------------------------------------------

    async def stop(self, bot_id: str) -> None:
        """Stop a bot and keep it stopped (also across agent restarts)."""
        self.home.stopped_marker(bot_id).touch()
        bot = self.bots.get(bot_id)
        if bot is not None:
            await self._terminate(bot)
            bot.state, bot.reason = "stopped", "stopped on request"
        await self._revoke_bus(bot_id)

    async def _revoke_bus(self, bot_id: str) -> None:
        if self._bus_access is None:
            return
        try:
            await self._bus_access.revoke(bot_id)
        except Exception as exc:  # noqa: BLE001 - the stop stands; the credentials still expire
            log.error("supervisor.bus_revoke_failed", bot_id=bot_id, error=f"{type(exc).__name__}: {exc}")

    async def start_bot(self, bot_id: str) -> None:
        """Start a stopped, finished or failed bot now."""
        self.home.stopped_marker(bot_id).unlink(missing_ok=True)
        bot = self.bots.setdefault(bot_id, BotProcess(bot_id))
        if bot.pid is None:
            bot.state, bot.next_start_at, bot.crashes_in_a_row = "backoff", 0.0, 0
        self.reconcile()

    async def restart(self, bot_id: str) -> None:
        bot = self.bots.get(bot_id)
        if bot is not None:
            await self._terminate(bot)
        await self.start_bot(bot_id)

    async def delete(self, bot_id: str) -> None:
        """Stop the bot and remove its files (yaml, .env, state, log)."""
        self.home.stopped_marker(bot_id).touch()  # a reconcile during the stop must not respawn it
        bot = self.bots.get(bot_id)
        if bot is not None:
            await self._terminate(bot)
        await self._revoke_bus(bot_id)
        delete_instance(self.home, bot_id)
        self.bots.pop(bot_id, None)
        shutil.rmtree(self.home.state_dir(bot_id), ignore_errors=True)
        for path in (self.home.log_path(bot_id), self.home.pid_path(bot_id), self.home.stopped_marker(bot_id)):
            path.unlink(missing_ok=True)
        self._on_deleted(bot_id)
        log.info("supervisor.deleted", bot_id=bot_id)

    # ---- the reconcile pass ---------------------------------------------------------

    def reconcile(self) -> None:
        if self.zygote is not None:
            self.zygote.keep_alive()
        instances, self.config_errors = list_instances(self.home)
        wanted = {i.bot_id: i for i in instances}
        now = self._clock()
        for bot_id in list(self.bots):
            if bot_id in wanted:
                continue
            gone = self.bots[bot_id]
            if gone.pid is None:
                del self.bots[bot_id]
            elif gone.state != "stopping":  # its yaml was removed by hand: stop the process too
                task = asyncio.ensure_future(self._terminate(gone))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
        for bot_id, instance in wanted.items():
            bot = self.bots.get(bot_id)
            if bot is None:
                bot = self.bots[bot_id] = BotProcess(bot_id, state="backoff")
                self._adopt(bot, instance.path)
            self._observe(bot, now)
            if self.home.stopped_marker(bot_id).exists():
                if bot.pid is None:
                    bot.state = "stopped"
                continue
            if bot.pid is None and bot.state == "backoff" and now >= bot.next_start_at:
                self._spawn(bot, instance.path, now)
            elif bot.pid is not None and self._bus_access is not None:
                self._bus_access.renew_if_due(bot_id)

    def _adopt(self, bot: BotProcess, config: Path) -> None:
        pid = procs.running_bot_pid(config, self.home.pid_path(bot.bot_id))
        if pid is not None:
            bot.pid, bot.adopted, bot.state, bot.started_at = pid, True, "running", self._clock()
            self._write_pid(bot.bot_id, pid)
            log.info("supervisor.adopted", bot_id=bot.bot_id, pid=pid)

    def _observe(self, bot: BotProcess, now: float) -> None:
        """Notice an exit; decide between done, failed and a restart after backoff."""
        if bot.pid is None:
            return
        exit_code: int | None
        if bot.child is not None:
            exit_code = bot.child.poll()
            if self._lost_child(bot):
                return self._observe(bot, now)
            if exit_code is None:
                bot.state = "running" if bot.state == "starting" else bot.state
                return
        else:
            if procs.is_alive(bot.pid):
                return
            # Adopted: we cannot read its exit code; its last heartbeat says whether it ended cleanly.
            exit_code = 0 if self._last_status(bot.bot_id) == "stopped" else -1
        self._exited(bot, exit_code, now)

    def _exited(self, bot: BotProcess, exit_code: int, now: float) -> None:
        bot.last_exit, bot.pid, bot.child = exit_code, None, None
        self.home.pid_path(bot.bot_id).unlink(missing_ok=True)
        if bot.stop_requested_at is not None:
            return
        if exit_code == 0:
            bot.state, bot.reason = "finished", "exited cleanly (end of its data)"
        elif exit_code == BAD_CONFIG_EXIT:
            bot.state, bot.reason = "failed", self._last_error_line(bot.bot_id) or "bad configuration (exit 2)"
        else:
            uptime = now - bot.started_at
            bot.crashes_in_a_row = 1 if uptime >= HEALTHY_UPTIME_S else bot.crashes_in_a_row + 1
            delay = BACKOFF_S[min(bot.crashes_in_a_row, len(BACKOFF_S)) - 1]
            bot.state, bot.next_start_at = "backoff", now + delay
            bot.reason = f"crashed (exit {exit_code}); restarting in {delay:g} s"
        bot.history.append(bot.reason)
        log.warning("supervisor.bot_exited", bot_id=bot.bot_id, exit_code=exit_code, state=bot.state)
        try:
            self._on_exit(bot.bot_id, bot.state, bot.reason)
        except Exception:  # a listener's trouble must not stop the supervisor
            log.exception("supervisor.on_exit_failed", bot_id=bot.bot_id)

    def _spawn(self, bot: BotProcess, config: Path, now: float) -> None:
        existing = procs.scan_for(config)  # belt and braces: never two processes for one bot
        if existing is not None:
            bot.pid, bot.adopted, bot.state, bot.started_at = existing, True, "running", now
            return
        log_path = self.home.log_path(bot.bot_id)
        env = {
            **os.environ,
            **self._env,
            "HMMTRADE_STATE_DIR": str(self.home.state_dir(bot.bot_id)),
            "PYTHONUNBUFFERED": "1",  # the log file shows each line as it happens, and nothing is lost on a kill
        }
        if self._bus_access is not None:
            env["NATS_CREDS"] = str(self._bus_access.issue(bot.bot_id))
        command = self._command(config)
        child: subprocess.Popen[bytes] | ZygoteChild | None = None
        with log_path.open("ab") as sink:
            if self.zygote is not None:
                try:
                    child = self.zygote.spawn(command, env=env, cwd=self.home.root, log_file=sink)
                except ZygoteLost as exc:
                    # It may have forked the bot after all: the next pass looks for it (scan_for
                    # above) before starting it another way, so a bot never runs twice.
                    log.warning("supervisor.zygote_lost", bot_id=bot.bot_id, error=str(exc))
                    return
            if child is None:
                child = subprocess.Popen(
                    command,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=self.home.root,
                    start_new_session=True,  # own process group: survives the agent's death, stopped as a group
                )
        if bot.last_exit is not None:
            bot.restarts += 1
        bot.pid, bot.child, bot.adopted, bot.state, bot.started_at = child.pid, child, False, "starting", now
        bot.stop_requested_at = None
        self._write_pid(bot.bot_id, child.pid)
        forked = isinstance(child, ZygoteChild)
        log.info("supervisor.spawned", bot_id=bot.bot_id, pid=child.pid, restarts=bot.restarts, forked=forked)

    def _write_pid(self, bot_id: str, pid: int) -> None:
        self.home.pid_path(bot_id).write_text(f"{pid}\n")

    async def _terminate(self, bot: BotProcess) -> None:
        """SIGTERM the bot's group, wait for it to checkpoint and exit, SIGKILL after the timeout."""
        if bot.pid is None:
            return
        pid = bot.pid
        bot.stop_requested_at, bot.state = self._clock(), "stopping"
        procs.signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout_s
        while self._still_running(bot) and time.monotonic() < deadline:  # noqa: ASYNC110 - no event for "a pid exited"
            await asyncio.sleep(0.05)
        if self._still_running(bot):
            log.warning("supervisor.kill_after_timeout", bot_id=bot.bot_id, pid=pid)
            procs.signal_group(pid, signal.SIGKILL)
            while self._still_running(bot):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        if bot.pid is not None:
            self._exited(bot, bot.last_exit if bot.last_exit is not None else 0, self._clock())
        bot.state = "stopped"

    def _still_running(self, bot: BotProcess) -> bool:
        if bot.pid is None:
            return False
        if bot.child is not None:
            code = bot.child.poll()
            if code is not None:
                bot.last_exit = code
                return False
            if not self._lost_child(bot):
                return True
        return procs.is_alive(bot.pid)

    def _lost_child(self, bot: BotProcess) -> bool:
        """A forked bot whose zygote died: its exit code is gone, so follow it by pid like an adopted one."""
        if isinstance(bot.child, ZygoteChild) and bot.child.lost:
            log.info("supervisor.following_by_pid", bot_id=bot.bot_id, pid=bot.pid)
            bot.child, bot.adopted = None, True
            return True
        return False

    def _last_error_line(self, bot_id: str) -> str:
        with contextlib.suppress(OSError):
            lines = self.home.log_path(bot_id).read_text(errors="replace").splitlines()
            for line in reversed(lines[-50:]):
                if line.startswith("error:"):
                    return line
        return ""

    def log_tail(self, bot_id: str, lines: int = 200) -> str:
        try:
            text = self.home.log_path(bot_id).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
