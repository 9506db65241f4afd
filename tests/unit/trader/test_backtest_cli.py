"""`hmmtrade backtest`: reproducible files, recomputable metrics, one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stack.cli import main
from trader.bars import load_bundled
from trader.metrics import YEAR

PROFILE: dict[str, Any] = {
    "basics": {"name": "CLI test", "surface": "local", "mode": "paper"},
    "market": {"symbols": ["SPX"], "data_source": "file", "data_file": "bars.csv"},
    "model": {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 150, "refit_every": 50},
    "strategy": {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 50, "max_daily_loss_pct": 10},
    "schedule": {"confirmed": True},
}


def _write_bars(path: Path, n: int = 420) -> Path:
    bars = load_bundled("sp500").head(n)
    lines = ["date,open,high,low,close,volume"] + [
        f"{d},{o},{h},{lo},{c},{v}"
        for d, o, h, lo, c, v in zip(bars.dates, bars.open, bars.high, bars.low, bars.close, bars.volume, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _profile(tmp_path: Path, **model: Any) -> Path:
    profile = json.loads(json.dumps(PROFILE))
    profile["model"].update(model)
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    return path


def test_same_inputs_write_byte_identical_audit_and_metrics(tmp_path: Path) -> None:
    data, profile = _write_bars(tmp_path / "bars.csv"), _profile(tmp_path)
    for run in ("a", "b"):
        assert main(["backtest", "--data", str(data), "--profile", str(profile), "--out", str(tmp_path / run)]) == 0
    for name in ("audit.jsonl", "metrics.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    models = list((tmp_path / "a" / "models").glob("*.json"))
    assert models and "transmat" in json.loads(models[0].read_text())


def test_metrics_are_recomputable_from_the_audited_equity(tmp_path: Path) -> None:
    data, profile = _write_bars(tmp_path / "bars.csv"), _profile(tmp_path)
    assert main(["backtest", "--data", str(data), "--profile", str(profile), "--out", str(tmp_path / "r")]) == 0
    records = [json.loads(line) for line in (tmp_path / "r" / "audit.jsonl").read_text().splitlines()]
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())["strategy"]
    equity = np.array([r["equity"] for r in records])
    returns = np.diff(equity) / equity[:-1]
    sharpe = returns.mean() * YEAR / (returns.std(ddof=1) * math.sqrt(YEAR))
    max_dd = (1 - equity / np.maximum.accumulate(equity)).max()
    cagr = (equity[-1] / equity[0]) ** (YEAR / len(returns)) - 1
    assert metrics["sharpe"] == pytest.approx(sharpe, rel=1e-9)
    assert metrics["max_drawdown"] == pytest.approx(max_dd, rel=1e-9)
    assert metrics["cagr"] == pytest.approx(cagr, rel=1e-9)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("n_states_1", "model.n_states: Value error, use a number of regimes from 2 to 6"),
        ("unknown_feature", "model.features.1: Input should be"),
        ("window_too_long", "the training window (1000 bars) needs more data: only 420 bars given"),
        ("empty_file", "no bars"),
        ("unsorted_file", "date comes before the previous bar's"),
        ("nan_file", "NaN or infinite"),
    ],
)
def test_bad_input_is_one_error_line_and_a_non_zero_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, says: str
) -> None:
    data = _write_bars(tmp_path / "bars.csv")
    profile = _profile(tmp_path)
    if case == "n_states_1":
        profile = _profile(tmp_path, n_states=1)
    elif case == "unknown_feature":
        profile = _profile(tmp_path, features=["log_return", "momentum"])
    elif case == "window_too_long":
        profile = _profile(tmp_path, training_window=1000)
    elif case == "empty_file":
        data.write_text("date,open,high,low,close,volume\n")
    elif case == "unsorted_file":
        lines = data.read_text().splitlines()
        lines[5], lines[6] = lines[6], lines[5]
        data.write_text("\n".join(lines) + "\n")
    elif case == "nan_file":
        lines = data.read_text().splitlines()
        lines[9] = lines[9].rsplit(",", 2)[0] + ",nan," + lines[9].rsplit(",", 1)[1]
        data.write_text("\n".join(lines) + "\n")
    code = main(["backtest", "--data", str(data), "--profile", str(profile), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    assert says in err


def test_the_report_is_one_self_contained_page_with_every_chart(tmp_path: Path) -> None:
    data, profile = _write_bars(tmp_path / "bars.csv"), _profile(tmp_path)
    assert main(["backtest", "--data", str(data), "--profile", str(profile), "--out", str(tmp_path / "r")]) == 0
    page = (tmp_path / "r" / "report.html").read_text()
    for caption in (
        "Price, shaded by the regime",
        "Filtered state probabilities",
        "Equity against buy-and-hold",
        "Drawdown of the strategy",
        "Transition matrix of the last model",
    ):
        assert caption in page
    assert page.count("<svg") == 4
    assert "http://" not in page and "https://" not in page and "<script" not in page
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["benchmark"]["name"] == "buy and hold" and set(metrics) >= {"strategy", "benchmark"}
    for key in (
        "cagr",
        "annual_volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "calmar",
        "turnover_per_year",
        "average_exposure",
        "trades",
        "regime_time_share",
    ):
        assert key in metrics["strategy"]


def test_walk_forward_refits_on_schedule_and_the_default_fits_once(tmp_path: Path) -> None:
    data, profile = _write_bars(tmp_path / "bars.csv"), _profile(tmp_path)
    base = ["backtest", "--data", str(data), "--profile", str(profile)]
    assert main([*base, "--out", str(tmp_path / "once")]) == 0
    assert main([*base, "--walk-forward", "--out", str(tmp_path / "wf")]) == 0
    assert len(list((tmp_path / "once" / "models").glob("*.json"))) == 1
    assert len(list((tmp_path / "wf" / "models").glob("*.json"))) == 5  # 250 decisions, a fit every 50
    windows = sorted(json.loads(p.read_text())["trained_on"]["last"] for p in (tmp_path / "wf" / "models").glob("*"))
    first_decision = json.loads((tmp_path / "wf" / "audit.jsonl").read_text().splitlines()[0])["bar"]["date"]
    assert windows[0] < first_decision  # the model never saw the bar it judges


def test_from_and_to_bound_the_decisions_and_the_history_before_trains(tmp_path: Path) -> None:
    data, profile = _write_bars(tmp_path / "bars.csv"), _profile(tmp_path)
    bars = load_bundled("sp500").head(420)
    start, end = bars.dates[250], bars.dates[400]
    args = ["backtest", "--data", str(data), "--profile", str(profile), "--out", str(tmp_path / "r")]
    assert main([*args, "--from", str(start), "--to", str(end)]) == 0
    dates = [json.loads(line)["bar"]["date"] for line in (tmp_path / "r" / "audit.jsonl").read_text().splitlines()]
    assert (dates[0], dates[-1], len(dates)) == (str(start), str(end), 151)


def test_a_from_date_without_enough_history_names_the_earliest_possible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, profile = _write_bars(tmp_path / "bars.csv"), _profile(tmp_path)
    bars = load_bundled("sp500").head(420)
    code = main(["backtest", "--data", str(data), "--profile", str(profile), "--from", str(bars.dates[50])])
    err = capsys.readouterr().err.strip()
    assert code == 2 and f"the earliest first decision on this data is {bars.dates[170]}" in err


def test_a_yaml_profile_and_a_parquet_file_give_the_same_backtest_as_json_and_csv(tmp_path: Path) -> None:
    import fastparquet
    import pandas as pd
    import yaml

    csv_path, json_profile = _write_bars(tmp_path / "bars.csv"), _profile(tmp_path)
    yaml_profile = tmp_path / "profile.yaml"
    yaml_profile.write_text(yaml.safe_dump(json.loads(json_profile.read_text())))
    parquet_path = tmp_path / "bars.parquet"
    fastparquet.write(str(parquet_path), pd.read_csv(csv_path))
    assert (
        main(["backtest", "--data", str(csv_path), "--profile", str(json_profile), "--out", str(tmp_path / "a")]) == 0
    )
    assert (
        main(["backtest", "--data", str(parquet_path), "--profile", str(yaml_profile), "--out", str(tmp_path / "b")])
        == 0
    )
    assert (tmp_path / "a" / "audit.jsonl").read_bytes() == (tmp_path / "b" / "audit.jsonl").read_bytes()
