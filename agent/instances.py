"""Bot instance files: ``<bot_id>.yaml`` (bot id + profile) and ``<bot_id>.env`` (0600).

These are the files ``hmmtrade bot run --config`` reads, written the same way by the
wizard, by cloud sync and by a hosted bot's boot. Broker keys go only into the ``.env``.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

from agent.home import AgentHome
from contracts.profile import BotProfile
from trader.instance import InstanceError as TraderInstanceError
from trader.instance import load_instance

_ENV_KEY = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")


class InstanceError(Exception):
    """An instance file is unreadable or invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Instance:
    bot_id: str
    profile: BotProfile
    path: Path


def new_bot_id() -> str:
    return str(uuid.uuid4())


def write_instance(
    home: AgentHome, profile: BotProfile, *, bot_id: str | None = None, env: dict[str, str] | None = None
) -> Instance:
    """Write (or overwrite) a bot's yaml, and its ``.env`` when ``env`` is given. Atomic per file."""
    bot_id = str(uuid.UUID(bot_id)) if bot_id else new_bot_id()
    path = home.config_path(bot_id)
    body = {"bot_id": bot_id, "profile": profile.model_dump(mode="json", exclude_none=True)}
    _atomic_write(path, yaml.safe_dump(body, sort_keys=False), mode=0o644)
    if env is not None:
        write_env(home.env_path(bot_id), env)
    return Instance(bot_id, profile, path)


def write_env(path: Path, env: dict[str, str]) -> None:
    """KEY=VALUE lines, created with mode 0600 from the start (never world-readable, not even briefly)."""
    lines = []
    for key, value in env.items():
        if not _ENV_KEY.match(key):
            raise InstanceError(f"{key!r} is not an environment variable name (A-Z, 0-9, _)")
        if "\n" in value or "\r" in value:
            raise InstanceError(f"the value of {key} spans several lines; one line only")
        lines.append(f"{key}={value}\n")
    _atomic_write(path, "".join(lines), mode=0o600)


def _atomic_write(path: Path, text: str, *, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # umask must not widen or narrow what we asked for
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_instance(path: Path) -> Instance:
    """Read an instance exactly as the runner will (same checks, same one-line errors)."""
    try:
        found = load_instance(path, environ={})
    except TraderInstanceError as exc:
        raise InstanceError(str(exc).replace(str(path), path.name)) from None
    return Instance(str(found.bot_id), found.profile, path)


def list_instances(home: AgentHome) -> tuple[list[Instance], list[str]]:
    """Every valid instance, and one error line per invalid file (shown on the dashboard)."""
    found: list[Instance] = []
    errors: list[str] = []
    for path in sorted(home.instances_dir.glob("*.yaml")):
        try:
            found.append(read_instance(path))
        except InstanceError as exc:
            errors.append(str(exc))
    return found, errors


def delete_instance(home: AgentHome, bot_id: str) -> None:
    for path in (home.config_path(bot_id), home.env_path(bot_id)):
        path.unlink(missing_ok=True)
