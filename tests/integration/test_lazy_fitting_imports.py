"""A bot that resumes and decides without a refit never imports the fitting stack (hmmlearn ->
scikit-learn, scipy; on this machine ``import trader.runner`` is 71 MiB RSS, 194 MiB with
``hmmlearn.hmm``). A refit imports it on demand and decides exactly as before."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.bars_data import make_instance, write_bars_csv
from trader.instance import load_instance
from trader.runner import RunOptions, run_instance

FITTING_STACK = ("hmmlearn", "sklearn", "scipy")

# Runs one bot in a fresh interpreter the way ``python -m trader.cli`` does, then reports which
# of the fitting stack's packages the process imported along the way.
PROBE = f"""
import json, sys
from pathlib import Path
from trader.cli import run_bot_command
code = run_bot_command(Path(sys.argv[1]), once=False, max_bars=int(sys.argv[2]), pace=None)
loaded = [name for name in {FITTING_STACK!r} if name in sys.modules]
print("PROBE " + json.dumps({{"code": code, "loaded": loaded}}))
"""


def _run_probe(config: Path, max_bars: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(config), str(max_bars)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    result: dict[str, Any] = json.loads(line.removeprefix("PROBE "))
    return result


def _records(home: Path) -> list[dict[str, Any]]:
    (path,) = home.glob("state/*/audit.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_bot_resuming_from_its_checkpoint_without_a_refit_never_imports_the_fitting_stack(tmp_path: Path) -> None:
    data = write_bars_csv(tmp_path / "bars.csv", 260)
    _, config = make_instance(tmp_path / "home", data, refit_every=1000)

    first = _run_probe(config, max_bars=200)  # warm-up, then the first fit: the stack is needed here
    decided_first = len(_records(tmp_path / "home"))
    resumed = _run_probe(config, max_bars=40)  # from the checkpoint's model, no refit due

    assert first == {"code": 0, "loaded": list(FITTING_STACK)}
    assert resumed == {"code": 0, "loaded": []}
    assert [r["seq"] for r in _records(tmp_path / "home")] == list(range(1, decided_first + 41))


def test_refits_in_a_process_that_imports_the_fitting_stack_late_decide_exactly_as_before(tmp_path: Path) -> None:
    data = write_bars_csv(tmp_path / "bars.csv", 420)
    bot_id, reference = make_instance(tmp_path / "reference", data)
    _, lazy = make_instance(tmp_path / "lazy", data, bot_id=bot_id)
    import hmmlearn.hmm  # noqa: F401 (the reference fits with the stack loaded from the start)

    asyncio.run(run_instance(load_instance(reference, environ={}), RunOptions()))
    first = _run_probe(lazy, max_bars=230)
    rest = _run_probe(lazy, max_bars=1000)

    assert first["code"] == rest["code"] == 0
    assert first["loaded"] == rest["loaded"] == list(FITTING_STACK)  # refits every 50 bars in both runs
    assert _records(tmp_path / "lazy") == _records(tmp_path / "reference")
