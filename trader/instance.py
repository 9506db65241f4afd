"""A bot instance on disk: ``config/instances/<bot id>.yaml`` and the ``.env`` beside it.

The same files describe a bot on a laptop (the local agent writes them) and on a
hosted VM (the boot entrypoint writes them from the control plane's answers), so both
start the trader the same way. The YAML holds the bot id and its wizard profile; the
``.env`` files (``.env`` shared by the folder, then ``<id>.env``; the environment wins)
hold settings and broker credentials, and are never logged.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from contracts.profile import BotProfile

if TYPE_CHECKING:  # numpy stays out of a boot until the control plane has answered
    from trader.model import RegimeModel


class InstanceError(ValueError):
    """The instance files cannot be used; one line saying what to fix."""


@dataclass(frozen=True)
class Instance:
    bot_id: uuid.UUID
    profile: BotProfile
    config_path: Path
    env: Mapping[str, str]
    # first fits shipped by the control plane (``trader.initial_models``), by fit key
    initial_models: Mapping[str, RegimeModel] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        """The folder holding ``config/instances/`` (state and logs live under it)."""
        parent = self.config_path.parent
        if parent.name == "instances" and parent.parent.name == "config":
            return parent.parent.parent
        return parent

    @property
    def state_dir(self) -> Path:
        configured = self.env.get("HMMTRADE_STATE_DIR")
        return Path(configured) if configured else self.home / "state" / str(self.bot_id)

    @property
    def nats_url(self) -> str | None:
        return self.env.get("NATS_URL") or None


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; blank lines and ``#`` comments ignored; optional quotes stripped."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip().isidentifier():
            raise InstanceError(f"{path}: line {number} is not KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def write_instance(
    home: Path,
    bot_id: uuid.UUID,
    profile: BotProfile,
    env: Mapping[str, str] | None = None,
    *,
    initial_models: list[Any] | None = None,
) -> Path:
    """Write ``home/config/instances/<id>.yaml`` (and ``<id>.env``, mode 0600); the YAML path.

    ``initial_models``: shipped first fits as the control plane sent them (``trader.initial_models.to_json``).
    """
    folder = home / "config" / "instances"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{bot_id}.yaml"
    document: dict[str, Any] = {"bot_id": str(bot_id), "profile": profile.model_dump(mode="json")}
    if initial_models:
        document["initial_models"] = initial_models
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    if env:
        env_path = folder / f"{bot_id}.env"
        fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.writelines(f"{key}={value}\n" for key, value in env.items())
    return path


def load_instance(path: Path, *, environ: Mapping[str, str] | None = None) -> Instance:
    """The instance at ``path``; environment variables override the ``.env`` beside it."""
    try:
        document: Any = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InstanceError(f"{path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise InstanceError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(document, dict) or "bot_id" not in document or "profile" not in document:
        raise InstanceError(f"{path}: expected a mapping with 'bot_id' and 'profile'")
    try:
        bot_id = uuid.UUID(str(document["bot_id"]))
    except ValueError:
        raise InstanceError(f"{path}: bot_id {document['bot_id']!r} is not a UUID") from None
    try:
        profile = BotProfile.model_validate(document["profile"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "profile"
        raise InstanceError(f"{path}: profile.{where}: {first['msg']}") from None
    env = {
        **read_env_file(path.parent / ".env"),
        **read_env_file(path.with_suffix(".env")),
        **(environ if environ is not None else os.environ),
    }
    return Instance(
        bot_id=bot_id,
        profile=profile,
        config_path=path.resolve(),
        env=env,
        initial_models=_initial_models(document.get("initial_models"), path),
    )


def _initial_models(data: object, path: Path) -> dict[str, RegimeModel]:
    """Shipped first fits, if any; one that is not a valid model is ignored (the bot fits its own), with a warning."""
    if data is None:
        return {}
    from trader import initial_models as shipped

    try:
        return shipped.from_json(data)
    except shipped.InitialModelError as exc:
        print(f"warning: {path}: the shipped first model is not used ({exc}); the bot fits its own", file=sys.stderr)
        return {}
