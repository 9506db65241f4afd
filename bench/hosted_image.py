"""Benchmark: installed size of the hosted bot's dependency set (fly/requirements.lock) against the 250 MB target.

Docker does not run here, so this re-enacts what fly/Dockerfile's build stage does: a fresh venv
(ideally on Python 3.12, the image's), the hash-checked bot lock installed into it, the test suites
the wheels ship deleted; and the arch wheel alone (fly/bundled-data.lock, --no-deps) installed into a
scratch folder only to copy out the bundled S&P 500 / NASDAQ CSVs and arch's licence. It sums the
bytes of every distribution's files plus the data folder, against the target. The empty venv is
measured first, in the same run, as the baseline. The stripped venv (which has neither pandas nor
arch) then imports the bot's modules, loads both bundled series from the data folder and fits an HMM.

    ./dev bench hosted_image [--python python3.12] [--top 12]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGET_MB = 250.0
MB = 1024 * 1024


def _roots() -> tuple[str, ...]:
    """The bot's direct dependencies: the requirement lines of fly/requirements.in."""
    lines = (REPO / "fly" / "requirements.in").read_text().splitlines()
    return tuple(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


# Run inside the measured venv: sizes per distribution, and its requirements (markers evaluated there).
_MEASURE = r"""
import json, sys
from importlib.metadata import distributions
from pip._vendor.packaging.requirements import Requirement
out = {}
for dist in distributions():
    name = dist.metadata["Name"].lower().replace("_", "-")
    total = tests = pyc = 0
    for f in dist.files or []:
        path = f.locate()
        try:
            size = path.stat().st_size
        except OSError:
            continue
        total += size
        parts = set(f.parts[:-1])
        if "tests" in parts or "test" in parts:
            tests += size
        elif f.name.endswith(".pyc"):
            pyc += size
    requires = []
    for spec in dist.requires or []:
        req = Requirement(spec)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            requires.append(req.name.lower().replace("_", "-"))
    out[name] = {"bytes": total, "tests": tests, "pyc": pyc, "requires": requires}
json.dump({"python": sys.version.split()[0], "dists": out}, sys.stdout)
"""


# Run inside the measured venv after its test suites were deleted, with HMMTRADE_BUNDLED_DATA_DIR set:
# the bot's code imports (boot, the trader's CLI and runner) and fits on the data folder's bars.
_SMOKE = r"""
import importlib.util
import httpx, nats, pydantic, structlog, yaml
import fly.boot, trader.cli, trader.runner
from trader import features
from trader.bars import load_bundled
from trader.model import FitOptions, fit
absent = [name for name in ("pandas", "arch", "statsmodels") if importlib.util.find_spec(name) is None]
sp500, nasdaq = load_bundled("sp500"), load_bundled("nasdaq")
X = features.compute(sp500, ["log_return", "realized_vol"])
start = features.first_complete_row(X)
model = fit(X[start : start + 504], FitOptions(n_states=3, restarts=1))
print(f"{len(sp500)} + {len(nasdaq)} bars, fit ok; not installed: {', '.join(absent)}")
"""


def _strip_tests(venv: Path) -> None:
    """What fly/Dockerfile does after pip install: delete the test suites the wheels ship."""
    for tests in sorted(venv.glob("lib/python*/site-packages/**/tests"), key=lambda p: -len(p.parts)):
        if tests.is_dir():
            shutil.rmtree(tests)


def _python(candidate: str | None) -> str:
    """The interpreter for the venv: --python, HMMTRADE_IMAGE_PYTHON, a working python3.12, else this one."""
    for option in (candidate, os.environ.get("HMMTRADE_IMAGE_PYTHON"), shutil.which("python3.12")):
        if option and subprocess.run([option, "--version"], capture_output=True, check=False).returncode == 0:
            return option
    return sys.executable


def _measure(venv_python: Path) -> dict[str, Any]:
    done = subprocess.run([str(venv_python), "-c", _MEASURE], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def _closure(dists: dict[str, Any], roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [r for r in roots if r in dists]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(dep for dep in dists[name]["requires"] if dep in dists)
    return seen


def _needed_by(dists: dict[str, Any], name: str) -> str:
    roots = _roots()
    users = [root for root in roots if root != name and name in _closure(dists, [root])]
    return "root" if name in roots else ", ".join(users) or "?"


def _pip_install(venv_python: Path, *args: str) -> None:
    quiet = ["--quiet", "--disable-pip-version-check", "--require-hashes"]
    subprocess.run([str(venv_python), "-m", "pip", "install", *quiet, *args], check=True)


def _extract_bundled_data(venv_python: Path, data_lock: Path, scratch: Path, out: Path) -> int:
    """fly/Dockerfile's data step: the arch wheel alone into ``scratch``, its two CSVs and licence to ``out``."""
    _pip_install(venv_python, "--no-deps", "--target", str(scratch), "-r", str(data_lock))
    out.mkdir()
    for name in ("sp500", "nasdaq"):
        shutil.copy(scratch / "arch" / "data" / name / f"{name}.csv.gz", out)
    [licence] = scratch.glob("arch-*.dist-info/licenses/LICENSE.md")
    shutil.copy(licence, out / "arch-LICENSE.md")
    shutil.rmtree(scratch)
    return sum(path.stat().st_size for path in out.iterdir())


def measure(python: str, lock: Path, data_lock: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hosted-image-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        venv_python = venv / "bin" / "python"
        baseline = _measure(venv_python)
        started = time.perf_counter()
        _pip_install(venv_python, "-r", str(lock))
        install_s = time.perf_counter() - started
        data_dir = Path(tmp) / "trader-data"
        data_bytes = _extract_bundled_data(venv_python, data_lock, Path(tmp) / "arch", data_dir)
        installed = _measure(venv_python)
        _strip_tests(venv)
        smoke = subprocess.run(
            [str(venv_python), "-c", _SMOKE],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(REPO), "HMMTRADE_BUNDLED_DATA_DIR": str(data_dir)},
        )
    empty = set(baseline["dists"])  # pip (and setuptools on old Pythons): the image uninstalls pip
    dists = {name: info for name, info in installed["dists"].items() if name not in empty}
    return {
        "python": installed["python"],
        "install_s": install_s,
        "baseline": baseline["dists"],
        "dists": dists,
        "data_bytes": data_bytes,
        "smoke": smoke.stdout.strip() if smoke.returncode == 0 else f"FAILED: {smoke.stderr.strip()[-500:]}",
    }


def _mb(value: float) -> str:
    return f"{value / MB:8.1f}"


def _row(label: str, size: float, *, ratio: bool = True) -> str:
    return f"{label:<48}{_mb(size)}" + (f"  {size / MB / TARGET_MB:9.2f}" if ratio else "")


def report(result: dict[str, Any], top: int) -> str:
    dists: dict[str, Any] = result["dists"]
    baseline_bytes = sum(info["bytes"] for info in result["baseline"].values())
    total = sum(info["bytes"] for info in dists.values())
    tests = sum(info["tests"] for info in dists.values())
    pyc = sum(info["pyc"] for info in dists.values())
    data = result["data_bytes"]
    lines = [
        f"Python {result['python']}, {len(dists)} distributions, install {result['install_s']:.0f} s; "
        f"empty venv (baseline, not counted): {baseline_bytes / MB:.1f} MB",
        "",
        f"{'variant':<48}{'MB':>8}  {'vs 250 MB':>9}",
        _row("bot dependency set as installed", total),
        _row("  of which test suites (the image deletes them)", tests, ratio=False),
        _row("  of which .pyc bytecode", pyc, ratio=False),
        _row("bundled data (arch's 2 CSVs + licence)", data, ratio=False),
        _row("image: set without test suites, plus the data", total - tests + data),
        f"  the image's set runs the bot: {result['smoke']}",
        "",
        f"{'largest packages':<22}{'MB':>8}{'tests MB':>10}{'share':>7}  needed by",
    ]
    ranked = sorted(dists.items(), key=lambda item: item[1]["bytes"], reverse=True)
    for name, info in ranked[:top]:
        lines.append(
            f"{name:<22}{_mb(info['bytes'])}{info['tests'] / MB:10.1f}{info['bytes'] / total:7.1%}  "
            f"{_needed_by(dists, name)}"
        )
    rest = sum(info["bytes"] for _, info in ranked[top:])
    lines.append(f"{f'{len(ranked) - top} others':<22}{_mb(rest)}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=None, help="interpreter for the venv (default: python3.12 if it runs)")
    parser.add_argument("--lock", type=Path, default=REPO / "fly" / "requirements.lock")
    parser.add_argument("--data-lock", type=Path, default=REPO / "fly" / "bundled-data.lock")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    python = _python(args.python)
    result = measure(python, args.lock, args.data_lock)
    print(report(result, args.top))
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "hosted_image.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
