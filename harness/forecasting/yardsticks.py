"""Yardsticks: the classical forecasters every forecasting run is compared with, from rolling origins.

Notation: x (T,) the series in original units; origins o_1 < ... < o_N; a forecast from o reads
x_0 .. x_o only and gives x_{o+1} .. x_{o+H} with central 80 % / 95 % intervals.

- ``naive``           x̂_{o+h} = x_o; sd_h = σ₁ √h, σ₁² the mean squared first difference up to o.
- ``seasonal_naive``  x̂_{o+h} = x_{o+h-m⌈h/m⌉}; sd_h = σ_m √⌈h/m⌉, σ_m over the lag-m differences
  (season m ≥ 2 only). Both as in Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 5.5.
- ``auto_arima``, ``auto_ets``, ``auto_theta``  statsforecast's AutoARIMA, AutoETS and AutoTheta,
  seasonal (``season_length=m``) once the history holds two seasons, with their own intervals. They
  are chosen and fitted on x_0 .. x_o at o_1 and then at every ``refit_every``-th origin; from the
  origins between, the fitted model reads the longer history (statsforecast's ``forward``), so no
  forecast reads past its origin and the choice is made on past data only. With ``log=True`` (the
  task's transform takes logs, decided on the training part) they model log x and forecast exp of
  their forecast, bounds included (quantiles map through exp): on a multiplicative-seasonal series an
  ARIMA on the original scale is far behind the same ARIMA on logs. A fit that fails, or a forecast
  that is not finite, falls back to the naive forecast for those origins (named in ``spec``).
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

YARDSTICKS = ("naive", "seasonal_naive", "auto_arima", "auto_ets", "auto_theta")
AUTOMATIC = ("auto_arima", "auto_ets", "auto_theta")
LEVELS = (80, 95)


@dataclass(frozen=True)
class YardstickForecasts:
    """Forecasts of one yardstick from N origins over H horizons (NaN where none was made)."""

    mean: np.ndarray  # (N, H)
    lower: dict[int, np.ndarray]  # level -> (N, H)
    upper: dict[int, np.ndarray]  # level -> (N, H)
    fit_seconds: float  # fitting and forecasting, all origins
    spec: str = ""  # the model chosen at each refit, e.g. "ARIMA(0,1,1)(0,1,1)[12]"

    def __post_init__(self):
        for a in (self.mean, *self.lower.values(), *self.upper.values()):
            a.flags.writeable = False  # shared between the runs of a process (rolling_forecasts' cache)


def _gaussian_bands(mean: np.ndarray, sd: np.ndarray, levels) -> tuple[dict, dict]:
    """Central intervals mean ± z sd for each level (%)."""
    z = {lv: norm.ppf(0.5 + lv / 200) for lv in levels}
    return {lv: mean - z[lv] * sd for lv in levels}, {lv: mean + z[lv] * sd for lv in levels}


def _rms_lag_diff(x: np.ndarray, origins: np.ndarray, lag: int) -> np.ndarray:
    """σ (N,): root mean square of x_t - x_{t-lag} over t ≤ o, for each origin o (NaN with none)."""
    d2 = np.zeros(len(x))
    d2[lag:] = (x[lag:] - x[:-lag]) ** 2  # (T,)
    csum = np.concatenate([[0.0], np.cumsum(d2)])  # (T + 1,)
    count = np.maximum(origins + 1 - lag, 0)  # (N,) differences up to o
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.sqrt(csum[origins + 1] / np.maximum(count, 1)), np.nan)


def naive_forecasts(x: np.ndarray, origins: np.ndarray, horizon: int, levels=LEVELS) -> YardstickForecasts:
    """x̂_{o+h} = x_o with random-walk intervals."""
    start = time.perf_counter()
    h = np.arange(1, horizon + 1)  # (H,)
    mean = np.repeat(x[origins][:, None], horizon, axis=1)  # (N, H)
    sd = _rms_lag_diff(x, origins, 1)[:, None] * np.sqrt(h)  # (N, H)
    lower, upper = _gaussian_bands(mean, sd, levels)
    return YardstickForecasts(mean, lower, upper, time.perf_counter() - start, "naive")


def seasonal_naive_forecasts(x, origins, horizon: int, season: int, levels=LEVELS) -> YardstickForecasts:
    """x̂_{o+h} = x_{o+h-m k}, k = ⌈h/m⌉ (the same season's last observed value), with sd σ_m √k."""
    start = time.perf_counter()
    h = np.arange(1, horizon + 1)  # (H,)
    k = -(-h // season)  # (H,) ⌈h/m⌉
    source = origins[:, None] + h - season * k  # (N, H), ≤ o
    mean = np.where(source >= 0, x[np.maximum(source, 0)], np.nan)  # (N, H)
    sd = _rms_lag_diff(x, origins, season)[:, None] * np.sqrt(k)  # (N, H)
    lower, upper = _gaussian_bands(mean, sd, levels)
    return YardstickForecasts(mean, lower, upper, time.perf_counter() - start, f"seasonal naive [{season}]")


def _automatic_model(name: str, season_length: int, n: int = 0):
    """The library's model for ``n`` points of history. AutoARIMA approximates the likelihood during its
    order search on long or high-frequency series (n > 150 or m > 12), the rule of R's auto.arima, which
    statsforecast leaves off by default: a 425-point monthly fit takes 0.3 s instead of 3.7 s."""
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

    if name == "auto_arima":
        return AutoARIMA(season_length=season_length, approximation=n > 150 or season_length > 12)
    return {"auto_ets": AutoETS, "auto_theta": AutoTheta}[name](season_length=season_length)


def _describe(name: str, model) -> str:
    """The chosen model in the field's notation."""
    fitted = model.model_
    if name == "auto_arima":
        from statsforecast.arima import arima_string

        return arima_string(fitted).strip()
    if name == "auto_ets":
        m = fitted.get("m", 1)
        return f"{fitted['method']}" + (f"[{m}]" if m and m > 1 else "")
    m = fitted.get("m", 1)
    season = f", {fitted['decomposition_type']} season [{m}]" if fitted.get("decompose") else ""
    return f"Theta({fitted['modeltype']}{season})"


@contextmanager
def _quiet():
    """Silence the libraries' warnings (convergence, numerical) while fitting: the spec says what was fitted."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def automatic_forecasts(
    name: str,
    x: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    season: int | None,
    refit_every: int,
    levels=LEVELS,
    log: bool = False,
) -> YardstickForecasts:
    """One of AUTOMATIC from every origin, chosen and refitted every ``refit_every`` origins (on log x
    when ``log``)."""
    g = np.log(x) if log else x  # (T,) the scale the model sees
    start = time.perf_counter()
    N, H = len(origins), horizon
    mean = np.full((N, H), np.nan)
    lower = {lv: np.full((N, H), np.nan) for lv in levels}
    upper = {lv: np.full((N, H), np.nan) for lv in levels}
    specs: list[str] = []
    fallback = np.zeros(N, dtype=bool)
    with _quiet():
        for first in range(0, N, refit_every):
            block = range(first, min(first + refit_every, N))
            history = g[: origins[first] + 1]
            m = season if season and season >= 2 and len(history) >= 2 * season else 1
            try:
                model = _automatic_model(name, m, len(history)).fit(history)
                specs.append(_describe(name, model) + (" on logs" if log else ""))
            except Exception as exc:  # noqa: BLE001 - any failure of the library falls back to naive
                fallback[list(block)] = True
                specs.append(f"naive (fit failed: {type(exc).__name__})")
                continue
            for i in block:
                try:
                    y = history if i == first else g[: origins[i] + 1]
                    f = model.forward(y=y, h=H, level=list(levels))
                except Exception:  # noqa: BLE001
                    fallback[i] = True
                    continue
                back = np.exp if log else np.asarray
                mean[i] = back(np.asarray(f["mean"], dtype=np.float64))
                for lv in levels:
                    lower[lv][i] = back(np.asarray(f[f"lo-{lv}"], dtype=np.float64))
                    upper[lv][i] = back(np.asarray(f[f"hi-{lv}"], dtype=np.float64))
    bad = ~np.isfinite(mean).all(axis=1) | np.any([~np.isfinite(lower[lv] + upper[lv]).all(axis=1) for lv in levels], 0)
    fallback |= bad
    if fallback.any():
        naive = naive_forecasts(x, origins[fallback], H, levels)
        mean[fallback] = naive.mean
        for lv in levels:
            lower[lv][fallback], upper[lv][fallback] = naive.lower[lv], naive.upper[lv]
        specs.append(f"naive at {int(fallback.sum())} of {N} origins")
    spec = "; ".join(dict.fromkeys(specs))  # the distinct choices in order
    return YardstickForecasts(mean, lower, upper, time.perf_counter() - start, spec)


def rolling_forecasts(
    x: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    season: int | None,
    names=YARDSTICKS,
    refit_every: int = 12,
    levels=LEVELS,
    log: bool = False,
) -> dict[str, YardstickForecasts]:
    """name -> forecasts of x_{o+1..o+H} from x_0..x_o for every origin o; seasonal naive only with a season.

    Results are kept in memory for the process (the last CACHE_SIZE calls): the runs of a sweep launched in
    one process (Hydra's basic launcher) share the same series and origins, so AutoARIMA's refits, by far
    the dearest part of a run's evaluation, are made once per series and not once per model."""
    x = np.asarray(x, dtype=np.float64)
    origins = np.asarray(origins, dtype=np.int64)
    key = hashlib.sha256(
        x.tobytes()
        + origins.tobytes()
        + repr((horizon, season, tuple(names), refit_every, tuple(levels), log)).encode()
    ).hexdigest()
    if key not in _CACHE:
        _CACHE[key] = _rolling_forecasts(x, origins, horizon, season, names, refit_every, levels, log)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
    return dict(_CACHE[key])


_CACHE: dict[str, dict[str, YardstickForecasts]] = {}
CACHE_SIZE = 8


def _rolling_forecasts(x, origins, horizon, season, names, refit_every, levels, log) -> dict[str, YardstickForecasts]:
    out: dict[str, YardstickForecasts] = {}
    for name in names:
        if name == "naive":
            out[name] = naive_forecasts(x, origins, horizon, levels)
        elif name == "seasonal_naive":
            if season is not None and season >= 2:
                out[name] = seasonal_naive_forecasts(x, origins, horizon, season, levels)
        elif name in AUTOMATIC:
            out[name] = automatic_forecasts(name, x, origins, horizon, season, max(1, refit_every), levels, log)
        else:
            raise ValueError(f"unknown yardstick {name!r}; expected one of {', '.join(YARDSTICKS)}")
    return out


def n_refits(n_origins: int, refit_every: int) -> int:
    """How many times an automatic yardstick is chosen and fitted over ``n_origins`` origins."""
    return math.ceil(n_origins / max(1, refit_every))
