"""The bundled S&P 500 / NASDAQ bars are exactly arch's, read without pandas, from arch or from a folder."""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from trader.bars import BUNDLED, BUNDLED_DATA_DIR_ENV, BarDataError, Bars, bundled_file, load_bundled, load_file


def assert_same_as_arch(bars: Bars, name: str) -> None:
    """``bars`` hold bit for bit the values arch's own (pandas) loader returns for ``name``."""
    from arch.data import nasdaq, sp500  # the reference only: the bot never imports arch

    frame = (sp500 if name == "sp500" else nasdaq).load()
    assert bars.dates == tuple(ts.date() for ts in frame.index)
    for column in ("open", "high", "low", "close", "volume"):
        reference = frame[column.capitalize()].to_numpy(dtype=np.float64)
        ours = getattr(bars, column)
        assert ours.dtype == np.float64 and ours.tobytes() == reference.tobytes(), f"{name} {column} differs"


@pytest.mark.parametrize("name", BUNDLED)
def test_without_a_data_folder_the_series_are_read_from_arch_unchanged(name: str) -> None:
    bars = load_bundled(name, environ={})
    assert len(bars) == 5031
    assert_same_as_arch(bars, name)


@pytest.mark.parametrize("name", BUNDLED)
def test_a_data_folder_holding_arch_files_gives_the_same_bars(tmp_path: Path, name: str) -> None:
    shutil.copy(bundled_file(name, environ={}), tmp_path / f"{name}.csv.gz")
    assert bundled_file(name, environ={BUNDLED_DATA_DIR_ENV: str(tmp_path)}) == tmp_path / f"{name}.csv.gz"
    assert_same_as_arch(load_bundled(name, environ={BUNDLED_DATA_DIR_ENV: str(tmp_path)}), name)


def test_a_data_folder_without_the_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(BarDataError, match=rf"bundled:nasdaq: cannot read .*nasdaq\.csv\.gz.*{BUNDLED_DATA_DIR_ENV}"):
        load_bundled("nasdaq", environ={BUNDLED_DATA_DIR_ENV: str(tmp_path)})


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"not gzip at all", "cannot read"),
        (gzip.compress(b"Date,Open,High,Low,Close,Adj Close,Volume\n1/4/1999,1,2,0.5,1.5,1.5,10\n")[:-12], "truncated"),
        (gzip.compress(b"Date,Open,High,Low,Close\n1/4/1999,1,2,0.5,1.5\n"), "missing column"),
        (gzip.compress(b"Date,Open,High,Low,Close,Adj Close,Volume\n1999-13-04,1,2,0.5,1.5,1.5,10\n"), "row 2"),
        (gzip.compress(b"Date,Open,High,Low,Close,Adj Close,Volume\n1/4/1999,1,2,0.5,x,1.5,10\n"), "row 2"),
        (gzip.compress(b"Date,Open,High,Low,Close,Adj Close,Volume\n1/4/1999,1,2,0.5,-1.5,1.5,10\n"), "positive"),
    ],
)
def test_a_damaged_data_file_is_refused_with_one_clear_line(tmp_path: Path, content: bytes, says: str) -> None:
    (tmp_path / "sp500.csv.gz").write_bytes(content)
    with pytest.raises(BarDataError, match=says) as caught:
        load_bundled("sp500", environ={BUNDLED_DATA_DIR_ENV: str(tmp_path)})
    assert "bundled:sp500" in str(caught.value) and "\n" not in str(caught.value)


def test_an_unknown_series_is_refused() -> None:
    with pytest.raises(BarDataError, match="unknown bundled data 'dax': choose one of sp500, nasdaq"):
        load_bundled("dax", environ={})


def test_without_fastparquet_as_in_the_bot_image_a_parquet_file_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fastparquet", None)  # makes `import fastparquet` fail, as in the image
    with pytest.raises(BarDataError, match=r"bars\.parquet: reading Parquet needs fastparquet, which is not installed"):
        load_file(tmp_path / "bars.parquet")
