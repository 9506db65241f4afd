"""Ticks and audit records as a running bot publishes them, for the ui tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from contracts.events import AuditRecord, Tick
from trader import portfolio_backtest
from trader.engine import EngineConfig
from trader.model import FitOptions
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig
from venues.daily import synthetic_bars

BOT = uuid.UUID("0b5a7c1e-0000-4000-8000-0000000000aa")
START = datetime(2024, 5, 1, tzinfo=UTC)


def day(seq: int) -> datetime:
    return START + timedelta(days=seq - 1)


def tick(seq: int, close: float, regime: int | None = 0, equity: float | None = 100_000.0) -> Tick:
    return Tick(
        id=f"{BOT}:{seq}:tick", correlation_id=str(BOT), bot_id=BOT, seq=seq, bar_at=day(seq), close=close,
        regime=regime, confidence=0.9, equity=equity,
    )  # fmt: skip


def record(
    seq: int,
    close: float = 100.0,
    regime: int | None = 0,
    equity: float = 100_000.0,
    status: str = "ok",
    kind: str = "decision",
    bot: uuid.UUID = BOT,
    **detail: Any,
) -> AuditRecord:
    probabilities = [0.0, 0.0, 0.0]
    if regime is not None:
        probabilities[regime] = 1.0
    body: dict[str, Any] = {
        "seq": seq,
        "bar": {"date": day(seq).date().isoformat(), "close": close},
        "features": {"ret_1": 0.01},
        "probabilities": probabilities,
        "regime": regime,
        "confidence": 0.875,
        "target": 0.5,
        "risk": {"status": status, "approved": 0.0 if status != "ok" else 0.5,
                 "reasons": [] if status == "ok" else [f"{status} for a reason"]},
        "orders": [],
        "fills": [],
        "cash": 50_000.0,
        "position": 500.0,
        "equity": equity,
        **detail,
    }  # fmt: skip
    return AuditRecord(
        id=f"{bot}:{seq}", correlation_id=str(bot), bot_id=bot, seq=seq, bar_at=day(seq), kind=kind,  # type: ignore[arg-type]
        regime=regime, probabilities=probabilities, equity=equity, detail=body,
    )  # fmt: skip


PORTFOLIO = ("AAA", "BBB")


@cache
def portfolio_run(scope: str = "reference") -> tuple[dict[str, Any], ...]:
    """A real 2-symbol portfolio's records (weights 60/40; both regimes occur, and drawdown halts on one
    model), from the portfolio backtest on synthetic bars: the layout the engine writes, not a hand-made one."""
    config = EngineConfig(
        bot_id="ui-portfolio", symbol=PORTFOLIO[0], symbols=PORTFOLIO, weights=(0.6, 0.4), scope=scope,
        feature_names=("log_return", "realized_vol"), fit=FitOptions(n_states=2, restarts=1),
        strategy=StrategyConfig(exposure_per_regime=(0.0, 1.0), min_persistence=2),
        risk=RiskLimits(max_drawdown_pct=6, max_daily_loss_pct=3, rearm="calm", rearm_calm_bars=5),
        training_window=150, refit_every=40, rebalance_band=0.02,
    )  # fmt: skip
    bars = {symbol: synthetic_bars(7, 260, symbol).bars for symbol in PORTFOLIO}
    return tuple(portfolio_backtest.run(config, bars).records)


def portfolio_record(body: dict[str, Any], bot: uuid.UUID = BOT) -> AuditRecord:
    """A portfolio record as the bus carries it: its lead model's (the first's) regime and
    probabilities at the top, the whole record in ``detail``."""
    seq = int(body["seq"])
    lead = next(iter(body["models"].values()), {})
    return AuditRecord(
        id=f"{bot}:{seq}", correlation_id=str(bot), bot_id=bot, seq=seq,
        bar_at=datetime.fromisoformat(body["bar"]["date"]).replace(tzinfo=UTC), regime=lead.get("regime"),
        probabilities=lead.get("probabilities", []), equity=body["equity"], detail=body,
    )  # fmt: skip
