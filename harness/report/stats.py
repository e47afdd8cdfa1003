"""Statistics over seeds: mean, standard deviation, 95% confidence interval (Student t), a paired
t test by seed against the best row; the per-task comparison table with baselines as rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

MAJORITY = {"pos": "majority tag per word", "longrange": "majority class"}  # label of baseline_test_<metric>
LOWER_IS_BETTER = ("rmse", "mae", "mase", "loss", "seconds", "bic")


def higher_is_better(metric: str) -> bool | None:
    """Direction of a metric; None when "best" means nothing (parameter counts)."""
    if metric == "n_params":
        return None
    return not any(metric.endswith(s) or f"_{s}_" in metric for s in LOWER_IS_BETTER)


def main_metric(task_metrics: list[str]) -> str:
    for m in ("test_accuracy", "test_rmse"):
        if m in task_metrics:
            return m
    tests = sorted(m for m in task_metrics if m.startswith("test_"))
    return tests[0] if tests else sorted(task_metrics)[0]


@dataclass
class Summary:
    """One metric of one row, over seeds."""

    values: dict[int, float]  # seed -> value

    @property
    def n(self) -> int:
        return len(self.finite)

    @property
    def finite(self) -> np.ndarray:
        v = np.array(list(self.values.values()), dtype=float)
        return v[np.isfinite(v)]

    @property
    def mean(self) -> float:
        return float(self.finite.mean()) if self.n else math.nan

    @property
    def std(self) -> float:
        return float(self.finite.std(ddof=1)) if self.n > 1 else math.nan

    def ci95(self) -> tuple[float, float]:
        """mean ± t_{0.975, n-1} * std / sqrt(n)."""
        if self.n < 2:
            return math.nan, math.nan
        half = stats.t.ppf(0.975, self.n - 1) * self.std / math.sqrt(self.n)
        return self.mean - half, self.mean + half


def paired_p(a: Summary, b: Summary) -> tuple[float, int]:
    """Two-sided paired t test on the seeds both rows have: (p value, number of pairs)."""
    seeds = sorted(s for s in set(a.values) & set(b.values) if np.isfinite(a.values[s]) and np.isfinite(b.values[s]))
    if len(seeds) < 2:
        return math.nan, len(seeds)
    d = np.array([a.values[s] - b.values[s] for s in seeds])
    if np.allclose(d, d[0]):  # no spread in the differences: t is undefined (or infinite)
        return math.nan, len(seeds)
    return float(stats.ttest_rel([a.values[s] for s in seeds], [b.values[s] for s in seeds]).pvalue), len(seeds)


@dataclass
class Row:
    label: str
    kind: str  # model | baseline | ceiling | floor (ceiling and floor are references, never "best")
    cells: dict[str, Summary] = field(default_factory=dict)  # metric -> summary
    p_value: float = math.nan
    p_pairs: int = 0


@dataclass
class Table:
    task: str
    dataset: str
    main: str
    metrics: list[str]  # columns after the main metric, in order
    rows: list[Row]
    best: dict[str, str] = field(default_factory=dict)  # metric -> label of the best row
    best_label: str = ""


def _per_seed(g: pd.DataFrame, column: str) -> dict[int, float]:
    if column not in g.columns:
        return {}
    s = g[["seed", column]].dropna()
    s = s[s.seed.notna()]
    return {int(seed): float(v) for seed, v in s.groupby("seed")[column].mean().items()}


def _baselines(g: pd.DataFrame, main: str, metrics: list[str]) -> list[Row]:
    """Rows for the baselines a task logs: baseline_test_<m> (POS majority tag), baseline_<name>_test_<m>,
    and the Bayes-optimal ceiling of synthetic data."""
    rows: dict[str, Row] = {}
    wanted = [main] + metrics
    for col in sorted(c for c in g.columns if c.startswith("metric.baseline_")):
        name = col[len("metric.baseline_") :]
        if "test_" not in name:
            continue
        who, metric = name.split("test_", 1)
        metric = "test_" + metric
        if metric not in wanted:
            continue
        label = who.rstrip("_").replace("_", " ") or MAJORITY.get(str(g.task.iloc[0]), "baseline")
        rows.setdefault(label, Row(label, "baseline")).cells[metric] = Summary(_per_seed(g, col))
    out = [r for r in rows.values() if any(s.n for s in r.cells.values())]
    for column, label, kind in (
        ("bayes_optimal_accuracy", "Bayes-optimal (synthetic data)", "ceiling"),
        ("chance_accuracy", "chance", "floor"),
    ):
        if f"metric.{column}" in g.columns and main == "test_accuracy":
            reference = Summary(_per_seed(g, f"metric.{column}"))
            if reference.n:
                out.append(Row(label, kind, {main: reference}))
    return out


def comparison_table(g: pd.DataFrame, metrics_order: list[str]) -> Table:
    """The finished runs of one task and data set -> rows per variant and baseline, best marked, tests."""
    metric_cols = [c[7:] for c in g.columns if c.startswith("metric.") and g[c].notna().any()]
    main = main_metric(metric_cols)
    metrics = [m for m in metrics_order if m in metric_cols and m != main]
    rows = []
    for variant, v in g.groupby("variant", sort=False):
        rows.append(Row(variant, "model", {m: Summary(_per_seed(v, f"metric.{m}")) for m in [main] + metrics}))
    rows += _baselines(g, main, metrics)
    table = Table(str(g.task.iloc[0]), str(g.dataset.iloc[0]), main, metrics, rows)
    for m in [main] + metrics:
        direction = higher_is_better(m)
        scored = [
            (r.cells[m].mean, r.label)
            for r in rows
            if r.kind in ("model", "baseline") and m in r.cells and r.cells[m].n
        ]
        if direction is None or len(scored) < 2:
            continue
        table.best[m] = (max(scored) if direction else min(scored))[1]
    table.best_label = table.best.get(main, rows[0].label if rows else "")
    best = next((r for r in rows if r.label == table.best_label), None)
    for r in rows:
        if best is not None and r is not best and r.kind in ("model", "baseline") and main in r.cells:
            r.p_value, r.p_pairs = paired_p(r.cells[main], best.cells[main])
    return table
