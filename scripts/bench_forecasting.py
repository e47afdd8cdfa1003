"""Forecasting benchmark: the harness's defaults on 15 series, through the real command line.

Not a test: trains every model on every series (about ten minutes on two cores). Run it niced:

    nice -n 19 python scripts/bench_forecasting.py [--out /tmp/bench_fc] [--series co2 nile ...]
        [--models rnn,lstm,gru,hmm] [-- task.horizon=6 ...]
    nice -n 19 python scripts/bench_forecasting.py --speed    # the cost of one evaluation, below

Each series is written as a CSV with a time column (so its frequency and season are inferred as a
user's would be) and swept with nothing set but the file and its columns (plus any overrides after
``--``): ``python -m harness -m model=rnn,lstm,gru,hmm task=timeseries task.dataset=csv
task.path=<file> task.value_column=v task.time_column=t``. The figures are then read back from the
runs' MLflow store: test RMSE over persistence's (the naive yardstick, scored on the same origins)
averaged over horizons 1..H, the same for the best automatic yardstick (AutoARIMA, AutoETS,
AutoTheta, seasonal naive), their geometric means over the series and how many series each model
wins against persistence.

Series: statsmodels' bundled data (co2 monthly means, elnino, sunspots, nile; macrodata's quarterly
realgdp, cpi, unemp, m1, tbilrate, pop) and synthetic series made here with fixed seeds (monthly
multiplicative-seasonal, quarterly trend with a season, annual random walk with drift, daily with a
weekly cycle, a two-regime switching mean). The defaults are the same for every series, none tuned per
series; the first 13 were the set an earlier session measured while settling them (the last two are new).

``--speed``: a 500-point monthly multiplicative-seasonal series, ``task.horizon=12`` (75 test origins),
each model run once: its training seconds, its own evaluation (``evaluate_seconds``: dev and test
forecasts at every origin and horizon, and their scores) and the yardsticks' seconds (shared by the
runs of one sweep process).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

YARDSTICKS = ("seasonal_naive", "auto_arima", "auto_ets", "auto_theta")


def _dates(start: str, n: int, unit: str, step: int = 1) -> list[str]:
    return [str(d) for d in np.datetime64(start, unit) + step * np.arange(n)]


def make_series() -> dict[str, tuple[list[str], np.ndarray]]:
    """name -> (time labels, values)."""
    import statsmodels.api as sm

    out = {}
    co2 = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    out["co2"] = (_dates("1958-03", len(co2), "M"), co2.to_numpy())
    el = sm.datasets.elnino.load_pandas().data.drop(columns="YEAR").to_numpy().reshape(-1)
    out["elnino"] = (_dates("1950-01", len(el), "M"), el)
    sun = sm.datasets.sunspots.load_pandas().data
    out["sunspots"] = ([str(int(y)) for y in sun["YEAR"]], sun["SUNACTIVITY"].to_numpy())
    nile = sm.datasets.nile.load_pandas().data
    out["nile"] = ([str(int(y)) for y in nile["year"]], nile["volume"].to_numpy())
    macro = sm.datasets.macrodata.load_pandas().data
    quarters = _dates("1959-01", len(macro), "M", step=3)
    for col in ("realgdp", "cpi", "unemp", "m1", "tbilrate", "pop"):
        out[col] = (quarters, macro[col].to_numpy())
    rng = np.random.default_rng(2026)
    t = np.arange(156)
    level = 5 + 0.008 * t + 0.15 * np.sin(2 * np.pi * t / 12) + np.cumsum(0.02 * rng.standard_normal(156))
    out["synth_mult_monthly"] = (_dates("2000-01", 156, "M"), np.exp(level))
    t = np.arange(120)
    trend = 200 + 3.0 * t + 8 * np.tile([1, -1, 0.5, -0.5], 30) + np.cumsum(2 * rng.standard_normal(120))
    out["synth_trend_quarterly"] = (_dates("1990-01", 120, "M", step=3), trend)
    out["synth_rw_drift_annual"] = (
        [str(1900 + i) for i in range(100)],
        1000 + np.cumsum(5 + 20 * rng.standard_normal(100)),
    )
    t = np.arange(280)
    weekly = 100 + 3 * np.array([0, 1, 2, 2, 1, -4, -6])[t % 7] + np.cumsum(rng.standard_normal(280))
    out["synth_daily_weekly"] = (_dates("2021-01-04", 280, "D"), weekly)
    states = np.zeros(300, dtype=int)
    for i in range(1, 300):
        states[i] = states[i - 1] if rng.random() < 0.95 else 1 - states[i - 1]
    out["synth_two_regimes"] = ([str(i) for i in range(300)], np.where(states, 3.0, -3.0) + rng.standard_normal(300))
    return out


def read_csv_dir(folder: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """name -> (time labels, values) of every CSV with columns t, v in ``folder`` (e.g. scripts/m3_to_csv.py's)."""
    out = {}
    for path in sorted(folder.glob("*.csv")):
        rows = [line.split(",") for line in path.read_text(encoding="utf-8").splitlines()[1:] if line]
        out[path.stem] = ([r[0] for r in rows], np.array([float(r[1]) for r in rows]))
    return out


def run_sweep(name: str, times, values, out: Path, models: str, overrides: list[str]) -> float:
    path = out / f"{name}.csv"
    path.write_text("t,v\n" + "".join(f"{t},{float(v)!r}\n" for t, v in zip(times, values)), encoding="utf-8")
    cmd = [sys.executable, "-m", "harness", "-m", f"model={models}", "task=timeseries", "task.dataset=csv"]
    cmd += [f"task.path={path}", "task.value_column=v", "task.time_column=t", f"experiment_name=bench-{name}"]
    cmd += [f"tracking_uri=sqlite:///{out}/store.db", "progress=false", "hydra.callbacks.sweep.report=false"]
    cmd += [f"hydra.sweep.dir={out}/multirun/{name}", *overrides]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"the sweep of {name} failed (exit {done.returncode})")
    return time.perf_counter() - start


def read_runs(out: Path, name: str) -> dict[str, dict]:
    """model -> {metrics, params, tags} of the series' runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out}/store.db")
    exp = client.get_experiment_by_name(f"bench-{name}")
    runs = {}
    for r in client.search_runs([exp.experiment_id]):
        model = r.data.params.get("model.name")
        if model and r.info.status == "FINISHED":
            runs[model] = {"metrics": r.data.metrics, "params": r.data.params, "tags": r.data.tags}
    return runs


def speed(out: Path, models: str) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(500)
    x = np.exp(4 + 0.003 * t + 0.1 * np.sin(2 * np.pi * t / 12) + np.cumsum(0.02 * rng.standard_normal(500)))
    run_sweep("monthly500", _dates("1980-01", 500, "M"), x, out, models, ["task.horizon=12"])
    runs = read_runs(out, "monthly500")
    print("| model | train s | evaluate s (its own forecasts and scores) | evaluate / train |")
    print("|---|---:|---:|---:|")
    for model, r in runs.items():
        m = r["metrics"]
        ratio = m["evaluate_seconds"] / m["train_seconds"]
        print(f"| {model} | {m['train_seconds']:.2f} | {m['evaluate_seconds']:.3f} | {ratio:.2f} |")
    m = next(iter(runs.values()))["metrics"]
    ys = {
        k.removeprefix("baseline_").removesuffix("_seconds"): v
        for k, v in m.items()
        if k.startswith("baseline_") and k.endswith("_seconds")
    }
    print("yardsticks (computed once per sweep process): " + ", ".join(f"{k} {v:.2f} s" for k, v in ys.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/bench_fc")
    ap.add_argument("--series", nargs="*", default=None)
    ap.add_argument("--models", default="rnn,lstm,gru,hmm")
    ap.add_argument("--speed", action="store_true", help="time one evaluation on a 500-point monthly series")
    ap.add_argument("--csv-dir", help="instead of the built-in set: every <name>.csv (columns t, v) in this folder")
    ap.add_argument("overrides", nargs="*", help="after --: Hydra overrides for every sweep")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.speed:
        return speed(out, args.models)
    data = read_csv_dir(Path(args.csv_dir)) if args.csv_dir else make_series()
    names = args.series or list(data)
    models = args.models.split(",")
    cols = models + ["best yardstick"]
    ratios: dict[str, list[float]] = {c: [] for c in cols}
    print(f"overrides: {args.overrides or 'none'}; figures: test RMSE / persistence's, averaged over horizons 1..H")
    print("| series | T | freq (m) | transform | H | " + " | ".join(cols) + " | sweep s |")
    print("|---|---:|---|---|---:|" + "---:|" * len(cols) + "---:|")
    for name in names:
        seconds = run_sweep(name, *data[name], out, args.models, args.overrides)
        runs = read_runs(out, name)
        any_run = next(iter(runs.values()))
        m, tags = any_run["metrics"], any_run["tags"]
        naive = m["baseline_naive_test_rmse"]
        best = min(
            ((m[f"baseline_{y}_test_rmse"], y) for y in YARDSTICKS if f"baseline_{y}_test_rmse" in m),
            default=(math.nan, "-"),
        )
        cells = []
        for c in models:
            r = runs[c]["metrics"]["test_rmse"] / naive if c in runs else math.nan
            ratios[c].append(r)
            cells.append(f"{r:.3f}")
        ratios["best yardstick"].append(best[0] / naive)
        cells.append(f"{best[0] / naive:.3f} ({best[1]})")
        freq = f"{tags.get('frequency', '?')} ({tags.get('season', '?')})"
        H = any_run["params"].get("task.horizon", "?")
        print(
            f"| {name} | {len(data[name][1])} | {freq} | {tags.get('transform', '?')} | {H} | "
            + " | ".join(cells)
            + f" | {seconds:.0f} |",
            flush=True,
        )
    gm = [f"{math.exp(np.nanmean(np.log(ratios[c]))):.3f}" for c in cols]
    wins = [f"{sum(r < 1 for r in ratios[c])} of {len(names)}" for c in cols]
    print("| geometric mean | | | | | " + " | ".join(gm) + " | |")
    print("| better than persistence | | | | | " + " | ".join(wins) + " | |")


if __name__ == "__main__":
    main()
