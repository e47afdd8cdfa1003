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
LOWER_IS_BETTER = (
    "rmse",
    "mae",
    "mase",
    "smape",
    "crps",
    "loss",
    "seconds",
    "bic",
    "bits_per_char",
    "bits_per_word",
    "perplexity",
    "entropy_rate",
    "relrmse_naive",  # a panel's aggregates (harness.tasks.panel)
    "relrmse_snaive",
    "relmae_naive",
    "relmae_snaive",
    "owa",
    "rank",
)


def higher_is_better(metric: str) -> bool | None:
    """Direction of a metric; None when "best" means nothing (parameter counts)."""
    if metric == "n_params":
        return None
    return not any(metric.endswith(s) or f"_{s}_" in metric for s in LOWER_IS_BETTER)


def main_metric(task_metrics: list[str]) -> str:
    for m in ("test_accuracy", "test_rmse", "test_relrmse_naive"):
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
    and the known optimum of synthetic data (the Bayes-optimal accuracy, the entropy rate)."""
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
    for column, label, kind, for_main in (
        ("bayes_optimal_accuracy", "Bayes-optimal (synthetic data)", "ceiling", ("test_accuracy",)),
        ("chance_accuracy", "chance", "floor", ("test_accuracy",)),
        ("entropy_rate", "entropy rate (synthetic data)", "ceiling", ("test_bits_per_char", "test_bits_per_word")),
    ):
        if f"metric.{column}" in g.columns and main in for_main:
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
            if not seed_test_meaningful(r.cells[main], best.cells[main]):
                r.p_value = math.nan  # a deterministic row or a single seed: the t test means nothing
    return table


# ----------------------------------------------------------------------------------------------
# significance over test items (harness.report.significance aligns the items and calls these)


@dataclass
class ItemTest:
    """A row against the best row over test items: difference (row minus best) with a 95% interval and p."""

    diff: float
    low: float
    high: float
    p_value: float
    test: str  # e.g. "paired bootstrap over 500 test sentences"
    mcnemar_p: float = math.nan  # classification only
    discordant: tuple[int, int] = (0, 0)  # (row right & best wrong, row wrong & best right)


def paired_bootstrap(
    correct_a: np.ndarray, correct_b: np.ndarray, units: np.ndarray, n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float, float]:
    """Paired bootstrap over units (sentences) of the token-accuracy difference a - b (Berg-Kirkpatrick et al. 2012).

    correct_a, correct_b: (N,) per-token correctness in [0, 1] (a mean over seeds is allowed); units: (N,) the
    unit (sentence) of each token. Whole units are resampled with replacement, so the tokens of a sentence stay
    together. Returns (difference, 2.5th percentile, 97.5th percentile, two-sided p), where p is the share of
    resampled differences at least as far from the observed one as the observed one is from 0 (the bootstrap
    distribution shifted to the null; the two-sided form of Berg-Kirkpatrick's "delta* > 2 delta").
    """
    _, u = np.unique(units, return_inverse=True)
    sa = np.bincount(u, weights=correct_a)  # (U,) correct tokens per unit
    sb = np.bincount(u, weights=correct_b)
    n = np.bincount(u).astype(float)  # (U,) tokens per unit
    diff = (sa.sum() - sb.sum()) / n.sum()
    rng = np.random.default_rng(seed)
    deltas = []
    chunk = max(1, 2_000_000 // len(n))  # resamples per block, ~16 MB of indices
    for start in range(0, n_resamples, chunk):
        idx = rng.integers(0, len(n), size=(min(chunk, n_resamples - start), len(n)))  # (B, U)
        deltas.append((sa[idx].sum(1) - sb[idx].sum(1)) / n[idx].sum(1))
    d = np.concatenate(deltas)  # (n_resamples,)
    low, high = np.percentile(d, [2.5, 97.5])
    p = (1 + np.count_nonzero(np.abs(d - diff) >= abs(diff) - 1e-15)) / (n_resamples + 1)
    return float(diff), float(low), float(high), float(min(p, 1.0))


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[float, int, int]:
    """Exact McNemar test on paired binary decisions (statsmodels: the binomial test on the discordant pairs).

    Returns (two-sided p, b, c) with b = a right and b wrong, c = a wrong and b right; p = 1 with no discordant pair.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    n10, n01 = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if n10 + n01 == 0:
        return 1.0, 0, 0
    table = [[int(np.sum(a & b)), n10], [n01, int(np.sum(~a & ~b))]]
    return float(mcnemar(table, exact=True).pvalue), n10, n01


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, h: int = 1) -> tuple[float, float, float, float]:
    """Diebold–Mariano test of equal forecast accuracy with the Harvey–Leybourne–Newbold correction.

    loss_a, loss_b: (n,) aligned per-origin losses (e.g. squared errors) of two forecasters at horizon h.
    d_t = loss_a - loss_b; V = (gamma_0 + 2 sum_{k=1}^{h-1} gamma_k) / n with the autocovariances
    gamma_k = (1/n) sum_{t>k} (d_t - dbar)(d_{t-k} - dbar); DM = dbar / sqrt(V);
    DM* = DM * sqrt((n + 1 - 2h + h(h-1)/n) / n), referred to Student t with n - 1 degrees of freedom.
    Returns (dbar, DM*, two-sided p, half-width of the 95% interval of dbar on the same footing);
    NaNs when d does not vary (identical losses) or n < 2. The rectangular-kernel V can come out negative
    for h > 1; the test then falls back to h = 1, as R's forecast::dm.test does.
    """
    d = np.asarray(loss_a, float) - np.asarray(loss_b, float)  # (n,)
    n = len(d)
    if n < 2:
        return math.nan, math.nan, math.nan, math.nan
    dbar = float(d.mean())
    e = d - dbar
    gamma = [float(e[k:] @ e[: n - k]) / n for k in range(min(h, n))]  # gamma_0 .. gamma_{h-1}
    v = (gamma[0] + 2 * sum(gamma[1:])) / n
    if gamma[0] / n <= 1e-12 * max(float(np.mean(d**2)), 1e-300):  # no variation in d (float noise aside): no test
        return dbar, math.nan, math.nan, math.nan
    if v <= 0:  # negative autocovariances outweigh the variance (h > 1 only)
        return diebold_mariano(loss_a, loss_b, 1)
    hln = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    dm = dbar / math.sqrt(v) * hln
    half = stats.t.ppf(0.975, n - 1) * math.sqrt(v) / hln
    return dbar, dm, float(2 * stats.t.sf(abs(dm), n - 1)), float(half)


def seed_test_meaningful(a: Summary, b: Summary) -> bool:
    """The paired t test over seeds says something only with >= 2 shared seeds and spread on both sides."""
    shared = set(a.values) & set(b.values)
    return len(shared) >= 2 and all(np.ptp([s.values[k] for k in shared]) > 1e-12 for s in (a, b))
