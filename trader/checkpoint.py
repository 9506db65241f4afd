"""An engine's state as JSON, and back, exactly: what a restarted bot resumes from.

Floats go through ``json`` unchanged (``repr`` round-trips every double), so a restored
engine makes bit-for-bit the decisions the original would have made. The checkpoint also
names the last bar it has seen, so a resumed bot can check that its data still agrees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np

from trader.broker import Order, PaperBroker
from trader.engine import EngineState, Leg
from trader.live_state import LiveState
from trader.model import RegimeModel
from trader.regime_slot import RegimeSlot
from trader.risk import RiskState
from trader.strategy import RegimeTracker

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why."""


@dataclass(frozen=True)
class Checkpoint:
    state: EngineState
    bars_seen: int  # bars of the feed consumed, warm-up included
    last_bar_date: str | None
    last_bar_close: float | None
    live: LiveState | None = None  # a live bot's orders at its venue (None for simulated execution)
    rearm_handled: tuple[str, ...] = ()  # re-arm request ids already applied (trader.rearm): never twice
    last_bar_closes: Mapping[str, float] | None = None  # a portfolio's last close per symbol (None: one symbol)

    @property
    def seq(self) -> int:
        return self.state.seq


def _model_to_json(model: RegimeModel | None) -> dict[str, Any] | None:
    return None if model is None else model.to_json()


def _model_from_json(data: dict[str, Any] | None) -> RegimeModel | None:
    return None if data is None else RegimeModel.from_json(data)


def _risk_to_json(risk: RiskState) -> dict[str, Any]:
    out = asdict(risk)
    for key in ("day", "halted_on"):
        out[key] = None if out[key] is None else out[key].isoformat()
    return out


def _risk_from_json(data: dict[str, Any]) -> RiskState:
    values = dict(data)
    if "killed" in values:  # written before halts re-armed: a fired kill switch is now a drawdown halt
        values["drawdown_halt"] = bool(values.pop("killed"))
    for key in ("day", "halted_on"):
        values[key] = None if values[key] is None else date.fromisoformat(values[key])
    return RiskState(**values)


def _broker_to_json(broker: PaperBroker | None) -> dict[str, Any] | None:
    if broker is None:
        return None
    return {
        "cash": broker.cash,
        "slippage_bps": broker.slippage_bps,
        "commission_bps": broker.commission_bps,
        **_positions_to_json(broker),
        "known_ids": sorted(broker.known_ids),
        "pending": [asdict(order) for order in broker.pending],
    }


def _broker_from_json(data: dict[str, Any] | None) -> PaperBroker | None:
    if data is None:
        return None
    by_symbol = data.get("positions")
    return PaperBroker(
        cash=float(data["cash"]),
        slippage_bps=float(data["slippage_bps"]),
        commission_bps=float(data["commission_bps"]),
        position=0.0 if by_symbol is not None else float(data["position"]),
        known_ids=set(data["known_ids"]),
        pending=[Order(**order) for order in data["pending"]],
        positions=None if by_symbol is None else {str(s): float(q) for s, q in by_symbol.items()},
    )


def _positions_to_json(broker: PaperBroker) -> dict[str, Any]:
    """A one-symbol book as it was always written (one number); a portfolio's positions by symbol."""
    if len(broker.positions) <= 1:
        return {"position": broker.position}
    return {"positions": dict(broker.positions)}


def to_json(checkpoint: Checkpoint) -> dict[str, Any]:
    """The first model's state sits at the top level, as before portfolios: a one-symbol bot's checkpoint is
    unchanged. A portfolio adds ``more_slots`` (its other models) and ``legs`` (per symbol: stop loss, last trade,
    the shadow book's last close and target)."""
    state = checkpoint.state
    first = state.slots[0]
    out = {
        "format": FORMAT,
        "bars_seen": checkpoint.bars_seen,
        "last_bar": _last_bar_to_json(checkpoint),
        "seq": state.seq,
        **_slot_to_json(first),
        "risk": _risk_to_json(state.risk),
        "broker": _broker_to_json(state.broker),
        "warnings": list(state.warnings),
        "last_trade_seq": state.last_trade_seq,
        "live": None if checkpoint.live is None else checkpoint.live.to_json(),
        "rearm_handled": list(checkpoint.rearm_handled),
    }
    if len(state.slots) > 1:
        out["more_slots"] = [_slot_to_json(slot) for slot in state.slots[1:]]
    if state.legs:
        out["legs"] = {
            symbol: {
                "rules": _risk_to_json(leg.rules),
                "last_trade_seq": leg.last_trade_seq,
                "shadow_close": leg.shadow_close,
                "shadow_target": leg.shadow_target,
            }
            for symbol, leg in state.legs.items()
        }
    return out


def _last_bar_to_json(checkpoint: Checkpoint) -> dict[str, Any]:
    """The last bar seen: its date and the first symbol's close, and a portfolio's closes by symbol."""
    out: dict[str, Any] = {"date": checkpoint.last_bar_date, "close": checkpoint.last_bar_close}
    if checkpoint.last_bar_closes is not None:
        out["closes"] = dict(checkpoint.last_bar_closes)
    return out


def _slot_to_json(slot: RegimeSlot) -> dict[str, Any]:
    return {
        "model": _model_to_json(slot.model),
        "fitted_at": slot.fitted_at,
        "filter_state": None if slot.filter_state is None else slot.filter_state.tolist(),
        "tracker": asdict(slot.tracker),
        "warm_models": {str(k): model.to_json() for k, model in sorted(slot.warm_models.items())},
    }


def _slot_from_json(data: dict[str, Any]) -> RegimeSlot:
    return RegimeSlot(
        model=_model_from_json(data["model"]),
        fitted_at=int(data["fitted_at"]),
        filter_state=None if data["filter_state"] is None else np.asarray(data["filter_state"], dtype=np.float64),
        tracker=RegimeTracker(**data["tracker"]),
        warm_models={int(k): RegimeModel.from_json(m) for k, m in (data.get("warm_models") or {}).items()},
    )


def from_json(data: dict[str, Any]) -> Checkpoint:
    if data.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint format {data.get('format')!r} is not {FORMAT}: it was written by another version"
        )
    try:
        state = EngineState(
            seq=int(data["seq"]),
            slots=[_slot_from_json(data), *map(_slot_from_json, data.get("more_slots", ()))],
            risk=_risk_from_json(data["risk"]),
            broker=_broker_from_json(data["broker"]),
            warnings=list(data["warnings"]),
            last_trade_seq=data.get("last_trade_seq"),
            legs={
                str(symbol): Leg(
                    _risk_from_json(leg["rules"]), leg["last_trade_seq"], leg["shadow_close"], leg["shadow_target"]
                )
                for symbol, leg in (data.get("legs") or {}).items()
            },
        )
        last = data["last_bar"]
        live = None if data.get("live") is None else LiveState.from_json(data["live"])
        handled = tuple(map(str, data.get("rearm_handled", ())))
        closes = last.get("closes")  # absent before portfolios, and for one symbol
        by_symbol = None if closes is None else {str(s): float(c) for s, c in closes.items()}
        return Checkpoint(state, int(data["bars_seen"]), last["date"], last["close"], live, handled, by_symbol)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint is damaged ({type(exc).__name__}: {exc})") from None
