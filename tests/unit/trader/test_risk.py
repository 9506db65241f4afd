"""The risk engine clips, halts and kills with a reason every time."""

from __future__ import annotations

from datetime import date

from trader.risk import RiskLimits, RiskState, check, request_rearm

LIMITS = RiskLimits(max_position_pct=50, max_daily_loss_pct=3, max_drawdown_pct=20, stop_loss_pct=5)
D1, D2, D3 = date(2020, 1, 2), date(2020, 1, 3), date(2020, 1, 6)


def _check(state: RiskState, **kw: object) -> object:
    args: dict[str, object] = {
        "target": 1.0,
        "regime": 2,
        "day": D1,
        "equity": 100_000.0,
        "price": 100.0,
        "exposure_now": 0.0,
        **kw,
    }
    return check(LIMITS, state, **args)  # type: ignore[arg-type]


def test_exposure_is_clipped_to_the_position_limit() -> None:
    verdict = _check(RiskState())
    assert verdict.target == 0.5 and verdict.status == "adjusted"  # type: ignore[attr-defined]
    assert "clipped to the 50" in verdict.reasons[0]  # type: ignore[attr-defined]


def test_daily_loss_halts_until_the_next_day() -> None:
    state = RiskState()
    _check(state, day=D1, equity=100_000.0)
    halted = _check(state, day=D1, equity=96_900.0)
    assert halted.status == "halted" and halted.target == 0.0  # type: ignore[attr-defined]
    assert _check(state, day=D1, equity=99_000.0).status == "halted"  # type: ignore[attr-defined]
    assert _check(state, day=D2, equity=97_000.0).status != "halted"  # type: ignore[attr-defined]


def _days(start: date, n: int) -> list[date]:
    return [date.fromordinal(start.toordinal() + i) for i in range(n)]


def _halted(limits: RiskLimits) -> RiskState:
    """A state whose drawdown halt tripped on D3 at equity 95,000 (peak 120,000), price 100."""
    state = RiskState()
    check(limits, state, target=1.0, regime=2, day=D1, equity=100_000.0, price=100.0, exposure_now=0.0)
    check(limits, state, target=1.0, regime=2, day=D2, equity=120_000.0, price=100.0, exposure_now=1.0)
    tripped = check(limits, state, target=1.0, regime=2, day=D3, equity=95_000.0, price=100.0, exposure_now=1.0)
    assert tripped.target == 0.0 and tripped.events[-1]["kind"] == "halt"
    return state


def test_the_drawdown_halt_flattens_on_the_bar_it_trips_and_says_how_it_re_arms() -> None:
    state = RiskState()
    _check(state, day=D1, equity=100_000.0)
    _check(state, day=D2, equity=120_000.0)
    halted = _check(state, day=D3, equity=95_000.0)
    assert halted.status == "halted" and halted.target == 0.0  # type: ignore[attr-defined]
    assert "drawdown 20.83% reached the 20" in halted.reasons[0]  # type: ignore[attr-defined]
    assert "after 10 calm bars" in halted.reasons[0]  # type: ignore[attr-defined]
    assert [e["rule"] for e in halted.events] == ["drawdown"]  # type: ignore[attr-defined]
    later = _check(state, day=date(2020, 2, 3), equity=95_000.0, target=-0.3)
    assert later.target == 0.0 and later.status == "halted"  # type: ignore[attr-defined]
    assert later.events == ()  # type: ignore[attr-defined]


def test_a_drawdown_of_exactly_the_limit_halts_and_one_just_under_does_not() -> None:
    limits = RiskLimits(max_drawdown_pct=20, max_daily_loss_pct=50)
    under, exact = RiskState(), RiskState()
    for state, equity in ((under, 80_000.01), (exact, 80_000.0)):
        check(limits, state, target=1.0, regime=2, day=D1, equity=100_000.0, price=100.0, exposure_now=0.0)
        verdict = check(limits, state, target=1.0, regime=2, day=D2, equity=equity, price=100.0, exposure_now=1.0)
        assert (verdict.status == "halted") is (state is exact)
        assert verdict.target == (0.0 if state is exact else 1.0)


def test_a_daily_loss_of_exactly_the_limit_halts_and_one_just_under_does_not() -> None:
    limits = RiskLimits(max_daily_loss_pct=3, max_drawdown_pct=50)
    for equity, halts in ((97_000.0, True), (97_000.01, False)):
        state = RiskState()
        check(limits, state, target=1.0, regime=2, day=D1, equity=100_000.0, price=100.0, exposure_now=0.0)
        verdict = check(limits, state, target=1.0, regime=2, day=D1, equity=equity, price=100.0, exposure_now=1.0)
        assert (verdict.status == "halted") is halts


def test_calm_re_arm_waits_for_consecutive_calm_bars_then_measures_from_a_fresh_peak() -> None:
    limits = RiskLimits(max_drawdown_pct=20, max_daily_loss_pct=50, rearm="calm", rearm_calm_bars=3)
    state = _halted(limits)
    days = iter(_days(date(2020, 1, 7), 20))
    for calm in (True, True, False, True, True):  # a stormy bar starts the count again
        verdict = check(
            limits, state, target=1.0, regime=0, day=next(days), equity=95_000.0, price=100.0, exposure_now=0.0,
            calm=calm,
        )  # fmt: skip
        assert verdict.target == 0.0 and verdict.status == "halted"
    rearmed = check(
        limits, state, target=1.0, regime=0, day=next(days), equity=95_000.0, price=100.0, exposure_now=0.0, calm=True
    )
    assert rearmed.target == 1.0 and rearmed.status == "ok"
    assert [(e["kind"], e["rule"]) for e in rearmed.events] == [("rearm", "calm")]
    assert "3 calm bars" in rearmed.events[0]["reason"]
    assert state.peak_equity == 95_000.0  # the old 120,000 peak would halt again at once
    dipped = check(limits, state, target=1.0, regime=0, day=next(days), equity=80_000.0, price=90.0, exposure_now=1.0)
    assert dipped.target == 1.0  # 15.8% below the fresh peak: under the 20% limit
    again = check(limits, state, target=1.0, regime=0, day=next(days), equity=76_000.0, price=85.0, exposure_now=1.0)
    assert again.status == "halted" and again.events[0]["kind"] == "halt"


def test_new_high_re_arm_follows_the_strategy_shadow_book() -> None:
    limits = RiskLimits(max_drawdown_pct=20, max_daily_loss_pct=50, rearm="new_high")
    state = _halted(limits)  # halted at equity 95,000, price 100, strategy target 1.0
    days = iter(_days(date(2020, 1, 7), 20))

    def bar(price: float, target: float) -> object:
        return check(
            limits, state, target=target, regime=2, day=next(days), equity=95_000.0, price=price, exposure_now=0.0,
            calm=True,
        )  # fmt: skip

    assert bar(90.0, 1.0).target == 0.0  # type: ignore[attr-defined]  # a long signal lost 10%: shadow 85,500
    assert bar(99.0, -1.0).target == 0.0  # type: ignore[attr-defined]  # +10% on the long: 94,050, still below
    assert bar(90.0, 0.0).target == 0.0  # type: ignore[attr-defined]  # the short earned 9.09%: 102,600 > 95,000
    assert state.drawdown_halt is False
    assert state.shadow_equity > 95_000.0


def test_new_high_does_not_re_arm_while_the_shadow_book_loses() -> None:
    limits = RiskLimits(max_drawdown_pct=20, max_daily_loss_pct=50, rearm="new_high")
    state = _halted(limits)
    for i, day in enumerate(_days(date(2020, 1, 7), 30)):
        price = 100.0 - i  # falling all along, while the signal stays long
        verdict = check(limits, state, target=1.0, regime=2, day=day, equity=95_000.0, price=price, exposure_now=0.0)
        assert verdict.target == 0.0
    assert state.shadow_equity < 95_000.0 and state.drawdown_halt


def test_manual_re_arm_waits_for_a_person_however_calm_the_market() -> None:
    limits = RiskLimits(max_drawdown_pct=20, max_daily_loss_pct=50, rearm="manual")
    state = _halted(limits)
    for day in _days(date(2020, 1, 7), 300):
        verdict = check(
            limits, state, target=1.0, regime=0, day=day, equity=95_000.0, price=100.0, exposure_now=0.0, calm=True
        )
        assert verdict.status == "killed" and verdict.target == 0.0
    assert "re-arm it from the dashboard or the API" in verdict.reasons[0]
    assert request_rearm(state) is True
    rearmed = check(
        limits, state, target=1.0, regime=0, day=date(2021, 1, 4), equity=95_000.0, price=100.0, exposure_now=0.0
    )
    assert rearmed.target == 1.0 and rearmed.events[0]["rule"] == "manual"
    assert request_rearm(state) is False  # nothing to re-arm any more


def test_a_manual_request_also_ends_an_automatic_halt_early() -> None:
    limits = RiskLimits(max_drawdown_pct=20, max_daily_loss_pct=50, rearm="calm", rearm_calm_bars=50)
    state = _halted(limits)
    request_rearm(state)
    verdict = check(limits, state, target=0.5, regime=1, day=date(2020, 1, 7), equity=95_000.0, price=100.0,
                    exposure_now=0.0)  # fmt: skip
    assert verdict.target == 0.5 and verdict.events[0]["rule"] == "manual"


def test_the_daily_halt_is_one_halt_event_and_re_arms_with_a_next_day_event() -> None:
    state = RiskState()
    _check(state, day=D1, equity=100_000.0)
    first = _check(state, day=D1, equity=96_000.0)
    second = _check(state, day=D1, equity=95_000.0)
    assert [e["rule"] for e in first.events] == ["daily_loss"]  # type: ignore[attr-defined]
    assert second.events == () and second.status == "halted"  # type: ignore[attr-defined]
    next_day = _check(state, day=D2, equity=95_000.0, exposure_now=0.0)
    assert next_day.status != "halted"  # type: ignore[attr-defined]
    assert [(e["kind"], e["rule"]) for e in next_day.events] == [("rearm", "next_day")]  # type: ignore[attr-defined]


def test_a_short_target_beyond_the_cap_stays_short() -> None:
    verdict = _check(RiskState(), target=-0.9)
    assert verdict.target == -0.5 and verdict.status == "adjusted"  # type: ignore[attr-defined]


def test_stop_loss_closes_and_blocks_re_entry_until_the_regime_changes() -> None:
    state = RiskState()
    _check(state, day=D1, price=100.0, exposure_now=0.5)  # entry at 100
    stopped = _check(state, day=D2, price=94.0, exposure_now=0.5, equity=99_500.0)
    assert stopped.target == 0.0 and "stop loss" in stopped.reasons[0]  # type: ignore[attr-defined]
    same_regime = _check(state, day=D3, price=95.0, exposure_now=0.0, equity=99_500.0)
    assert same_regime.target == 0.0  # type: ignore[attr-defined]
    new_regime = _check(state, day=date(2020, 1, 7), regime=1, price=95.0, exposure_now=0.0, equity=99_500.0)
    assert new_regime.target == 0.5  # type: ignore[attr-defined]
