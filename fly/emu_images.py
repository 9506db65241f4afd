"""How the Machines emulator turns an image reference into a local command.

There are no images here, so the emulator keeps a table of image references, each with the
ENTRYPOINT and CMD its image would have, plus a default for any other reference: the bot
image's own ``python -m fly.boot``. A machine's ``config.init`` then overrides them with
Docker's (and Fly's) rules:

- ``init.exec`` replaces the whole command;
- ``init.entrypoint`` replaces ENTRYPOINT and drops the image's CMD;
- ``init.cmd`` replaces CMD.

``python``/``python3`` as the first word run the emulator's own interpreter, so a machine runs
this checkout's code (the venv has it installed). A table file (``--images FILE``) is JSON::

    {"images": {"registry.fly.io/hmmtrade-bots:latest": {"entrypoint": ["python", "-m", "fly.boot"]}},
     "default": {"entrypoint": ["python", "-m", "fly.boot"], "cmd": []}}

(``"default": null`` refuses unknown images with 422, like a registry without the image.)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class UnknownImage(LookupError):
    """No table entry and no default: the image does not exist as far as the emulator knows."""


@dataclass(frozen=True)
class ImageSpec:
    """ENTRYPOINT and CMD of one image."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()


BOT_IMAGE_SPEC = ImageSpec(entrypoint=("python", "-m", "fly.boot"))
"""What fly/Dockerfile sets: ``ENTRYPOINT ["python", "-m", "fly.boot"]``."""


@dataclass(frozen=True)
class ImageTable:
    """Image reference -> ImageSpec, with an optional fallback for any other reference."""

    images: Mapping[str, ImageSpec] = field(default_factory=dict)
    default: ImageSpec | None = BOT_IMAGE_SPEC

    def resolve(self, image_ref: str) -> ImageSpec:
        """The exact reference, else the reference without its tag or digest, else the default."""
        if image_ref in self.images:
            return self.images[image_ref]
        bare = _strip_tag(image_ref)
        for ref, spec in self.images.items():
            if _strip_tag(ref) == bare:
                return spec
        if self.default is None:
            raise UnknownImage(f"image {image_ref!r} not found (the emulator's image table has no such image)")
        return self.default

    @classmethod
    def from_file(cls, path: Path) -> ImageTable:
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the image table {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a JSON object with 'images' and 'default'")
        images = {str(ref): _spec(value, f"{path}: images[{ref!r}]") for ref, value in raw.get("images", {}).items()}
        default = raw.get("default", {"entrypoint": list(BOT_IMAGE_SPEC.entrypoint)})
        return cls(images=images, default=None if default is None else _spec(default, f"{path}: default"))


def command_for(spec: ImageSpec, init: Mapping[str, Any] | None) -> list[str]:
    """The argv a machine runs: the image's ENTRYPOINT + CMD with ``config.init`` applied."""
    init = init or {}
    if init.get("exec"):
        argv = list(init["exec"])
    elif init.get("entrypoint") is not None:
        argv = [*init["entrypoint"], *(init.get("cmd") or [])]
    else:
        cmd = init.get("cmd")
        argv = [*spec.entrypoint, *(spec.cmd if cmd is None else cmd)]
    if not argv:
        raise ValueError("the machine has no command: its image has no ENTRYPOINT/CMD and config.init sets none")
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return [str(part) for part in argv]


def _spec(value: Any, where: str) -> ImageSpec:
    if not isinstance(value, dict) or not _strings(value.get("entrypoint", [])) or not _strings(value.get("cmd", [])):
        raise ValueError(f"{where}: expected {{'entrypoint': [str, ...], 'cmd': [str, ...]}}")
    return ImageSpec(entrypoint=tuple(value.get("entrypoint", [])), cmd=tuple(value.get("cmd", [])))


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _strip_tag(ref: str) -> str:
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return ref[: len(ref) - len(last)] + last.split(":", 1)[0]


def image_ref_parts(ref: str) -> dict[str, Any]:
    """Fly's ``image_ref`` object for a reference: registry, repository, tag, digest."""
    name, _, digest = ref.partition("@")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker-hub-mirror.fly.io", name
    last = path.rsplit("/", 1)[-1]
    repository, tag = path, "latest"
    if ":" in last:
        repository, tag = path.rsplit(":", 1)
    if "/" not in repository and registry == "docker-hub-mirror.fly.io":
        repository = f"library/{repository}"
    return {"registry": registry, "repository": repository, "tag": tag, "digest": digest, "labels": {}}
