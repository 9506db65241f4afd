"""`hmmtrade backtest` of a portfolio: the book, its symbols, an honest evaluation and a self-contained report."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stack.cli import main
from trader.bars import Bars, load_bundled
from trader.config import engine_config
from trader.metrics import performance
from trader.report import load_profile

WEIGHTS = {"SPY": 0.6, "QQQ": 0.3}
BUNDLED_TO = "2000-09-01"  # about 420 bundled bars: the first 150 train, the rest are decisions
FILE_BARS = {"SPY": load_bundled("sp500").head(420), "QQQ": load_bundled("nasdaq").head(420)}
GAP = 200  # QQQ's file lacks this bar: the book trades only dates both symbols have
CUT = FILE_BARS["SPY"].dates[350]


def _profile(tmp_path: Path, market: dict[str, Any], scope: str) -> Path:
    profile = {
        "basics": {"name": "Portfolio test", "surface": "local", "mode": "paper"},
        "market": market,
        "model": {
            "n_states": 2,
            "features": ["log_return", "realized_vol"],
            "training_window": 150,
            "refit_every": 50,
            "scope": scope,
        },
        "strategy": {
            "exposure_per_regime": [0.2, 1.0],
            "max_drawdown_pct": 50,
            "max_daily_loss_pct": 10,
            "weights": list(WEIGHTS.values()),
        },
        "schedule": {"confirmed": True},
    }
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    return path


def _bundled_profile(tmp_path: Path) -> Path:
    return _profile(tmp_path, {"symbols": list(WEIGHTS), "data_source": "bundled"}, "per_symbol")


def _write_csv(path: Path, bars: Bars, skip: int | None = None) -> None:
    rows = zip(bars.dates, bars.open, bars.high, bars.low, bars.close, bars.volume, strict=True)
    lines = [f"{d},{o},{h},{lo},{c},{v}" for i, (d, o, h, lo, c, v) in enumerate(rows) if i != skip]
    path.write_text("\n".join(["date,open,high,low,close,volume", *lines]) + "\n")


def _file_profile(tmp_path: Path) -> Path:
    """SPY and QQQ from one file each ({symbol} in the path), QQQ missing one date; one model on QQQ."""
    _write_csv(tmp_path / "SPY.csv", FILE_BARS["SPY"])
    _write_csv(tmp_path / "QQQ.csv", FILE_BARS["QQQ"], skip=GAP)
    profile = _profile(
        tmp_path,
        {"symbols": list(WEIGHTS), "data_source": "file", "data_file": str(tmp_path / "{symbol}.csv")},
        "reference",
    )
    document = json.loads(profile.read_text())
    document["model"]["reference_symbol"] = "QQQ"
    profile.write_text(json.dumps(document))
    return profile


def _read(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    return records, json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def bundled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One walk-forward run of the bundled SPY + QQQ with a model per symbol (shared: it takes seconds)."""
    tmp = tmp_path_factory.mktemp("bundled")
    out = tmp / "run"
    assert main(["backtest", "--profile", str(_bundled_profile(tmp)), "--to", BUNDLED_TO, "--out", str(out)]) == 0
    return out


def test_the_book_and_its_symbols_add_up(bundled_run: Path) -> None:
    """Each symbol's contribution sums to the book's return; weights, trades and costs come from the fills."""
    records, metrics = _read(bundled_run)
    assert records and all(set(r["symbols"]) == set(WEIGHTS) for r in records)
    assert all(leg["bar"]["date"] == r["bar"]["date"] for r in records for leg in r["symbols"].values())
    book_return = records[-1]["equity"] / records[0]["equity"] - 1
    symbols = metrics["symbols"]
    assert sum(leg["contribution"] for leg in symbols.values()) == pytest.approx(book_return, rel=1e-9)
    for symbol, weight in WEIGHTS.items():
        fills = [(f, r) for r in records for f in r["fills"] if f["symbol"] == symbol]
        assert symbols[symbol]["weight"] == weight
        assert symbols[symbol]["trades"] == len(fills) > 0
        slippage = sum(f["quantity"] * abs(f["price"] - r["symbols"][symbol]["bar"]["open"]) for f, r in fills)
        commission = sum(f["commission"] for f, _ in fills)
        assert symbols[symbol]["costs"] == pytest.approx(commission + slippage, rel=1e-12)
    assert metrics["strategy"]["trades"] == sum(leg["trades"] for leg in symbols.values())


def test_the_evaluation_ranks_the_book_and_breaks_results_down_per_model(bundled_run: Path) -> None:
    records, metrics = _read(bundled_run)
    evaluation = metrics["evaluation"]
    assert set(evaluation["baselines"]) == {"buy_and_hold", "trend_sma200"}
    rank = evaluation["random_entry"]
    assert rank["runs"] == 100 and 0 <= rank["percentile"] <= 100
    assert rank["strategy_sharpe"] == pytest.approx(metrics["strategy"]["sharpe"], rel=1e-9)
    diff = evaluation["sharpe_difference"]
    assert diff["ci95_low"] <= diff["point"] <= diff["ci95_high"]
    assert set(evaluation["by_model"]) == set(WEIGHTS)  # scope per_symbol: a model per symbol
    for groups in evaluation["by_model"].values():
        assert sum(g["bars"] for g in groups["by_regime"].values()) == len(records) - 1
        assert sum(g["bars"] for g in groups["by_confidence"].values()) == len(records) - 1


def test_a_rerun_writes_byte_identical_files(bundled_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    assert main(["backtest", "--profile", str(_bundled_profile(tmp_path)), "--to", BUNDLED_TO, "--out", str(out)]) == 0
    for name in ("audit.jsonl", "metrics.json", "report.html"):
        assert (out / name).read_bytes() == (bundled_run / name).read_bytes()


def test_buy_and_hold_of_the_weights_recomputed_by_hand_matches_the_baseline(bundled_run: Path, tmp_path: Path) -> None:
    """Each sleeve buys weight x starting cash at the second decision's open (slippage, commission), then holds."""
    records, metrics = _read(bundled_run)
    config = engine_config(load_profile(_bundled_profile(tmp_path)), bot_id="backtest")
    cash = config.starting_cash
    equity = np.full(len(records), cash * (1 - sum(WEIGHTS.values())))
    equity[0] = cash
    for symbol, weight in WEIGHTS.items():
        close = np.array([r["symbols"][symbol]["bar"]["close"] for r in records])
        shares = weight * cash / close[0]  # ordered at the first decision's close
        price = records[1]["symbols"][symbol]["bar"]["open"] * (1 + config.slippage_bps / 10_000)
        commission = shares * price * config.commission_bps / 10_000
        equity[1:] += weight * cash - shares * price - commission + shares * close[1:]
    hold = metrics["evaluation"]["baselines"]["buy_and_hold"]
    assert hold["trades"] == len(WEIGHTS)  # one buy per symbol; the 10% band holds every later nudge back
    for key, value in performance(equity.tolist()).items():
        assert hold[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_the_200_day_rule_per_sleeve_recomputed_by_hand_matches_the_baseline(bundled_run: Path, tmp_path: Path) -> None:
    """Each sleeve goes all in while its close is above its 200-close mean (history before the run included)."""
    records, metrics = _read(bundled_run)
    config = engine_config(load_profile(_bundled_profile(tmp_path)), bot_id="backtest")
    slip, fee = config.slippage_bps / 10_000, config.commission_bps / 10_000
    equity = np.full(len(records), config.starting_cash * (1 - sum(WEIGHTS.values())))
    trades = 0
    for symbol, series in (("SPY", "sp500"), ("QQQ", "nasdaq")):
        bars = load_bundled(series)
        first = bars.dates.index(date.fromisoformat(records[0]["bar"]["date"]))
        cash, shares, order = config.starting_cash * WEIGHTS[symbol], 0.0, 0.0
        for i, record in enumerate(records):
            leg = record["symbols"][symbol]["bar"]
            if order:  # filled at this bar's open, slipped against the order
                price = leg["open"] * (1 + slip if order > 0 else 1 - slip)
                cash -= order * price + abs(order) * price * fee
                shares, order, trades = shares + order, 0.0, trades + 1
            equity[i] += cash + shares * leg["close"]
            t = first + i
            above = t >= 199 and leg["close"] > bars.close[t - 199 : t + 1].mean()
            if above and shares == 0:
                order = (cash + shares * leg["close"]) / leg["close"]
            elif not above and shares > 0:
                order = -shares
    trend = metrics["evaluation"]["baselines"]["trend_sma200"]
    assert trend["trades"] == trades > 2
    for key, value in performance(equity.tolist()).items():
        assert trend[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_the_report_is_self_contained_with_a_row_per_symbol_and_a_ribbon_per_model(bundled_run: Path) -> None:
    page = (bundled_run / "report.html").read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for symbol in WEIGHTS:
        assert f"<tr data-symbol='{symbol}'>" in page
        assert f"data-model='{symbol}'" in page
    assert "<td>60%</td>" in page and "<td>30%</td>" in page
    assert page.count("<figcaption>Equity of the book") == 1
    for heading in ("Better than chance?", "Per symbol", "Results per regime of the model on SPY"):
        assert heading in page


def test_file_data_holdout_cuts_every_symbol_at_one_date_and_revealing_it_changes_nothing_before(
    tmp_path: Path,
) -> None:
    profile = _file_profile(tmp_path)
    base = ["backtest", "--profile", str(profile), "--holdout-from", str(CUT)]
    assert main([*base, "--out", str(tmp_path / "kept")]) == 0
    assert main([*base, "--reveal-holdout", "--out", str(tmp_path / "shown")]) == 0
    kept_records, kept = _read(tmp_path / "kept")
    shown_records, shown = _read(tmp_path / "shown")
    common = [d for d in FILE_BARS["SPY"].dates if d != FILE_BARS["QQQ"].dates[GAP]]
    assert kept["dropped_bars"] == {"SPY": 1, "QQQ": 0}
    assert kept["holdout"]["unseen_bars"] == sum(1 for d in common if d >= CUT)
    assert all(leg["bar"]["date"] < str(CUT) for r in kept_records for leg in r["symbols"].values())
    assert str(FILE_BARS["QQQ"].dates[GAP]) not in {r["bar"]["date"] for r in shown_records}
    assert shown_records[: len(kept_records)] == kept_records  # no decision before the cut saw the holdout
    unrevealed = {k: v for k, v in kept.items() if k not in ("holdout", "mode", "dropped_bars")}
    assert shown["holdout"]["in_sample"] == unrevealed
    assert shown["holdout"]["holdout"]["first_decision"] == str(CUT)
    assert list(kept["evaluation"]["by_model"]) == ["QQQ"]  # scope reference: one model, on QQQ
    page = (tmp_path / "shown" / "report.html").read_text()
    assert page.count("<figure class='ribbon'") == 1 and "sets SPY, QQQ" in page
    for heading in ("Whole run", "In sample (before", "Holdout", "left out: SPY 1"):
        assert heading in page


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("sp500", "reads each symbol's bars from the profile's market.data_source"),
        ("alpaca:SPY", "reads each symbol's bars from the profile's market.data_source"),
    ],
)
def test_a_portfolio_refuses_one_series_in_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: str, says: str
) -> None:
    args = ["backtest", "--profile", str(_bundled_profile(tmp_path)), "--data", data, "--out", str(tmp_path / "x")]
    assert main([*args, "--key-id", "k", "--secret-key", "s"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and says in err and "\n" not in err
