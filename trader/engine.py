"""The per-bar engine shared by backtests and live bots: only the adapters differ.

For bar t: fill the orders placed at bar t-1 at this bar's open -> features of bars
0..t -> (re)fit on a window that ends at bar t-1 when due -> online filter -> strategy ->
risk -> orders for the next open -> one audit record. Nothing at bar t reads a bar after
t, and a refit never sees the bar it is about to judge, so every decision is out of sample.

Trades are rationed: a rebalance happens only when the approved exposure is more than
``rebalance_band`` away from the book's, and not within ``min_hold_bars`` of the last one.
Going flat and the risk engine's halts are never held back. Each record lists its
``events`` (regime changes, halts, re-arms) and a ``drift`` signal: the posterior's
entropy and how surprising the bar was to the model (``trader.drift``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader import drift, features
from trader.bars import Bars
from trader.broker import Fill, Order, PaperBroker, client_order_id
from trader.filter import OnlineFilter
from trader.model import DegenerateFit, FitOptions, RegimeModel, fit, fit_auto, nearest_states
from trader.rationing import held_back
from trader.risk import RiskLimits, RiskState, Verdict, check, request_rearm
from trader.strategy import RegimeTracker, StrategyConfig, decide

MIN_ORDER_SHARES = 1e-6


@dataclass(frozen=True)
class EngineConfig:
    bot_id: str
    symbol: str
    feature_names: tuple[str, ...]
    fit: FitOptions
    strategy: StrategyConfig
    risk: RiskLimits
    training_window: int = 756
    window_kind: str = "rolling"
    refit_every: int = 21
    warm_refits: bool = True  # refit from the previous model alone; cold restarts only if that fails
    starting_cash: float = 100_000.0
    slippage_bps: float = 2.0
    commission_bps: float = 1.0
    rebalance_band: float = 0.0  # no trade while |approved - held exposure| is at most this (fraction of equity)
    min_hold_bars: int = 0  # bars after a trade before the next one (exits and halts excepted)


@dataclass
class EngineState:
    """Everything a restart needs (checkpointed by the bot runner)."""

    seq: int = 0
    model: RegimeModel | None = None
    fitted_at: int = -1
    filter_state: NDArray[np.float64] | None = None
    tracker: RegimeTracker = field(default_factory=RegimeTracker)
    risk: RiskState = field(default_factory=RiskState)
    broker: PaperBroker | None = None
    warnings: list[str] = field(default_factory=list)
    last_trade_seq: int | None = None  # the decision that last placed an order (minimum holding time)
    warm_models: dict[int, RegimeModel] = field(default_factory=dict)  # n_states auto: last fit of each size


class Engine:
    def __init__(self, config: EngineConfig, state: EngineState | None = None) -> None:
        self.config = config
        self.state = state or EngineState()
        if self.state.broker is None:
            self.state.broker = PaperBroker(
                cash=config.starting_cash, slippage_bps=config.slippage_bps, commission_bps=config.commission_bps
            )
        self._filter: OnlineFilter | None = None
        self._X = np.empty((0, len(config.feature_names)))  # feature row buffer (a cache, not state)
        self._rows_done = 0
        if self.state.model is not None:
            self._filter = OnlineFilter(self.state.model, state=self.state.filter_state)

    def request_rearm(self) -> bool:
        """A person re-arms a drawdown halt (any rule): it ends at the next bar. False if none is engaged."""
        return request_rearm(self.state.risk)

    @property
    def broker(self) -> PaperBroker:
        assert self.state.broker is not None
        return self.state.broker

    def _refit(self, bars: Bars, X: NDArray[np.float64], t: int, first: int) -> list[str]:
        """Fit on rows up to t-1, then bring the filter to t-1 under the new model."""
        cfg = self.config
        start = first if cfg.window_kind == "expanding" else max(first, t - cfg.training_window)
        window = X[start:t]
        model: RegimeModel | None = None
        notes: list[str] = []
        if cfg.warm_refits and self.state.model is not None:
            try:
                model = self._fit(window, replace(cfg.fit, restarts=0))
            except DegenerateFit as exc:
                notes.append(f"warm refit at bar {t} failed ({exc}); trying cold restarts")
        if model is None:
            try:
                model = self._fit(window, cfg.fit)
            except DegenerateFit as exc:
                return [*notes, f"refit at bar {t} skipped, previous model kept: {exc}"]
        model = replace(
            model, trained_on={"first": str(bars.dates[start]), "last": str(bars.dates[t - 1]), "bars": t - start}
        )
        online = OnlineFilter(model)
        surprises = []
        for row in window:
            online.step(row)
            surprises.append(online.last_log_likelihood)
        model = replace(model, surprise_baseline=drift.baseline(surprises))
        online.model = model
        previous = self.state.model
        if previous is not None and previous.n_states != model.n_states:
            notes.append(f"refit at bar {t} chose {model.n_states} regimes instead of {previous.n_states}")
            self._carry_regime(previous, model)
        self.state.model, self.state.fitted_at, self._filter = model, t, online
        return notes

    def _fit(self, window: NDArray[np.float64], options: FitOptions) -> RegimeModel:
        if options.auto_states is None:
            return fit(window, options, previous=self.state.model)
        model, by_size = fit_auto(window, options, previous=self.state.model, warm=self.state.warm_models)
        self.state.warm_models = by_size
        return model

    def _carry_regime(self, old: RegimeModel, new: RegimeModel) -> None:
        """The accepted regime keeps its meaning across a change in the number of states (``auto``)."""
        tracker = self.state.tracker
        if tracker.regime is not None:
            tracker.regime = nearest_states(old, new)[tracker.regime]
        tracker.candidate, tracker.streak = None, 0

    def on_bar(self, bars: Bars, t: int, fills: list[Fill] | None = None) -> dict[str, Any] | None:
        """Process bar ``t`` of ``bars`` (which may end at t); the audit record, or None during warm-up.

        ``fills`` is None for simulated execution (the pending orders fill at this bar's open);
        a live bot passes the fills its venue reported since the last bar instead.
        """
        cfg = self.config
        day = bars.dates[t]
        if fills is None:
            fills = self.broker.fill_pending(float(bars.open[t]), str(day))
        else:
            for fill in fills:
                self.broker.apply(fill)
        X = self._features_until(bars, t)
        first = features.first_complete_row(X) if not np.isnan(X[-1]).any() else t + 1
        if t - first < cfg.training_window:
            return None  # warm-up: not enough history for a first fit
        notes: list[str] = []
        if self.state.model is None or t - self.state.fitted_at >= cfg.refit_every:
            notes = self._refit(bars, X, t, first)
        if self._filter is None:
            if notes:  # the first fit failed: say why (once), or the bot would silently decide nothing
                reason = notes[-1].split(": ", 1)[-1]
                self._warn_once(f"no model could be fitted yet ({reason}); the bot decides nothing until one fits")
            return None
        model = self.state.model
        assert model is not None
        probabilities = self._filter.step(X[t])
        self.state.filter_state = self._filter.state
        close = float(bars.close[t])
        daily_vol = float(np.std(np.diff(np.log(bars.close[max(0, t - 20) : t + 1])), ddof=1) * 100) if t > 2 else None
        regime_before = self.state.tracker.regime
        decision = decide(cfg.strategy, self.state.tracker, probabilities, daily_vol_pct=daily_vol)
        events: list[dict[str, Any]] = []
        if decision.regime is not None and decision.regime != regime_before:
            events.append({"kind": "regime_change", "from": regime_before, "to": decision.regime})
        equity = self.broker.equity(close)
        exposure_now = self.broker.position * close / equity if equity > 0 else 0.0
        verdict = check(
            cfg.risk,
            self.state.risk,
            target=decision.target,
            regime=decision.regime,
            day=day.date() if isinstance(day, datetime) else day,  # intraday bars: the daily limit is per date
            equity=equity,
            price=close,
            exposure_now=exposure_now,
            calm=decision.regime is not None and decision.regime in drift.calm_states(model, cfg.feature_names),
        )
        events.extend(verdict.events)
        self.state.seq += 1
        held = self._held_back(verdict, exposure_now)
        orders = [] if held else self._orders(verdict.target, equity, close, str(day))
        if orders:
            self.state.last_trade_seq = self.state.seq
        return {
            "seq": self.state.seq,
            "bar": {
                "date": str(day),
                "open": float(bars.open[t]),
                "high": float(bars.high[t]),
                "low": float(bars.low[t]),
                "close": close,
                "volume": float(bars.volume[t]),
            },
            "features": dict(zip(cfg.feature_names, map(float, X[t]), strict=True)),
            "probabilities": [float(p) for p in probabilities],
            "regime": decision.regime,
            "confidence": decision.confidence,
            "target": decision.target,
            "risk": {"status": verdict.status, "approved": verdict.target, "reasons": list(verdict.reasons)},
            "held": held,
            "orders": [vars(o) for o in orders],
            "fills": [vars(f) for f in fills],
            "cash": self.broker.cash,
            "position": self.broker.position,
            "equity": equity,
            "model_id": model.model_id(),
            "n_states": model.n_states,
            "drift": drift.signal(model, probabilities, self._filter.last_log_likelihood),
            "events": events,
            "notes": notes,
        }

    def _held_back(self, verdict: Verdict, exposure_now: float) -> str | None:
        """Why this bar's rebalance is skipped (no-trade band, minimum holding time), or None to trade."""
        last = self.state.last_trade_seq
        return held_back(
            verdict.target,
            exposure_now,
            band=self.config.rebalance_band,
            min_hold_bars=self.config.min_hold_bars,
            bars_since_trade=None if last is None else self.state.seq - last,
            forced=verdict.status in ("halted", "killed"),
        )

    def _warn_once(self, warning: str) -> None:
        """Kept in the checkpoint and printed at the end of every run: a bot that cannot decide says why."""
        if warning not in self.state.warnings:
            self.state.warnings.append(warning)

    def _features_until(self, bars: Bars, t: int) -> NDArray[np.float64]:
        """Feature rows 0..t, each computed from bars up to its own index only."""
        if len(self._X) <= t:  # grow geometrically: appending row by row would copy the history each bar
            grown = np.empty((max(2 * len(self._X), t + 1, 256), self._X.shape[1]))
            grown[: self._rows_done] = self._X[: self._rows_done]
            self._X = grown
        for i in range(self._rows_done, t + 1):
            self._X[i] = features.row(bars, i, self.config.feature_names)
        self._rows_done = max(self._rows_done, t + 1)
        return self._X[: t + 1]

    def _orders(self, target: float, equity: float, price: float, day: str) -> list[Order]:
        desired = target * equity / price if equity > 0 else 0.0
        delta = desired - self.broker.position
        if abs(delta) < MIN_ORDER_SHARES:
            return []
        order = Order(
            client_order_id(self.config.bot_id, day, self.config.symbol),
            self.config.symbol,
            "buy" if delta > 0 else "sell",
            abs(delta),
            day,
        )
        self.broker.submit(order)
        return [order]
