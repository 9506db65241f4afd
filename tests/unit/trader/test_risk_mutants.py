"""Risk engine behaviour that a mutation run (``./dev mutation trader/risk.py``) showed untested.

Each test names what a user would notice if the rule broke: a halted bot holding exposure, a
stop-loss that never fires, a halt message that lies about how it ends.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from trader.risk import RiskLimits, RiskState, Verdict, check, check_book, request_rearm

D1, D2, D3, D4 = date(2020, 1, 2), date(2020, 1, 3), date(2020, 1, 6), date(2020, 1, 7)
STOPS = RiskLimits(max_position_pct=50, max_daily_loss_pct=90, max_drawdown_pct=90, stop_loss_pct=5)


def _bar(limits: RiskLimits, state: RiskState, **kw: Any) -> Verdict:
    args: dict[str, Any] = {
        "target": 1.0,
        "regime": 2,
        "day": D1,
        "equity": 100_000.0,
        "price": 100.0,
        "exposure_now": 0.0,
        **kw,
    }
    return check(limits, state, **args)


def _drawdown_halted(limits: RiskLimits, *, price: float = 100.0) -> RiskState:
    state = RiskState()
    _bar(limits, state, day=D1, equity=100_000.0, price=price)
    tripped = _bar(limits, state, day=D2, equity=75_000.0, price=price, exposure_now=1.0)
    assert tripped.target == 0.0 and tripped.events[-1]["kind"] == "halt"
    return state


# --- the whole book: halts and their messages -------------------------------------------------


def test_the_daily_halt_says_how_much_was_lost_and_records_one_halt_event() -> None:
    limits = RiskLimits(max_daily_loss_pct=3, max_drawdown_pct=20)
    state = RiskState()
    _bar(limits, state, day=D1, equity=100_000.0)
    halted = _bar(limits, state, day=D1, equity=96_900.0)
    assert halted.reasons == ("daily loss 3.10% hit the 3% limit: flat until the next day",)
    assert halted.events == (
        {"kind": "halt", "rule": "daily_loss", "reason": "daily loss 3.10% hit the 3% limit: flat until the next day"},
    )


def test_the_daily_halt_re_arms_once_with_a_reason_not_every_following_day() -> None:
    limits = RiskLimits(max_daily_loss_pct=3, max_drawdown_pct=20)
    state = RiskState()
    _bar(limits, state, day=D1, equity=100_000.0)
    _bar(limits, state, day=D1, equity=96_900.0)
    next_day = _bar(limits, state, day=D2, equity=96_900.0)
    assert next_day.events == (
        {"kind": "rearm", "rule": "next_day", "reason": "a new trading day: the daily loss limit re-arms"},
    )
    assert _bar(limits, state, day=D3, equity=96_900.0).events == ()


def test_a_daily_re_arm_is_recorded_even_while_a_drawdown_halt_keeps_the_book_flat() -> None:
    limits = RiskLimits(max_daily_loss_pct=3, max_drawdown_pct=20)
    state = RiskState()
    _bar(limits, state, day=D1, equity=100_000.0)
    _bar(limits, state, day=D1, equity=96_900.0)  # daily halt
    _bar(limits, state, day=D1, equity=79_000.0)  # and a drawdown halt on top
    still_flat = _bar(limits, state, day=D2, equity=79_000.0)
    assert still_flat.target == 0.0
    assert [e["rule"] for e in still_flat.events] == ["next_day"]


def test_a_book_with_no_equity_yet_is_not_halted() -> None:
    limits = RiskLimits(max_daily_loss_pct=0.5, max_drawdown_pct=0.5)
    verdict = _bar(limits, RiskState(), equity=0.0, target=0.25)
    assert (verdict.target, verdict.status, verdict.reasons) == (0.25, "ok", ())


def test_a_tiny_account_that_halves_is_halted_for_its_drawdown() -> None:
    limits = RiskLimits(max_daily_loss_pct=100, max_drawdown_pct=20)
    state = RiskState()
    _bar(limits, state, equity=1.0)
    halted = _bar(limits, state, equity=0.5)
    assert halted.target == 0.0 and halted.reasons[0].startswith("drawdown 50.00%")


def test_a_tiny_account_that_halves_in_a_day_is_halted_for_its_daily_loss() -> None:
    limits = RiskLimits(max_daily_loss_pct=20, max_drawdown_pct=100)
    state = RiskState()
    _bar(limits, state, equity=1.0)
    halted = _bar(limits, state, equity=0.5)
    assert halted.target == 0.0 and halted.reasons[0].startswith("daily loss 50.00%")


def test_check_book_passes_the_target_through_when_no_limit_holds() -> None:
    verdict = check_book(RiskLimits(), RiskState(), target=0.7, day=D1, equity=100_000.0, price=100.0, calm=False)
    assert verdict == Verdict(0.7, "ok", (), ())


def test_the_calm_rule_counts_only_bars_reported_calm() -> None:
    limits = RiskLimits(max_drawdown_pct=20, rearm="calm", rearm_calm_bars=2)
    state = _drawdown_halted(limits)
    for _ in range(5):  # check() called without calm=...: no bar is calm
        assert _bar(limits, state, day=D3, equity=75_000.0).target == 0.0


def test_a_calm_halt_says_how_many_calm_bars_it_has_seen() -> None:
    limits = RiskLimits(max_drawdown_pct=20, rearm="calm", rearm_calm_bars=10)
    state = _drawdown_halted(limits)
    waiting = _bar(limits, state, day=D3, equity=75_000.0, calm=True)
    assert waiting.reasons == (
        "drawdown halt since equity 75,000.00: flat until it re-arms after 10 calm bars in a low-volatility "
        "regime (1 so far)",
    )


def test_a_new_high_halt_shows_its_shadow_book_and_a_manual_one_does_not() -> None:
    limits = RiskLimits(max_drawdown_pct=20, rearm="new_high")
    state = _drawdown_halted(limits)
    waiting = _bar(limits, state, day=D3, equity=75_000.0, price=99.0)
    assert waiting.reasons[0].endswith("(shadow book 74,250.00)")
    manual = RiskLimits(max_drawdown_pct=20, rearm="manual")
    state = _drawdown_halted(manual)
    reason = _bar(manual, state, day=D3, equity=75_000.0, calm=True).reasons[0]
    assert reason.endswith("when you re-arm it from the dashboard or the API")


def test_a_new_high_re_arm_names_its_rule_and_the_shadow_book() -> None:
    limits = RiskLimits(max_drawdown_pct=20, rearm="new_high")
    state = _drawdown_halted(limits, price=1.0)
    rearmed = _bar(limits, state, day=D3, equity=75_000.0, price=1.5)  # shadow book +50% at target 1
    assert rearmed.events[0] == {
        "kind": "rearm",
        "rule": "new_high",
        "reason": "the shadow book (112,500.00) closed above the equity at the halt; "
        "drawdown now measured from 75,000.00",
    }


def test_a_requested_re_arm_says_so() -> None:
    limits = RiskLimits(max_drawdown_pct=20, rearm="manual")
    state = _drawdown_halted(limits)
    assert request_rearm(state)
    rearmed = _bar(limits, state, day=D3, equity=75_000.0)
    assert rearmed.events[0]["reason"] == "re-armed on request; drawdown now measured from 75,000.00"


def test_a_halt_restored_from_an_old_checkpoint_measures_from_the_equity_it_resumes_at() -> None:
    """Older checkpoints kept neither the halt's equity nor the shadow book's price."""
    limits = RiskLimits(max_drawdown_pct=20, rearm="new_high")
    for price in (None, 0.0):
        state = RiskState(peak_equity=2.0, day=D1, day_start_equity=2.0, drawdown_halt=True, shadow_price=price)
        waiting = _bar(limits, state, day=D1, equity=1.0, price=100.0)
        assert waiting.reasons[0].startswith("drawdown halt since equity 1.00:")
        assert waiting.reasons[0].endswith("(shadow book 1.00)")


def test_a_halt_at_a_tiny_equity_keeps_that_equity() -> None:
    limits = RiskLimits(max_drawdown_pct=20, rearm="new_high")
    state = RiskState(peak_equity=2.0, day=D1, day_start_equity=2.0, drawdown_halt=True, halt_equity=1.0)
    state.shadow_equity, state.shadow_price, state.shadow_target = 1.0, 1.0, 0.0
    waiting = _bar(limits, state, day=D1, equity=0.8, price=1.0)
    assert waiting.reasons[0].startswith("drawdown halt since equity 1.00:")


def test_the_shadow_book_follows_prices_near_one() -> None:
    limits = RiskLimits(max_drawdown_pct=20, rearm="new_high")
    state = _drawdown_halted(limits, price=1.0)
    waiting = _bar(limits, state, day=D3, equity=75_000.0, price=0.9)
    assert waiting.reasons[0].endswith("(shadow book 67,500.00)")


# --- one position: stop loss, re-entry, cap ---------------------------------------------------


def test_a_long_opened_from_a_flat_book_gets_a_stop_loss() -> None:
    state = RiskState()
    _bar(STOPS, state, price=100.0, exposure_now=0.0)
    _bar(STOPS, state, price=100.0, exposure_now=0.5)  # filled at 100
    stopped = _bar(STOPS, state, price=94.0, exposure_now=0.5)
    assert stopped.target == 0.0 and stopped.reasons[0] == "stop loss: -6.00% from entry at 100.00"


def test_a_short_is_stopped_when_the_price_rises() -> None:
    state = RiskState()
    _bar(STOPS, state, target=-0.5, price=100.0, exposure_now=-0.5)
    stopped = _bar(STOPS, state, target=-0.5, price=106.0, exposure_now=-0.5)
    assert stopped.target == 0.0 and stopped.reasons[0] == "stop loss: -6.00% from entry at 100.00"


def test_a_flat_book_is_never_stopped_out_whatever_the_price_does() -> None:
    state = RiskState()
    _bar(STOPS, state, target=0.0, price=100.0)
    _bar(STOPS, state, target=0.0, price=110.0)
    short = _bar(STOPS, state, target=-0.5, price=110.0)
    assert (short.target, short.status) == (-0.5, "ok")


def test_a_position_that_has_not_moved_is_kept() -> None:
    state = RiskState()
    _bar(STOPS, state, target=0.5, price=100.0, exposure_now=0.5)
    kept = _bar(STOPS, state, target=0.5, price=100.0, exposure_now=0.5)
    assert (kept.target, kept.status) == (0.5, "ok")


def test_a_loss_just_short_of_the_stop_keeps_the_position_and_exactly_the_stop_closes_it() -> None:
    state = RiskState()
    _bar(STOPS, state, target=0.5, price=100.0, exposure_now=0.5)
    assert _bar(STOPS, state, target=0.5, price=95.02, exposure_now=0.5).target == 0.5
    wide = RiskLimits(max_position_pct=100, max_daily_loss_pct=90, max_drawdown_pct=90, stop_loss_pct=50)
    state = RiskState()
    _bar(wide, state, target=0.5, price=100.0, exposure_now=0.5)
    assert _bar(wide, state, target=0.5, price=50.0, exposure_now=0.5).target == 0.0  # exactly -50%


def _stopped_long() -> RiskState:
    state = RiskState()
    _bar(STOPS, state, target=0.5, price=100.0, exposure_now=0.5)
    assert _bar(STOPS, state, target=0.5, price=94.0, exposure_now=0.5).target == 0.0
    return state


def test_after_a_long_stop_out_a_smaller_long_is_still_refused_and_says_why() -> None:
    state = _stopped_long()
    refused = _bar(STOPS, state, target=0.5, price=94.0)
    assert refused.target == 0.0
    assert refused.reasons == ("stopped out: no re-entry until the regime changes",)


def test_after_a_long_stop_out_a_short_or_a_flat_target_is_allowed_as_is() -> None:
    state = _stopped_long()
    flat = _bar(STOPS, state, target=0.0, price=94.0)
    assert (flat.target, flat.status, flat.reasons) == (0.0, "ok", ())
    short = _bar(STOPS, state, target=-0.5, price=94.0)
    assert (short.target, short.status) == (-0.5, "ok")


def test_after_a_short_stop_out_a_flat_target_is_allowed_as_is() -> None:
    state = RiskState()
    _bar(STOPS, state, target=-0.5, price=100.0, exposure_now=-0.5)
    _bar(STOPS, state, target=-0.5, price=106.0, exposure_now=-0.5)
    flat = _bar(STOPS, state, target=0.0, price=106.0)
    assert (flat.target, flat.status, flat.reasons) == (0.0, "ok", ())


def test_a_flat_target_with_no_stop_is_ok() -> None:
    flat = _bar(STOPS, RiskState(), target=0.0)
    assert (flat.target, flat.status, flat.reasons) == (0.0, "ok", ())


def test_the_drawdown_halt_event_carries_the_reason_the_audit_shows() -> None:
    limits = RiskLimits(max_drawdown_pct=20, rearm="calm", rearm_calm_bars=10)
    state = RiskState()
    _bar(limits, state, day=D1, equity=100_000.0)
    tripped = _bar(limits, state, day=D2, equity=75_000.0)
    assert tripped.events == ({"kind": "halt", "rule": "drawdown", "reason": tripped.reasons[0]},)
    assert tripped.reasons[0].startswith("drawdown 25.00% reached the 20% limit")
