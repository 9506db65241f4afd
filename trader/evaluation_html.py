"""The evaluation's part of ``report.html``: baselines, the chance tests, results per regime and confidence.

Tables only (no script), formatted for a trader: percentages with %, money with separators.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from trader.breakdown import NO_REGIME

PERFORMANCE_ROWS = (
    ("CAGR", "cagr", "{:.2%}"),
    ("Annual volatility", "annual_volatility", "{:.2%}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("Sortino", "sortino", "{:.2f}"),
    ("Max drawdown", "max_drawdown", "{:.2%}"),
    ("Calmar", "calmar", "{:.2f}"),
    ("Trades", "trades", "{:,}"),
    ("Trades per year", "trades_per_year", "{:.1f}"),
    ("Turnover per year", "turnover_per_year", "{:.2f}×"),
    ("Commission paid", "total_commission", "{:,.0f}"),
    ("Slippage paid", "total_slippage", "{:,.0f}"),
    ("Costs per year, % of equity", "costs_pct_of_equity_per_year", "{:.2f}%"),
)
GROUP_COLUMNS = (
    ("bars", "{:,}"),
    ("time_share", "{:.0%}"),
    ("strategy_mean_daily_return", "{:+.3%}"),
    ("strategy_annualised_return", "{:+.1%}"),
    ("strategy_hit_rate", "{:.0%}"),
    ("market_mean_daily_return", "{:+.3%}"),
    ("market_annualised_return", "{:+.1%}"),
    ("market_hit_rate", "{:.0%}"),
)
GROUP_HEADINGS = (
    "bars",
    "share of time",
    "strategy: mean per bar",
    "annualised",
    "hit rate",
    "market: mean per bar",
    "annualised",
    "up bars",
)


def _cell(value: Any, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def comparison_table(strategy: dict[str, Any], evaluation: dict[str, Any], *, held_exposure: float = 1.0) -> str:
    """Strategy, buy-and-hold and the 200-day rule side by side, all on the same bars at the same costs.

    ``held_exposure``: what buy-and-hold keeps invested (a portfolio's weights may leave cash aside).
    """
    hold, trend = evaluation["baselines"]["buy_and_hold"], evaluation["baselines"]["trend_sma200"]
    rows = "".join(
        f"<tr><th>{title}</th>{''.join(f'<td>{_cell(m.get(key), fmt)}</td>' for m in (strategy, hold, trend))}</tr>"
        for title, key, fmt in PERFORMANCE_ROWS
    )
    exposure = (
        f"<tr><th>Average exposure</th><td>{strategy['average_exposure']:.0%}</td>"
        f"<td>{held_exposure:.0%}</td><td></td></tr>"
    )
    return (
        "<table><tr><th></th><th>strategy</th><th>buy and hold</th><th>200-day average</th></tr>"
        f"{rows}{exposure}</table>"
        "<p class='note'>The baselines trade the strategy's decision bars with its starting cash, slippage and "
        "commission: ordered at a close, filled at the next open.</p>"
    )


def chance_section(evaluation: dict[str, Any]) -> str:
    """How the strategy ranks among random entries, and the bootstrap interval against buy-and-hold."""
    rank, diff = evaluation["random_entry"], evaluation["sharpe_difference"]
    verdict = (
        "the interval lies above zero: ahead of buy-and-hold beyond what resampling explains"
        if diff["ci95_low"] > 0
        else "the interval lies below zero: behind buy-and-hold beyond what resampling explains"
        if diff["ci95_high"] < 0
        else "the interval spans zero: no clear difference from buy-and-hold"
    )
    return (
        "<h2>Better than chance?</h2>"
        f"<p>Random entry: the strategy's Sharpe ({rank['strategy_sharpe']:.2f}) is above "
        f"<b>{rank['percentile']:.0f}%</b> of {rank['runs']} runs that hold the same exposures for the same "
        f"lengths in a random order (median {rank['median_sharpe']:.2f}, 5th to 95th percentile "
        f"{rank['p5_sharpe']:.2f} to {rank['p95_sharpe']:.2f}). Near 50% means the timing adds nothing.</p>"
        f"<p>Sharpe minus buy-and-hold: <b>{diff['point']:+.2f}</b>, 95% interval {diff['ci95_low']:+.2f} to "
        f"{diff['ci95_high']:+.2f} ({diff['resamples']:,} moving-block resamples of {diff['block_bars']} bars); "
        f"the strategy is ahead in {diff['strategy_wins_share']:.0%} of them: {verdict}.</p>"
    )


def regime_label(key: str) -> str:
    """``regime 2``, or ``no regime yet`` before the stability filter accepted one."""
    return "no regime yet" if key == NO_REGIME else f"regime {key}"


def group_table(title: str, groups: dict[str, dict[str, Any]], label: Callable[[str], str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in GROUP_HEADINGS)
    rows = "".join(
        f"<tr><th>{html.escape(label(key))}</th>"
        + "".join(f"<td>{_cell(group[column], fmt)}</td>" for column, fmt in GROUP_COLUMNS)
        + "</tr>"
        for key, group in groups.items()
    )
    return (
        f"<h2>{title}</h2><table><tr><th></th>{head}</tr>{rows}</table>"
        "<p class='note'>Each decision is credited with the next bar's return. Hit rate: of the bars with "
        "money at stake, the share that gained.</p>"
    )


def evaluation_sections(strategy: dict[str, Any], evaluation: dict[str, Any]) -> str:
    return (
        comparison_table(strategy, evaluation)
        + chance_section(evaluation)
        + group_table("Results per regime", evaluation["by_regime"], regime_label)
        + group_table("Results per confidence", evaluation["by_confidence"], str)
    )


def holdout_sections(holdout: dict[str, Any] | None, sections: Callable[[dict[str, Any]], str] | None = None) -> str:
    """A note on what was kept unseen, or the in-sample and holdout parts apart when revealed.

    ``sections`` renders one part (default: a one-symbol backtest's evaluation sections).
    """
    if holdout is None:
        return ""
    if not holdout["revealed"]:
        return f"<h2>Holdout</h2><p>{html.escape(holdout['note'])}.</p>"
    render = sections or (lambda part: evaluation_sections(part["strategy"], part["evaluation"]))
    parts = []
    for key, title in (("in_sample", f"In sample (before {holdout['from']})"), ("holdout", "Holdout")):
        part = holdout[key]
        span = f"{part['first_decision']} to {part['last_decision']}, {part['bars']:,} decisions"
        parts.append(f"<h2>{html.escape(title)}</h2><p>{html.escape(span)}</p>" + render(part))
    return "".join(parts)
