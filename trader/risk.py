"""The risk engine between strategy and execution. Every change it makes has a reason.

- max position: |exposure| is clipped to ``max_position_pct``;
- max daily loss: a day that loses ``max_daily_loss_pct`` from its opening equity is
  flattened and no new exposure is taken until the next day;
- max drawdown kill switch: equity ``max_drawdown_pct`` below its peak flattens the book
  and stops the bot for good;
- stop loss: a position that loses ``stop_loss_pct`` from its entry is closed, and not
  re-opened in the same direction until the regime changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Status = Literal["ok", "adjusted", "halted", "killed"]


@dataclass(frozen=True)
class RiskLimits:
    max_position_pct: float = 100.0
    max_daily_loss_pct: float = 3.0
    max_drawdown_pct: float = 20.0
    stop_loss_pct: float | None = None


@dataclass(frozen=True)
class Verdict:
    target: float
    status: Status
    reasons: tuple[str, ...]


@dataclass
class RiskState:
    """Checkpointed with the bot."""

    peak_equity: float = 0.0
    day: date | None = None
    day_start_equity: float = 0.0
    halted_on: date | None = None
    killed: bool = False
    entry_price: float | None = None
    entry_side: int = 0
    stopped_side: int = 0
    stopped_regime: int | None = None
    reasons_seen: list[str] = field(default_factory=list)


def check(
    limits: RiskLimits,
    state: RiskState,
    *,
    target: float,
    regime: int | None,
    day: date,
    equity: float,
    price: float,
    exposure_now: float,
) -> Verdict:
    """The exposure allowed this bar, given the strategy's ``target``."""
    if state.day != day:
        state.day, state.day_start_equity = day, equity
    state.peak_equity = max(state.peak_equity, equity)
    if state.killed:
        return Verdict(0.0, "killed", ("kill switch engaged earlier: the bot is stopped",))
    drawdown = 100.0 * (1 - equity / state.peak_equity) if state.peak_equity > 0 else 0.0
    if drawdown >= limits.max_drawdown_pct:
        state.killed = True
        return Verdict(0.0, "killed", (f"drawdown {drawdown:.2f}% reached the {limits.max_drawdown_pct}% kill switch",))
    daily_loss = 100.0 * (1 - equity / state.day_start_equity) if state.day_start_equity > 0 else 0.0
    if state.halted_on == day or daily_loss >= limits.max_daily_loss_pct:
        state.halted_on = day
        return Verdict(0.0, "halted", (f"daily loss {daily_loss:.2f}% hit the {limits.max_daily_loss_pct}% limit",))

    reasons: list[str] = []
    allowed = target
    side_now = (exposure_now > 0) - (exposure_now < 0)
    if side_now == 0:
        state.entry_price, state.entry_side = None, 0
    elif state.entry_side != side_now:
        state.entry_price, state.entry_side = price, side_now
    if state.stopped_side and regime != state.stopped_regime:
        state.stopped_side, state.stopped_regime = 0, None  # the regime changed: re-entry allowed
    if limits.stop_loss_pct is not None and state.entry_price is not None and side_now:
        move = 100.0 * side_now * (price / state.entry_price - 1)
        if move <= -limits.stop_loss_pct:
            state.stopped_side, state.stopped_regime = side_now, regime
            reasons.append(f"stop loss: {move:.2f}% from entry at {state.entry_price:.2f}")
    target_side = (allowed > 0) - (allowed < 0)
    if state.stopped_side and target_side == state.stopped_side:
        allowed = 0.0
        if not reasons:
            reasons.append("stopped out: no re-entry until the regime changes")
    cap = limits.max_position_pct / 100.0
    if abs(allowed) > cap:
        reasons.append(f"exposure {allowed:.2f} clipped to the {limits.max_position_pct}% position limit")
        allowed = cap if allowed > 0 else -cap
    return Verdict(allowed, "adjusted" if reasons else "ok", tuple(reasons))
