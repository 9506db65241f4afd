"""The one-symbol run whose audit and checkpoints are pinned in ``data/one_symbol_golden.json.gz``.

The golden file was written by the engine as it was before portfolios (commit d953e7d), so
``test_one_symbol_golden`` proves a one-symbol bot's records and checkpoints are byte for byte
what they were. Regenerate it only on purpose (a deliberate change of the record or checkpoint
format, or of the pinned numerical libraries), from that commit's code::

    git archive d953e7d trader contracts venues | tar -x -C /tmp/base
    PYTHONPATH=/tmp/base .venv/bin/python -m tests.unit.trader.one_symbol_golden
"""

from __future__ import annotations

import gzip
import json
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


if __name__ == "__main__":
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(GOLDEN, "wt", encoding="utf-8", compresslevel=9) as out:
        json.dump(run(), out)
    print(f"wrote {GOLDEN}")
