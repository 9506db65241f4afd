"""The risk engine clips, halts and kills with a reason every time."""

from __future__ import annotations

from datetime import date

from trader.risk import RiskLimits, RiskState, check

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


def test_drawdown_kill_switch_is_final() -> None:
    state = RiskState()
    _check(state, day=D1, equity=100_000.0)
    _check(state, day=D2, equity=120_000.0)
    killed = _check(state, day=D3, equity=95_000.0)
    assert killed.status == "killed" and "kill switch" in killed.reasons[0]  # type: ignore[attr-defined]
    assert _check(state, day=date(2020, 2, 3), equity=130_000.0).status == "killed"  # type: ignore[attr-defined]


def test_stop_loss_closes_and_blocks_re_entry_until_the_regime_changes() -> None:
    state = RiskState()
    _check(state, day=D1, price=100.0, exposure_now=0.5)  # entry at 100
    stopped = _check(state, day=D2, price=94.0, exposure_now=0.5, equity=99_500.0)
    assert stopped.target == 0.0 and "stop loss" in stopped.reasons[0]  # type: ignore[attr-defined]
    same_regime = _check(state, day=D3, price=95.0, exposure_now=0.0, equity=99_500.0)
    assert same_regime.target == 0.0  # type: ignore[attr-defined]
    new_regime = _check(state, day=date(2020, 1, 7), regime=1, price=95.0, exposure_now=0.0, equity=99_500.0)
    assert new_regime.target == 0.5  # type: ignore[attr-defined]
