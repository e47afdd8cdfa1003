"""Print the time-series baselines (naive, seasonal naive, ARIMA) on the test part, one step ahead.

    python scripts/measure_baselines.py                     # sunspots, co2, nile with the defaults
    python scripts/measure_baselines.py elnino --horizon 3
    python scripts/measure_baselines.py --select sunspots   # AIC search for the ARIMA order (train+dev only)

The windows are the ones recommended for the RNNs on each set (they do not change the baselines,
which forecast the same test targets from the full history).
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np

from harness.config import TimeSeriesTaskConfig
from harness.data.series import load_series
from harness.tasks.timeseries import load_timeseries

RECOMMENDED_WINDOWS = {"sunspots": 24, "co2": 24, "nile": 10, "elnino": 24}


def measure(names: list[str], horizon: int) -> None:
    print(
        f"{'data set':<10} {'W':>3} {'N test':>6} {'ARIMA order':<20} {'naive':>9} {'seasonal':>9} {'ARIMA':>9}   (test RMSE, original units)"
    )
    for name in names:
        t0 = time.perf_counter()
        d = load_timeseries(
            TimeSeriesTaskConfig(dataset=name, window=RECOMMENDED_WINDOWS.get(name, 24), horizon=horizon), seed=0
        )
        b = d.baselines()
        seasonal = b.get("baseline_seasonal_naive_test_rmse", float("nan"))
        order = str(list(d.arima_order)) + (f" m={d.season}" if len(d.arima_order) == 6 else "")
        print(
            f"{name:<10} {d.window:>3} {len(d.test):>6} {order:<20} {b['baseline_naive_test_rmse']:>9.4g} "
            f"{seasonal:>9.4g} {b['baseline_arima_test_rmse']:>9.4g}   ({time.perf_counter() - t0:.1f} s)"
        )
        detail = ", ".join(f"{k.removeprefix('baseline_')}={v:.4g}" for k, v in b.items() if not k.endswith("rmse"))
        print(f"{'':<10} {detail}")


def select(name: str, test_fraction: float = 0.15) -> None:
    """AIC over a small grid on the train+dev part; d from an ADF test, D = 1 when there is a season."""
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.stattools import adfuller

    s = load_series(name)
    n_fit = len(s.values) - int(np.floor(test_fraction * len(s.values) + 0.5))
    x = s.values[:n_fit]  # train + dev: the test part is never looked at
    adf_p = adfuller(x, autolag="AIC")[1]
    d = 0 if adf_p < 0.05 else 1
    print(f"{name}: {n_fit} points before the test part; ADF p = {adf_p:.3f} -> d = {d}")
    seasonal = [(0, 0, 0)] if not s.season else [(P, 1, Q) for P in (0, 1) for Q in (0, 1)]
    ps = (0, 1, 2) if s.season else (0, 1, 2, 3, 4, 6, 9)
    results = []
    for p, q, (P, D, Q) in itertools.product(ps, (0, 1, 2), seasonal):
        if p == q == P == Q == 0:
            continue
        k = d + D
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = ARIMA(
                x,
                order=(p, d, q),
                seasonal_order=(P, D, Q, s.season or 0),
                trend="c" if k == 0 else ("t" if k == 1 else "n"),
            ).fit()
        results.append((res.aic, [p, d, q] + ([P, D, Q] if s.season else [])))
    for aic, order in sorted(results)[:5]:
        print(f"  AIC {aic:9.1f}  order {order}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["sunspots", "co2", "nile"])
    parser.add_argument("--horizon", type=int, default=1)
    parser.add_argument("--select", action="store_true", help="search ARIMA orders by AIC instead")
    args = parser.parse_args()
    if args.select:
        for name in args.names:
            select(name)
    else:
        measure(args.names, args.horizon)


if __name__ == "__main__":
    main()
