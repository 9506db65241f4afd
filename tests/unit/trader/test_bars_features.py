"""Bar files are validated with errors naming the row; features never look ahead."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from trader import features
from trader.bars import BarDataError, Bars, load_bundled, load_csv

HEADER = "date,open,high,low,close,volume\n"


def _csv(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "bars.csv"
    path.write_text(HEADER + rows)
    return path


def test_bundled_series_cover_1999_to_2018() -> None:
    for name in ("sp500", "nasdaq"):
        bars = load_bundled(name)
        assert str(bars.dates[0]) == "1999-01-04" and str(bars.dates[-1]) == "2018-12-31"


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ("", "no bars"),
        ("2020-01-02,1,1,1,1,10\n2020-01-01,1,1,1,1,10\n", "bar 2 (2020-01-01): date comes before"),
        ("2020-01-02,1,1,1,1,10\n2020-01-02,1,1,1,1,10\n", "date repeats"),
        ("2020-01-02,1,1,1,nan,10\n", "NaN or infinite"),
        ("2020-01-02,1,1,1,-1,10\n", "prices must be positive"),
        ("2020-01-02,1,1,1,x,10\n", "row 2: cannot read it"),
    ],
)
def test_bad_files_are_refused_naming_the_problem(tmp_path: Path, rows: str, says: str) -> None:
    with pytest.raises(BarDataError, match=re.escape(says)) as error:
        load_csv(_csv(tmp_path, rows))
    assert str(tmp_path) in str(error.value)


def test_missing_columns_and_unknown_features_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("date,close\n2020-01-02,1\n")
    with pytest.raises(BarDataError, match="missing column"):
        load_csv(path)
    with pytest.raises(features.FeatureError, match="unknown feature"):
        features.compute(load_bundled("sp500").head(50), ["momentum"])


def _perturb_after(bars: Bars, t: int) -> Bars:
    rng = np.random.default_rng(1)
    scale = np.ones(len(bars))
    scale[t + 1 :] = rng.uniform(0.5, 1.5, len(bars) - t - 1)
    widen = np.where(np.arange(len(bars)) > t, 0.02, 0.0)  # later bars also get wider ranges
    return Bars(
        bars.dates,
        bars.open * scale,
        bars.high * scale * (1 + widen),
        bars.low * scale * (1 - widen),
        bars.close * scale,
        bars.volume * scale,
    )


def test_features_up_to_bar_t_ignore_every_later_bar() -> None:
    bars = load_bundled("sp500").head(400)
    names = list(features.FEATURES)
    original = features.compute(bars, names)
    for t in (25, 100, 250):
        changed = features.compute(_perturb_after(bars, t), names)
        np.testing.assert_array_equal(original[: t + 1], changed[: t + 1])
        assert not np.allclose(original[t + 1 :], changed[t + 1 :], equal_nan=True)


@pytest.mark.parametrize("series", ["sp500", "nasdaq", "flat_volume"])
def test_a_row_from_its_lookback_alone_equals_the_full_computation_bit_for_bit(series: str) -> None:
    """The engine's per-bar rows are the bytes a whole-series computation gives (the audit records them)."""
    if series == "flat_volume":  # a trailing window with no spread: volume_z is 0 there, not NaN
        bars = load_bundled("sp500").head(300)
        bars = Bars(bars.dates, bars.open, bars.high, bars.low, bars.close, np.full_like(bars.volume, 1e9))
    else:
        bars = load_bundled(series)
    names = list(features.FEATURES)
    full = features.compute(bars, names)
    rows = np.array([features.row(bars, t, names) for t in range(len(bars))])
    assert rows.tobytes() == full.tobytes()
    assert [features.row(bars, t, ["realized_vol", "log_return"]).tobytes() for t in (5, 21, 22, 250)] == [
        full[t, [1, 0]].tobytes() for t in (5, 21, 22, 250)
    ]


def test_sample_std_is_numpys_to_the_last_bit() -> None:
    rng = np.random.default_rng(16)
    windows = [rng.standard_t(3, size=n) * scale for n in (2, 3, 20, 21, 130) for scale in (1e-3, 1.0, 1e4)]
    windows.append(np.full(20, 7.25))
    assert [features.sample_std(w) for w in windows] == [float(np.std(w, ddof=1)) for w in windows]
