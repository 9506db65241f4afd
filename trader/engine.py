"""The per-bar engine shared by backtests and live bots: only the adapters differ.

One engine for one symbol and for portfolios of several (a one-symbol bot is a portfolio
of one, and writes the audit and checkpoints it always did). A portfolio's bars are aligned
series, one per symbol (``trader.portfolio_bars.align``). Its regimes come from one model on
a reference series, which sets every symbol's exposure, or from a model per symbol
(``scope``); each symbol's target is its capital weight times its regime's exposure. The
drawdown and daily-loss limits watch the whole book's equity, and a halt flattens every
symbol; the position cap, the stop loss and the rationing below apply per symbol, and each
symbol gets at most one order per bar, its id derived from (bot, bar, symbol).

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from contracts.profile import WEIGHT_SLACK
from trader import records
from trader.bars import Bars
from trader.broker import UNNAMED, Fill, Order, PaperBroker, Side, client_order_id
from trader.model import FitOptions, RegimeModel
from trader.rationing import held_back
from trader.records import BarOutcome
from trader.regime_slot import ReaderConfig, Reading, RegimeReader, RegimeSlot
from trader.risk import RiskLimits, RiskState, Verdict, check, check_book, position_rules, request_rearm
from trader.strategy import RegimeTracker, StrategyConfig, daily_vol_pct, sized

MIN_ORDER_SHARES = 1e-6

Scope = Literal["reference", "per_symbol"]


@dataclass(frozen=True)
class EngineConfig:
    bot_id: str
    symbol: str  # the only symbol, or a portfolio's first
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
    symbols: tuple[str, ...] = ()  # a portfolio's symbols in order, ``symbol`` first; () for one symbol
    scope: Scope = "reference"  # one model on ``reference_symbol`` for every symbol, or one per symbol
    reference_symbol: str | None = None  # scope "reference": the series the model reads (default: the first symbol)
    weights: tuple[float, ...] | None = None  # capital weight per symbol, in ``symbols`` order (default: equal)

    def __post_init__(self) -> None:
        universe = self.universe
        if self.symbols and self.symbols[0] != self.symbol:
            raise ValueError(f"symbols start with {self.symbols[0]!r} but symbol is {self.symbol!r}: make them agree")
        if len(set(universe)) != len(universe):
            raise ValueError(f"symbols {list(universe)} name a symbol twice")
        if self.reference_symbol is not None and self.reference_symbol not in universe:
            raise ValueError(f"reference symbol {self.reference_symbol!r} is not one of {list(universe)}")
        if self.weights is not None:
            if len(self.weights) != len(universe):
                raise ValueError(f"{len(self.weights)} weights for {len(universe)} symbols: give one per symbol")
            if min(self.weights) < 0 or sum(self.weights) > 1 + WEIGHT_SLACK:
                raise ValueError(f"weights {list(self.weights)} must be at least 0 and sum to at most 1")

    @property
    def universe(self) -> tuple[str, ...]:
        """Every symbol the bot trades, in order."""
        return self.symbols or (self.symbol,)

    @property
    def is_portfolio(self) -> bool:
        return len(self.universe) > 1

    @property
    def model_symbols(self) -> tuple[str, ...]:
        """The series a model reads: the reference alone, or every symbol."""
        if self.scope == "per_symbol":
            return self.universe
        return (self.reference_symbol or self.universe[0],)

    def weight(self, symbol: str) -> float:
        if self.weights is None:
            return 1.0 / len(self.universe)
        return self.weights[self.universe.index(symbol)]

    def model_of(self, symbol: str) -> str:
        """The symbol whose series' model sets ``symbol``'s regime."""
        return symbol if self.scope == "per_symbol" else self.model_symbols[0]


@dataclass
class Leg:
    """One symbol of a portfolio: its stop-loss state and its last trade (a one-symbol bot keeps these flat)."""

    rules: RiskState = field(default_factory=RiskState)
    last_trade_seq: int | None = None
    shadow_close: float | None = None  # last bar's close and strategy target: the shadow book's next move
    shadow_target: float = 0.0


@dataclass
class EngineState:
    """Everything a restart needs (checkpointed by the bot runner).

    ``slots`` holds one model per series the bot reads (``EngineConfig.model_symbols``); the
    first is also reachable as ``model``, ``tracker``... as before portfolios. ``legs`` is empty
    for a one-symbol bot, whose stop loss lives in ``risk`` and last trade in ``last_trade_seq``.
    """

    seq: int = 0
    slots: list[RegimeSlot] = field(default_factory=lambda: [RegimeSlot()])
    risk: RiskState = field(default_factory=RiskState)
    broker: PaperBroker | None = None
    warnings: list[str] = field(default_factory=list)
    last_trade_seq: int | None = None  # the decision that last placed an order (minimum holding time)
    legs: dict[str, Leg] = field(default_factory=dict)

    @property
    def model(self) -> RegimeModel | None:
        return self.slots[0].model

    @property
    def fitted_at(self) -> int:
        return self.slots[0].fitted_at

    @property
    def filter_state(self) -> NDArray[np.float64] | None:
        return self.slots[0].filter_state

    @property
    def tracker(self) -> RegimeTracker:
        return self.slots[0].tracker

    @property
    def warm_models(self) -> dict[int, RegimeModel]:
        return self.slots[0].warm_models


class Engine:
    def __init__(
        self,
        config: EngineConfig,
        state: EngineState | None = None,
        *,
        initial_models: Mapping[str, RegimeModel] | None = None,
    ) -> None:
        """``initial_models``: shipped first fits by fit key, each taken only where it is exactly the fit."""
        self.config = config
        self.state = state or EngineState(slots=[RegimeSlot() for _ in config.model_symbols])
        if len(self.state.slots) != len(config.model_symbols):
            raise ValueError(
                f"the saved state holds {len(self.state.slots)} model(s) but this bot reads "
                f"{len(config.model_symbols)} ({', '.join(config.model_symbols)}): it was saved by another set-up"
            )
        if self.state.broker is None:
            positions = {s: 0.0 for s in config.universe} if config.is_portfolio else None
            self.state.broker = PaperBroker(
                cash=config.starting_cash,
                slippage_bps=config.slippage_bps,
                commission_bps=config.commission_bps,
                positions=positions,
            )
        strangers = sorted(set(self.state.broker.positions) - {*config.universe, UNNAMED})
        if strangers:
            raise ValueError(
                f"the saved book holds {', '.join(strangers)}, which this bot does not trade "
                f"({', '.join(config.universe)}): it was saved by another set-up"
            )
        self._portfolio = config.is_portfolio  # asked several times a bar
        if self._portfolio:
            for symbol in config.universe:
                self.state.legs.setdefault(symbol, Leg())
        reader_config = ReaderConfig(
            config.feature_names,
            config.fit,
            config.strategy,
            config.training_window,
            config.window_kind,
            config.refit_every,
            config.warm_refits,
        )
        self._readers = {
            symbol: RegimeReader(reader_config, slot, self._warn_once, initial_models)
            for symbol, slot in zip(config.model_symbols, self.state.slots, strict=True)
        }

    def first_fits(self) -> list[tuple[str, RegimeModel]]:
        """(fit key, model as fitted) of each model's first fit made in this engine, in model order."""
        return [reader.first_fit for reader in self._readers.values() if reader.first_fit is not None]

    def request_rearm(self) -> bool:
        """A person re-arms a drawdown halt (any rule): it ends at the next bar. False if none is engaged."""
        return request_rearm(self.state.risk)

    @property
    def broker(self) -> PaperBroker:
        assert self.state.broker is not None
        return self.state.broker

    def models(self) -> dict[str, RegimeModel]:
        """The current model of each series read (by symbol), once fitted."""
        return {s: slot.model for s, slot in zip(self._readers, self.state.slots, strict=True) if slot.model}

    def on_bar(self, bars: Bars | Mapping[str, Bars], t: int, fills: list[Fill] | None = None) -> dict[str, Any] | None:
        """Process bar ``t`` (the bars may end at t); the audit record, or None during warm-up.

        ``bars``: one series for a one-symbol bot, else the aligned series of every symbol.
        ``fills`` is None for simulated execution (the pending orders fill at this bar's open);
        a live bot passes the fills its venue reported since the last bar instead.
        """
        cfg = self.config
        series = self._series(bars, t)
        day = series[cfg.universe[0]].dates[t]
        if fills is None:
            fills = self.broker.fill_pending({s: float(b.open[t]) for s, b in series.items()}, str(day))
        else:
            for fill in fills:
                self.broker.apply(fill)
        readings: dict[str, Reading] = {}
        for symbol, reader in self._readers.items():
            reading = reader.read(series[symbol], t)
            if reading is None:
                return None
            readings[symbol] = reading
        closes = {s: float(series[s].close[t]) for s in cfg.universe}
        equity = self.broker.equity(closes)
        exposures = {s: self.broker.position_of(s) * closes[s] / equity if equity > 0 else 0.0 for s in cfg.universe}
        if self._portfolio:
            targets = {s: cfg.weight(s) * self._sized(readings[cfg.model_of(s)], series[s], t) for s in cfg.universe}
        else:
            targets = {cfg.symbol: readings[cfg.symbol].decision.target}
        verdicts, book = self._risk(readings, targets, closes, exposures, equity, day)
        self.state.seq += 1
        held = {s: self._held_back(s, verdicts[s], exposures[s]) for s in cfg.universe}
        orders: list[Order] = []
        for symbol in cfg.universe:
            if held[symbol] is None:
                order = self._order(symbol, verdicts[symbol].target, equity, closes[symbol], str(day))
                if order is not None:
                    orders.append(order)
                    self._set_last_trade(symbol, self.state.seq)
        outcome = BarOutcome(
            seq=self.state.seq,
            series=series,
            t=t,
            readings=readings,
            targets=targets,
            verdicts=verdicts,
            book=book,
            held=held,
            orders=orders,
            fills=fills,
            cash=self.broker.cash,
            positions={s: self.broker.position_of(s) for s in cfg.universe},
            exposures=exposures,
            equity=equity,
        )
        return records.portfolio_record(cfg, outcome) if self._portfolio else records.one_symbol_record(cfg, outcome)

    def _sized(self, reading: Reading, bars: Bars, t: int) -> float:
        """A symbol's exposure from its model's regime, scaled to the volatility target by the symbol's own
        volatility: with one model on a reference series, a volatile symbol is not sized by a calm index."""
        return sized(self.config.strategy, reading.decision.exposure, daily_vol_pct(bars.close, t))

    def _series(self, bars: Bars | Mapping[str, Bars], t: int) -> dict[str, Bars]:
        """Every symbol's bars, checked to be one bar per date up to t (misaligned series would mix days)."""
        universe = self.config.universe
        if isinstance(bars, Bars):
            if len(universe) > 1:
                raise ValueError(f"this bot trades {', '.join(universe)}: give the bars of each, aligned by date")
            return {universe[0]: bars}
        missing = [s for s in universe if s not in bars]
        if missing:
            raise ValueError(f"no bars for {', '.join(missing)}: a portfolio needs every symbol's series")
        series = {s: bars[s] for s in universe}
        day = series[universe[0]].dates[t]
        stray = [s for s, b in series.items() if b.dates[t] != day]
        if stray:
            raise ValueError(
                f"bar {t} of {', '.join(stray)} is not {day}: align the series first (trader.portfolio_bars.align)"
            )
        return series

    def _risk(
        self,
        readings: Mapping[str, Reading],
        targets: Mapping[str, float],
        closes: Mapping[str, float],
        exposures: Mapping[str, float],
        equity: float,
        day: date | datetime,
    ) -> tuple[dict[str, Verdict], Verdict | None]:
        """Each symbol's verdict, and (a portfolio) the verdict on the whole book."""
        cfg = self.config
        when = day.date() if isinstance(day, datetime) else day  # intraday bars: the daily limit is per date
        if not self._portfolio:
            reading = readings[cfg.symbol]
            verdict = check(
                cfg.risk,
                self.state.risk,
                target=targets[cfg.symbol],
                regime=reading.decision.regime,
                day=when,
                equity=equity,
                price=closes[cfg.symbol],
                exposure_now=exposures[cfg.symbol],
                calm=reading.calm,
            )
            return {cfg.symbol: verdict}, None
        calm = all(r.calm for r in readings.values())
        index = self._shadow_index(targets, closes)
        book = check_book(cfg.risk, self.state.risk, target=1.0, day=when, equity=equity, price=index, calm=calm)
        verdicts: dict[str, Verdict] = {}
        for symbol in cfg.universe:
            if book.status != "ok":
                verdicts[symbol] = Verdict(0.0, book.status, book.reasons)
                continue
            allowed, reasons = position_rules(
                cfg.risk,
                self.state.legs[symbol].rules,
                target=targets[symbol],
                regime=readings[cfg.model_of(symbol)].decision.regime,
                price=closes[symbol],
                exposure=exposures[symbol],
            )
            verdicts[symbol] = Verdict(allowed, "adjusted" if reasons else "ok", tuple(reasons))
        return verdicts, book

    def _shadow_index(self, targets: Mapping[str, float], closes: Mapping[str, float]) -> float:
        """The level of a book that holds the strategy's own targets, for the ``new_high`` re-arm rule.

        The risk engine's shadow book follows one price at a target; a portfolio's follows this
        index at a target of 1: each bar it moves by the sum of last bar's targets times each
        symbol's return since, so the shadow book earns what the strategy would have.
        """
        growth = 0.0
        for symbol in self.config.universe:
            leg = self.state.legs[symbol]
            if leg.shadow_close is not None:
                growth += leg.shadow_target * (closes[symbol] / leg.shadow_close - 1)
            leg.shadow_close, leg.shadow_target = closes[symbol], targets[symbol]
        level = self.state.risk.shadow_price  # the index level the risk engine last saw (None before a halt)
        return (1.0 if level is None else level) * (1 + growth)

    def _last_trade(self, symbol: str) -> int | None:
        return self.state.legs[symbol].last_trade_seq if self._portfolio else self.state.last_trade_seq

    def _set_last_trade(self, symbol: str, seq: int) -> None:
        if self._portfolio:
            self.state.legs[symbol].last_trade_seq = seq
        else:
            self.state.last_trade_seq = seq

    def _held_back(self, symbol: str, verdict: Verdict, exposure_now: float) -> str | None:
        """Why this bar's rebalance of ``symbol`` is skipped (no-trade band, minimum holding time), or None.

        A portfolio's band applies to each symbol's sleeve (its weight of the book): judged on the whole book,
        a 10% band would never let a 5% position of a 20-symbol portfolio open.
        """
        last = self._last_trade(symbol)
        sleeve = self.config.weight(symbol) if self._portfolio else 1.0
        if sleeve <= 0:
            sleeve = 1.0  # a weight of 0 targets 0, which is never held back
        return held_back(
            verdict.target / sleeve,
            exposure_now / sleeve,
            band=self.config.rebalance_band,
            min_hold_bars=self.config.min_hold_bars,
            bars_since_trade=None if last is None else self.state.seq - last,
            forced=verdict.status in ("halted", "killed"),
        )

    def _warn_once(self, warning: str) -> None:
        """Kept in the checkpoint and printed at the end of every run: a bot that cannot decide says why."""
        if warning not in self.state.warnings:
            self.state.warnings.append(warning)

    def _order(self, symbol: str, target: float, equity: float, price: float, day: str) -> Order | None:
        desired = target * equity / price if equity > 0 else 0.0
        delta = desired - self.broker.position_of(symbol)
        if abs(delta) < MIN_ORDER_SHARES:
            return None
        side: Side = "buy" if delta > 0 else "sell"
        order = Order(client_order_id(self.config.bot_id, day, symbol), symbol, side, abs(delta), day)
        self.broker.submit(order)
        return order
