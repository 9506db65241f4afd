"""Ticks and audit records as a running bot publishes them, for the ui tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.events import AuditRecord, Tick

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
