"""``report.html`` speaks as the dashboards do: ``ui.format`` numbers, plain metric names, regimes
named and coloured by ``ui.regimes``; the audit it reports on is the engine's, untouched."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from stack.cli import main
from trader.bars import load_bundled
from trader.config import engine_config
from trader.evaluation_html import regime_label
from trader.report import load_profile
from trader.report_html import report_exposures
from ui import format as fmt
from ui import regimes

EXPOSURES = [0.0, 1.0]
PROFILE: dict[str, Any] = {
    "basics": {"name": "Report words", "surface": "local", "mode": "paper"},
    "market": {"symbols": ["SPX"], "data_source": "file", "data_file": "bars.csv"},
    "model": {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 150, "refit_every": 50},
    "strategy": {"exposure_per_regime": EXPOSURES, "max_drawdown_pct": 50, "max_daily_loss_pct": 10},
    "schedule": {"confirmed": True},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("words")
    bars = load_bundled("sp500").head(420)
    (root / "bars.csv").write_text(
        "date,open,high,low,close,volume\n"
        + "\n".join(
            f"{d},{o},{h},{lo},{c},{v}"
            for d, o, h, lo, c, v in zip(
                bars.dates, bars.open, bars.high, bars.low, bars.close, bars.volume, strict=True
            )
        )
        + "\n"
    )
    (root / "profile.json").write_text(json.dumps(PROFILE))
    out = root / "out"
    assert (
        main(["backtest", "--data", str(root / "bars.csv"), "--profile", str(root / "profile.json"), "--out", str(out)])
        == 0
    )
    return out


def _text(page: str) -> str:
    """What a reader sees: tags, styles and SVG drawing commands gone, entities decoded."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    page = re.sub(r'\b(points|d|viewBox|x|y|x1|x2|y1|y2|width|height|opacity)="[^"]*"', "", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_metrics_have_plain_names_and_trader_numbers(run: Path) -> None:
    page = (run / "report.html").read_text()
    strategy = json.loads((run / "metrics.json").read_text())["strategy"]
    row = re.search(r"<tr><th>Max drawdown</th><td>([^<]+)</td>", page)
    assert row is not None and html.unescape(row.group(1)) == fmt.pct(strategy["max_drawdown"], 1)
    assert f"<th>Sharpe</th><td>{html.escape(fmt.ratio(strategy['sharpe']))}</td>" in page
    commission = re.search(r"<tr><th>Commission paid</th><td>([^<]+)</td>", page)
    assert commission is not None and commission.group(1) == fmt.money(strategy["total_commission"])
    text = _text(page)
    for raw in ("max_drawdown", "cagr", "annual_volatility", "state 0", "regime 0", "None", "nan"):
        assert raw not in text
    assert not re.search(r"\d[eE][+-]?\d", text), "a number in scientific notation"
    assert not re.search(r"(?<![\w.])-\d", text), "a hyphen where the minus sign belongs"
    decisions = json.loads((run / "metrics.json").read_text())["bars"]
    assert f"{fmt.count(decisions)} decisions" in text


def test_regimes_are_named_and_coloured_as_on_the_dashboards(run: Path) -> None:
    page = (run / "report.html").read_text()
    text = _text(page)
    names = regimes.regime_names(EXPOSURES)
    assert names == ["Risk-off · 0%", "Risk-on · 100%"]
    for regime, name in enumerate(names):
        assert f"from {name}" in text and f"to {name}" in text  # the transition matrix
        assert f"background:{regimes.regime_color(regime, EXPOSURES)}" in page  # a legend swatch
        assert f'fill="{regimes.regime_color(regime, EXPOSURES)}"' in page  # shading and probabilities
    assert page.count("class='note legend'") == 2  # the price chart's and the probabilities'
    assert re.search(r"Time per regime: Risk-off · 0%: [\d.]+%, Risk-on · 100%: [\d.]+%", text)
    results = text.split("Results per regime", 1)[1]
    assert results.index("Risk-off · 0%") < results.index("Risk-on · 100%")


def test_axes_label_money_prices_and_percent(run: Path) -> None:
    page = (run / "report.html").read_text()
    equity = page.split("Equity against buy-and-hold", 1)[1].split("</figure>", 1)[0]
    labels = re.findall(r'text-anchor="end">([^<]+)</text>', equity)
    assert len(labels) == 2 and all(re.fullmatch(r"\$[\d,]+", label) for label in labels)
    drawdown = page.split("Drawdown of the strategy", 1)[1].split("</figure>", 1)[0]
    assert re.findall(r'text-anchor="end">([^<]+)</text>', drawdown)[0] == "0%"


def test_the_names_follow_the_profile_and_fall_back_to_numbers() -> None:
    assert regime_label("1", [0.0, 0.5, 1.0]) == "Cautious · 50%"
    assert regime_label("1") == "Regime 1"
    assert regime_label("none", [0.0, 1.0]) == regime_label("None") == "No regime yet"


def test_a_profile_that_chooses_its_number_of_regimes_is_reported_by_regime_number(tmp_path: Path) -> None:
    auto = json.loads(json.dumps(PROFILE))
    auto["model"]["n_states"] = "auto"
    (tmp_path / "bars.csv").write_text("")
    (tmp_path / "auto.json").write_text(json.dumps(auto))
    (tmp_path / "fixed.json").write_text(json.dumps(PROFILE))
    assert report_exposures(engine_config(load_profile(tmp_path / "auto.json"), bot_id="t")) is None
    assert report_exposures(engine_config(load_profile(tmp_path / "fixed.json"), bot_id="t")) == EXPOSURES


def test_a_phone_gets_the_page_at_its_own_width(run: Path) -> None:
    page = (run / "report.html").read_text()
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in page
    assert "table{display:block;max-width:100%;overflow-x:auto}" in page  # wide tables scroll inside themselves
