"""``task.transform=auto``: log and/or difference, decided on the training part of a series only.

Two questions, asked in order:

1. **Log?** Only for a strictly positive series. Cut the training part into consecutive blocks
   (one season long, or about sqrt(T) points without a season); in each block take the level
   (mean of x) and the spread (standard deviation of the first differences, so a trend inside a
   block does not count as spread). Regress log spread on log level across blocks: the slope is
   about 0 for additive noise and about 1 when the spread grows in proportion to the level
   (multiplicative seasonality, growth rates). Log when the slope is significantly above 0
   (one-sided t-test, 5 %), exceeds ``LOG_SLOPE``, and the level moves enough (max/min block
   level > ``MIN_LEVEL_RATIO``) for the slope to mean something.
2. **Difference?** On the (logged) series g: an ADF test (H0: unit root) and a KPSS test (H0: level
   stationary), from statsmodels. Difference when ADF cannot reject a unit root at 5 % *and* KPSS
   rejects stationarity at 5 %: both tests point the same way. A bounded cycle (sunspots) stays
   in levels; a random walk or a trend is differenced.

The answer is one of ``none``, ``log``, ``diff``, ``log_diff`` (the task's transform names), with
the statistics behind it for the run's log.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import linregress

LOG_SLOPE = 0.5  # log-spread vs log-level slope above which the spread "grows with the level"
MIN_LEVEL_RATIO = 1.2  # the largest block level must exceed the smallest by 20 % for the slope to count
ALPHA = 0.05  # level of the ADF and KPSS tests


@dataclass(frozen=True)
class TransformChoice:
    """The chosen transform and the statistics it was chosen on."""

    name: str  # none | log | diff | log_diff
    spread_slope: float  # slope of log spread on log level (nan if not positive or too few blocks)
    level_ratio: float  # largest / smallest block level (nan if not positive)
    adf_pvalue: float
    kpss_pvalue: float

    @property
    def log(self) -> bool:
        return self.name in ("log", "log_diff")

    @property
    def diff(self) -> bool:
        return self.name in ("diff", "log_diff")


def spread_level_slope(x: np.ndarray, block: int) -> tuple[float, float]:
    """(slope of log spread on log level over blocks of ``block`` points, max/min block level); the slope
    is 0 when it is not significantly positive."""
    n_blocks = len(x) // block
    if n_blocks < 3:
        return math.nan, math.nan
    B = x[len(x) - n_blocks * block :].reshape(n_blocks, block)  # (n_blocks, block), the most recent blocks
    level = B.mean(axis=1)  # (n_blocks,)
    spread = np.diff(B, axis=1).std(axis=1)  # (n_blocks,)
    if np.any(spread <= 0) or np.any(level <= 0):
        return math.nan, math.nan
    fit = linregress(np.log(level), np.log(spread))
    # the slope counts only where it is distinguishable from 0 (one-sided, level ALPHA); else report 0
    slope = fit.slope if fit.slope > 0 and fit.pvalue / 2 < ALPHA else 0.0
    return float(slope), float(level.max() / level.min())


def unit_root_pvalues(g: np.ndarray) -> tuple[float, float]:
    """(ADF p-value, KPSS p-value) of ``g`` with a constant; KPSS's p-value is clipped to [0.01, 0.1]."""
    from statsmodels.tsa.stattools import adfuller, kpss

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KPSS warns when its p-value is outside its lookup table
        adf_p = float(adfuller(g, regression="c", autolag="AIC")[1])
        kpss_p = float(kpss(g, regression="c", nlags="auto")[1])
    return adf_p, kpss_p


def choose_transform(train: np.ndarray, season: int | None = None) -> TransformChoice:
    """The ``auto`` transform of a series from its training part ``train`` (T,) alone."""
    x = np.asarray(train, dtype=np.float64)
    if x.ndim != 1 or len(x) < 12 or not np.isfinite(x).all():
        raise ValueError(f"choose_transform needs a finite 1-D training part of at least 12 points, got {x.shape}")
    slope, ratio = math.nan, math.nan
    use_log = False
    if np.all(x > 0):
        block = season if season and season >= 4 else max(4, int(round(math.sqrt(len(x)))))
        slope, ratio = spread_level_slope(x, block)
        use_log = bool(slope > LOG_SLOPE and ratio > MIN_LEVEL_RATIO)
    g = np.log(x) if use_log else x
    adf_p, kpss_p = unit_root_pvalues(g)
    use_diff = adf_p > ALPHA and kpss_p < ALPHA
    name = {(False, False): "none", (True, False): "log", (False, True): "diff", (True, True): "log_diff"}[
        (use_log, use_diff)
    ]
    return TransformChoice(name, slope, ratio, adf_p, kpss_p)
