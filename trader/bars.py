"""Daily OHLCV bars: the bundled S&P 500 / NASDAQ series, or a CSV or Parquet file, validated.

A bad file is refused with one line naming the file, the row and the problem.

The bundled series are the two gzipped CSVs the ``arch`` package ships. They are read here
with the standard library, never through arch (whose loader needs pandas): from the folder
``HMMTRADE_BUNDLED_DATA_DIR`` names when it is set (the hosted bot image, whose build copies
the two files out of the pinned arch wheel), else from the installed arch package's folder.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

BUNDLED = ("sp500", "nasdaq")
COLUMNS = ("date", "open", "high", "low", "close", "volume")
BUNDLED_DATA_DIR_ENV = "HMMTRADE_BUNDLED_DATA_DIR"
_BUNDLED_COLUMNS = ("Open", "High", "Low", "Close", "Volume")  # arch's header; "Adj Close" is not used


class BarDataError(ValueError):
    """The bar data cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Bars:
    dates: tuple[date, ...]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.dates)

    def head(self, n: int) -> Bars:
        """The first ``n`` bars (what a live bot would have seen by bar ``n - 1``)."""
        return self.slice(0, n)

    def slice(self, start: int, stop: int) -> Bars:
        return Bars(
            self.dates[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
        )


def bundled_file(name: str, *, environ: Mapping[str, str] | None = None) -> Path:
    """The gzipped CSV of a bundled series: in ``HMMTRADE_BUNDLED_DATA_DIR`` if set, else in arch's package.

    arch is located without importing it: its ``__init__`` would pull in pandas.
    """
    if name not in BUNDLED:
        raise BarDataError(f"unknown bundled data {name!r}: choose one of {', '.join(BUNDLED)}")
    folder = (os.environ if environ is None else environ).get(BUNDLED_DATA_DIR_ENV)
    if folder:
        return Path(folder) / f"{name}.csv.gz"
    spec = importlib.util.find_spec("arch")
    if spec is None or not spec.submodule_search_locations:
        raise BarDataError(
            f"bundled:{name}: the bundled data needs the arch package installed, or {BUNDLED_DATA_DIR_ENV} "
            f"naming a folder that holds {name}.csv.gz"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name / f"{name}.csv.gz"


def load_bundled(name: str, *, environ: Mapping[str, str] | None = None) -> Bars:
    """S&P 500 or NASDAQ daily bars 1999-2018, exactly the values the ``arch`` package ships."""
    return read_bundled_file(name, bundled_file(name, environ=environ))


def read_bundled_file(name: str, path: Path) -> Bars:
    """One of arch's ``<name>.csv.gz`` files (Date as M/D/YYYY, then OHLC, Adj Close, Volume), validated."""
    source = f"bundled:{name}"
    rows: list[tuple[date, float, float, float, float, float]] = []
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in ("Date", *_BUNDLED_COLUMNS) if c not in (reader.fieldnames or [])]
            if missing:
                raise BarDataError(f"{source}: {path}: missing column(s) {', '.join(missing)}")
            for line, record in enumerate(reader, start=2):
                try:
                    day = datetime.strptime(record["Date"], "%m/%d/%Y").date()
                    o, h, lo, c, v = (float(record[column]) for column in _BUNDLED_COLUMNS)
                except (TypeError, ValueError) as exc:
                    raise BarDataError(f"{source}: {path}: row {line}: cannot read it ({exc})") from None
                rows.append((day, o, h, lo, c, v))
    except OSError as exc:  # missing file, unreadable, or not gzip (BadGzipFile)
        hint = f" (is {BUNDLED_DATA_DIR_ENV} the folder holding {name}.csv.gz?)"
        raise BarDataError(f"{source}: cannot read {path}: {exc.strerror or exc}{hint}") from None
    except EOFError:
        raise BarDataError(f"{source}: {path} is truncated") from None
    return _validated(source, rows)


def load_file(path: Path) -> Bars:
    """A CSV or Parquet (``.parquet``/``.pq``) file of daily OHLCV bars."""
    return load_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else load_csv(path)


def load_parquet(path: Path) -> Bars:
    """A Parquet file with columns date, open, high, low, close, volume (any case)."""
    try:
        from fastparquet import ParquetFile  # imported here: it pulls in pandas
    except ModuleNotFoundError:  # the hosted bot image has neither: a hosted bot reads no files
        raise BarDataError(f"{path}: reading Parquet needs fastparquet, which is not installed here") from None

    try:
        frame = ParquetFile(str(path)).to_pandas()
    except OSError as exc:
        raise BarDataError(f"{path}: cannot open it ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - fastparquet raises many types for a damaged file
        raise BarDataError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None
    if frame.index.name and frame.index.name.strip().lower() == "date":
        frame = frame.reset_index()
    header = {str(name).strip().lower(): name for name in frame.columns}
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BarDataError(f"{path}: missing column(s) {', '.join(missing)}")
    rows: list[tuple[date, float, float, float, float, float]] = []
    for line, values in enumerate(zip(*(frame[header[c]] for c in COLUMNS), strict=True), start=1):
        try:
            raw_day = values[0]
            day = raw_day.date() if hasattr(raw_day, "date") else date.fromisoformat(str(raw_day)[:10])
            o, h, lo, c, v = (float(x) for x in values[1:])
            rows.append((day, o, h, lo, c, v))
        except (TypeError, ValueError) as exc:
            raise BarDataError(f"{path}: row {line}: cannot read it ({exc})") from None
    return _validated(str(path), rows)


def write_csv(bars: Bars, path: Path) -> Path:
    """``bars`` as a CSV that ``load_csv`` reads back exactly (floats written with ``repr``)."""
    columns = (bars.open.tolist(), bars.high.tolist(), bars.low.tolist(), bars.close.tolist(), bars.volume.tolist())
    lines = [",".join(COLUMNS)] + [
        f"{day},{o!r},{h!r},{lo!r},{c!r},{v!r}" for day, o, h, lo, c, v in zip(bars.dates, *columns, strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def load_csv(path: Path) -> Bars:
    """A CSV with a header naming date, open, high, low, close, volume (any order, any case)."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = {name.strip().lower(): name for name in reader.fieldnames or []}
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise BarDataError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = []
            for line, record in enumerate(reader, start=2):
                try:
                    rows.append(
                        (
                            date.fromisoformat(record[header["date"]].strip()[:10]),
                            *(float(record[header[c]]) for c in COLUMNS[1:]),
                        )
                    )
                except (TypeError, ValueError) as exc:
                    raise BarDataError(f"{path}: row {line}: cannot read it ({exc})") from None
    except OSError as exc:
        raise BarDataError(f"{path}: cannot open it ({exc.strerror})") from None
    return _validated(str(path), rows)  # type: ignore[arg-type]


def _validated(source: str, rows: list[tuple[date, float, float, float, float, float]]) -> Bars:
    if not rows:
        raise BarDataError(f"{source}: no bars")
    for i, (day, o, h, lo, c, v) in enumerate(rows):
        where = f"{source}: bar {i + 1} ({day})"
        if any(math.isnan(x) or math.isinf(x) for x in (o, h, lo, c, v)):
            raise BarDataError(f"{where}: a price or volume is NaN or infinite")
        if min(o, h, lo, c) <= 0:
            raise BarDataError(f"{where}: prices must be positive")
        if v < 0:
            raise BarDataError(f"{where}: volume is negative")
        if h < max(o, c, lo) or lo > min(o, c):
            raise BarDataError(f"{where}: high/low do not bracket open and close")
        if i and day <= rows[i - 1][0]:
            problem = "repeats" if day == rows[i - 1][0] else "comes before"
            raise BarDataError(f"{where}: date {problem} the previous bar's: bars must be sorted and unique")
    columns = list(zip(*rows, strict=True))
    return Bars(tuple(columns[0]), *(np.asarray(col, dtype=np.float64) for col in columns[1:]))


def bar_fields(bars: Bars, t: int) -> dict[str, Any]:
    """Bar t as an audit record writes it: date and OHLCV."""
    return {
        "date": str(bars.dates[t]),
        "open": float(bars.open[t]),
        "high": float(bars.high[t]),
        "low": float(bars.low[t]),
        "close": float(bars.close[t]),
        "volume": float(bars.volume[t]),
    }
