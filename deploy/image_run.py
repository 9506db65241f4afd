"""Run a built image's ENTRYPOINT like a container runtime would, with ``buildah run`` (podman cannot run here).

    python deploy/image_run.py [--volume HOST:CTR]... [--user USER] IMAGE [CMD...]

A fresh working container from IMAGE runs the image's ENTRYPOINT followed by CMD (the image's own, or the
arguments given, as ``docker run IMAGE CMD...`` does), as the image's USER in its WORKDIR, on the host's
network (``--isolation chroot``). The environment of this process goes in, except the host's own basics
(PATH, HOME, PYTHONPATH...: the image sets those). SIGTERM and SIGINT go to the container's command itself
(as ``docker stop`` does); the exit code is its exit code; the working container is removed at the end.

The Fly Machines emulator uses this as an image's entrypoint (tests/e2e/test_images.py), so a hosted bot
boots from the real bot image instead of this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

HOST_ONLY_ENV = frozenset(
    {"PATH", "HOME", "PWD", "OLDPWD", "SHLVL", "_", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR", "HOSTNAME"}
)
HOST_ONLY_PREFIXES = ("PYTHON", "VIRTUAL_ENV", "PIP_", "LD_", "SSL_", "REQUESTS_CA", "CURL_CA")


def buildah(*args: str) -> list[str]:
    return [shutil.which("buildah") or "buildah", *args]


def container_env(environ: Mapping[str, str]) -> dict[str, str]:
    """What of this process's environment the container gets: not the host's paths and interpreter settings."""
    return {
        name: value
        for name, value in environ.items()
        if name not in HOST_ONLY_ENV and not name.startswith(HOST_ONLY_PREFIXES)
    }


def image_command(image: str, cmd: Sequence[str]) -> list[str]:
    """ENTRYPOINT + (``cmd`` or the image's CMD), read from the image's OCI config."""
    inspected = json.loads(
        subprocess.run(buildah("inspect", "--type", "image", image), check=True, capture_output=True, text=True).stdout
    )
    config = inspected.get("OCIv1", {}).get("config", {})
    argv = [*(config.get("Entrypoint") or []), *(cmd or config.get("Cmd") or [])]
    if not argv:
        raise SystemExit(f"image_run: {image} has no ENTRYPOINT or CMD and none was given")
    return argv


def run(
    image: str, cmd: Sequence[str], volumes: Sequence[str], environ: Mapping[str, str], user: str | None = None
) -> int:
    argv = image_command(image, cmd)
    made = subprocess.run(buildah("from", "--quiet", "--pull-never", image), check=True, capture_output=True, text=True)
    container = made.stdout.strip()
    try:
        env_args = [arg for name, value in container_env(environ).items() for arg in ("--env", f"{name}={value}")]
        mounts = [arg for volume in volumes for arg in ("--volume", volume)]
        if user:
            mounts += ["--user", user]
        child = subprocess.Popen(buildah("run", "--isolation", "chroot", *env_args, *mounts, container, "--", *argv))
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda received, _frame: os.kill(contained_process(child.pid), received))
        return child.wait()
    finally:
        subprocess.run(buildah("rm", container), check=False, capture_output=True)


def contained_process(buildah_pid: int) -> int:
    """The pid of the command ``buildah run`` started (chroot isolation shares the host's pid namespace).

    buildah run answers SIGTERM by killing its command; a runtime delivers the signal to the command itself, so
    this walks buildah's helpers (buildah-chroot-runtime, buildah-chroot-exec) down to it. buildah's pid when the
    command is not started yet (or is gone)."""
    pid = buildah_pid
    while _comm(pid).startswith(("buildah", "memfd:buildah")):
        children = _children(pid)
        if not children:
            return buildah_pid
        pid = children[0]
    return pid


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    """Children of every thread of ``pid`` (a Go program like buildah forks from any of its threads)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(children)


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volume", action="append", default=[], help="HOST:CONTAINER bind mount (repeatable)")
    parser.add_argument("--user", help="run as this user instead of the image's USER (e.g. to read host files)")
    parser.add_argument("image")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    parsed = parser.parse_args(args)
    return run(parsed.image, parsed.cmd, parsed.volume, os.environ, parsed.user)


if __name__ == "__main__":
    sys.exit(main())
