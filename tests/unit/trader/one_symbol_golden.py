"""The one-symbol run whose audit and checkpoints are pinned in ``data/one_symbol_golden.json.gz``.

The golden file was written by the engine as it was before portfolios (commit d953e7d), so
``test_one_symbol_golden`` proves a one-symbol bot's records and checkpoints are byte for byte
what they were. The run happens in a child process with floating point pinned
(``tests.unit.trader.pinned_run``). Regenerate it only on purpose (a deliberate change of the
record or checkpoint format, or of the pinned numerical libraries), from that commit's code,
run from a folder where it shadows this checkout's ``trader`` (the repo root would not)::

    mkdir /tmp/base && git archive d953e7d trader contracts venues | tar -x -C /tmp/base
    cp --parents tests/__init__.py tests/unit/__init__.py tests/unit/trader/__init__.py \
        tests/unit/trader/one_symbol_golden.py /tmp/base
    cd /tmp/base && env OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
        MKL_NUM_THREADS=1 NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" \
        $REPO/.venv/bin/python -m tests.unit.trader.one_symbol_golden --write
    cp /tmp/base/tests/unit/trader/data/one_symbol_golden.json.gz $REPO/tests/unit/trader/data/

Without ``--write`` it prints the run and a resumed run as JSON (what the test reads).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

from trader import audit, checkpoint
from trader.bars import load_bundled
from trader.engine import Engine, EngineConfig
from trader.model import FitOptions
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig

GOLDEN = Path(__file__).parent / "data" / "one_symbol_golden.json.gz"
CHECKPOINT_AT = (250, 420, 700)  # bars after which the checkpoint is pinned (mid-run, after halts, the end)
RESUME_FROM = 1  # the pinned checkpoint a resumed run starts from
CONFIG = EngineConfig(
    bot_id="golden-bot",
    symbol="SPX",
    feature_names=("log_return", "realized_vol"),
    fit=FitOptions(n_states=2, restarts=1, auto_states=(2, 3)),
    strategy=StrategyConfig(exposure_per_regime=(0.1, 0.6, 1.0), min_persistence=1, vol_target_pct=18.0),
    risk=RiskLimits(max_drawdown_pct=8, max_daily_loss_pct=2.5, stop_loss_pct=4.0, rearm="calm", rearm_calm_bars=5),
    training_window=200,
    refit_every=42,
    rebalance_band=0.02,
    min_hold_bars=1,
)


def pinned() -> dict[str, list[str]]:
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as handle:
        data: dict[str, list[str]] = json.load(handle)
    return data


def run() -> dict[str, Any]:
    """Every audit line and the checkpoints at ``CHECKPOINT_AT``, as the bytes a bot writes them."""
    bars = load_bundled("sp500").head(CHECKPOINT_AT[-1])
    engine = Engine(CONFIG)
    lines: list[str] = []
    checkpoints: list[str] = []
    for t in range(len(bars)):
        record = engine.on_bar(bars, t)
        if record is not None:
            lines.append(audit.encode(record))
        if t + 1 in CHECKPOINT_AT:
            saved = checkpoint.Checkpoint(engine.state, t + 1, str(bars.dates[t]), float(bars.close[t]))
            checkpoints.append(json.dumps(checkpoint.to_json(saved), sort_keys=True, separators=(",", ":")))
    return {"audit": lines, "checkpoints": checkpoints}


def resumed() -> list[str]:
    """The audit lines of a bot restarted from the pinned checkpoint ``RESUME_FROM`` to the end of the run."""
    bars = load_bundled("sp500").head(CHECKPOINT_AT[-1])
    saved = checkpoint.from_json(json.loads(pinned()["checkpoints"][RESUME_FROM]))
    engine = Engine(CONFIG, saved.state)
    tail = [engine.on_bar(bars, t) for t in range(CHECKPOINT_AT[RESUME_FROM], len(bars))]
    return [audit.encode(record) for record in tail if record is not None]


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(GOLDEN, "wt", encoding="utf-8", compresslevel=9) as out:
            json.dump(run(), out)
        print(f"wrote {GOLDEN}")
    else:
        json.dump({"run": run(), "resumed": resumed()}, sys.stdout)
