"""Benchmark: installed size of the hosted bot's dependency set (fly/requirements.lock) against the 250 MB target.

Docker does not run here, so this measures what fly/Dockerfile's build stage installs: a fresh venv
(ideally on Python 3.12, the image's), the hash-checked bot lock installed into it, then the bytes
of every distribution's files. The empty venv is measured first, in the same run, as the baseline.
Also prints what the obvious cuts would save: the test suites that numpy/scipy/pandas/... ship,
and ``arch`` (used only for its bundled S&P 500 / NASDAQ CSVs) with everything only it needs.

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
ROOTS = ("numpy", "hmmlearn", "arch", "pydantic", "nats-py", "pyyaml", "httpx", "structlog")
MB = 1024 * 1024

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


# Run inside the measured venv after its test suites were deleted: the bot's code still imports and fits.
_SMOKE = r"""
import httpx, nats, pydantic, structlog, yaml
from trader import features
from trader.bars import load_bundled
from trader.model import FitOptions, fit
bars = load_bundled("sp500")
X = features.compute(bars, ["log_return", "realized_vol"])
start = features.first_complete_row(X)
model = fit(X[start : start + 504], FitOptions(n_states=3, restarts=1))
print(f"{len(bars)} bars, fit ok")
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
    users = [root for root in ROOTS if root != name and name in _closure(dists, [root])]
    return "root" if name in ROOTS else ", ".join(users) or "?"


def measure(python: str, lock: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hosted-image-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        venv_python = venv / "bin" / "python"
        baseline = _measure(venv_python)
        started = time.perf_counter()
        subprocess.run(
            [
                str(venv_python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--require-hashes",
                "-r",
                str(lock),
            ],
            check=True,
        )
        install_s = time.perf_counter() - started
        installed = _measure(venv_python)
        _strip_tests(venv)
        smoke = subprocess.run(
            [str(venv_python), "-c", _SMOKE],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    empty = set(baseline["dists"])  # pip (and setuptools on old Pythons): the image uninstalls pip
    dists = {name: info for name, info in installed["dists"].items() if name not in empty}
    return {
        "python": installed["python"],
        "install_s": install_s,
        "baseline": baseline["dists"],
        "dists": dists,
        "smoke": smoke.stdout.strip() if smoke.returncode == 0 else f"FAILED: {smoke.stderr.strip()[-500:]}",
    }


def _mb(value: float) -> str:
    return f"{value / MB:8.1f}"


def _row(label: str, size: float, *, ratio: bool = True) -> str:
    return f"{label:<44}{_mb(size)}" + (f"  {size / MB / TARGET_MB:9.2f}" if ratio else "")


def report(result: dict[str, Any], top: int) -> str:
    dists: dict[str, Any] = result["dists"]
    baseline_bytes = sum(info["bytes"] for info in result["baseline"].values())
    total = sum(info["bytes"] for info in dists.values())
    tests = sum(info["tests"] for info in dists.values())
    pyc = sum(info["pyc"] for info in dists.values())
    without_arch = _closure(dists, [r for r in ROOTS if r != "arch"])
    cut = sum(dists[name]["bytes"] for name in without_arch)
    cut_tests = sum(dists[name]["tests"] for name in without_arch)
    lines = [
        f"Python {result['python']}, {len(dists)} distributions, install {result['install_s']:.0f} s; "
        f"empty venv (baseline, not counted): {baseline_bytes / MB:.1f} MB",
        "",
        f"{'variant':<44}{'MB':>8}  {'vs 250 MB':>9}",
        _row("bot dependency set as installed", total),
        _row("  of which test suites", tests, ratio=False),
        _row("  of which .pyc bytecode", pyc, ratio=False),
        _row("as installed, test suites removed (image)", total - tests),
        f"  stripped set imports the bot and fits an HMM: {result['smoke']}",
        _row("without arch (bundled data as CSV)", cut),
        _row("without arch, test suites removed", cut - cut_tests),
        "",
        f"{'largest packages':<22}{'MB':>8}{'tests MB':>10}{'share':>7}  needed by",
    ]
    ranked = sorted(dists.items(), key=lambda item: item[1]["bytes"], reverse=True)
    for name, info in ranked[:top]:
        lines.append(
            f"{name:<22}{_mb(info['bytes'])}{info['tests'] / MB:10.1f}{info['bytes'] / total:7.1%}  "
            f"{_needed_by(dists, name)}{'' if name in without_arch else '  (only for arch)'}"
        )
    rest = sum(info["bytes"] for _, info in ranked[top:])
    lines.append(f"{f'{len(ranked) - top} others':<22}{_mb(rest)}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=None, help="interpreter for the venv (default: python3.12 if it runs)")
    parser.add_argument("--lock", type=Path, default=REPO / "fly" / "requirements.lock")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    python = _python(args.python)
    result = measure(python, args.lock)
    print(report(result, args.top))
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "hosted_image.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
