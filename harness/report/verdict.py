"""The verdict: one sentence per task and data set naming the winner, the margin over the runner-up with its
95% interval, the test that backs it, and the runner-up; "no significant difference" when p >= 0.05.

The margin's test is, in order of preference: the per-item test of harness.report.significance (paired
bootstrap for accuracy, Diebold–Mariano for forecasts), else a paired t test over seeds when it means
something (harness.report.stats.seed_test_meaningful), else none (the sentence says so). For a multi-horizon
forecast both the ranking (the main metric, averaged over horizons 1..H) and the Diebold–Mariano test (on each
origin's squared error averaged over 1..H) are over all horizons; the per-horizon tests are the report's table.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from harness.report.stats import ItemTest, Table, higher_is_better, seed_test_meaningful

ALPHA = 0.05
NAMES = {"test_accuracy": "test accuracy", "test_rmse": "test RMSE"}


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _num(metric: str, x: float) -> str:
    return f"{x:.4f}" if "accuracy" in metric else f"{x:.4g}"


def _seed_test(table: Table, runner) -> ItemTest | None:
    """Paired t over the shared seeds: (runner - best) mean difference, its t interval and p."""
    a, b = runner.cells[table.main], next(r for r in table.rows if r.label == table.best_label).cells[table.main]
    if not seed_test_meaningful(a, b):
        return None
    seeds = sorted(set(a.values) & set(b.values))
    d = np.array([a.values[s] - b.values[s] for s in seeds])  # (n,)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    p = float(stats.ttest_1samp(d, 0.0).pvalue) if np.ptp(d) > 0 else math.nan
    return ItemTest(float(d.mean()), d.mean() - half, d.mean() + half, p, f"paired t test over {len(d)} seeds")


UNTESTED = "; the margin is untested (one run per row and no per-item predictions, or no spread to test)."


def verdict_sentence(table: Table, tests: dict[str, ItemTest], horizons: list[int] | None = None) -> str:
    """One sentence for one table; ``tests`` maps row labels to their test against the best row.

    ``horizons``: the forecast horizons the main metric averages (a multi-horizon forecast); the sentence names
    them, and the forecast test averages its squared errors over the same horizons (significance.forecast_tests).
    """
    m = table.main
    name = NAMES.get(m, m)
    if horizons and len(horizons) > 1:
        name += f" averaged over horizons {min(horizons)}..{max(horizons)}"
    where = f"{table.task} — {table.dataset}" if table.dataset else table.task
    up = higher_is_better(m) is not False
    rows = [r for r in table.rows if r.kind in ("model", "baseline") and m in r.cells and r.cells[m].n]
    rows.sort(key=lambda r: r.cells[m].mean, reverse=up)
    if len(rows) < 2 or rows[0].label != table.best_label:
        return f"{where}: {table.best_label or 'nothing'} alone; nothing to compare."
    best, runner = rows[0], rows[1]
    bm, rm = best.cells[m].mean, runner.cells[m].mean
    gap = abs(bm - rm)
    t = tests.get(runner.label) or _seed_test(table, runner)
    if t is None or not math.isfinite(t.p_value):
        return (
            f"{where}: {best.label} has the best {name}, {_num(m, bm)}, {_num(m, gap)} "
            f"{'ahead of' if up else 'below'} the runner-up {runner.label} ({_num(m, rm)}){UNTESTED}"
        )
    if t.test.startswith("Diebold"):  # the interval is of the mean squared-error difference (runner - best)
        interval = f"mean squared-error difference {t.diff:.4g}, 95% CI [{t.low:.4g}, {t.high:.4g}]"
    else:  # accuracy: best - runner, the interval flipped accordingly
        lo, hi = (-t.high, -t.low) if up else (t.low, t.high)
        interval = f"margin {_num(m, -t.diff if up else t.diff)}, 95% CI [{_num(m, lo)}, {_num(m, hi)}]"
    extra = f"; McNemar {_p(t.mcnemar_p)}" if math.isfinite(t.mcnemar_p) else ""
    evidence = f"{interval}, {t.test}, {_p(t.p_value)}{extra}"
    if t.p_value >= ALPHA:
        return (
            f"{where}: no significant difference between {best.label} ({_num(m, bm)}) and the runner-up "
            f"{runner.label} ({_num(m, rm)}) on {name} ({evidence})."
        )
    return (
        f"{where}: {best.label} wins on {name} with {_num(m, bm)}, {_num(m, gap)} {'ahead of' if up else 'below'} "
        f"the runner-up {runner.label} ({_num(m, rm)}; {evidence})."
    )
