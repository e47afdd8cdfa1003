"""Numeric tables of a report beyond the comparison table.

POS, from the runs' ``test_predictions.tsv`` (all seeds pooled): precision, recall and F1 per tag (scikit-learn),
and the most frequent confusions (gold -> predicted) of each row. Forecasting, with the yardsticks as rows beside
the models: RMSE and MASE by horizon (from ``test_forecasts.csv``), Diebold–Mariano p values by horizon, and the
probabilistic scores (CRPS, interval coverage and width, from the runs' metrics).

Each table is a dict: title, header (list of str), rows (list of lists of str), note; optionally ``best`` (the
(row, column) positions to mark as best) and ``kinds`` (per row: ``model`` or ``baseline``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from harness.report.significance import HorizonTests, forecast_frame, forecaster_columns, yardstick_label
from harness.report.stats import ItemTest, Summary, Table, _per_seed

TOP_CONFUSIONS = 8


def per_tag(preds: dict[str, pd.DataFrame], label: str = "tag", items: str = "tokens") -> dict | None:
    """Rows: tags (or classes: ``label``) by frequency; columns: support (``items`` per seed) then precision /
    recall / F1 of each row."""
    if not preds:
        return None
    first = next(iter(preds.values()))
    tags = first.gold.value_counts().index.tolist()
    n_seeds = max(first.seed.nunique(), 1) if "seed" in first.columns else 1
    cells = {}
    for variant, p in preds.items():
        prec, rec, f1, _ = precision_recall_fscore_support(
            p.gold.astype(str), p.predicted.astype(str), labels=tags, zero_division=0
        )
        cells[variant] = [f"{a:.3f} / {b:.3f} / {c:.3f}" for a, b, c in zip(prec, rec, f1)]
    support = first.gold.value_counts().reindex(tags).to_numpy() / n_seeds
    rows = [[tag, f"{s:,.0f}"] + [cells[v][i] for v in preds] for i, (tag, s) in enumerate(zip(tags, support))]
    return {
        "title": f"Per-{label} precision / recall / F1",
        "header": [label, items] + list(preds),
        "rows": rows,
        "note": f"Each cell is precision / recall / F1 of the {label} (scikit-learn), all seeds pooled; "
        f"{items}: gold {items} of the {label} per seed.",
    }


def top_confusions(preds: dict[str, pd.DataFrame]) -> dict | None:
    """The most frequent errors of each row: gold -> predicted, tokens per seed, share of that gold tag."""
    rows = []
    for variant, p in preds.items():
        n_seeds = max(p.seed.nunique(), 1) if "seed" in p.columns else 1
        wrong = p[p.gold.astype(str) != p.predicted.astype(str)]
        counts = wrong.groupby(["gold", "predicted"]).size().sort_values(ascending=False).head(TOP_CONFUSIONS)
        gold_total = p.gold.value_counts()
        for (gold, pred), k in counts.items():
            rows.append([variant, f"{gold} → {pred}", f"{k / n_seeds:,.1f}", f"{k / gold_total[gold]:.1%}"])
    if not rows:
        return None
    return {
        "title": "Most frequent confusions",
        "header": ["row", "gold → predicted", "tokens per seed", "share of the gold tag's tokens"],
        "rows": rows,
        "note": f"The {TOP_CONFUSIONS} most frequent errors of each row, all seeds pooled.",
    }


# ----------------------------------------------------------------------------------------------
# forecasting: the yardsticks are rows beside the models in every table


def errors_by_horizon(
    fc: dict[str, pd.DataFrame], scale: dict[str, dict[int, float]] | None = None, horizon: int = 1
) -> pd.DataFrame:
    """RMSE and MASE at each horizon of every model and yardstick, from the runs' ``test_forecasts.csv``.

    fc: variant -> its runs' forecasts (a ``seed`` column); scale: variant -> seed -> the MASE denominator s,
    ``test_mae / test_mase`` of the run (the task's in-sample naive MAE, the same at every horizon), or None.
    Per run and horizon h: RMSE_h = sqrt(mean_o (yhat_{o,h} - y_{o+h})^2), MASE_h = mean_o |error| / s; then the
    mean over seeds. A yardstick is taken once per seed (from the first variant's file that has it).
    Returns a long frame: forecaster, kind (model | baseline), horizon, rmse, mase, seeds.
    """
    frames = []
    for variant, raw in fc.items():
        f = forecast_frame(raw, horizon)
        if f is None:
            continue
        f = f.assign(scale=f.seed.map((scale or {}).get(variant, {})).astype(float))
        cols = forecaster_columns(f)
        long = f.melt(["seed", "origin", "horizon", "truth", "scale"], cols, "column", "forecast")  # (rows*F, 8)
        long["forecaster"] = np.where(long.column == "model", variant, long.column.map(yardstick_label))
        long["kind"] = np.where(long.column == "model", "model", "baseline")
        frames.append(long)
    if not frames:
        return pd.DataFrame(columns=["forecaster", "kind", "horizon", "rmse", "mase", "seeds"])
    d = pd.concat(frames, ignore_index=True).drop_duplicates(["forecaster", "seed", "origin", "horizon"])
    d["se"] = (d.forecast - d.truth) ** 2
    d["ae"] = (d.forecast - d.truth).abs()
    per_run = d.groupby(["forecaster", "kind", "seed", "horizon"], sort=False).agg(
        mse=("se", "mean"), mae=("ae", "mean"), scale=("scale", "first")
    )  # NaN forecasts (a yardstick that failed at an origin) are left out of the means
    per_run["rmse"] = np.sqrt(per_run.mse)
    per_run["mase"] = per_run.mae / per_run.scale
    out = per_run.groupby(["forecaster", "kind", "horizon"], sort=False).agg(
        rmse=("rmse", "mean"), mase=("mase", "mean"), seeds=("rmse", "count")
    )
    return out.reset_index().dropna(subset=["rmse"])


def _order(labels, table: Table) -> list[str]:
    """``labels`` in the comparison table's row order (models, then yardsticks), any others after."""
    first = [r.label for r in table.rows if r.kind in ("model", "baseline") and r.label in labels]
    return first + [x for x in labels if x not in first]


def _kinds(labels: list[str], table: Table, models=()) -> list[str]:
    kind = {r.label: r.kind for r in table.rows}
    return ["model" if x in models else kind.get(x, "baseline") for x in labels]


def horizon_table(errors: pd.DataFrame, metric: str, table: Table) -> dict | None:
    """Rows: forecasters; columns: h = 1..H; cells: ``metric`` (rmse or mase) at h; the lowest of each column marked."""
    e = errors.dropna(subset=[metric])
    if e.empty or e.horizon.nunique() < 2:
        return None
    grid = e.pivot(index="forecaster", columns="horizon", values=metric)  # (forecasters, H)
    labels = _order(list(grid.index), table)
    grid = grid.loc[labels]
    best = [(labels.index(grid[h].idxmin()), j + 1) for j, h in enumerate(grid.columns) if grid[h].notna().any()]
    name = {"rmse": "RMSE", "mase": "MASE"}[metric]
    seeds = int(e[e.kind == "model"].seeds.max()) if (e.kind == "model").any() else 1
    how = (
        "root mean squared error over the test origins"
        if metric == "rmse"
        else "mean absolute error over the test origins divided by the run's MASE scale (test_mae / test_mase: "
        "the in-sample naive MAE)"
    )
    return {
        "title": f"{name} by horizon",
        "header": ["forecaster"] + [f"h={h}" for h in grid.columns],
        "rows": [[lab] + [_num(x) for x in grid.loc[lab]] for lab in labels],
        "best": best,
        "kinds": _kinds(labels, table, set(e[e.kind == "model"].forecaster)),
        "note": f"{name} of the h-step-ahead forecasts at each horizon: {how}, from test_forecasts.csv; models: "
        f"mean over seeds (up to {seeds}). Bold: the lowest of each column.",
    }


def _num(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:#.4g}".rstrip(".")


def _pv(t: ItemTest | None) -> str:
    if t is None or not math.isfinite(t.p_value):
        return "–"
    return "< 0.001" if t.p_value < 0.001 else f"{t.p_value:.3g}"


def dm_table(ht: HorizonTests, average: dict[str, ItemTest], table: Table) -> dict | None:
    """Rows: forecasters; columns: h = 1..H, then the average over horizons; cells: Diebold–Mariano p values
    against the column's best ("best" there)."""
    if len(ht.best) < 2:
        return None
    hs = sorted(ht.best)
    labels = _order(list(dict.fromkeys(lab for h in hs for lab in ht.mse[h])), table)
    rows, best = [], []
    for i, lab in enumerate(labels):
        cells = [lab]
        for j, h in enumerate(hs):
            if ht.best[h] == lab:
                cells.append("best")
                best.append((i, j + 1))
            else:
                cells.append(_pv(ht.tests[h].get(lab)))
        if lab == table.best_label:
            cells.append("best")
            best.append((i, len(hs) + 1))
        else:
            cells.append(_pv(average.get(lab)))
        rows.append(cells)
    return {
        "title": "Diebold–Mariano p values by horizon",
        "header": ["forecaster"] + [f"h={h}" for h in hs] + [f"mean over h={hs[0]}..{hs[-1]}"],
        "rows": rows,
        "best": best,
        "kinds": _kinds(labels, table),
        "note": "Two-sided p of the Diebold–Mariano test (Harvey–Leybourne–Newbold correction, Student t) of equal "
        "mean squared error on the same origins, squared errors averaged over seeds. Column h=k: each forecaster "
        'against the one with the lowest mean squared error at horizon k ("best"), HAC lag k − 1. Last column: '
        f"against the best row of the comparison table ({table.best_label}) on each origin's squared error averaged "
        f"over h={hs[0]}..{hs[-1]}, HAC lag {hs[-1] - 1}: the test of the verdict and of the significance table.",
    }


PROBABILISTIC = [
    ("test_crps", "CRPS"),
    ("test_coverage80", "coverage 80%"),
    ("test_width80", "width 80%"),
    ("test_coverage95", "coverage 95%"),
    ("test_width95", "width 95%"),
]


def _cell(metric: str, s: Summary) -> str:
    if not s.n:
        return "–"
    f = (lambda x: f"{x:.1%}") if "coverage" in metric else _num
    spread = 0.0 if s.std <= 1e-9 * max(abs(s.mean), 1.0) else s.std
    return f(s.mean) + (f" ± {f(spread)}" if s.n > 1 and spread > 0 else "")


def probabilistic_table(runs: pd.DataFrame, table: Table) -> dict | None:
    """Rows: models (by variant) and yardsticks; columns: CRPS, coverage and width of the 80% and 95% intervals,
    mean ± std over seeds, from the runs' metrics (``test_<m>``, ``baseline_<name>_test_<m>``); lowest CRPS marked."""
    cells: dict[str, dict[str, Summary]] = {}
    kinds: dict[str, str] = {}
    for variant, v in runs.groupby("variant", sort=False):
        cells[variant] = {m: Summary(_per_seed(v, f"metric.{m}")) for m, _ in PROBABILISTIC}
        kinds[variant] = "model"
    for col in sorted(c for c in runs.columns if c.startswith("metric.baseline_") and runs[c].notna().any()):
        who, _, metric = col[len("metric.baseline_") :].partition("_test_")
        if f"test_{metric}" in dict(PROBABILISTIC) and who:
            label = yardstick_label(who)
            cells.setdefault(label, {m: Summary({}) for m, _ in PROBABILISTIC})[f"test_{metric}"] = Summary(
                _per_seed(runs, col)
            )
            kinds.setdefault(label, "baseline")
    cells = {k: c for k, c in cells.items() if any(s.n for s in c.values())}
    if not cells:
        return None
    labels = _order(list(cells), table)
    crps = {lab: cells[lab]["test_crps"].mean for lab in labels if cells[lab]["test_crps"].n}
    best = [(labels.index(min(crps, key=crps.get)), 1)] if crps else []
    return {
        "title": "Probabilistic forecasts",
        "header": ["forecaster"] + [name for _, name in PROBABILISTIC],
        "rows": [[lab] + [_cell(m, cells[lab][m]) for m, _ in PROBABILISTIC] for lab in labels],
        "best": best,
        "kinds": [kinds[lab] for lab in labels],
        "note": "CRPS (lower is better; bold: the lowest) and the share of test targets inside the 80% and 95% "
        "prediction intervals, which should be near 80% and 95% (below: bands too narrow, above: too wide), with "
        "the intervals' mean width in the series' units; averaged over horizons, mean ± std over seeds.",
    }


def samples(texts: dict[str, tuple[int, str]], length: int = 300) -> dict | None:
    """variant -> (seed, samples.txt): the opening of the text each model generated (lowest seed)."""
    if not texts:
        return None
    rows = []
    for variant, (seed, text) in texts.items():
        shown = text[:length].replace("`", "'").replace("\n", " ⏎ ")
        rows.append([variant, str(seed), f"`{shown}`"])
    return {
        "title": "Samples",
        "header": ["model", "seed", f"the first {length} symbols it generated"],
        "rows": rows,
        "note": "Each run's samples.txt (task.sample_length symbols at task.temperature, continuing task.prompt), "
        "lowest seed; ⏎ marks the end of a document.",
    }
