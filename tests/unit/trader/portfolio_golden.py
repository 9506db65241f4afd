"""A two-symbol portfolio backtest on the bundled S&P 500 and NASDAQ bars, whose audit digest is pinned.

``data/portfolio_golden.json`` holds the digest (``tests.unit.trader.audit_digest``) of this run's
audit as the engine wrote it before the issue-16 speed work, so ``test_engine_golden`` proves the
engine still decides and records the same bytes. Per-symbol models with a few refits, a
volatility target, a stop loss and rationing, so most of the per-bar path writes into it.
The run happens in a child process with floating point pinned (``tests.unit.trader.pinned_run``).
Regenerate only on purpose (a deliberate change of what the engine decides or records), from
the code before the speed work (3f61048), run from a folder where it shadows this checkout's
``trader``::

    mkdir /tmp/base && git archive 3f61048 trader contracts venues | tar -x -C /tmp/base
    cp --parents tests/__init__.py tests/unit/__init__.py tests/unit/trader/__init__.py \
        tests/unit/trader/portfolio_golden.py tests/unit/trader/audit_digest.py /tmp/base
    mkdir -p /tmp/base/tests/unit/trader/data && cd /tmp/base && \
        env OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
        NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" \
        $REPO/.venv/bin/python -m tests.unit.trader.portfolio_golden --write
    cp /tmp/base/tests/unit/trader/data/portfolio_golden.json $REPO/tests/unit/trader/data/

Without ``--write`` it prints the run's audit lines as JSON (what the test reads).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.unit.trader.audit_digest import digest
from trader import audit
from trader.bars import load_bundled
from trader.engine import Engine, EngineConfig
from trader.model import FitOptions
from trader.portfolio_bars import align
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig

GOLDEN = Path(__file__).parent / "data" / "portfolio_golden.json"
BARS = 600
CONFIG = EngineConfig(
    bot_id="golden-portfolio",
    symbol="SPX",
    symbols=("SPX", "NDX"),
    weights=(0.6, 0.4),
    scope="per_symbol",
    feature_names=("log_return", "realized_vol"),
    fit=FitOptions(n_states=2, restarts=1),
    strategy=StrategyConfig(exposure_per_regime=(0.2, 1.0), min_persistence=2, vol_target_pct=15.0),
    risk=RiskLimits(max_drawdown_pct=7, max_daily_loss_pct=2.5, stop_loss_pct=3.0, rearm="calm", rearm_calm_bars=5),
    training_window=180,
    refit_every=60,
    rebalance_band=0.03,
    min_hold_bars=2,
)


def run() -> list[str]:
    """Every audit line of the run, as the bytes a bot writes them."""
    series = align({"SPX": load_bundled("sp500").head(BARS), "NDX": load_bundled("nasdaq").head(BARS)}).bars
    engine = Engine(CONFIG)
    lines: list[str] = []
    for t in range(len(series["SPX"])):
        record = engine.on_bar(series, t)
        if record is not None:
            lines.append(audit.encode(record))
    return lines


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        GOLDEN.write_text(json.dumps(digest(run()), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {GOLDEN}")
    else:
        json.dump(run(), sys.stdout)
