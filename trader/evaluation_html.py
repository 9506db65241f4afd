"""The evaluation's part of ``report.html``: baselines, the chance tests, results per regime and confidence.

Tables only (no script), formatted for a trader through ``ui.format`` (percentages with %, money
with $ and separators, the minus sign) and regimes named by ``ui.regimes`` ("Risk-off · 0%"). Both are
imported inside the functions: the bot image ships ``trader/`` without ``ui/`` nor bokeh.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from trader.breakdown import NO_REGIME

Cell = Callable[[Any], str]


def _fmt() -> Any:
    from ui import format as fmt  # not at import: the bot image, which ships trader/, has no ui/ nor bokeh

    return fmt


def _percent(decimals: int, *, signed: bool = False) -> Cell:
    return lambda x: _fmt().pct(x, decimals, signed=signed)


def _ratio(decimals: int, suffix: str = "") -> Cell:
    return lambda x: _fmt().ratio(x, decimals) + suffix


def _count(x: Any) -> str:
    return str(_fmt().count(x))


def _money(x: Any) -> str:
    return str(_fmt().money(x))


def _percent_points(x: Any) -> str:
    """A value already in percent (``0.12`` meaning 0.12%)."""
    return str(_fmt().pct(x / 100, 2))


PERFORMANCE_ROWS: tuple[tuple[str, str, Cell], ...] = (
    ("CAGR", "cagr", _percent(1)),
    ("Annual volatility", "annual_volatility", _percent(1)),
    ("Sharpe", "sharpe", _ratio(2)),
    ("Sortino", "sortino", _ratio(2)),
    ("Max drawdown", "max_drawdown", _percent(1)),
    ("Calmar", "calmar", _ratio(2)),
    ("Trades", "trades", _count),
    ("Trades per year", "trades_per_year", _ratio(1)),
    ("Turnover per year", "turnover_per_year", _ratio(2, "×")),
    ("Commission paid", "total_commission", _money),
    ("Slippage paid", "total_slippage", _money),
    ("Costs per year, % of equity", "costs_pct_of_equity_per_year", _percent_points),
)
GROUP_COLUMNS: tuple[tuple[str, Cell], ...] = (
    ("bars", _count),
    ("time_share", _percent(1)),
    ("strategy_mean_daily_return", _percent(3, signed=True)),
    ("strategy_annualised_return", _percent(1, signed=True)),
    ("strategy_hit_rate", _percent(0)),
    ("market_mean_daily_return", _percent(3, signed=True)),
    ("market_annualised_return", _percent(1, signed=True)),
    ("market_hit_rate", _percent(0)),
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


def _cell(value: Any, cell: Cell) -> str:
    """The value as ``cell`` writes it; an en dash when it is unknown (a baseline without trades)."""
    return "–" if value is None else html.escape(cell(value))


def comparison_table(strategy: dict[str, Any], evaluation: dict[str, Any], *, held_exposure: float = 1.0) -> str:
    """Strategy, buy-and-hold and the 200-day rule side by side, all on the same bars at the same costs.

    ``held_exposure``: what buy-and-hold keeps invested (a portfolio's weights may leave cash aside).
    """
    hold, trend = evaluation["baselines"]["buy_and_hold"], evaluation["baselines"]["trend_sma200"]
    rows = "".join(
        f"<tr><th>{title}</th>{''.join(f'<td>{_cell(m.get(key), cell)}</td>' for m in (strategy, hold, trend))}</tr>"
        for title, key, cell in PERFORMANCE_ROWS
    )
    exposure = (
        f"<tr><th>Average exposure</th><td>{_cell(strategy['average_exposure'], _percent(0))}</td>"
        f"<td>{_cell(held_exposure, _percent(0))}</td><td></td></tr>"
    )
    return (
        "<table><tr><th></th><th>strategy</th><th>buy and hold</th><th>200-day average</th></tr>"
        f"{rows}{exposure}</table>"
        "<p class='note'>The baselines trade the strategy's decision bars with its starting cash, slippage and "
        "commission: ordered at a close, filled at the next open.</p>"
    )


def chance_section(evaluation: dict[str, Any]) -> str:
    """How the strategy ranks among random entries, and the bootstrap interval against buy-and-hold."""
    fmt = _fmt()
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
        f"<p>Random entry: the strategy's Sharpe ({fmt.ratio(rank['strategy_sharpe'])}) is above "
        f"<b>{_cell(rank['percentile'] / 100, _percent(0))}</b> of {fmt.count(rank['runs'])} runs that hold the same "
        f"exposures for the same lengths in a random order (median {fmt.ratio(rank['median_sharpe'])}, 5th to "
        f"95th percentile {fmt.ratio(rank['p5_sharpe'])} to {fmt.ratio(rank['p95_sharpe'])}). Near 50% means "
        "the timing adds nothing.</p>"
        f"<p>Sharpe minus buy-and-hold: <b>{fmt.ratio(diff['point'], signed=True)}</b>, 95% interval "
        f"{fmt.ratio(diff['ci95_low'], signed=True)} to {fmt.ratio(diff['ci95_high'], signed=True)} "
        f"({fmt.count(diff['resamples'])} moving-block resamples of {fmt.count(diff['block_bars'])} bars); "
        f"the strategy is ahead in {_cell(diff['strategy_wins_share'], _percent(0))} of them: {verdict}.</p>"
    )


def regime_label(key: str, exposures: Sequence[float] | None = None) -> str:
    """A regime key of the metrics by name: ``Risk-off · 0%`` with the profile's exposures, ``Regime 2``
    without; ``No regime yet`` before the stability filter accepted one."""
    from ui import regimes  # not at import: the bot image, which ships trader/, has no ui/ nor bokeh

    if key in (NO_REGIME, "None"):
        return "No regime yet"
    return str(regimes.regime_name(int(key), exposures))


def regime_labels(exposures: Sequence[float] | None) -> Callable[[str], str]:
    """:func:`regime_label` for one profile's exposures, for :func:`group_table`."""
    return lambda key: regime_label(key, exposures)


def group_table(title: str, groups: dict[str, dict[str, Any]], label: Callable[[str], str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in GROUP_HEADINGS)
    rows = "".join(
        f"<tr><th>{html.escape(label(key))}</th>"
        + "".join(f"<td>{_cell(group[column], cell)}</td>" for column, cell in GROUP_COLUMNS)
        + "</tr>"
        for key, group in groups.items()
    )
    return (
        f"<h2>{title}</h2><table><tr><th></th>{head}</tr>{rows}</table>"
        "<p class='note'>Each decision is credited with the next bar's return. Hit rate: of the bars with "
        "money at stake, the share that gained.</p>"
    )


def evaluation_sections(
    strategy: dict[str, Any], evaluation: dict[str, Any], exposures: Sequence[float] | None = None
) -> str:
    return (
        comparison_table(strategy, evaluation)
        + chance_section(evaluation)
        + group_table("Results per regime", evaluation["by_regime"], regime_labels(exposures))
        + group_table("Results per confidence", evaluation["by_confidence"], str)
    )


def holdout_sections(
    holdout: dict[str, Any] | None,
    sections: Callable[[dict[str, Any]], str] | None = None,
    *,
    exposures: Sequence[float] | None = None,
) -> str:
    """A note on what was kept unseen, or the in-sample and holdout parts apart when revealed.

    ``sections`` renders one part (default: a one-symbol backtest's evaluation sections, regimes
    named by ``exposures``).
    """
    if holdout is None:
        return ""
    if not holdout["revealed"]:
        return f"<h2>Holdout</h2><p>{html.escape(holdout['note'])}.</p>"
    render = sections or (lambda part: evaluation_sections(part["strategy"], part["evaluation"], exposures))
    fmt = _fmt()
    parts = []
    for key, title in (("in_sample", f"In sample (before {holdout['from']})"), ("holdout", "Holdout")):
        part = holdout[key]
        span = (
            f"{fmt.when_label(part['first_decision'])} to {fmt.when_label(part['last_decision'])}, "
            f"{fmt.count(part['bars'])} decisions"
        )
        parts.append(f"<h2>{html.escape(title)}</h2><p>{html.escape(span)}</p>" + render(part))
    return "".join(parts)
