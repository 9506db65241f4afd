"""The supervisor's side of the zygote (``agent.zygote``): start it, ask it for a bot, follow the bot.

The zygote is an optimisation, never a dependency: when it is disabled
(``HMMTRADE_ZYGOTE=0``), still preloading, failed its preload, or dies, :meth:`Zygote.spawn`
returns None and the supervisor starts the bot as a fresh interpreter, as before. A dead
zygote is restarted on the next reconcile (at most once per ``RESTART_EVERY_S``); the bots it
forked keep running and stay supervised by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import structlog

log = structlog.get_logger(__name__)

SWITCH_ENV = "HMMTRADE_ZYGOTE"
REPLY_TIMEOUT_S = 10.0  # a fork answers in milliseconds; this only bounds a wedged zygote
RESTART_EVERY_S = 5.0
GIVE_UP_AFTER = 3  # zygotes in a row that never became ready: plain spawns from then on
CMDLINE_ROOM = 4096  # bytes of argument area a child can rewrite into its bot's command line
ENVIRON_ROOM_VAR = "HMMTRADE_ZYGOTE_ROOM"
ENVIRON_ROOM = 16384  # bytes more environment area than the zygote's own, for a bot's extra variables


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """On unless ``HMMTRADE_ZYGOTE`` is 0/false/no/off, and only where ``fork`` exists."""
    off = environ.get(SWITCH_ENV, "1").strip().lower() in ("0", "false", "no", "off")
    return not off and hasattr(os, "fork") and sys.platform == "linux"


class ZygoteLost(Exception):
    """A fork request got no answer: the zygote died or hung, and may or may not have forked."""


class ZygoteChild:
    """A bot forked by the zygote, seen like a ``Popen``: ``pid`` and a non-blocking ``poll``.

    ``lost`` turns true when the zygote died before the bot: its exit code can no longer be
    known, and the supervisor follows it by pid like a bot it adopted.
    """

    def __init__(self, pid: int, status: socket.socket) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.lost = False
        self._status = status
        status.setblocking(False)

    def poll(self) -> int | None:
        if self.returncode is not None or self.lost:
            return self.returncode
        data = _recv_nowait(self._status)
        if data is None:
            return None
        self._status.close()
        if data:
            self.returncode = int(json.loads(data)["exit"])
        else:
            self.lost = True
        return self.returncode


class Zygote:
    """One zygote process; start it with :meth:`start`, ask for bots with :meth:`spawn`."""

    def __init__(self, log_path: Path, *, env: Mapping[str, str], python: str = sys.executable) -> None:
        self._log_path = log_path
        # What every bot's environment shares: anything read at import time in the zygote matches
        # a fresh bot interpreter, and PYTHONUNBUFFERED gives the children unbuffered stdio too.
        self._env = {**env, "PYTHONUNBUFFERED": "1", ENVIRON_ROOM_VAR: " " * ENVIRON_ROOM}
        self._python = python
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._ready = False
        self._unready_starts = 0  # started since the last one that became ready
        self.gave_up = ""  # why the zygote is no longer started, if it is not
        self._started_at = -RESTART_EVERY_S

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def ready(self) -> bool:
        return self._ready

    def start(self) -> None:
        """Launch the zygote (it preloads in the background; :meth:`check_ready` sees when it is done)."""
        self._discard()
        self._started_at = time.monotonic()
        self._unready_starts += 1
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with self._log_path.open("ab") as sink:
            self._process = subprocess.Popen(
                [self._python, "-m", "agent.zygote", str(theirs.fileno()), " " * CMDLINE_ROOM],
                pass_fds=[theirs.fileno()],
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for the agent does not reach it
            )
        theirs.close()
        ours.setblocking(False)
        self._control = ours
        log.info("zygote.started", pid=self._process.pid)

    def check_ready(self) -> bool:
        """Read the preload's outcome if it arrived; never blocks."""
        if self._ready or self._control is None:
            return self._ready
        data = _recv_nowait(self._control)
        if data is None:
            return False
        message: dict[str, Any] = json.loads(data) if data else {"ready": False, "why": "exited during its preload"}
        if message.get("ready"):
            self._ready = True
            self._unready_starts = 0
            self._control.setblocking(True)
            self._control.settimeout(REPLY_TIMEOUT_S)
            log.info("zygote.ready", pid=self.pid)
        else:
            why = str(message.get("why", "unknown"))
            log.warning("zygote.unusable", pid=self.pid, why=why)
            self._discard()
            if data or self._unready_starts >= GIVE_UP_AFTER:
                self.gave_up = why  # bots start as fresh interpreters from now on
        return self._ready

    def keep_alive(self) -> None:
        """Restart a zygote that died (rate-limited); pick up a pending ready message."""
        if self.gave_up:
            return
        if self._process is not None and self._process.poll() is None:
            self.check_ready()
            return
        if self._process is not None:
            log.warning("zygote.died", pid=self._process.pid, exit_code=self._process.returncode)
            self._discard()
            if self._unready_starts >= GIVE_UP_AFTER:
                self.gave_up = f"died {GIVE_UP_AFTER} times before it was ready"
                return
        if time.monotonic() - self._started_at >= RESTART_EVERY_S:
            self.start()

    def spawn(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_file: IO[bytes]
    ) -> ZygoteChild | None:
        """Fork ``argv`` (``<python> -m <module> ...``) from the zygote, or None to spawn it plainly.

        Raises :class:`ZygoteLost` when the request went out but no answer came back: a child
        may exist, so the caller looks for it before starting the bot another way.
        """
        if not self._ready or self._control is None or len(argv) < 3 or argv[1] != "-m":
            return None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        request = json.dumps({"argv": list(argv), "env": dict(env), "cwd": str(cwd)}).encode()
        try:
            socket.send_fds(self._control, [request], [log_file.fileno(), theirs.fileno()])
            reply = self._control.recv(4096)
        except OSError as exc:  # includes the timeout
            log.warning("zygote.request_failed", pid=self.pid, error=f"{type(exc).__name__}: {exc}")
            reply = b""
        finally:
            theirs.close()
        if not reply:
            ours.close()
            self._discard()  # dead or wedged: keep_alive starts a new one
            raise ZygoteLost(f"no answer from the zygote (pid {self.pid})")
        answer: dict[str, Any] = json.loads(reply)
        if "pid" not in answer:
            ours.close()
            log.warning("zygote.refused", error=answer.get("error"))
            return None
        return ZygoteChild(int(answer["pid"]), ours)

    def close(self, timeout_s: float = 5.0) -> None:
        """Hang up; the zygote exits on its own (its children run on), killed if it does not."""
        self._discard(grace_s=timeout_s)

    def _discard(self, grace_s: float = 0.0) -> None:
        """Forget the current zygote: hang up (it exits on that), kill it after ``grace_s``, reap it.

        Only the zygote itself is killed: each child leads its own session and runs on.
        """
        self._ready = False
        if self._control is not None:
            self._control.close()
            self._control = None
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait()


def _recv_nowait(sock: socket.socket) -> bytes | None:
    """One message if it arrived, ``b""`` if the other end is gone, None if nothing yet."""
    try:
        return sock.recv(4096)
    except BlockingIOError:
        return None
    except OSError:
        return b""
