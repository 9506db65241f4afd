"""How the default profile was chosen: a small grid walked forward on the S&P 500 only, then
the winner reported untouched on NASDAQ, the holdout (``docs/regimes.md``).

The rule, fixed before looking: among the candidates whose S&P 500 walk-forward has at most
half of buy-and-hold's maximum drawdown and at most 25 trades a year, the highest Sharpe
wins. NASDAQ is run for the winner alone, after the choice.

    ./dev bench choose_default [--holdout]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.profile import BotProfile
from trader import backtest
from trader.bars import Bars, load_bundled
from trader.config import engine_config
from trader.threads import limit_math_threads

BASE = json.loads((Path(__file__).resolve().parent.parent / "examples" / "bot.json").read_text())
MAX_TRADES_PER_YEAR = 25


@dataclass(frozen=True)
class Candidate:
    n_states: int | str
    exposures: tuple[float, ...]
    max_drawdown_pct: float
    rearm: str
    band_pct: float
    min_persistence: int

    def profile(self) -> BotProfile:
        body: dict[str, Any] = json.loads(json.dumps(BASE))
        body["model"].update({"n_states": self.n_states, "min_persistence": self.min_persistence})
        body["strategy"].update(
            {
                "exposure_per_regime": list(self.exposures),
                "max_drawdown_pct": self.max_drawdown_pct,
                "rearm": self.rearm,
                "rebalance_band_pct": self.band_pct,
            }
        )
        return BotProfile.model_validate(body)

    def label(self) -> str:
        exposures = "/".join(f"{x:g}" for x in self.exposures)
        return (
            f"K={self.n_states} exp={exposures} dd={self.max_drawdown_pct:g} {self.rearm} "
            f"band={self.band_pct:g} persist={self.min_persistence}"
        )


def grid() -> dict[int, list[Candidate]]:
    """Two stages, both on the S&P 500 only: the first over shapes and re-arm rules, the second
    around what the first showed (calm re-arming; deeper drawdown limits; the band's width)."""
    shapes: list[tuple[int | str, tuple[float, ...]]] = [
        (2, (0.0, 1.0)),
        (3, (0.0, 0.5, 1.0)),
        (3, (0.0, 1.0, 1.0)),
        ("auto", (0.0, 0.5, 1.0)),
    ]
    first = [
        Candidate(k, exposures, dd, rearm, band, persist)
        for (k, exposures), dd, rearm, band, persist in itertools.product(
            shapes, (20.0, 30.0), ("calm", "new_high"), (10.0,), (3, 5)
        )
    ]
    second = [
        Candidate(k, exposures, dd, "calm", band, 3)
        for (k, exposures), dd, band in itertools.product(shapes[1:], (25.0, 35.0, 50.0), (0.0, 10.0, 20.0))
    ]
    return {1: first, 2: second}


def evaluate(candidate: Candidate, bars: Bars) -> dict[str, float]:
    started = time.perf_counter()
    result = backtest.run(engine_config(candidate.profile(), bot_id="choose-default"), bars)
    strategy, benchmark = result.metrics["strategy"], result.metrics["benchmark"]
    years = result.metrics["bars"] / 252
    return {
        "seconds": time.perf_counter() - started,
        "sharpe": strategy["sharpe"],
        "max_drawdown": strategy["max_drawdown"],
        "trades_per_year": strategy["trades"] / years,
        "exposure": strategy["average_exposure"],
        "bh_sharpe": benchmark["sharpe"],
        "bh_max_drawdown": benchmark["max_drawdown"],
    }


def eligible(row: dict[str, float]) -> bool:
    return row["max_drawdown"] <= row["bh_max_drawdown"] / 2 and row["trades_per_year"] <= MAX_TRADES_PER_YEAR


def show(label: str, row: dict[str, float]) -> None:
    print(
        f"{label:<58} {row['seconds']:>5.1f} {row['sharpe']:>6.2f} {row['bh_sharpe']:>6.2f} "
        f"{row['max_drawdown']:>6.1%} {row['bh_max_drawdown']:>6.1%} {row['trades_per_year']:>6.1f} "
        f"{row['exposure']:>5.2f} {'yes' if eligible(row) else 'no':>4}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--holdout", action="store_true", help="after choosing, report the winner on NASDAQ")
    parser.add_argument("--stage", type=int, choices=(1, 2), help="run one stage of the grid only")
    args = parser.parse_args()
    limit_math_threads()
    sp500 = load_bundled("sp500")
    print(f"S&P 500 walk-forward, {len(sp500)} bars; rule: max DD <= 1/2 B&H's, <= {MAX_TRADES_PER_YEAR} trades/yr")
    print(f"{'candidate':<58} {'wall s':>5} {'Sharpe':>6} {'B&H':>6} {'maxDD':>6} {'B&H DD':>6} {'tr/yr':>6} "
          f"{'expo':>5} {'ok':>4}")  # fmt: skip
    results = []
    stages = grid()
    candidates = stages[args.stage] if args.stage is not None else [c for stage in stages.values() for c in stage]
    for candidate in candidates:
        row = evaluate(candidate, sp500)
        show(candidate.label(), row)
        results.append((candidate, row))
    passing = [(c, r) for c, r in results if eligible(r)]
    if not passing:
        print("no candidate meets the rule on the S&P 500: the default stays as it is")
        return
    winner, row = max(passing, key=lambda cr: cr[1]["sharpe"])
    print(f"chosen on S&P 500: {winner.label()}")
    if args.holdout:
        show(f"NASDAQ holdout: {winner.label()}", evaluate(winner, load_bundled("nasdaq")))


if __name__ == "__main__":
    main()
