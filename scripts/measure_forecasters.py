"""Measure the recurrent forecasters' new defaults and the regime (HMM) forecaster against persistence.

Not a test: trains every model on every series (minutes). Run it niced:

    nice -n 19 python scripts/measure_forecasters.py [--cells rnn lstm gru] [--likelihood gaussian]
        [--normalise last] [--series co2 nile ...] [--hidden 32] [--max-steps 1000]

Series (none of them used to choose the defaults): statsmodels' bundled data sets (co2 monthly
means, elnino, sunspots, nile, macrodata's realgdp, cpi, unemp, m1, tbilrate, pop) and synthetic
series made here (a multiplicative-seasonal monthly series, a trending quarterly series, an annual
random walk with drift). Protocol per series: the last 20 % (at least 2 H) is the test part;
``transform=auto`` (harness.forecasting.transform) is decided on the training part; models are
trained once on the training part (the last 15 % of its windows for early stopping) and forecast
horizons 1..H from every test origin (expanding history, no refit). Reported: test RMSE over
persistence (x_o) at h = 1 and averaged over 1..H, their geometric means over the series, and the
training seconds.
"""

from __future__ import annotations

import argparse
import math
import time
from types import SimpleNamespace

import numpy as np
from threadpoolctl import threadpool_limits

from harness.forecasting.transform import choose_transform
from harness.models.hmm.regimes import RegimeForecaster
from harness.models.rnn import RNNForecaster, forecaster_budget
from harness.tasks.timeseries import default_window
from harness.training import fit


def load_series() -> dict[str, tuple[np.ndarray, int | None, int]]:
    """name -> (values (T,), season or None, horizon H)."""
    import statsmodels.api as sm

    out = {}
    co2 = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    out["co2"] = (co2.to_numpy(), 12, 12)
    el = sm.datasets.elnino.load_pandas().data.drop(columns="YEAR").to_numpy().reshape(-1)
    out["elnino"] = (el, 12, 12)
    out["sunspots"] = (sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(), None, 5)
    out["nile"] = (sm.datasets.nile.load_pandas().data["volume"].to_numpy(), None, 5)
    macro = sm.datasets.macrodata.load_pandas().data
    for col in ("realgdp", "cpi", "unemp", "m1", "tbilrate", "pop"):
        out[col] = (macro[col].to_numpy(), 4, 8)
    rng = np.random.default_rng(2026)
    t = np.arange(156)
    out["synth_mult_monthly"] = (
        np.exp(5 + 0.008 * t + 0.15 * np.sin(2 * np.pi * t / 12) + np.cumsum(0.02 * rng.standard_normal(156))),
        12,
        12,
    )
    t = np.arange(120)
    out["synth_trend_quarterly"] = (
        200 + 3.0 * t + 8 * np.tile([1, -1, 0.5, -0.5], 30) + np.cumsum(2 * rng.standard_normal(120)),
        4,
        8,
    )
    out["synth_rw_drift_annual"] = (1000 + np.cumsum(5 + 20 * rng.standard_normal(100)), None, 5)
    return out


def split(T: int, H: int) -> int:
    """Number of training points: the last max(20 %, 2 H) points are the test part."""
    return T - max(int(round(0.2 * T)), 2 * H)


def rmse_per_horizon(err: np.ndarray) -> np.ndarray:
    """err (N, H) with NaN where the target lies past the end -> (H,)."""
    return np.sqrt(np.nanmean(err**2, axis=0))


def origins_and_truth(x: np.ndarray, n_train: int, H: int) -> tuple[np.ndarray, np.ndarray]:
    """Test origins o = n_train-1 .. T-2 and truth (N, H) x[o+h] (NaN past the end)."""
    T = len(x)
    o = np.arange(n_train - 1, T - 1)
    idx = o[:, None] + np.arange(1, H + 1)  # (N, H)
    truth = np.where(idx < T, x[np.minimum(idx, T - 1)], np.nan)
    return o, truth


def rnn_forecasts(cell, g, n_train, H, season, args, seed=0):
    """Train an RNNForecaster on u = g / sd(diff g) over the training part; forecast (N, H) of g from every
    test origin, and the training seconds."""
    d = np.diff(g[:n_train]).std() or 1.0
    u = g / d
    W = default_window(season, n_train)
    o_train = np.arange(W - 1, n_train - H)  # windows whose targets stay inside the training part
    idx = o_train[:, None] + np.arange(-W + 1, 1)  # (N, W)
    X, Y = u[idx][..., None], u[o_train[:, None] + np.arange(1, H + 1)]  # (N, W, 1), (N, H)
    n_dev = max(1, int(round(0.15 * len(X))))
    Xtr, Ytr, Xdv, Ydv = X[:-n_dev], Y[:-n_dev], X[-n_dev:], Y[-n_dev:]
    epochs, patience = forecaster_budget(len(Xtr), args.batch_size, args.max_steps, args.patience_steps)
    cfg = SimpleNamespace(
        cell=cell,
        hidden_size=args.hidden,
        num_layers=1,
        bidirectional=False,
        nonlinearity="tanh",
        dropout=0.0,
        bptt_steps=0,
        optimizer="adam",
        lr=args.lr,
        momentum=0.0,
        weight_decay=0.0,
        clip_norm=5.0,
        epochs=epochs,
        patience=patience,
        batch_size=args.batch_size,
    )
    rng = np.random.default_rng(seed)
    model = RNNForecaster(1, cfg, rng, horizons=H, likelihood=args.likelihood, normalise=args.normalise)

    def batches(r):
        perm = r.permutation(len(Xtr))
        for s in range(0, len(perm), args.batch_size):
            b = perm[s : s + args.batch_size]
            yield Xtr[b], Ytr[b]

    def dev_rmse():
        return float(np.sqrt(np.mean((model.predict_distribution(Xdv)[0] - Ydv) ** 2)))

    t0 = time.perf_counter()
    fit(model, cfg, batches, len, dev_rmse, rng, higher_is_better=False, progress=False)
    seconds = time.perf_counter() - t0
    o, _ = origins_and_truth(g, n_train, H)
    Xte = u[o[:, None] + np.arange(-W + 1, 1)][..., None]
    return model.predict_distribution(Xte)[0] * d, seconds


def hmm_forecasts(g, n_train, H, diff: bool, autoregressive: bool):
    """Regime forecaster on z = (diff g or g) standardised on the training part: (N, H) forecasts of g."""
    z_all = np.diff(g) if diff else g
    n_z = n_train - 1 if diff else n_train
    mu, sd = z_all[:n_z].mean(), z_all[:n_z].std() or 1.0
    z = (z_all - mu) / sd
    t0 = time.perf_counter()
    model = RegimeForecaster(autoregressive=autoregressive).fit(z[:n_z])
    seconds = time.perf_counter() - t0
    o, _ = origins_and_truth(g, n_train, H)
    zo = o - 1 if diff else o  # z index of the last value known at origin o
    m = model.predict(z, H, origins=zo, cumulative=diff)  # (N, H)
    steps = np.arange(1, H + 1)
    g_hat = g[o][:, None] + sd * m + steps * mu if diff else mu + sd * m
    return g_hat, seconds, model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", nargs="*", default=["rnn", "lstm", "gru"])
    ap.add_argument("--hmm", nargs="*", default=["ar"], help="regime models: ar (AR(1) emissions), plain")
    ap.add_argument("--series", nargs="*", default=None)
    ap.add_argument("--likelihood", default="gaussian")
    ap.add_argument("--normalise", default="last")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-steps", type=int, default=1000)
    ap.add_argument("--patience-steps", type=int, default=150)
    ap.add_argument("--show-regimes", action="store_true")
    args = ap.parse_args()
    data = load_series()
    names = args.series or list(data)
    models = list(args.cells) + [f"hmm_{k}" for k in args.hmm]
    ratios1 = {m: [] for m in models}
    ratiosH = {m: [] for m in models}
    print(f"settings: {vars(args)}")
    print("| series | T | m | H | transform | " + " | ".join(f"{m} h=1 / 1..H (s)" for m in models) + " |")
    print("|---|---:|---:|---:|---|" + "---:|" * len(models))
    for name in names:
        x, season, H = data[name]
        x = np.asarray(x, dtype=np.float64)
        n_train = split(len(x), H)
        choice = choose_transform(x[:n_train], season)
        g = np.log(x) if choice.log else x
        o, truth = origins_and_truth(x, n_train, H)
        naive = rmse_per_horizon(x[o][:, None] - truth)
        cells = []
        for m in models:
            if m.startswith("hmm_"):
                g_hat, secs, hmm = hmm_forecasts(g, n_train, H, choice.diff, m == "hmm_ar")
                if args.show_regimes:
                    print(name, m, f"K={len(hmm.c_)}", hmm.regimes())
            else:
                g_hat, secs = rnn_forecasts(m, g, n_train, H, season, args)
            x_hat = np.exp(g_hat) if choice.log else g_hat
            r = rmse_per_horizon(x_hat - truth)
            r1, rH = r[0] / naive[0], r.mean() / naive.mean()
            ratios1[m].append(r1)
            ratiosH[m].append(rH)
            cells.append(f"{r1:.3f} / {rH:.3f} ({secs:.1f})")
        print(f"| {name} | {len(x)} | {season or '-'} | {H} | {choice.name} | " + " | ".join(cells) + " |", flush=True)
    gm = [f"{math.exp(np.mean(np.log(ratios1[m]))):.3f} / {math.exp(np.mean(np.log(ratiosH[m]))):.3f}" for m in models]
    wins = [f"{sum(r < 1 for r in ratios1[m])} / {sum(r < 1 for r in ratiosH[m])} of {len(names)}" for m in models]
    print("| geometric mean | | | | | " + " | ".join(gm) + " |")
    print("| better than persistence | | | | | " + " | ".join(wins) + " |")


if __name__ == "__main__":
    with threadpool_limits(1):
        main()
