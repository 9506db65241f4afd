"""Benchmark: does the bot find regimes that are known to be there?

    ./dev bench regimes [--seeds 1 2 3 4 5] [--bars 3000]

Each seed draws a path from the emulators' own regime-switching generator
(``venues.daily.synthetic_bars``: calm bull, choppy, volatile bear, the true state of every
bar known) and runs the real engine over it exactly as a backtest trades (``trader.backtest.run``:
K = 3, log return + 20-bar realised volatility, 504-bar rolling window refitted every 21 bars,
decisions out of sample). The labels it produced are scored against the truth on the decision
bars (definitions in ``bench/regime_scoring.py`` and docs/regimes.md):

* **bot regime**: the stability filter's accepted regime, the label the bot trades on;
* **filtered argmax**: the most likely state of the online filter, no stability filter;
* the same two with each model's states **named by volatility** (lowest variance of the
  return = calm, highest = bear: the generator's documented ordering, read from the model's
  own parameters, no hindsight). The engine itself names a first fit's states by volatility
  and matches each refit to the model before it; before issue 15 it named them by mean
  return and labels changed meaning mid-run, which these rows exposed;
* the ceiling, same run: an **oracle** fitted on the whole path (features of every bar,
  ``trader.model.fit``), labelling every bar from the whole path too (hmmlearn smoothed
  posteriors and Viterbi): it sees the future, the bot never does;
* the floor: always the seed's most common true state.

Also printed: per seed, how many refits renumbered the states (a label changing meaning), and
the bot's mean target exposure over the bars truly in each state against what the profile asks.
Figures also go to ``bench/results/regimes.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.regime_scoring import Labels, Score, lag_summary, precision_recall, score
from trader import backtest, features
from trader.backtest import BacktestResult
from trader.bars import Bars
from trader.engine import EngineConfig
from trader.model import FitOptions, fit
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig
from trader.threads import limit_math_threads
from venues.daily import synthetic_bars

N_STATES = 3
STATE_NAMES = ("calm", "choppy", "bear")  # venues.daily.REGIMES order: volatility rising
CONFIG = EngineConfig(
    bot_id="bench-regimes",
    symbol="SYN",
    feature_names=("log_return", "realized_vol"),
    fit=FitOptions(n_states=N_STATES, restarts=3),
    strategy=StrategyConfig(exposure_per_regime=(0.0, 0.5, 1.0)),
    risk=RiskLimits(max_drawdown_pct=100),  # never halts: every bar keeps a decision to score
    training_window=504,
    refit_every=21,
)
ORACLE_FIT = FitOptions(n_states=N_STATES, restarts=5)
MIN_DURATION = 10  # a switch counts for the lag when the new state then lasts this many bars
METHODS = (
    "bot regime",
    "filtered argmax",
    "bot regime, vol-named",
    "filtered argmax, vol-named",
    "oracle smoothed",
    "oracle Viterbi",
    "majority class",
)
CEILING = "oracle smoothed"
_IDENTITY = {k: k for k in range(N_STATES)}


@dataclass(frozen=True)
class OnlineLabels:
    """What the engine said on its decision bars, as labels per bar."""

    bar_index: NDArray[np.int64]  # position in the bars of each decision
    accepted: list[int | None]  # the stability filter's regime (None before the first)
    argmax: list[int]  # the filter's most likely state
    accepted_by_vol: list[int | None]  # the same, each model's states named by their volatility rank
    argmax_by_vol: list[int]
    refits: int  # model changes during the decisions
    meaning_swaps: int  # refits after which some state number named a different volatility rank


def volatility_rank(result: BacktestResult, model_id: str) -> NDArray[np.int64]:
    """For each state of that model, the rank of its return variance (0 = calmest)."""
    variances = result.models[model_id].covars[:, 0, 0]
    return np.argsort(np.argsort(variances)).astype(np.int64)


def online_labels(result: BacktestResult, bars: Bars) -> OnlineLabels:
    """The engine's labels per decision bar, as traded and named by volatility."""
    position = {str(day): i for i, day in enumerate(bars.dates)}
    bar_index = np.array([position[r["bar"]["date"]] for r in result.records], dtype=np.int64)
    ranks = {model_id: volatility_rank(result, model_id) for model_id in result.models}
    accepted: list[int | None] = [r["regime"] for r in result.records]
    argmax = [int(np.argmax(r["probabilities"])) for r in result.records]
    rank_of = [ranks[r["model_id"]] for r in result.records]
    models_in_order = list(dict.fromkeys(r["model_id"] for r in result.records))
    swaps = sum(
        not np.array_equal(ranks[before], ranks[after]) for before, after in itertools.pairwise(models_in_order)
    )
    return OnlineLabels(
        bar_index=bar_index,
        accepted=accepted,
        argmax=argmax,
        accepted_by_vol=[None if a is None else int(rank[a]) for a, rank in zip(accepted, rank_of, strict=True)],
        argmax_by_vol=[int(rank[a]) for a, rank in zip(argmax, rank_of, strict=True)],
        refits=len(models_in_order) - 1,
        meaning_swaps=swaps,
    )


def oracle_labels(bars: Bars, bar_index: NDArray[np.int64]) -> tuple[list[int], list[int]]:
    """Smoothed-posterior argmax and Viterbi path of a model fitted on the whole path, on ``bar_index``."""
    X = features.compute(bars, CONFIG.feature_names)
    first = features.first_complete_row(X)
    hmm = fit(X[first:], ORACLE_FIT).to_hmmlearn()
    smoothed = np.argmax(hmm.predict_proba(X[first:]), axis=1)
    viterbi = hmm.predict(X[first:])
    rows = bar_index - first
    return smoothed[rows].tolist(), viterbi[rows].tolist()


@dataclass(frozen=True)
class SeedResult:
    seed: int
    truth: NDArray[np.int64]  # the true state of every decision bar
    targets: NDArray[np.float64]  # the bot's target exposure on every decision bar
    scores: dict[str, Score]
    online: OnlineLabels
    online_s: float
    oracle_s: float


def run_seed(seed: int, n_bars: int) -> SeedResult:
    labelled = synthetic_bars(seed, n_bars, CONFIG.symbol)
    started = time.perf_counter()
    result = backtest.run(CONFIG, labelled.bars)
    online_s = time.perf_counter() - started
    online = online_labels(result, labelled.bars)
    truth = labelled.regimes[online.bar_index]
    started = time.perf_counter()
    smoothed, viterbi = oracle_labels(labelled.bars, online.bar_index)
    oracle_s = time.perf_counter() - started
    majority = [int(np.bincount(truth, minlength=N_STATES).argmax())] * len(truth)
    hungarian: dict[str, Labels] = {
        "bot regime": online.accepted,
        "filtered argmax": online.argmax,
        "oracle smoothed": smoothed,
        "oracle Viterbi": viterbi,
    }
    named: dict[str, Labels] = {
        "bot regime, vol-named": online.accepted_by_vol,
        "filtered argmax, vol-named": online.argmax_by_vol,
        "majority class": majority,
    }
    scores = {m: score(truth, labels, N_STATES, min_duration=MIN_DURATION) for m, labels in hungarian.items()}
    for method, labels in named.items():
        scores[method] = score(truth, labels, N_STATES, min_duration=MIN_DURATION, mapping=_IDENTITY)
    targets = np.array([r["target"] for r in result.records], dtype=np.float64)
    return SeedResult(seed, truth, targets, scores, online, online_s, oracle_s)


def exposure_by_true_state(results: Sequence[SeedResult]) -> list[float]:
    """The bot's mean target exposure over the bars truly in each state, every seed together."""
    truth = np.concatenate([r.truth for r in results])
    targets = np.concatenate([r.targets for r in results])
    return [float(targets[truth == state].mean()) for state in range(N_STATES)]


def intended_exposure() -> list[float]:
    """What the profile asks for in each true state (calm, choppy, bear), exposures being listed from the
    most volatile regime to the calmest."""
    by_drift = CONFIG.strategy.exposure_per_regime  # state 0 = the most volatile = the bear
    return [by_drift[2], by_drift[1], by_drift[0]]


def pooled(results: Sequence[SeedResult], method: str) -> dict[str, Any]:
    """One method's figures over every seed's decision bars together."""
    bars = sum(len(r.truth) for r in results)
    correct = sum(r.scores[method].accuracy * len(r.truth) for r in results)
    matrix = sum((r.scores[method].matrix for r in results), np.zeros((N_STATES, N_STATES), dtype=np.int64))
    totals = sum((np.bincount(r.truth, minlength=N_STATES) for r in results), np.zeros(N_STATES, dtype=np.int64))
    precision, recall = precision_recall(matrix, totals)
    lags = [lag for r in results for lag in r.scores[method].lags]
    median, p90, never = lag_summary(lags)
    return {
        "accuracy": correct / bars,
        "accuracy_per_seed": [r.scores[method].accuracy for r in results],
        "precision": precision,
        "recall": recall,
        "switches": len(lags),
        "lag_median": median,
        "lag_p90": p90,
        "never_detected": never,
        "unlabelled": sum(r.scores[method].unlabelled * len(r.truth) for r in results) / bars,
    }


def _cell(value: float, spec: str) -> str:
    return "-" if np.isnan(value) else format(value, spec)


def print_tables(results: Sequence[SeedResult], summary: dict[str, dict[str, Any]], wall_s: float) -> None:
    n_bars = len(results[0].truth)
    print(
        f"{len(results)} seeds x {n_bars} decision bars of venues.daily.synthetic_bars, K={N_STATES}, "
        f"{'+'.join(CONFIG.feature_names)}, {CONFIG.training_window}-bar window, refit every "
        f"{CONFIG.refit_every}; stability filter {CONFIG.strategy.min_persistence} bars at >= "
        f"{CONFIG.strategy.prob_threshold:.0%}"
    )
    ceiling = summary[CEILING]["accuracy"]
    print(
        f"\n{'':<27} {'accuracy':>8} {'min-max':>11} {'x oracle':>8}  {'lag p50':>7} {'lag p90':>7} "
        f"{'never':>6} {'no regime':>9}"
    )
    for method in METHODS:
        s = summary[method]
        low, high = min(s["accuracy_per_seed"]), max(s["accuracy_per_seed"])
        print(
            f"{method:<27} {s['accuracy']:>8.1%} {f'{low:.0%}-{high:.0%}':>11} {s['accuracy'] / ceiling:>8.2f}  "
            f"{_cell(s['lag_median'], '.0f'):>7} {_cell(s['lag_p90'], '.0f'):>7} "
            f"{_cell(s['never_detected'], '.0%'):>6} {s['unlabelled']:>9.1%}"
        )
    switches = summary[METHODS[0]]["switches"]
    print(f"lag: bars from a true switch (into a state lasting >= {MIN_DURATION} bars; {switches} of them) to the")
    print("     label naming it; never = not before the state ended. x oracle: accuracy / oracle smoothed's.")
    header = "  ".join(f"{name:>6}" for name in STATE_NAMES)
    print(f"\n{'':<27} precision: {header}   recall: {header}")
    for method in METHODS:
        s = summary[method]
        cells = ["  ".join(f"{_cell(v, '.0%'):>6}" for v in s[key]) for key in ("precision", "recall")]
        print(f"{method:<27}            {cells[0]}           {cells[1]}")
    print(
        f"\n{'seed':>4} {'majority':>8} {'bot':>6} {'argmax':>6} {'bot vn':>6} {'oracle':>6} "
        f"{'swaps/refits':>12} {'online s':>8} {'oracle s':>8}"
    )
    for r in results:
        acc = {m: r.scores[m].accuracy for m in METHODS}
        print(
            f"{r.seed:>4} {acc['majority class']:>8.1%} {acc['bot regime']:>6.1%} {acc['filtered argmax']:>6.1%} "
            f"{acc['bot regime, vol-named']:>6.1%} {acc[CEILING]:>6.1%} "
            f"{f'{r.online.meaning_swaps}/{r.online.refits}':>12} {r.online_s:>8.1f} {r.oracle_s:>8.1f}"
        )
    print("swaps/refits: refits after which a state number meant another volatility rank than before")
    exposure, intended = exposure_by_true_state(results), intended_exposure()
    by_state = ", ".join(
        f"{name} {e:.2f} (asked {i:.2f})" for name, e, i in zip(STATE_NAMES, exposure, intended, strict=True)
    )
    print(f"bot's mean target exposure by true state: {by_state}")
    print(f"wall time {wall_s:.1f} s")


def _json_safe(value: Any) -> Any:
    """NaN (no precision for a state never labelled, no lag without a detection) as null: strict JSON."""
    if isinstance(value, float):
        return None if np.isnan(value) else value
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--bars", type=int, default=3000, help="bars per seed, warm-up included")
    parser.add_argument("--out", type=Path, default=Path("bench/results/regimes.json"))
    args = parser.parse_args()
    if args.bars <= CONFIG.training_window + features.LOOKBACK:
        parser.error(f"--bars must exceed the {CONFIG.training_window}-bar training window plus warm-up")
    limit_math_threads()  # as the bot runner and the backtest CLI do
    started = time.perf_counter()
    results = [run_seed(seed, args.bars) for seed in args.seeds]
    wall_s = time.perf_counter() - started
    summary = {method: pooled(results, method) for method in METHODS}
    print_tables(results, summary, wall_s)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    seeds = [
        {
            "seed": r.seed,
            "decision_bars": len(r.truth),
            "true_share": (np.bincount(r.truth, minlength=N_STATES) / len(r.truth)).tolist(),
            "refits": r.online.refits,
            "meaning_swaps": r.online.meaning_swaps,
            "online_s": r.online_s,
            "oracle_s": r.oracle_s,
        }
        for r in results
    ]
    report = {
        "bars": args.bars,
        "summary": summary,
        "exposure_by_true_state": dict(zip(STATE_NAMES, exposure_by_true_state(results), strict=True)),
        "seeds": seeds,
        "wall_s": wall_s,
    }
    args.out.write_text(json.dumps(_json_safe(report), indent=2, allow_nan=False))


if __name__ == "__main__":
    main()
