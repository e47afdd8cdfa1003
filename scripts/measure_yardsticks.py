"""Are the automatic yardsticks as strong as a hand-chosen seasonal ARIMA on logs? And what do they cost?

Not a test (a minute or two). Run it niced:

    nice -n 19 python scripts/measure_yardsticks.py [--seeds 0 1 2]

1. Accuracy: monthly multiplicative-seasonal series of 144 points simulated from the airline model
   itself on logs, (1 - B)(1 - B^12) log x_t = (1 - 0.4 B)(1 - 0.6 B^12) e_t, e_t ~ N(0, 0.035^2),
   started from a level of 100 with a yearly pattern of +-15 % and 1 % growth a month, so the
   hand-chosen model is the true one. From the last 36 origins, horizons 1..12, refitted every 12
   origins as the harness does: harness.forecasting.yardsticks (AutoARIMA, AutoETS, AutoTheta, chosen
   per refit, on logs when the harness's transform=auto takes logs of the history before the first
   origin, as a run would; --original-scale to force the original scale) against statsmodels' SARIMAX(0,1,1)(0,1,1)12 on logs (its
   forecast exp(mean), the same refits, the fitted model applied to the longer history between them).
   Printed: RMSE averaged over horizons, relative to the hand-chosen model.
2. Speed: a 500-point monthly series, horizons 1..12, 75 test origins (15 %), refit every 12 origins.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from harness.forecasting.transform import choose_transform
from harness.forecasting.yardsticks import rolling_forecasts


def airline(seed: int, n: int = 144) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = 0.035 * rng.standard_normal(n + 13)
    w = e[13:] - 0.4 * e[12:-1] - 0.6 * e[1:-12] + 0.24 * e[:-13]  # (1 - 0.4 B)(1 - 0.6 B^12) e_t
    season = 0.15 * np.sin(2 * np.pi * np.arange(12) / 12)
    g = np.empty(n)
    g[:13] = np.log(100) + 0.01 * np.arange(13) + np.r_[season, season[0]]
    for t in range(13, n):  # (1 - B)(1 - B^12) g_t = w_t
        g[t] = g[t - 1] + g[t - 12] - g[t - 13] + w[t]
    return np.exp(g)


def hand_sarima(x: np.ndarray, origins: np.ndarray, H: int, refit_every: int) -> np.ndarray:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    g = np.log(x)
    out = np.full((len(origins), H), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for first in range(0, len(origins), refit_every):
            fitted = SARIMAX(g[: origins[first] + 1], order=(0, 1, 1), seasonal_order=(0, 1, 1, 12)).fit(disp=False)
            for i in range(first, min(first + refit_every, len(origins))):
                res = fitted if i == first else fitted.apply(g[: origins[i] + 1])
                out[i] = np.exp(res.forecast(H))
    return out


def rmse(x: np.ndarray, origins: np.ndarray, fc: np.ndarray) -> float:
    idx = origins[:, None] + np.arange(1, fc.shape[1] + 1)  # (N, H)
    truth = np.where(idx < len(x), x[np.minimum(idx, len(x) - 1)], np.nan)
    return float(np.nanmean(np.sqrt(np.nanmean((fc - truth) ** 2, axis=0))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--original-scale", action="store_true")
    args = ap.parse_args()
    H, refit = 12, 12
    names = ("naive", "seasonal_naive", "auto_arima", "auto_ets", "auto_theta")
    print("| seed | " + " | ".join(names) + " | hand SARIMA on logs (RMSE) |")
    print("|---|" + "---:|" * (len(names) + 1))
    rel = {n: [] for n in names}
    for seed in args.seeds:
        x = airline(seed)
        origins = np.arange(len(x) - 37, len(x) - 1)
        log = not args.original_scale and choose_transform(x[: origins[0] + 1], 12).log
        ys = rolling_forecasts(x, origins, H, 12, names, refit, log=log)
        hand = rmse(x, origins, hand_sarima(x, origins, H, refit))
        cells = []
        for n in names:
            r = rmse(x, origins, ys[n].mean) / hand
            rel[n].append(r)
            cells.append(f"{r:.3f}" + (f" {ys[n].spec.split(';')[0]}" if n.startswith("auto") else ""))
        print(f"| {seed} | " + " | ".join(cells) + f" | 1 ({hand:.2f}) |", flush=True)
    print("| geometric mean | " + " | ".join(f"{np.exp(np.mean(np.log(rel[n]))):.3f}" for n in names) + " | 1 |")

    rng = np.random.default_rng(7)
    t = np.arange(500)
    x = np.exp(4 + 0.003 * t + 0.1 * np.sin(2 * np.pi * t / 12) + np.cumsum(0.02 * rng.standard_normal(500)))
    origins = np.arange(500 - 76, 499)
    start = time.perf_counter()
    ys = rolling_forecasts(x, origins, H, 12, names, refit, log=True)
    total = time.perf_counter() - start
    print(f"\nspeed, 500 monthly points, H={H}, {len(origins)} origins, refit every {refit}: {total:.1f} s in all")
    for n, f in ys.items():
        print(f"  {n}: {f.fit_seconds:.2f} s ({f.spec.split(';')[0]})")


if __name__ == "__main__":
    main()
