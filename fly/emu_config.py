"""Validation of a create request for the Machines emulator, with Fly's defaults filled in.

Errors name the offending field, as Fly's 400/422 answers do.
"""

from __future__ import annotations

import re
import signal
from typing import Any

from fly.emu_images import ImageTable, UnknownImage


class EmulatorError(Exception):
    """An API error answer: HTTP ``status`` and Fly's ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


RESTART_POLICIES = ("no", "always", "on-failure")
DEFAULT_GUEST = {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
DEFAULT_STOP_SIGNAL = "SIGINT"  # Fly's default kill signal
DEFAULT_STOP_TIMEOUT_S = 5.0  # Fly's default kill timeout
DEFAULT_MAX_RETRIES = 10  # on-failure, per Fly's docs

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration_s(value: Any, field: str) -> float:
    """A Go duration string ("30s", "1m30s", "500ms") or a number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise EmulatorError(400, f"{field}: expected a duration such as '30s', got {value!r}")
    if isinstance(value, str):
        parts = _DURATION_PART.findall(value)
        if not value or "".join(number + unit for number, unit in parts) != value:
            raise EmulatorError(400, f"{field}: {value!r} is not a duration such as '30s'")
        seconds = sum(float(number) * _UNIT_S[unit] for number, unit in parts)
    else:
        seconds = float(value)
    if seconds < 0 or seconds > 24 * 3600:
        raise EmulatorError(400, f"{field}: {value!r} is out of range")
    return seconds


def parse_signal(value: Any, field: str) -> signal.Signals:
    """``SIGTERM``, ``TERM`` or a signal number."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return signal.Signals(value)
        except ValueError:
            raise EmulatorError(400, f"{field}: {value} is not a signal number") from None
    if isinstance(value, str):
        name = value.upper() if value.upper().startswith("SIG") else f"SIG{value.upper()}"
        if name in signal.Signals.__members__:
            return signal.Signals[name]
    raise EmulatorError(400, f"{field}: {value!r} is not a signal name such as 'SIGTERM'")


def validate_create(body: Any, images: ImageTable) -> dict[str, Any]:
    """The create body with the config Fly would store; raises EmulatorError naming the bad field."""
    if not isinstance(body, dict):
        raise EmulatorError(400, "the request body must be a JSON object with a 'config'")
    config = body.get("config")
    if not isinstance(config, dict):
        raise EmulatorError(400, "config: required, a JSON object")
    image = config.get("image")
    if not isinstance(image, str) or not image.strip():
        raise EmulatorError(400, "config.image: required, an image reference such as 'registry.fly.io/app:tag'")
    try:
        images.resolve(image)
    except UnknownImage as exc:
        raise EmulatorError(422, str(exc)) from None
    for key in ("env", "metadata"):
        mapping = config.get(key, {})
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            raise EmulatorError(400, f"config.{key}: expected an object of string values")
    guest = {**DEFAULT_GUEST, **(config.get("guest") or {})}
    memory = guest.get("memory_mb")
    if not isinstance(memory, int) or isinstance(memory, bool) or memory < 256 or memory % 256:
        raise EmulatorError(400, f"config.guest.memory_mb: {memory!r} is not a multiple of 256 MB (at least 256)")
    cpus = guest.get("cpus")
    if not isinstance(cpus, int) or isinstance(cpus, bool) or not 1 <= cpus <= 16:
        raise EmulatorError(400, f"config.guest.cpus: {cpus!r} is not between 1 and 16")
    restart = config.get("restart") or {}
    if not isinstance(restart, dict) or restart.get("policy", "on-failure") not in RESTART_POLICIES:
        raise EmulatorError(400, f"config.restart.policy: must be one of {', '.join(RESTART_POLICIES)}")
    retries = restart.get("max_retries")
    if retries is not None and (not isinstance(retries, int) or isinstance(retries, bool) or retries < 0):
        raise EmulatorError(400, "config.restart.max_retries: expected a non-negative integer")
    init = config.get("init") or {}
    for key in ("exec", "entrypoint", "cmd"):
        value = init.get(key) if isinstance(init, dict) else None
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise EmulatorError(400, f"config.init.{key}: expected a list of strings")
    stop = config.get("stop_config") or {}
    if stop.get("signal") is not None:
        parse_signal(stop["signal"], "config.stop_config.signal")
    if stop.get("timeout") is not None:
        parse_duration_s(stop["timeout"], "config.stop_config.timeout")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", name)):
        raise EmulatorError(400, "name: lowercase letters, digits and '-', at most 63 characters")
    stored = {**config, "guest": guest}
    stored.setdefault("env", {})
    stored.setdefault("metadata", {})
    stored.setdefault("restart", {"policy": "on-failure"})
    return {"config": stored, "name": name, "region": body.get("region"), "skip_launch": bool(body.get("skip_launch"))}
