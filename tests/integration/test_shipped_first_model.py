"""A bot given its first fit by the control plane decides without ever importing the fitting stack,
and records exactly what it records when it fits itself."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from contracts.profile import BotProfile
from tests.conftest import VALID_PROFILE
from trader.first_fit import first_fits
from trader.initial_models import to_json
from trader.instance import write_instance

FITTING_STACK = ("hmmlearn", "sklearn", "scipy")
PROFILE = BotProfile.model_validate(
    {**VALID_PROFILE, "model": {**VALID_PROFILE["model"], "training_window": 252, "refit_every": 1000}}
)
PROBE = f"""
import json, sys
from pathlib import Path
from trader.cli import run_bot_command
code = run_bot_command(Path(sys.argv[1]), once=False, max_bars=300, pace=None)
loaded = [name for name in {FITTING_STACK!r} if name in sys.modules]
print("PROBE " + json.dumps({{"code": code, "loaded": loaded}}))
"""


def _run(home: Path, bot_id: uuid.UUID, models: list[dict[str, Any]] | None) -> tuple[dict[str, Any], list[str]]:
    config = write_instance(home, bot_id, PROFILE, {"HMMTRADE_REPLAY_PACE": "0"}, initial_models=models)
    done = subprocess.run([sys.executable, "-c", PROBE, str(config)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    audit = (home / "state" / str(bot_id) / "audit.jsonl").read_text().splitlines()
    return json.loads(line.removeprefix("PROBE ")), audit


def test_a_bot_with_its_shipped_first_fit_never_imports_the_fitting_stack_and_records_the_same(tmp_path: Path) -> None:
    bot_id = uuid.uuid4()
    shipped = to_json(first_fits(PROFILE))

    given, given_audit = _run(tmp_path / "given", bot_id, shipped)
    own, own_audit = _run(tmp_path / "own", bot_id, None)

    assert given == {"code": 0, "loaded": []}
    assert own == {"code": 0, "loaded": list(FITTING_STACK)}
    assert len(own_audit) > 10
    assert given_audit == own_audit


def test_a_malformed_shipped_model_is_ignored_with_a_warning_and_the_bot_fits_its_own(tmp_path: Path) -> None:
    bot_id = uuid.uuid4()
    shipped = to_json(first_fits(PROFILE))
    shipped[0]["model"]["startprob"] = [1.0, 1.0, 1.0]
    config = write_instance(tmp_path, bot_id, PROFILE, {"HMMTRADE_REPLAY_PACE": "0"}, initial_models=shipped)

    done = subprocess.run([sys.executable, "-c", PROBE, str(config)], capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert "the shipped first model is not used (model 0: probabilities must be non-negative" in done.stderr
    assert '"loaded": ["hmmlearn", "sklearn", "scipy"]' in done.stdout
