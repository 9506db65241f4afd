"""Benchmark: the online filter's cost per bar against what most regime bots do each bar.

Baselines, same data and model, same run: hmmlearn ``predict_proba`` over the whole
history so far (its last row is the filtered probability) and over the last 500 bars.
Also reports the largest difference between the filter and the full-history answer.

    ./dev bench filter [--bars 200]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from trader import features
from trader.bars import load_bundled
from trader.filter import OnlineFilter
from trader.model import FitOptions, fit

TRAIN = 1500


def _per_bar_us(run: Callable[[int], object], bars: range) -> float:
    started = time.perf_counter()
    for t in bars:
        run(t)
    return (time.perf_counter() - started) / len(bars) * 1e6


def measure(X: NDArray[np.float64], n_states: int, n_bars: int) -> dict[str, float]:
    model = fit(X[:TRAIN], FitOptions(n_states=n_states, restarts=2))
    hmm = model.to_hmmlearn()
    test = range(TRAIN, TRAIN + n_bars)
    online = OnlineFilter(model)
    for x in X[:TRAIN]:  # the live filter has already seen the history
        online.step(x)
    filtered: dict[int, NDArray[np.float64]] = {}

    def step(t: int) -> None:
        filtered[t] = online.step(X[t])

    online_us = _per_bar_us(step, test)
    full_us = _per_bar_us(lambda t: hmm.predict_proba(X[: t + 1])[-1], test)
    window_us = _per_bar_us(lambda t: hmm.predict_proba(X[t - 499 : t + 1])[-1], test)
    worst = max(float(np.abs(filtered[t] - hmm.predict_proba(X[: t + 1])[-1]).max()) for t in test)
    return {
        "K": n_states,
        "online_us": online_us,
        "full_us": full_us,
        "window_us": window_us,
        "vs_full": full_us / online_us,
        "vs_window": window_us / online_us,
        "max_diff": worst,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=200, help="bars timed per method")
    args = parser.parse_args()
    X = features.compute(load_bundled("sp500"), ["log_return", "realized_vol"])
    X = X[features.first_complete_row(X) :]
    rows = [measure(X, k, args.bars) for k in (2, 3, 4)]
    print(f"S&P 500 daily, features log_return + realized_vol, history ~{TRAIN} bars, {args.bars} bars timed")
    print(
        f"{'K':>2}  {'online us/bar':>13}  {'full-history us/bar':>19}  {'500-bar us/bar':>14}  "
        f"{'x vs full':>9}  {'x vs 500':>8}  {'max |diff|':>10}"
    )
    for r in rows:
        print(
            f"{r['K']:>2}  {r['online_us']:>13.1f}  {r['full_us']:>19.1f}  {r['window_us']:>14.1f}  "
            f"{r['vs_full']:>9.0f}  {r['vs_window']:>8.0f}  {r['max_diff']:>10.1e}"
        )
    print("goal: >= 50x faster than the 500-bar window call, and exact (max |diff| < 1e-9)")


if __name__ == "__main__":
    main()
