"""Mutation testing of one module with its fast unit tests (mutmut 3).

    ./dev mutation trader/risk.py            # or: .venv/bin/python -m bench.mutation trader/risk.py
    ./dev mutation --list                    # the covered modules and their tests

mutmut lives in a tool venv of its own (``.venv-mutation/``, created here with pip, pinned below), so
the project's lock file never carries it. It runs under the project's interpreter (``.venv``) with the
tool venv's site-packages appended: the tests see the project's own pytest and plugins, mutmut its
own libcst and friends.

mutmut reads its settings from ``[tool.mutmut]`` in pyproject.toml or ``[mutmut]`` in setup.cfg of the
directory it runs in, and copies the code under test into ``mutants/`` there. So each module gets a run
directory ``mutants/<module>/`` (git-ignored) holding symlinks to its package, ``tests/`` and
pyproject.toml, and a generated setup.cfg: nothing in the project is edited. Each run starts from a
clean run directory: mutmut's cache does not re-test a survivor when only the tests changed, so a
cached run would keep reporting mutants a new test kills (``--reuse`` keeps the cache anyway).

Forked children get ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``: numpy's BLAS thread pool does not
survive a fork and the children would hang. ``--max-children`` defaults to 1 (the machine is shared).

Survivors listed in ``bench/mutation_equivalent.txt`` (name and the reason it is equivalent) are
reported apart and left out of the "score without equivalents".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL_VENV = ROOT / ".venv-mutation"
MUTMUT = "mutmut==3.8.1"
EQUIVALENT_FILE = ROOT / "bench" / "mutation_equivalent.txt"

# module -> its fast unit tests (no services). Keep in step with bench/README.md "Mutation testing".
MODULES: dict[str, list[str]] = {
    "trader/risk.py": ["tests/unit/trader/test_risk.py", "tests/unit/trader/test_risk_mutants.py"],
    "trader/broker.py": ["tests/unit/trader/test_broker.py", "tests/unit/trader/test_broker_mutants.py"],
    "trader/strategy.py": ["tests/unit/trader/test_strategy.py", "tests/unit/trader/test_strategy_mutants.py"],
    "trader/metrics.py": ["tests/unit/trader/test_metrics_mutants.py"],
    "trader/filter.py": ["tests/unit/trader/test_filter.py", "tests/unit/trader/test_filter_mutants.py"],
    "api/tokens.py": ["tests/unit/test_tokens.py", "tests/unit/test_tokens_mutants.py"],
    "api/passwords.py": ["tests/unit/test_passwords_mutants.py"],
    "billing/webhooks.py": ["tests/unit/billing/test_webhooks.py", "tests/unit/billing/test_webhooks_mutants.py"],
    "vault/envelope.py": ["tests/unit/vault/test_envelope.py", "tests/unit/vault/test_envelope_mutants.py"],
    "vault/machine_jwt.py": ["tests/unit/vault/test_machine_jwt.py", "tests/unit/vault/test_machine_jwt_mutants.py"],
    "api/machine_auth.py": ["tests/unit/test_machine_auth_mutants.py"],
    "events/auth/roles.py": ["tests/unit/test_bus_roles_mutants.py", "tests/unit/test_bus_init.py"],
    "events/auth/jwt.py": ["tests/unit/test_bus_jwt_mutants.py", "tests/unit/test_bus_init.py"],
    "trader/venues/order_rules.py": ["tests/unit/test_order_rules.py", "tests/unit/trader/test_order_rules_mutants.py"],
    "trader/reconcile.py": [
        "tests/unit/trader/test_execution.py",
        "tests/unit/trader/test_live_portfolio.py",
        "tests/unit/trader/test_reconcile_mutants.py",
    ],
    "trader/execution.py": [
        "tests/unit/trader/test_execution.py",
        "tests/unit/trader/test_live_portfolio.py",
        "tests/unit/trader/test_execution_mutants.py",
    ],
    "trader/venues/alpaca.py": ["tests/unit/trader/test_alpaca_venue_mutants.py"],
    "events/auth/revoke.py": ["tests/unit/test_bus_revoke_mutants.py"],
    "trader/venues/ccxt_venue.py": ["tests/unit/trader/test_ccxt_venue_mutants.py"],
}

CHILD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def ensure_tool_venv() -> Path:
    """The tool venv's site-packages, creating the venv (pip from PyPI) on first use."""
    python = TOOL_VENV / "bin" / "python"
    if not python.exists():
        print(f"mutation: creating {TOOL_VENV.name}/ with {MUTMUT}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(TOOL_VENV)], check=True)
    probe = subprocess.run([str(python), "-m", "pip", "show", "mutmut"], capture_output=True, text=True)
    if f"Version: {MUTMUT.split('==')[1]}" not in probe.stdout:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", MUTMUT], check=True
        )
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def prepare_run_dir(module: str, tests: list[str], *, fresh: bool) -> Path:
    run_dir = ROOT / "mutants" / module.removesuffix(".py").replace("/", ".")
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    package = module.split("/")[0]
    for name in (package, "tests", "pyproject.toml"):
        link = run_dir / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name)
    # pyproject.toml has no [tool.mutmut], so mutmut falls back to this file.
    (run_dir / "setup.cfg").write_text(
        "[mutmut]\n"
        f"source_paths = {package}\n"
        f"only_mutate = {module}\n"
        "pytest_add_cli_args_test_selection =\n" + "".join(f"    {t}\n" for t in tests) + "pytest_add_cli_args =\n"
        "    -p\n    no:cacheprovider\n    -q\n"
        # mypy-style pre-filter and git change detection are not used: the run dir is not a checkout
        "use_git_change_detection = false\n"
    )
    return run_dir


def mutmut(run_dir: Path, tool_site: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """mutmut under the project's interpreter, with the tool venv's packages after the project's."""
    bootstrap = (
        "import site, sys; site.addsitedir(sys.argv.pop(1)); "
        "from mutmut.__main__ import cli; sys.argv[0] = 'mutmut'; cli()"
    )
    env = {**os.environ, **CHILD_ENV}
    project_python = ROOT / ".venv" / "bin" / "python"
    return subprocess.run(
        [str(project_python), "-c", bootstrap, str(tool_site), *args],
        cwd=run_dir,
        env=env,
        text=True,
        capture_output=capture,
        check=False,
    )


def equivalents() -> dict[str, str]:
    """Allow-listed survivors: ``mutant_name  reason`` per line, ``#`` comments."""
    if not EQUIVALENT_FILE.exists():
        return {}
    found: dict[str, str] = {}
    for line in EQUIVALENT_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            found[name] = reason.strip()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module", nargs="?", help="e.g. trader/risk.py")
    parser.add_argument("--list", action="store_true", help="the covered modules and their tests")
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="keep mutmut's cache (survivors are not re-tested)")
    opts = parser.parse_args()
    if opts.list or not opts.module:
        for module, tests in MODULES.items():
            print(f"{module:24} {' '.join(tests)}")
        return 0 if opts.list else 2
    module = opts.module if opts.module.endswith(".py") else opts.module.replace(".", "/") + ".py"  # trader.risk too
    if module not in MODULES:
        print(f"mutation: {module} is not covered; see --list", file=sys.stderr)
        return 2
    tests = [t for t in MODULES[module] if (ROOT / t).exists()]
    tool_site = ensure_tool_venv()
    run_dir = prepare_run_dir(module, tests, fresh=not opts.reuse)
    if mutmut(run_dir, tool_site, "run", "--max-children", str(opts.max_children)).returncode != 0:
        print("mutation: mutmut run failed", file=sys.stderr)
        return 1
    mutmut(run_dir, tool_site, "export-cicd-stats", capture=True)
    stats = json.loads((run_dir / "mutants" / "mutmut-cicd-stats.json").read_text())
    listed = mutmut(run_dir, tool_site, "results", capture=True).stdout
    # "no tests": no selected test reaches the function, so the mutant survives as surely as a "survived" one
    survivors = [
        line.split(":")[0].strip()
        for line in listed.splitlines()
        if line.strip().endswith((": survived", ": no tests"))
    ]
    known = equivalents()
    real = [s for s in survivors if s not in known]
    for name in real:
        print(mutmut(run_dir, tool_site, "show", name, capture=True).stdout)
    total = stats["total"]
    killed = stats["killed"] + stats["timeout"]
    equivalent = len(survivors) - len(real)
    score = 100.0 * killed / total if total else 0.0
    score_eq = 100.0 * killed / (total - equivalent) if total - equivalent else 0.0
    print(f"{module}: {total} mutants, {killed} killed, {len(survivors)} not killed ({equivalent} equivalent)")
    print(f"{module}: score {score:.1f}%, without equivalents {score_eq:.1f}%, no tests {stats['no_tests']}")
    for name in survivors:
        if name in known:
            print(f"  equivalent {name}: {known[name]}")
    for name in real:
        print(f"  SURVIVED   {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
