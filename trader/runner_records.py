"""What the runner writes besides the engine's records, for both record layouts.

The engine writes a decided bar's record (``trader.records``): flat for one symbol, with
``symbols`` and ``models`` sections for a portfolio. The runner adds three things around
it: the record of a live bot that halts before trading, the console line per decision,
and the few headline numbers a bus tick or envelope carries. Each follows the layout the
bot's records use, so a reader never meets a portfolio record shaped like a one-symbol one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trader.bars import Bars, bar_fields

if TYPE_CHECKING:  # the outbox reads headlines without loading the engine
    from trader.engine import Engine


@dataclass(frozen=True)
class Headline:
    """A record in four numbers, for a live chart: a portfolio's first model (the reference series', or the first
    symbol's) and the close of the series it reads."""

    close: float
    regime: int | None
    confidence: float | None
    probabilities: list[float]


def halt_record(engine: Engine, bars: Mapping[str, Bars], t: int, reason: str) -> dict[str, Any]:
    """The record of a bot that will not trade (at bar ``t``, the last it has seen); the next seq is taken."""
    engine.state.seq += 1
    if engine.config.is_portfolio:
        return _portfolio_halt(engine, bars, t, reason)
    bar = bar_fields(bars[engine.config.symbol], t)
    return {
        "seq": engine.state.seq,
        "event": "halt",
        "bar": bar,
        "probabilities": [],
        "regime": None,
        "confidence": None,
        "target": 0.0,
        "risk": {"status": "halted", "approved": 0.0, "reasons": [reason]},
        "orders": [],
        "fills": [],
        "cash": engine.broker.cash,
        "position": engine.broker.position,
        "equity": engine.broker.equity(bar["close"]),
        "model_id": engine.state.model.model_id() if engine.state.model else None,
        "events": [],
        "notes": [reason],
    }


def _portfolio_halt(engine: Engine, bars: Mapping[str, Bars], t: int, reason: str) -> dict[str, Any]:
    """The portfolio layout (``trader.records.portfolio_record``) with every target at 0 and no model reading."""
    config, broker = engine.config, engine.broker
    closes = {s: float(bars[s].close[t]) for s in config.universe}
    equity = broker.equity(closes)
    legs = {
        s: {
            "bar": bar_fields(bars[s], t),
            "model": config.model_of(s),
            "weight": config.weight(s),
            "target": 0.0,
            "risk": {"status": "halted", "approved": 0.0, "reasons": [reason]},
            "held": None,
            "position": broker.position_of(s),
            "exposure": broker.position_of(s) * closes[s] / equity if equity > 0 else 0.0,
        }
        for s in config.universe
    }
    return {
        "seq": engine.state.seq,
        "event": "halt",
        "bar": {"date": str(bars[config.universe[0]].dates[t])},
        "symbols": legs,
        "models": {},
        "risk": {"status": "halted", "reasons": [reason]},
        "orders": [],
        "fills": [],
        "cash": broker.cash,
        "positions": {s: broker.position_of(s) for s in config.universe},
        "equity": equity,
        "events": [],
        "notes": [reason],
    }


def console_line(record: dict[str, Any]) -> str:
    """One line per decision; a test or a supervisor reads ``seq=`` at its start."""
    counts = f"orders={len(record['orders'])} fills={len(record['fills'])} equity={record['equity']:.2f}"
    risk = record["risk"]["status"]
    if "symbols" not in record:
        return (
            f"seq={record['seq']} bar={record['bar']['date']} regime={record['regime']} "
            f"confidence={record['confidence']:.2f} target={record['target']:.2f} risk={risk} {counts}"
        )
    regimes = ",".join(f"{s}:{m['regime']}@{m['confidence']:.2f}" for s, m in record["models"].items())
    legs = " ".join(
        f"{s}:position={leg['position']:.4f},target={leg['target']:.2f}" for s, leg in record["symbols"].items()
    )
    return f"seq={record['seq']} bar={record['bar']['date']} regimes={regimes} risk={risk} {counts} {legs}"


def headline(record: dict[str, Any]) -> Headline:
    """The close and the regime a chart shows: a portfolio's first model and the close of its series."""
    if "symbols" not in record:
        return Headline(record["bar"]["close"], record["regime"], record["confidence"], list(record["probabilities"]))
    legs: dict[str, Any] = record["symbols"]
    lead = next(iter(record["models"]), None)
    if lead is None:  # a halt record: no reading
        return Headline(next(iter(legs.values()))["bar"]["close"], None, None, [])
    model = record["models"][lead]
    close = legs.get(lead, next(iter(legs.values())))["bar"]["close"]  # the series the model reads
    return Headline(close, model["regime"], model["confidence"], list(model["probabilities"]))
