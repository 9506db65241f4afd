"""Benchmark: the per-bar engine's throughput against a vectorised numpy reference of the same decisions.

The engine runs the whole per-bar path a bot runs (paper fills, features, online filter,
stability filter, volatility sizing, risk checks, rationing, orders, the audit record) and
each record is serialised as the JSONL audit writes it. The model is fitted once up front
and the refit interval lies beyond the run, so the figure is the per-bar cost alone.

The reference computes the same decisions over the same bars the way a research notebook
would: features, emission densities and sizing as whole-array numpy operations; only the
forward recursion and the stability filter (each bar depends on the last) loop over bars.
It sizes with the limits a vectorised pass can express (the position cap); the drawdown and
daily-loss limits are set out of reach and there is no stop loss or rationing, so both must
agree bar for bar: the table reports the regimes and approved exposures that differ (0 is
required) and the largest probability difference. The ratio is engine bars/s over
reference bars/s: the price of doing it one bar at a time with a full audit. ``JSON us/bar``
is the part of the engine's time spent encoding records (included in engine bars/s).

    ./dev bench engine [--passes 3] [--states 2 3 4]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from trader import audit, drift, features
from trader.bars import Bars, load_bundled
from trader.engine import Engine, EngineConfig, EngineState
from trader.filter import OnlineFilter
from trader.model import FitOptions, RegimeModel, fit
from trader.regime_slot import RegimeSlot
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig, exposure_for

FEATURES = ("log_return", "realized_vol")
TRAINING_WINDOW = 504
NEVER = 10**9  # refit interval beyond any run
GOAL_BARS_PER_S = 50_000


def engine_config(n_states: int) -> EngineConfig:
    return EngineConfig(
        bot_id="bench-engine",
        symbol="SPX",
        feature_names=FEATURES,
        fit=FitOptions(n_states=n_states, restarts=2),
        strategy=StrategyConfig(exposure_per_regime=(0.0, 0.5, 1.0), min_persistence=2, vol_target_pct=15.0),
        risk=RiskLimits(max_position_pct=80.0, max_daily_loss_pct=100.0, max_drawdown_pct=100.0),
        training_window=TRAINING_WINDOW,
        refit_every=NEVER,
    )


def fitted_model(X: NDArray[np.float64], first: int, config: EngineConfig) -> RegimeModel:
    """The model the engine would fit at its first decision, with the drift baseline it would record."""
    window = X[first : first + config.training_window]
    model = fit(window, config.fit)
    online = OnlineFilter(model)
    surprises = []
    for row in window:
        online.step(row)
        surprises.append(online.last_log_likelihood)
    return replace(model, surprise_baseline=drift.baseline(surprises))


@dataclass(frozen=True)
class Decisions:
    start: int  # the first decided bar
    regimes: list[int | None]
    approved: NDArray[np.float64]
    probabilities: NDArray[np.float64]


@dataclass(frozen=True)
class EngineRun:
    decisions: Decisions
    audit_bytes: int
    encode_s: float  # of the run's time, spent encoding records as JSON


def run_engine(bars: Bars, config: EngineConfig, model: RegimeModel, start: int) -> EngineRun:
    """Every bar through the engine, each record encoded as the JSONL audit writes it."""
    engine = Engine(config, EngineState(slots=[RegimeSlot(model=model, fitted_at=start)]))
    regimes: list[int | None] = []
    approved: list[float] = []
    probabilities: list[list[float]] = []
    written = 0
    encode_s = 0.0
    first_decided = -1
    clock = time.perf_counter
    for t in range(len(bars)):
        record = engine.on_bar(bars, t)
        if record is None:
            continue
        began = clock()
        line = audit.encode(record)
        encode_s += clock() - began
        written += len(line) + 1
        if first_decided < 0:
            first_decided = t
        regimes.append(record["regime"])
        approved.append(record["risk"]["approved"])
        probabilities.append(record["probabilities"])
    decisions = Decisions(first_decided, regimes, np.array(approved), np.array(probabilities))
    return EngineRun(decisions, written, encode_s)


def run_reference(bars: Bars, config: EngineConfig, model: RegimeModel, start: int) -> Decisions:
    """The same filter, stability filter, sizing and position cap, vectorised where the maths allows."""
    strategy, k = config.strategy, model.n_states
    X = features.compute(bars, FEATURES)[start:]
    # Emission log-densities of every bar under every state at once.
    chol = np.linalg.cholesky(model.covars)
    z = np.linalg.solve(chol[None, :, :, :], (X[:, None, :] - model.means[None, :, :])[..., None])[..., 0]
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    log_b = -0.5 * (X.shape[1] * math.log(2 * math.pi) + log_det + (z * z).sum(axis=2))
    b = np.exp(log_b - log_b.max(axis=1, keepdims=True))
    # The forward recursion: each bar needs the last.
    alphas = np.empty_like(b)
    alpha = model.startprob * b[0]
    alphas[0] = alpha / alpha.sum()
    trans = model.transmat
    for i in range(1, len(b)):
        alpha = (alphas[i - 1] @ trans) * b[i]
        alphas[i] = alpha / alpha.sum()
    top = alphas.argmax(axis=1)
    confident = alphas.max(axis=1) >= strategy.prob_threshold
    # The stability filter: a regime is accepted after min_persistence confident bars on top.
    regimes: list[int | None] = []
    regime: int | None = None
    candidate, streak = -1, 0
    for state, sure in zip(top.tolist(), confident.tolist(), strict=True):
        if not sure or state == regime:
            candidate, streak = -1, 0
        elif state == candidate:
            streak += 1
        else:
            candidate, streak = state, 1
        if candidate >= 0 and streak >= strategy.min_persistence:
            regime, candidate, streak = candidate, -1, 0
        regimes.append(regime)
    per_state = np.array([exposure_for(strategy.exposure_per_regime, s, k) for s in range(k)] + [0.0])
    exposure = per_state[np.array([k if r is None else r for r in regimes])]
    # Volatility target: the std of the last 20 daily log returns, annualised.
    returns = np.diff(np.log(bars.close))
    vol = np.lib.stride_tricks.sliding_window_view(returns, 20).std(axis=1, ddof=1) * 100  # ends at bar 20..n-1
    daily_vol = vol[start - 20 :]
    scale = np.minimum(strategy.max_vol_scale, strategy.vol_target_pct / (daily_vol * np.sqrt(252)))
    cap = config.risk.max_position_pct / 100.0
    approved = np.clip(np.clip(exposure * scale, -1.0, 1.0), -cap, cap)
    return Decisions(start, regimes, approved, alphas)


def measure(bars: Bars, n_states: int, passes: int) -> dict[str, float]:
    config = engine_config(n_states)
    X = features.compute(bars, FEATURES)
    first = features.first_complete_row(X)
    start = first + config.training_window
    model = fitted_model(X, first, config)
    engine_s = reference_s = encode_s = 0.0
    for _ in range(passes):
        began = time.perf_counter()
        run = run_engine(bars, config, model, start)
        engine_s += time.perf_counter() - began
        encode_s += run.encode_s
        began = time.perf_counter()
        reference = run_reference(bars, config, model, start)
        reference_s += time.perf_counter() - began
    engine = run.decisions
    decided = len(engine.regimes)
    assert engine.start == reference.start == start, (engine.start, start)
    return {
        "K": n_states,
        "bars": decided * passes,
        "engine": decided * passes / engine_s,
        "json_us": encode_s / (decided * passes) * 1e6,
        "reference": decided * passes / reference_s,
        "audit_kb": run.audit_bytes / decided / 1e3,
        "regimes_off": sum(a != b for a, b in zip(engine.regimes, reference.regimes, strict=True)),
        "approved_off": int((np.abs(engine.approved - reference.approved) > 1e-9).sum()),
        "max_p_diff": float(np.abs(engine.probabilities - reference.probabilities).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=3, help="runs over the series per row (timings summed)")
    parser.add_argument("--states", type=int, nargs="+", default=[2, 3, 4], help="numbers of regimes, a row each")
    parser.add_argument("--bars", type=int, default=0, help="use only the first N bundled bars (0: all)")
    args = parser.parse_args()
    bars = load_bundled("sp500")
    if args.bars:
        bars = bars.head(args.bars)
    rows = [measure(bars, k, args.passes) for k in args.states]
    print(
        f"S&P 500 daily ({len(bars)} bars, {TRAINING_WINDOW} before the first decision), features "
        f"{' + '.join(FEATURES)}, one fit up front, no refits, every record JSON-encoded; {args.passes} pass(es)"
    )
    print(
        f"{'K':>2}  {'bars':>6}  {'engine bars/s':>13}  {'JSON us/bar':>11}  {'reference bars/s':>16}  {'ratio':>6}  "
        f"{'audit kB/bar':>12}  {'regimes off':>11}  {'approved off':>12}  {'max |p diff|':>12}"
    )
    for r in rows:
        print(
            f"{r['K']:>2}  {r['bars']:>6}  {r['engine']:>13,.0f}  {r['json_us']:>11.1f}  {r['reference']:>16,.0f}  "
            f"{r['engine'] / r['reference']:>6.3f}  {r['audit_kb']:>12.2f}  {r['regimes_off']:>11}  "
            f"{r['approved_off']:>12}  {r['max_p_diff']:>12.1e}"
        )
    print(f"goal: engine >= {GOAL_BARS_PER_S:,} bars/s; regimes off and approved off must be 0")


if __name__ == "__main__":
    main()
