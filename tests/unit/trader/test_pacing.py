"""A paced replay keeps its rate: the time a decision takes comes out of the wait, not on top."""

from __future__ import annotations

import pytest

from trader.pacing import Pacer


def test_a_decision_taking_a_tenth_of_the_interval_waits_only_the_rest() -> None:
    pacer = Pacer(rate=2.0)  # a decision every 0.5 s
    assert pacer.delay(10.0) == pytest.approx(0.5)
    assert pacer.delay(10.6) == pytest.approx(0.4)  # the decision took 0.1 s
    assert pacer.delay(11.05) == pytest.approx(0.45)  # due times stay on the 0.5 s grid: 11.5


def test_ten_decisions_take_ten_intervals_whatever_each_costs() -> None:
    pacer, now = Pacer(rate=1.0), 0.0
    for cost in (0.0, 0.3, 0.9, 0.1, 0.5, 0.2, 0.7, 0.4, 0.6, 0.8):
        now += cost
        now += pacer.delay(now)
    assert now == pytest.approx(10.0)


def test_a_bot_that_fell_behind_starts_over_from_now_instead_of_bursting() -> None:
    pacer = Pacer(rate=1.0)
    pacer.delay(0.0)  # due at 1
    assert pacer.delay(5.0) == pytest.approx(1.0)  # four intervals late: no burst of four decisions


@pytest.mark.parametrize("rate", [0.0, -1.0])
def test_a_pace_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="pace must be positive"):
        Pacer(rate=rate)
