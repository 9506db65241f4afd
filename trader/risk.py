"""The risk engine between strategy and execution. Every change it makes has a reason.

- max position: |exposure| is clipped to ``max_position_pct``;
- max daily loss: a day that loses ``max_daily_loss_pct`` from its opening equity is
  flattened and no new exposure is taken until the next day (then it re-arms by itself);
- max drawdown halt: equity ``max_drawdown_pct`` below its peak flattens the book, which
  stays flat until the halt re-arms by the profile's rule (``contracts.profile.REARM_WORDS``); the
  drawdown is then measured from a fresh peak, the equity at the re-arm. A halt that was
  never re-armed would keep a bot flat for good: only the ``manual`` rule waits for a person;
- stop loss: a position that loses ``stop_loss_pct`` from its entry is closed, and not
  re-opened in the same direction until the regime changes.

Every halt and re-arm is also returned as an event (``Verdict.events``) for the audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from contracts.profile import REARM_WORDS, RearmRule

Status = Literal["ok", "adjusted", "halted", "killed"]
AT_LIMIT = 1e-9  # percentage points: a loss of exactly the limit trips it, whatever the float rounding


@dataclass(frozen=True)
class RiskLimits:
    max_position_pct: float = 100.0
    max_daily_loss_pct: float = 3.0
    max_drawdown_pct: float = 20.0
    stop_loss_pct: float | None = None
    rearm: RearmRule = "calm"
    rearm_calm_bars: int = 10

    def rearm_words(self) -> str:
        return REARM_WORDS[self.rearm].format(n=self.rearm_calm_bars)


@dataclass(frozen=True)
class Verdict:
    target: float
    status: Status
    reasons: tuple[str, ...]
    events: tuple[dict[str, Any], ...] = ()


@dataclass
class RiskState:
    """Checkpointed with the bot."""

    peak_equity: float = 0.0
    day: date | None = None
    day_start_equity: float = 0.0
    halted_on: date | None = None
    drawdown_halt: bool = False
    halt_equity: float = 0.0
    calm_streak: int = 0
    shadow_equity: float = 0.0  # what the strategy's own targets would have earned since the halt
    shadow_price: float | None = None
    shadow_target: float = 0.0
    rearm_requested: bool = False
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
    calm: bool = False,
) -> Verdict:
    """The exposure allowed this bar, given the strategy's ``target``.

    ``calm`` says the accepted regime is a low-volatility one (the ``calm`` re-arm rule counts those bars).
    """
    book = check_book(limits, state, target=target, day=day, equity=equity, price=price, calm=calm)
    if book.status != "ok":
        return book
    allowed, reasons = position_rules(limits, state, target=target, regime=regime, price=price, exposure=exposure_now)
    return Verdict(allowed, "adjusted" if reasons else "ok", tuple(reasons), book.events)


def check_book(
    limits: RiskLimits, state: RiskState, *, target: float, day: date, equity: float, price: float, calm: bool
) -> Verdict:
    """The limits on the whole book's equity: status ``halted``/``killed`` (target 0) when one holds it flat.

    A portfolio calls this once per bar on its total equity (a halt flattens every symbol), then
    :func:`position_rules` per symbol. ``target`` and ``price`` feed the shadow book of the
    ``new_high`` re-arm rule: one instrument's price and target, or a portfolio's index of its
    own targets at a target of 1 (``Engine._shadow_index``).
    """
    events: list[dict[str, Any]] = []
    if state.day != day:
        if state.halted_on is not None and state.halted_on != day:
            state.halted_on = None
            events.append(_event("rearm", "next_day", "a new trading day: the daily loss limit re-arms"))
        state.day, state.day_start_equity = day, equity
    state.peak_equity = max(state.peak_equity, equity)
    if state.drawdown_halt:
        rearmed = _try_rearm(limits, state, target=target, price=price, equity=equity, calm=calm)
        if rearmed is None:
            return Verdict(0.0, _halt_status(limits), (_halt_reason(limits, state),), tuple(events))
        events.append(rearmed)
    drawdown = 100.0 * (1 - equity / state.peak_equity) if state.peak_equity > 0 else 0.0
    if drawdown >= limits.max_drawdown_pct - AT_LIMIT:
        _engage_halt(state, equity=equity, price=price, target=target)
        reason = (
            f"drawdown {drawdown:.2f}% reached the {limits.max_drawdown_pct}% limit: flat until it re-arms "
            f"{limits.rearm_words()}"
        )
        events.append(_event("halt", "drawdown", reason))
        return Verdict(0.0, _halt_status(limits), (reason,), tuple(events))
    daily_loss = 100.0 * (1 - equity / state.day_start_equity) if state.day_start_equity > 0 else 0.0
    if state.halted_on == day or daily_loss >= limits.max_daily_loss_pct - AT_LIMIT:
        reason = f"daily loss {daily_loss:.2f}% hit the {limits.max_daily_loss_pct}% limit: flat until the next day"
        if state.halted_on != day:
            state.halted_on = day
            events.append(_event("halt", "daily_loss", reason))
        return Verdict(0.0, "halted", (reason,), tuple(events))
    return Verdict(target, "ok", (), tuple(events))


def request_rearm(state: RiskState) -> bool:
    """A person asks to re-arm a drawdown halt (any rule); it takes effect at the next bar. False if none is engaged."""
    if not state.drawdown_halt:
        return False
    state.rearm_requested = True
    return True


def _event(kind: str, rule: str, reason: str) -> dict[str, Any]:
    return {"kind": kind, "rule": rule, "reason": reason}


def _halt_status(limits: RiskLimits) -> Status:
    """``killed`` when only a person can end the halt; ``halted`` when it re-arms by itself."""
    return "killed" if limits.rearm == "manual" else "halted"


def _halt_reason(limits: RiskLimits, state: RiskState) -> str:
    waiting = f"drawdown halt since equity {state.halt_equity:,.2f}: flat until it re-arms {limits.rearm_words()}"
    if limits.rearm == "calm":
        return f"{waiting} ({state.calm_streak} so far)"
    if limits.rearm == "new_high":
        return f"{waiting} (shadow book {state.shadow_equity:,.2f})"
    return waiting


def _engage_halt(state: RiskState, *, equity: float, price: float, target: float) -> None:
    state.drawdown_halt, state.halt_equity, state.calm_streak = True, equity, 0
    state.shadow_equity, state.shadow_price, state.shadow_target = equity, price, target
    state.rearm_requested = False


def _try_rearm(
    limits: RiskLimits, state: RiskState, *, target: float, price: float, equity: float, calm: bool
) -> dict[str, Any] | None:
    """Advance the halt's counters by one bar; the re-arm event if the halt ends now."""
    if state.halt_equity <= 0:  # a halt restored from an older checkpoint, which did not keep these
        state.halt_equity = state.shadow_equity = equity
    if state.shadow_price is not None and state.shadow_price > 0:
        state.shadow_equity *= 1 + state.shadow_target * (price / state.shadow_price - 1)
    state.shadow_price, state.shadow_target = price, target
    state.calm_streak = state.calm_streak + 1 if calm else 0
    if state.rearm_requested:
        rule, reason = "manual", "re-armed on request"
    elif limits.rearm == "calm" and state.calm_streak >= limits.rearm_calm_bars:
        rule, reason = "calm", f"{state.calm_streak} calm bars in a low-volatility regime"
    elif limits.rearm == "new_high" and state.shadow_equity > state.halt_equity:
        rule = "new_high"
        reason = f"the shadow book ({state.shadow_equity:,.2f}) closed above the equity at the halt"
    else:
        return None
    state.drawdown_halt, state.rearm_requested, state.calm_streak = False, False, 0
    state.peak_equity = equity  # a fresh peak: the old one would trip the halt again at once
    return _event("rearm", rule, f"{reason}; drawdown now measured from {equity:,.2f}")


def position_rules(
    limits: RiskLimits, state: RiskState, *, target: float, regime: int | None, price: float, exposure: float
) -> tuple[float, list[str]]:
    """Stop loss and position cap: the exposure allowed, and why it differs from ``target``.

    ``state``'s entry and stop fields are one position's: a portfolio keeps a ``RiskState`` per symbol for them.
    """
    reasons: list[str] = []
    allowed = target
    side_now = (exposure > 0) - (exposure < 0)
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
    return allowed, reasons
