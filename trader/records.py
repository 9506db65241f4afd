"""The audit record of one decided bar, in its two layouts.

A one-symbol bot writes the flat record it always wrote (``bar`` with OHLCV, ``regime``,
``position``...), which the runner, the report, the evaluation and the dashboards read.
A portfolio writes one record per bar with a section per symbol (``symbols``: its bar,
weight, target, risk verdict, rationing, position, exposure) and one per model
(``models``: features, probabilities, regime, confidence, model id, drift): with one model
on a reference series its reading is written once, not once per symbol. Every order and
fill names its symbol; ``events`` and ``notes`` name the model they come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trader.bars import Bars, bar_fields
from trader.broker import Fill, Order
from trader.regime_slot import Reading
from trader.risk import Verdict

if TYPE_CHECKING:
    from trader.engine import EngineConfig


@dataclass(frozen=True)
class BarOutcome:
    """Everything the engine decided at bar ``t``, by symbol (``readings`` by the symbol whose series a model reads)."""

    seq: int
    series: Mapping[str, Bars]
    t: int
    readings: Mapping[str, Reading]
    targets: Mapping[str, float]
    verdicts: Mapping[str, Verdict]
    book: Verdict | None  # a portfolio's verdict on the whole book (None for one symbol)
    held: Mapping[str, str | None]
    orders: list[Order]
    fills: list[Fill]
    cash: float
    positions: Mapping[str, float]
    exposures: Mapping[str, float]
    equity: float


def one_symbol_record(config: EngineConfig, outcome: BarOutcome) -> dict[str, Any]:
    """A one-symbol bot's record, field for field as before portfolios."""
    symbol = config.symbol
    reading, verdict = outcome.readings[symbol], outcome.verdicts[symbol]
    return {
        "seq": outcome.seq,
        "bar": bar_fields(outcome.series[symbol], outcome.t),
        **_model_section(config.feature_names, reading),
        "target": reading.decision.target,
        "risk": _risk_section(verdict),
        "held": outcome.held[symbol],
        "orders": [vars(o) for o in outcome.orders],
        "fills": [vars(f) for f in outcome.fills],
        "cash": outcome.cash,
        "position": outcome.positions[symbol],
        "equity": outcome.equity,
        "events": [*_regime_changes(outcome.readings, by_model=False), *verdict.events],
        "notes": reading.notes,
    }


def portfolio_record(config: EngineConfig, outcome: BarOutcome) -> dict[str, Any]:
    book = outcome.book
    assert book is not None
    legs = {
        symbol: {
            "bar": bar_fields(outcome.series[symbol], outcome.t),
            "model": config.model_of(symbol),
            "weight": config.weight(symbol),
            "target": outcome.targets[symbol],
            "risk": _risk_section(outcome.verdicts[symbol]),
            "held": outcome.held[symbol],
            "position": outcome.positions[symbol],
            "exposure": outcome.exposures[symbol],
        }
        for symbol in config.universe
    }
    first = outcome.series[config.universe[0]]
    return {
        "seq": outcome.seq,
        "bar": {"date": str(first.dates[outcome.t])},
        "symbols": legs,
        "models": {symbol: _model_section(config.feature_names, r) for symbol, r in outcome.readings.items()},
        "risk": {"status": _book_status(book, outcome.verdicts), "reasons": list(book.reasons)},
        "orders": [vars(o) for o in outcome.orders],
        "fills": [vars(f) for f in outcome.fills],
        "cash": outcome.cash,
        "positions": dict(outcome.positions),
        "equity": outcome.equity,
        "events": [*_regime_changes(outcome.readings, by_model=True), *book.events],
        "notes": [f"{symbol}: {note}" for symbol, r in outcome.readings.items() for note in r.notes],
    }


def _model_section(feature_names: tuple[str, ...], reading: Reading) -> dict[str, Any]:
    """What one model read and decided at this bar."""
    decision = reading.decision
    return {
        "features": dict(zip(feature_names, reading.features.tolist(), strict=True)),
        "probabilities": reading.probabilities.tolist(),
        "regime": decision.regime,
        "confidence": decision.confidence,
        "model_id": reading.model_id,
        "n_states": reading.model.n_states,
        "drift": reading.drift,
    }


def _risk_section(verdict: Verdict) -> dict[str, Any]:
    return {"status": verdict.status, "approved": verdict.target, "reasons": list(verdict.reasons)}


def _book_status(book: Verdict, verdicts: Mapping[str, Verdict]) -> str:
    """The book's status: a halt, else ``adjusted`` if any symbol's target was, else ``ok``."""
    if book.status != "ok":
        return book.status
    return "adjusted" if any(v.status == "adjusted" for v in verdicts.values()) else "ok"


def _regime_changes(readings: Mapping[str, Reading], *, by_model: bool) -> list[dict[str, Any]]:
    """A regime-change event per model whose accepted regime changed (naming the model in a portfolio)."""
    events: list[dict[str, Any]] = []
    for symbol, reading in readings.items():
        regime, before = reading.decision.regime, reading.regime_before
        if regime is not None and regime != before:
            event: dict[str, Any] = {"kind": "regime_change", "from": before, "to": regime}
            events.append({**event, "model": symbol} if by_model else event)
    return events
