"""The zygote: a preloaded fork server that starts the agent's bots (``python -m agent.zygote``).

A fresh interpreter per bot imports numpy, pydantic, the runner and the fitting stack again,
about 170 MiB each; twenty bots held twenty private copies. The zygote imports them once and
forks one child per bot, so the children share those pages with it (copy-on-write) until
they write to them. The supervisor talks to it over a socket pair it created (no file system
path, nobody else can connect) and keeps all the decisions: what to run, when to restart.

Protocol, on the control socket (one request at a time, the supervisor waits for the answer):

- zygote -> supervisor once, after the preload: ``{"ready": true}`` or ``{"ready": false, "why": ...}``.
- supervisor -> zygote: one JSON line ``{"argv": [...], "env": {...}, "cwd": ...}`` sent with two
  descriptors: the child's log file (stdout and stderr) and the write end of its status socket.
- zygote -> supervisor: ``{"pid": N}`` or ``{"error": ...}``.
- zygote -> status socket, when the child ended: ``{"exit": code}`` (``-signal`` when killed, like
  ``Popen.returncode``). If the zygote dies first, the status socket just closes.

Fork safety: the zygote is single-threaded (the BLAS pools are capped at one thread, so none
start), runs no event loop and holds no connection but its control socket; it checks the
thread count before it says ready. A child starts its own session, points its stdio at the
log, takes the supervisor's environment and working directory, rewrites its visible command
line to the bot's (the supervisor finds and adopts bots by ``--config <path>``) and then runs
``-m <module> args`` through ``runpy``, as the interpreter would. It exits through the normal
interpreter shutdown, so ``atexit`` hooks, buffered output and the exit code behave the same.
When the control socket closes (the agent is gone) the zygote exits; its children run on.
Children share the zygote's string-hash seed where fresh interpreters draw one each; no
decision depends on it (a bot killed and restarted in a new process audits byte for byte the same).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # same cap as trader.threads
# What one decision needs, plus the fitting stack (so a refit in a child shares those pages too).
PRELOAD = ("numpy", "pydantic", "yaml", "structlog", "trader.runner", "trader.cli", "stack.cli", "hmmlearn.hmm")
MAX_REQUEST = 1 << 20


@dataclass(frozen=True)
class Job:
    """What a forked child runs: ``python -m <module> <args>`` with this environment, in ``cwd``."""

    module: str
    args: list[str]
    argv: list[str]  # the whole command line, shown in /proc/<pid>/cmdline
    env: dict[str, str]
    cwd: str


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))  # a SOCK_SEQPACKET pair: one message per packet
    job = _serve(control)
    if job is not None:  # we are a forked child: become the bot
        _run(job)


def _serve(control: socket.socket) -> Job | None:
    """Answer fork requests until the supervisor hangs up; returns only in a forked child."""
    for name in THREAD_ENV:
        os.environ[name] = "1"  # before numpy loads: its BLAS starts no threads, and forking stays safe
    why = _preload()
    _send(control, {"ready": why is None, **({"why": why} if why else {})})
    if why is not None:
        return None
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wake-up fd is written
    signal.set_wakeup_fd(wake_w)
    statuses: dict[int, socket.socket] = {}
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    try:
        while True:
            for key, _ in selector.select():
                if key.fileobj is control:
                    request = _receive(control)
                    if request is None:
                        return None  # the agent is gone; the children run on
                    payload, fds = request
                    job = _fork(control, payload, fds, statuses)
                    if job is not None:
                        selector.close()
                        for fd in (wake_r, wake_w):
                            os.close(fd)
                        return job
                else:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 4096)
            _reap(statuses)
    finally:
        for status in statuses.values():
            status.close()


def _preload() -> str | None:
    """Import what every bot needs; the reason when this process is not fit to fork from."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported to the supervisor, which spawns plainly
            return f"cannot preload {name}: {type(exc).__name__}: {exc}"
    threads = len(os.listdir("/proc/self/task")) if Path("/proc/self/task").is_dir() else 1
    if threads != 1:
        return f"{threads} threads after the preload: forking would not be safe"
    # Children's garbage collections would write to every preloaded object's header, copying
    # the shared pages one by one; frozen objects are never scanned.
    gc.collect()
    gc.freeze()
    return None


def _fork(
    control: socket.socket, payload: dict[str, Any], fds: list[int], statuses: dict[int, socket.socket]
) -> Job | None:
    try:
        log_fd, status_fd = fds
        argv = [str(a) for a in payload["argv"]]
        module, args = _module_command(argv)
        job = Job(module, args, argv, {str(k): str(v) for k, v in payload["env"].items()}, str(payload["cwd"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        for fd in fds:
            os.close(fd)
        _send(control, {"error": f"bad request: {exc}"})
        return None
    try:
        settled_r, settled_w = os.pipe()
        pid = os.fork()
    except OSError as exc:  # out of processes or memory: this bot is spawned plainly, the zygote lives on
        for fd in fds:
            os.close(fd)
        _send(control, {"error": f"cannot fork: {exc}"})
        return None
    if pid == 0:
        os.close(settled_r)
        _become_child(job, control, statuses, log_fd, status_fd)
        os.close(settled_w)  # the supervisor may look at us now: our command line is the bot's
        return job
    os.close(settled_w)
    os.close(log_fd)
    with os.fdopen(settled_r, "rb") as settled:
        settled.read()  # EOF when the child settled (or died trying): answered in milliseconds
    statuses[pid] = socket.socket(fileno=status_fd)
    _send(control, {"pid": pid})
    return None


def _module_command(argv: list[str]) -> tuple[str, list[str]]:
    if len(argv) < 3 or argv[1] != "-m":
        raise ValueError(f"only '<python> -m <module> ...' commands can be forked, not {argv[:3]}")
    return argv[2], argv[3:]


def _become_child(
    job: Job, control: socket.socket, statuses: dict[int, socket.socket], log_fd: int, status_fd: int
) -> None:
    """Leave the zygote's duties behind and take the bot's session, stdio, directory and environment."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()  # own session and process group: the supervisor signals it as a group
    control.close()
    os.close(status_fd)  # only the zygote holds it: its closing tells the supervisor the zygote died
    for status in statuses.values():
        status.close()
    statuses.clear()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(devnull)
    os.close(log_fd)
    os.chdir(job.cwd)
    os.environ.clear()
    os.environ.update(job.env)
    _show_in_proc(job.argv, job.env)


def _run(job: Job) -> None:
    """Run the job as ``python -m`` would, in this (forked) interpreter."""
    sys.path[0] = os.getcwd()  # what ``-m`` puts first on the path
    with contextlib.suppress(ImportError):
        import numpy

        numpy.random.seed()  # a fresh interpreter seeds from the OS; forked children would share one stream
    sys.argv = ["-m", *job.args]
    sys.modules.pop(job.module, None)  # preloaded as a dependency, but a fresh ``-m`` runs it only as __main__
    runpy.run_module(job.module, run_name="__main__", alter_sys=True)


def _show_in_proc(argv: list[str], env: dict[str, str]) -> None:
    """Make /proc/<pid>/cmdline and /proc/<pid>/environ show the bot's, as an exec would.

    Both read the process's original argument and environment areas, which a forked child
    shares with the zygote: the supervisor finds and adopts bots by ``--config <path>`` in their
    command line, and tools that read the environment must see the bot's own credentials. The
    zygote is started with a blank argument and a blank variable that reserve the room; a list
    that does not fit is cut short at a whole entry. Safe only after ``os.environ`` was
    replaced: glibc's ``environ`` then points at copies, never into the area written here.
    """
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        arg_start, arg_end, env_start, env_end = (int(fields[i]) for i in (45, 46, 47, 48))  # fields 48..51
    except (OSError, IndexError, ValueError):
        return
    _overwrite(arg_start, arg_end, [os.fsencode(a) for a in argv])
    _overwrite(env_start, env_end, [os.fsencode(f"{k}={v}") for k, v in env.items()])


def _overwrite(start: int, end: int, entries: list[bytes]) -> None:
    room, text = end - start, b""
    for entry in entries:
        if len(text) + len(entry) + 1 > room:
            break
        text += entry + b"\0"
    ctypes.memmove(start, text.ljust(room, b"\0"), room)


def _reap(statuses: dict[int, socket.socket]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        channel = statuses.pop(pid, None)
        if channel is not None:
            with contextlib.suppress(OSError):
                channel.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            channel.close()


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        control.sendall(json.dumps(message).encode() + b"\n")


def _receive(control: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """One request line and its descriptors, or None when the supervisor hung up."""
    try:
        data, fds, _, _ = socket.recv_fds(control, MAX_REQUEST, 2)
    except OSError:
        return None
    if not data:
        for fd in fds:
            os.close(fd)
        return None
    try:
        payload = json.loads(data)
    except ValueError:
        payload = {}
    return payload, list(fds)


if __name__ == "__main__":
    main()
