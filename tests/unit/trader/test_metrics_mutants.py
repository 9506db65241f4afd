"""Performance metrics checked against values worked out by hand (issue 21: Sortino and Calmar were
only checked to exist, average exposure only on long-only books)."""

from __future__ import annotations

import math
import warnings

import pytest

from trader.metrics import performance


def _one_year_of_up_two_down_one() -> list[float]:
    """253 closes: +2% then -1%, 126 times: exactly one year (252 returns) of daily bars."""
    equity = [100.0]
    for _ in range(126):
        equity.append(equity[-1] * 1.02)
        equity.append(equity[-1] * 0.99)
    return equity


def test_a_year_of_alternating_returns_gives_the_hand_worked_metrics() -> None:
    got = performance(_one_year_of_up_two_down_one())
    total = (1.02 * 0.99) ** 126 - 1  # one year: the CAGR is the total return
    vol = 0.015 * math.sqrt(252 / 251) * math.sqrt(252)  # deviations of +-1.5% around a 0.5% mean, ddof=1
    downside = math.sqrt(126 * 0.01**2 / 252) * math.sqrt(252)  # losses only, over every bar
    assert got == pytest.approx(
        {
            "cagr": total,
            "annual_volatility": vol,
            "sharpe": 0.005 * 252 / vol,
            "sortino": 0.005 * 252 / downside,
            "max_drawdown": 0.01,
            "calmar": total / 0.01,
        },
        rel=1e-9,
    )


def test_two_returns_already_have_a_volatility() -> None:
    got = performance([100.0, 110.0, 99.0])  # +10%, -10%: sample std of 0.1 * sqrt(2)
    assert got["annual_volatility"] == pytest.approx(0.1 * math.sqrt(2) * math.sqrt(252))


def test_one_losing_bar() -> None:
    got = performance([100.0, 90.0])
    assert got["annual_volatility"] == 0.0 and got["sharpe"] == 0.0  # one return has no spread
    assert got["cagr"] == pytest.approx(0.9**252 - 1)
    assert got["max_drawdown"] == pytest.approx(0.1)
    assert got["sortino"] == pytest.approx(-0.1 * 252 / (0.1 * math.sqrt(252)))
    assert got["calmar"] == pytest.approx((0.9**252 - 1) / 0.1)


@pytest.mark.parametrize("equity", [[100.0], [100.0, 100.0, 100.0]])
def test_no_history_or_a_flat_book_scores_zero_everywhere(equity: list[float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" or 0/0 warnings in a fresh bot's log
        got = performance(equity)
    assert got == {
        "cagr": 0.0,
        "annual_volatility": 0.0,
        "sharpe": 0.0,
        "sortino": 0.0,
        "max_drawdown": 0.0,
        "calmar": 0.0,
    }


def test_a_book_that_never_loses_has_no_sortino_or_calmar_ratio() -> None:
    got = performance([100.0, 101.0, 103.0, 104.0])
    assert got["sortino"] == 0.0 and got["calmar"] == 0.0 and got["max_drawdown"] == 0.0
    assert got["sharpe"] > 0


def test_average_exposure_counts_shorts_by_their_size() -> None:
    got = performance([100.0, 101.0, 102.0], exposure=[-1.0, 0.5, 0.0])
    assert got["average_exposure"] == pytest.approx(0.5)
    assert "average_exposure" not in performance([100.0, 101.0])
