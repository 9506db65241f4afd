"""One regime model reading one series, bar by bar: features, refits, the online filter and the stability filter.

A one-symbol bot has one; a portfolio has one on its reference series (``scope: reference``)
or one per symbol (``scope: per_symbol``). ``RegimeSlot`` is what a restart needs (the
checkpoint holds it); ``RegimeReader`` adds what is rebuilt from the bars (the feature
rows, the filter object) and does the work. Row t of the features reads bars 0..t only, and
a refit at bar t fits on rows up to t-1, so every reading is out of sample.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader import drift, features
from trader.bars import Bars
from trader.filter import OnlineFilter
from trader.initial_models import fit_key
from trader.model import DegenerateFit, FitOptions, RegimeModel, fit, fit_auto, nearest_states
from trader.strategy import Decision, RegimeTracker, StrategyConfig, daily_vol_pct, decide


@dataclass
class RegimeSlot:
    """One model's checkpointed state."""

    model: RegimeModel | None = None
    fitted_at: int = -1
    filter_state: NDArray[np.float64] | None = None
    tracker: RegimeTracker = field(default_factory=RegimeTracker)
    warm_models: dict[int, RegimeModel] = field(default_factory=dict)  # n_states auto: last fit of each size


@dataclass(frozen=True)
class ReaderConfig:
    feature_names: tuple[str, ...]
    fit: FitOptions
    strategy: StrategyConfig
    training_window: int
    window_kind: str
    refit_every: int
    warm_refits: bool


@dataclass(frozen=True)
class Reading:
    """What one model says at one bar."""

    model: RegimeModel
    model_id: str
    features: NDArray[np.float64]
    probabilities: NDArray[np.float64]
    decision: Decision
    regime_before: int | None
    calm: bool
    drift: dict[str, Any]
    notes: list[str]


class RegimeReader:
    def __init__(
        self,
        config: ReaderConfig,
        slot: RegimeSlot,
        warn: Callable[[str], None],
        initial_models: Mapping[str, RegimeModel] | None = None,
    ) -> None:
        self.config = config
        self.slot = slot
        self._warn = warn
        self._initial_models = initial_models or {}  # shipped first fits by fit key (trader.initial_models)
        self.first_fit: tuple[str, RegimeModel] | None = None  # (fit key, model as fitted) of this reader's first fit
        self._filter: OnlineFilter | None = None
        self._X = np.empty((0, len(config.feature_names)))  # feature row buffer (a cache, not state)
        self._rows_done = 0
        self._first_complete: int | None = None  # the first row with no NaN, once seen (rows never change)
        self._facts_of: tuple[RegimeModel, str, frozenset[int]] | None = None  # a model's id and calm states
        if slot.model is not None:
            self._filter = OnlineFilter(slot.model, state=slot.filter_state)

    def read(self, bars: Bars, t: int) -> Reading | None:
        """Bar ``t`` of ``bars`` (which may end at t) through the model; None in warm-up or before a first fit."""
        cfg, slot = self.config, self.slot
        X = self._features_until(bars, t)
        first = self._first_complete_until(X, t)
        if t - first < cfg.training_window:
            return None  # warm-up: not enough history for a first fit
        notes: list[str] = []
        if slot.model is None or t - slot.fitted_at >= cfg.refit_every:
            notes = self._refit(bars, X, t, first)
        if self._filter is None:
            if notes:  # the first fit failed: say why (once), or the bot would silently decide nothing
                reason = notes[-1].split(": ", 1)[-1]
                self._warn(f"no model could be fitted yet ({reason}); the bot decides nothing until one fits")
            return None
        model = slot.model
        assert model is not None
        probabilities = self._filter.step(X[t])
        slot.filter_state = self._filter.state
        regime_before = slot.tracker.regime
        decision = decide(cfg.strategy, slot.tracker, probabilities, daily_vol_pct=daily_vol_pct(bars.close, t))
        model_id, calm_states = self._facts(model)
        calm = decision.regime is not None and decision.regime in calm_states
        signal = drift.signal(model, probabilities, self._filter.last_log_likelihood)
        return Reading(model, model_id, X[t], probabilities, decision, regime_before, calm, signal, notes)

    def _facts(self, model: RegimeModel) -> tuple[str, frozenset[int]]:
        """The model's id and calm states, computed once per model (each costs more than the rest of a bar)."""
        if self._facts_of is None or self._facts_of[0] is not model:
            self._facts_of = (model, model.model_id(), drift.calm_states(model, self.config.feature_names))
        return self._facts_of[1], self._facts_of[2]

    def _first_complete_until(self, X: NDArray[np.float64], t: int) -> int:
        """The first row of ``X`` (rows 0..t) with no NaN, or t + 1 while row t still has one."""
        if any(value != value for value in X[t].tolist()):  # a NaN: cheaper than numpy's any() on a few values
            return t + 1
        if self._first_complete is None:
            self._first_complete = features.first_complete_row(X)
        return self._first_complete

    def _refit(self, bars: Bars, X: NDArray[np.float64], t: int, first: int) -> list[str]:
        """Fit on rows up to t-1, then bring the filter to t-1 under the new model."""
        cfg, slot = self.config, self.slot
        start = first if cfg.window_kind == "expanding" else max(first, t - cfg.training_window)
        window = X[start:t]
        model: RegimeModel | None = None
        notes: list[str] = []
        if cfg.warm_refits and slot.model is not None:
            try:
                model = self._fit(window, replace(cfg.fit, restarts=0))
            except DegenerateFit as exc:
                notes.append(f"warm refit at bar {t} failed ({exc}); trying cold restarts")
        if model is None:
            try:
                model = self._first_fit(window) if slot.model is None else self._fit(window, cfg.fit)
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
        previous = slot.model
        if previous is not None and previous.n_states != model.n_states:
            notes.append(f"refit at bar {t} chose {model.n_states} regimes instead of {previous.n_states}")
            self._carry_regime(previous, model)
        slot.model, slot.fitted_at, self._filter = model, t, online
        return notes

    def _first_fit(self, window: NDArray[np.float64]) -> RegimeModel:
        """The first fit, or the shipped model that is exactly that fit (same window bytes, options, versions)."""
        options = self.config.fit
        if options.auto_states is not None:  # auto also keeps each size's fit for warm refits: fit here
            return self._fit(window, options)
        key = fit_key(window, options)
        model = self._initial_models.get(key)
        if model is None:
            model = self._fit(window, options)
        self.first_fit = (key, model)
        return model

    def _fit(self, window: NDArray[np.float64], options: FitOptions) -> RegimeModel:
        if options.auto_states is None:
            return fit(window, options, previous=self.slot.model)
        model, by_size = fit_auto(window, options, previous=self.slot.model, warm=self.slot.warm_models)
        self.slot.warm_models = by_size
        return model

    def _carry_regime(self, old: RegimeModel, new: RegimeModel) -> None:
        """The accepted regime keeps its meaning across a change in the number of states (``auto``)."""
        tracker = self.slot.tracker
        if tracker.regime is not None:
            tracker.regime = nearest_states(old, new)[tracker.regime]
        tracker.candidate, tracker.streak = None, 0

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
