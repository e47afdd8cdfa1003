"""Panel benchmark (issue 18): N synthetic monthly series of 120-240 points, every family, on the machine's cores.

Not a test. Run it niced:

    nice -n 19 python scripts/bench_panel.py [--series 1000] [--n-jobs 2] [--models rnn,lstm,gru,hmm]
        [--local-networks] [--yardsticks naive,seasonal_naive,auto_arima,auto_ets,auto_theta]

The series are the built-in panel's four generators (harness.data.panel.generate: AR(2), seasonal,
regime-switching, random walk with drift) in turn, lengths uniform in 120..240, drawn from a fixed seed.
The work is what ``python -m harness model=<m> task=timeseries task.dataset=panel`` does for each model,
minus MLflow (whose cost is one run per model, whatever N): cutting every series into windows (transform
tests, scales, seasonal strength), the yardsticks of every series (fitted in ``--n-jobs`` processes), each
family's fit (the networks global by default, one network per series with ``--local-networks``; the HMM
per series, in ``--n-jobs`` processes), and each family's dev and test forecasts and the across-series
scores. Prints the wall time of each part and the total.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--models", default="rnn,lstm,gru,hmm")
    ap.add_argument("--local-networks", action="store_true", help="one network per series instead of one global")
    ap.add_argument("--yardsticks", default="naive,seasonal_naive,auto_arima,auto_ets,auto_theta")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    from harness.config import TimeSeriesTaskConfig, model_schema
    from harness.data.panel import BUILTIN_KINDS, generate
    from harness.data.series import Series
    from harness.estimators import Hooks
    from harness.estimators.panel import panel_forecaster
    from harness.tasks.panel import panel_data

    times: dict[str, float] = {}

    def clock(label: str, start: float) -> None:
        times[label] = time.perf_counter() - start
        print(f"{label:<32} {times[label]:8.1f} s", flush=True)

    threadpool_limits(1)
    begin = time.perf_counter()
    t = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    raw = []
    for i in range(args.series):
        n = int(rng.integers(120, 241))
        kind = BUILTIN_KINDS[i % len(BUILTIN_KINDS)]
        time_axis = np.datetime64("2000-01", "M") + np.arange(n)
        raw.append(Series(f"{kind}_{i}", generate(kind, n, rng), time_axis, season=12, frequency="monthly"))
    clock("generate", t)

    t = time.perf_counter()
    cfg = TimeSeriesTaskConfig(dataset="panel", yardsticks=args.yardsticks.split(","), n_jobs=args.n_jobs)
    data = panel_data(raw, cfg, "harness:bench_panel")
    clock(f"windows ({len(data.series)} series)", t)

    t = time.perf_counter()
    data.compute_yardsticks()
    clock(f"yardsticks ({args.yardsticks})", t)

    results = {}
    for name in args.models.split(","):
        schema = model_schema(name, "timeseries")
        m = (
            schema(name=name)
            if name == "hmm"
            else schema(name=name, scope="local" if args.local_networks else "global")
        )
        t = time.perf_counter()
        est = panel_forecaster(m, data, np.random.default_rng(args.seed), args.seed)
        est.fit(data, Hooks(log=lambda epoch, values: None, progress=True))
        clock(f"{name} fit ({getattr(m, 'scope', 'local')})", t)
        t = time.perf_counter()
        data.score("dev", est.predict(data, "dev"))
        results[name] = data.score("test", est.predict(data, "test")) | data.baselines()
        clock(f"{name} forecasts and scores", t)
    total = time.perf_counter() - begin
    print(f"{'total':<32} {total:8.1f} s  ({args.series} series, n_jobs={args.n_jobs})")
    print("\ntest aggregates (geometric mean RMSE relative to naive; OWA; mean rank among model and yardsticks):")
    for name, r in results.items():
        print(f"  {name:<6} relrmse_naive={r['relrmse_naive']:.4f} owa={r['owa']:.4f} rank={r['test_rank']:.2f}")
    any_run = next(iter(results.values()))
    for y in args.yardsticks.split(","):
        print(
            f"  {y:<14} relrmse_naive={any_run[f'baseline_{y}_test_relrmse_naive']:.4f} "
            f"owa={any_run[f'baseline_{y}_test_owa']:.4f}"
        )


if __name__ == "__main__":
    main()
