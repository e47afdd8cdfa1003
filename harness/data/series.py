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
- ``csv``       ``task.path`` with ``task.value_column`` (and optionally ``task.time_column``).
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
"""

from __future__ import annotations

import csv
import math
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
    return Series("sunspots", values, time, season=None)


def _co2(missing: str) -> Series:
    import pandas as pd
    from statsmodels.datasets import co2

    weekly = co2.load_pandas().data["co2"]
    values, time = handle_missing(weekly.to_numpy(), weekly.index.to_numpy(), missing, "co2 (weekly)")
    monthly = pd.Series(values, index=pd.DatetimeIndex(time)).resample("MS").mean().dropna()  # (526,)
    return Series("co2", monthly.to_numpy(), monthly.index.to_numpy(), season=12)


def _nile(missing: str) -> Series:
    from statsmodels.datasets import nile

    df = nile.load_pandas().data
    values, time = handle_missing(df["volume"].to_numpy(), df["year"].to_numpy().astype(int), missing, "nile")
    return Series("nile", values, time, season=None)


def _elnino(missing: str) -> Series:
    from statsmodels.datasets import elnino

    df = elnino.load_pandas().data
    years = df["YEAR"].to_numpy().astype(int)
    grid = df.drop(columns="YEAR").to_numpy()  # (n_years, 12), Jan..Dec
    months = np.array([np.datetime64(f"{y}-{m:02d}") for y in years for m in range(1, 13)])
    values, time = handle_missing(grid.reshape(-1), months, missing, "elnino")
    return Series("elnino", values, time, season=12)


# ---------------------------------------------------------------------------------------------
# CSV


def _parse_number(text: str) -> float | None:
    """A float, NaN for a missing-value token, or None when the text is not a number."""
    t = text.strip()
    if t.lower() in MISSING_TOKENS:
        return math.nan
    try:
        return float(t)
    except ValueError:
        return None


def _read_csv_rows(path: Path, value_column: str | None, time_column: str | None) -> tuple[list[float], list[str], str]:
    """(values with NaN for missing cells, time labels, the value column's name); DataError on bad rows."""
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
            if ti is not None:
                times.append(row[ti].strip())
    return values, times, value_column


def read_csv_series(path: str | Path, value_column: str | None, time_column: str | None, missing: str) -> Series:
    """Read one numeric column (and optionally a time column) from a CSV file with a header."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"CSV file {path} does not exist", "check task.path")
    if not path.is_file():
        raise DataError(f"{path} is not a file", "point task.path at a CSV file")
    if path.stat().st_size == 0:
        raise DataError(f"CSV file {path} is empty", "point task.path at a CSV file with a header and rows")
    try:
        values, times, value_column = _read_csv_rows(path, value_column, time_column)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"CSV file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})", "save it as UTF-8"
        ) from None
    except csv.Error as exc:
        raise DataError(f"CSV file {path} is malformed ({exc})", "fix the file") from None
    if not values:
        raise DataError(f"CSV file {path} has a header but no data rows", "add rows below the header")
    time = _parse_time(times) if time_column is not None else None
    vals, time = handle_missing(np.array(values), time, missing, f"column {value_column!r} of {path}")
    return Series(path.stem, vals, time, season=None)


def _parse_time(labels: list[str]) -> np.ndarray:
    """Numbers if every label is one, else datetimes if every label parses, else the labels."""
    try:
        return np.array([float(t) for t in labels])
    except ValueError:
        pass
    try:
        return np.array(labels, dtype="datetime64")
    except ValueError:
        return np.array(labels, dtype=object)


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
DATASETS = (*BUILTIN, "csv", *SYNTHETIC)


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
