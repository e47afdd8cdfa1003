"""Assemble a report: select runs, compute the tables, draw the figures, write Markdown and HTML."""

from __future__ import annotations

import math
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.data.series import PANELS
from harness.errors import ConfigError
from harness.report import plots, tables
from harness.report.collect import RunStore, Selection, command, history_table, job_overrides, runs_table, sweep_axes
from harness.report.ranks import rank_test
from harness.report.render import render_html, render_markdown
from harness.report.significance import (
    baseline_predictions,
    classification_tests,
    forecast_frame,
    forecast_tests,
    forecaster_columns,
    horizon_tests,
    yardstick_label,
)
from harness.report.stats import Table, comparison_table, higher_is_better
from harness.report.verdict import UNTESTED, verdict_sentence

# columns after the main metric, in this order when present
METRIC_ORDER = [
    "test_macro_f1",
    "test_oov_accuracy",
    "test_sentence_accuracy",
    "test_mae",
    "test_mase",
    "test_rmse",
    "test_smape",
    "test_owa",
    "test_rank",
    "test_relmae_naive",
    "test_relrmse_snaive",
    "test_perplexity",
    "train_seconds",
    "evaluate_seconds",
    "train_tokens_per_second",
    "train_windows_per_second",
    "train_chars_per_second",
    "train_texts_per_second",
    "predict_tokens_per_second",
    "predict_texts_per_second",
    "n_params",
]
HISTORY = ("train_loss", "dev_accuracy", "dev_rmse")
MAX_PREDICTION_VARIANTS = 12  # a tuned comparison of 5 families has 10 rows; more crowd the figures


@dataclass
class TaskSection:
    task: str
    dataset: str
    table: Table
    n_runs: int
    figures: list[plots.Figure] = field(default_factory=list)
    reproduce: list[dict] = field(default_factory=list)  # label, command, seeds, commits, run_ids, config
    tests: dict = field(default_factory=dict)  # row label -> ItemTest against the best row (test items)
    verdict: str = ""
    tables: list[dict] = field(default_factory=list)  # extra numeric tables: title, header, rows, note
    duplicates: list[str] = field(default_factory=list)  # "rnn seed=0: 2 runs (ids); the latest is used"
    verdict_extra: str = ""  # a panel's rank verdict across series, appended to the verdict


@dataclass
class Report:
    name: str
    title: str
    selection: str
    generated: str
    sweep_command: str | None
    parent_run_id: str | None
    sections: list[TaskSection]
    failures: list[dict]
    environment: dict[str, str]
    rebuild: str


def _safe_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    if not name:
        raise ConfigError("the report name is empty after removing unsafe characters", "pass --name like my-sweep")
    return name


def _read_predictions(
    store: RunStore, runs: pd.DataFrame, name: str, reader, first: str | None = None
) -> dict[str, pd.DataFrame]:
    """variant -> the artifact ``name`` of its runs (all seeds, a ``seed`` column added), for at most
    MAX_PREDICTION_VARIANTS variants; ``first`` (the table's best row) is always among them, since every
    test over items compares a row with it."""
    out: dict[str, pd.DataFrame] = {}
    groups = list(runs.groupby("variant", sort=False))
    if first is not None:
        groups.sort(key=lambda g: g[0] != first)  # stable: the best first, the others in table order
    for variant, v in groups:
        frames = []
        for _, r in v.sort_values("seed").iterrows():
            path = store.artifact(r.run_id, name)
            if path is not None:
                frames.append(reader(path).assign(seed=r.seed))
        if frames:
            out[variant] = pd.concat(frames, ignore_index=True)
        if len(out) >= MAX_PREDICTION_VARIANTS:
            break
    return out


def _deduplicate(finished: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Keep the latest run of each (variant, seed); name the repeats instead of averaging them silently."""
    notes = []
    for (variant, seed), d in finished.groupby(["variant", "seed"], sort=False):
        if len(d) > 1:
            ids = ", ".join(r[:8] for r in d.sort_values("start_time").run_id)
            notes.append(f"{variant} seed={int(seed)}: {len(d)} runs ({ids}); only the latest is counted")
    keep = finished.sort_values("start_time").drop_duplicates(["variant", "seed"], keep="last")
    return finished[finished.index.isin(keep.index)], notes


def _mase_scale(runs: pd.DataFrame) -> dict[str, dict[int, float]]:
    """variant -> seed -> the run's MASE denominator, test_mae / test_mase (both averaged over the same horizons)."""
    if not {"metric.test_mae", "metric.test_mase"} <= set(runs.columns):
        return {}
    d = runs[runs.seed.notna()].assign(s=runs["metric.test_mae"] / runs["metric.test_mase"])
    d = d[d.s.notna() & (d.s > 0) & d.s.abs().lt(float("inf"))]
    return {v: {int(k): float(x) for k, x in zip(g.seed, g.s)} for v, g in d.groupby("variant", sort=False)}


def _fan_panels(
    frames: dict[str, pd.DataFrame], intervals: dict[str, pd.DataFrame], runs: pd.DataFrame, table: Table
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame | None]]:
    """The fan charts' forecasters: the best variant of each model (by the main metric) at its lowest seed, and the
    best yardstick (from the first of those runs)."""
    sign = 1 if higher_is_better(table.main) is False else -1
    score = {r.label: sign * r.cells[table.main].mean for r in table.rows if table.main in r.cells}
    chosen = []
    for _, g in runs.groupby("model", sort=False):
        variants = [v for v in g.variant.unique() if v in frames]
        if variants:
            chosen.append(min(variants, key=lambda v: score.get(v, math.inf)))
    panels = {}
    for variant in chosen:
        f = frames[variant]
        seed = f.seed.min()
        iv = intervals.get(variant)
        iv = iv[(iv.seed == seed) & (iv.forecaster == "model")] if iv is not None and "forecaster" in iv else None
        panels[variant] = (f[f.seed == seed].assign(forecast=f.model), iv)
    if chosen:
        f = frames[chosen[0]]
        f = f[f.seed == f.seed.min()]
        columns = {yardstick_label(c): c for c in forecaster_columns(f)[1:]}
        yardsticks = [r.label for r in table.rows if r.kind == "baseline" and r.label in columns]
        if yardsticks:
            best = min(yardsticks, key=lambda y: score.get(y, math.inf))
            iv = intervals.get(chosen[0])
            if iv is not None and "forecaster" in iv:
                iv = iv[(iv.seed == f.seed.min()) & (iv.forecaster == columns[best])]
            panels[f"{best} (yardstick)"] = (f.assign(forecast=f[columns[best]]), iv)
    return panels


def _forecasting(
    section: TaskSection, store: RunStore, runs: pd.DataFrame, task: str, out: Path
) -> tuple[list[int], list[plots.Figure | None]]:
    """A time-series section's tests, tables and figures from ``test_forecasts.csv`` and ``test_intervals.csv``:
    forecasts against truth, RMSE/MASE by horizon, Diebold–Mariano by horizon, probabilistic scores, fan charts.
    Sets ``section.tests`` (the verdict's, averaged over horizons) and adds to ``section.tables``; returns the
    horizons of the forecast files and the figures."""
    table = section.table
    param = pd.to_numeric(runs.get("param.task.horizon", pd.Series(dtype=str)), errors="coerce").dropna()
    horizon = int(param.iloc[0]) if len(param) else 1
    fc_all = _read_predictions(store, runs, "test_forecasts.csv", pd.read_csv)
    frames = {k: f for k, raw in fc_all.items() if (f := forecast_frame(raw, horizon)) is not None}
    horizons = sorted({int(h) for f in frames.values() for h in f.horizon.unique()})
    section.tests = forecast_tests(frames, table, horizon)
    errors = tables.errors_by_horizon(frames, _mase_scale(runs), horizon)
    section.tables += [
        t
        for t in (
            tables.horizon_table(errors, "rmse", table),
            tables.horizon_table(errors, "mase", table),
            tables.dm_table(horizon_tests(frames, horizon), section.tests, table),
            tables.probabilistic_table(runs, table),
        )
        if t
    ]
    fan = None
    intervals = _read_predictions(store, runs, "test_intervals.csv", pd.read_csv) if frames else {}
    if intervals:
        fan = plots.fan_charts(_fan_panels(frames, intervals, runs, table), task, out)
    one_seed = {k: f[f.seed == f.seed.min()] for k, f in frames.items()}  # the plot: one seed per model
    return horizons, [plots.forecasts(one_seed, task, out), plots.horizon_curves(errors, task, out), fan]


PANEL_HEAD = 15  # rows of the per-series table in the report (the whole table is a CSV beside it)


def _panel(section: TaskSection, store: RunStore, runs: pd.DataFrame, task: str, out: Path) -> list:
    """A panel section (harness.tasks.panel) from every run's ``panel_scores.csv``: the across-series aggregates
    of models and yardsticks, mean ranks with the Friedman test and Nemenyi's critical difference (a diagram),
    the per-series table (its head; all of it in ``panel_scores_<task>.csv``) and where each forecaster wins by
    frequency, length and seasonal strength."""
    scores = _read_predictions(store, runs, "panel_scores.csv", pd.read_csv)
    if not scores:
        return []
    rows = []
    for variant, f in scores.items():  # models: their seeds averaged per series; yardsticks: from the first run
        model = f[f.forecaster == "model"].drop(columns="forecaster")
        rows.append(model.groupby("series", sort=False).mean(numeric_only=True).assign(forecaster=variant))
    first = next(iter(scores.values()))
    first = first[(first.seed == first.seed.min()) & (first.forecaster != "model")]
    for name, f in first.groupby("forecaster", sort=False):
        rows.append(f.set_index("series").drop(columns="forecaster").assign(forecaster=yardstick_label(name)))
    long = pd.concat(rows).reset_index()
    info = first.drop_duplicates("series").set_index("series")[["frequency", "length", "strength"]]
    wide = long.pivot(index="series", columns="forecaster", values="rmse")  # (series, forecasters)
    names = [n for n in dict.fromkeys(long.forecaster) if n in wide.columns]
    wide = wide[names].dropna()
    test = rank_test(wide.to_numpy(), names)
    kinds = ["model"] * len(scores) + ["baseline"] * (len(names) - len(scores))
    section.tables += _panel_tables(long, wide, names, kinds, info, test, out, task)
    if test is not None:
        section.verdict_extra = _panel_verdict(test)
    return [plots.critical_difference(test, task, out)]


def _panel_verdict(test) -> str:
    """One sentence: the best mean rank, the Friedman p-value, and which forecasters the Nemenyi CD cannot tell from it."""
    order = sorted(range(len(test.names)), key=lambda i: test.ranks[i])
    best = order[0]
    tied = [test.names[i] for i in order[1:] if test.ranks[i] - test.ranks[best] <= test.cd]
    text = (
        f"Across the {test.n} series, {test.names[best]} has the best mean rank ({test.ranks[best]:.2f} of "
        f"{len(test.names)}); Friedman p = {test.p_value:.2g}"
    )
    if test.p_value >= 0.05:
        return text + ": the ranks do not differ more than chance would make them."
    if tied:
        return text + f"; within the Nemenyi CD ({test.cd:.2f}) of it, not told apart: {', '.join(tied)}."
    return text + f"; every other forecaster ranks worse by more than the Nemenyi CD ({test.cd:.2f})."


def _panel_tables(long, wide, names, kinds, info, test, out: Path, task: str) -> list[dict]:
    import numpy as np
    from scipy.stats import rankdata

    from harness.tasks.panel import gmean

    ranks = pd.DataFrame(rankdata(wide.to_numpy(), axis=1), index=wide.index, columns=names)  # (series, k)
    snaive = "seasonal naive" if "seasonal naive" in names else "naive"
    ref = long[long.forecaster == snaive].set_index("series")
    agg_rows = []
    for name in names:
        f = long[long.forecaster == name].set_index("series")
        owa = 0.5 * (f.smape.mean() / ref.smape.mean() + f.mase.mean() / ref.mase.mean())
        agg_rows.append(
            [gmean(f.relrmse_naive), gmean(f.relmae_naive), gmean(f.relrmse_snaive), f.mase.mean(), f.smape.mean()]
            + [owa, ranks[name].mean() if name in ranks else float("nan")]
        )
    grid = np.array(agg_rows, dtype=float)
    best = [(int(np.nanargmin(grid[:, j])), j + 1) for j in range(grid.shape[1]) if np.isfinite(grid[:, j]).any()]
    header = ["forecaster", "rel. RMSE (naive)", "rel. MAE (naive)", "rel. RMSE (s. naive)", "MASE", "sMAPE", "OWA"]
    found = [
        {
            "title": "Across-series aggregates",
            "header": header + ["mean rank"],
            "rows": [[n] + [tables._num(x) for x in r] for n, r in zip(names, grid)],
            "best": best,
            "kinds": kinds,
            "note": f"Over the {len(wide)} series every forecaster has. rel.: the geometric mean over series of the "
            "test RMSE (MAE) divided by that of persistence (naive) or of the seasonal naive (persistence for a "
            "series without a season); MASE and sMAPE: means over series; OWA: M4's overall weighted average "
            f"against the seasonal naive, 0.5 (sMAPE / sMAPE({snaive}) + MASE / MASE({snaive})), ratios of means "
            "(not M4's Naive2); mean rank: by test RMSE among these forecasters, 1 = best. Models: the mean of "
            "their seeds' per-series scores. Bold: the best of each column.",
        }
    ]
    if test is not None:
        verdict = (
            "the mean ranks differ (p < 0.05): forecasters whose ranks differ by more than the CD are told apart"
            if test.p_value < 0.05
            else "the mean ranks do not differ more than chance would make them (p >= 0.05)"
        )
        found.append(
            {
                "title": "Friedman test and Nemenyi critical difference",
                "header": ["series (N)", "forecasters (k)", "Friedman chi-squared", "p-value", "CD (alpha 0.05)"],
                "rows": [
                    [str(test.n), str(len(names)), tables._num(test.statistic), f"{test.p_value:.3g}", f"{test.cd:.3f}"]
                ],
                "note": f"Friedman's test over the series' ranks by test RMSE (scipy.stats.friedmanchisquare): {verdict}. "
                "Nemenyi's CD = q sqrt(k (k + 1) / (6 N)), q from the studentized range (Demšar 2006).",
            }
        )
    rel = long.pivot(index="series", columns="forecaster", values="relrmse_naive").reindex(columns=names)
    full = info.join(rel, how="right")
    csv_name = f"panel_scores_{plots._slug(task)}.csv"
    full.to_csv(out / csv_name)
    head = full.head(PANEL_HEAD)
    found.append(
        {
            "title": "Per series: test RMSE relative to naive",
            "header": ["series", "frequency", "length", "seasonal strength"] + names,
            "rows": [
                [str(s), str(r.frequency), str(int(r.length)), tables._num(r.strength)]
                + [tables._num(r[n]) for n in names]
                for s, r in head.iterrows()
            ],
            "note": f"The first {len(head)} of {len(full)} series; all of them in {csv_name}. Seasonal strength: "
            "1 - var(remainder) / var(seasonal + remainder) of an STL decomposition of the training part.",
        }
    )
    groups = []
    freq = info.frequency.reindex(wide.index)
    groups += [(f"frequency {f}", freq == f) for f in sorted(freq.dropna().unique())]
    length = info.length.reindex(wide.index)
    if length.nunique() >= 3:
        bins = pd.qcut(length, 3, duplicates="drop")
        groups += [(f"length {int(b.left) + 1}–{int(b.right)}", bins == b) for b in bins.cat.categories]
    strength = info.strength.reindex(wide.index)
    for lo, hi in ((0, 0.3), (0.3, 0.6), (0.6, 1.01)):
        groups.append((f"seasonal strength {lo:g}–{min(hi, 1):g}", (strength >= lo) & (strength < hi)))
    grows, gbest = [], []
    for label, mask in groups:
        if mask.sum() == 0:
            continue
        r = ranks[mask.to_numpy()].mean()
        gbest.append((len(grows), 2 + int(np.argmin(r.to_numpy()))))
        grows.append([label, str(int(mask.sum()))] + [tables._num(x) for x in r])
    found.append(
        {
            "title": "Where each forecaster wins: mean rank by group of series",
            "header": ["series group", "series"] + names,
            "rows": grows,
            "best": gbest,
            "note": "Mean rank by test RMSE (1 = best) over the series of each group; length in points, split into "
            "terciles. Bold: the group's best. Small groups are noise: read with the group's count.",
        }
    )
    return found


def _task_section(store: RunStore, g: pd.DataFrame, out: Path, defaults_cache: dict) -> TaskSection:
    finished, duplicates = _deduplicate(g[g.status == "FINISHED"])
    table = comparison_table(finished, METRIC_ORDER)
    section = TaskSection(table.task, table.dataset, table, len(finished), duplicates=duplicates)
    task = f"{table.task}-{table.dataset}" if table.dataset else table.task

    # figures: learning curves, gradient norms, swept parameters, task-specific ones
    hist_metrics = [m for m in HISTORY] + [
        c[7:] for c in finished.columns if c.startswith("metric.grad_norm") and c != "metric.grad_norm_steps_back"
    ]
    hist = history_table(store, finished, hist_metrics)
    hist = hist[hist.step >= 1]  # step 0 holds the final values
    best_epochs = finished.set_index("run_id")["metric.best_epoch"] if "metric.best_epoch" in finished else None
    figs = [
        plots.seed_distribution(table, task, out),
        plots.learning_curves(hist, task, out, best_epochs),
        plots.metric_history(hist, task, "grad_norm", out),
    ]
    for axis in sweep_axes(finished)[:4]:
        figs.append(plots.versus_axis(finished, axis, table.main, task, out))
    preds = {}
    if table.task in ("pos", "longrange", "sentiment"):
        preds = _read_predictions(
            store,
            finished,
            "test_predictions.tsv",
            lambda p: pd.read_csv(p, sep="\t", keep_default_na=False, quoting=3, dtype=str),
            first=table.best_label,
        )
        order = list(dict.fromkeys(finished.variant))  # tables and figures keep the table's order
        preds = {v: preds[v] for v in order if v in preds}
        for p in preds.values():
            for c in ("sentence", "position", "sequence"):
                if c in p.columns:
                    p[c] = p[c].astype(int)
        preds |= {k: v for k, v in baseline_predictions(preds).items() if k not in preds}
        section.tests = classification_tests(preds, table)
    if table.task == "pos":
        section.tables += [t for t in (tables.per_tag(preds), tables.top_confusions(preds)) if t]
        figs += [
            plots.oov_vs_invocab(finished, task, out),
            plots.per_tag_accuracy(preds, task, out),
            plots.confusion_matrices(preds, task, out),
            plots.accuracy_by_length(preds, task, out),
        ]
    if table.task == "sentiment":  # per-class precision / recall / F1 and the confusions, from the same files
        section.tables += [t for t in (tables.per_tag(preds, "class", "texts"),) if t]
        figs.append(plots.confusion_matrices(preds, task, out))
    horizons: list[int] = []
    if table.task == "timeseries" and table.dataset in PANELS:
        figs += _panel(section, store, finished, task, out)
    elif table.task == "timeseries":
        horizons, more = _forecasting(section, store, finished, task, out)
        figs += more
    if table.task == "lm":
        texts = _read_predictions(
            store, finished, "samples.txt", lambda p: pd.DataFrame({"text": [p.read_text("utf-8")]})
        )
        section.tables += [
            t for t in (tables.samples({v: (int(d.seed.iloc[0]), d.text.iloc[0]) for v, d in texts.items()}),) if t
        ]
        figs.append(
            plots.position_curves(_read_predictions(store, finished, "position_curve.csv", pd.read_csv), task, out)
        )
    norms = _read_predictions(store, finished, "diagnostics/gradient_norms.csv", pd.read_csv)
    figs.append(plots.gradient_by_steps_back(norms, task, out))
    section.figures = [f for f in figs if f is not None]
    section.verdict = verdict_sentence(table, section.tests, horizons)
    if section.verdict_extra:  # a panel: the margin is tested over series, by ranks
        if section.verdict.endswith(UNTESTED):
            section.verdict = section.verdict.removesuffix(UNTESTED) + "."
        section.verdict += " " + section.verdict_extra

    # how to reproduce each row
    for variant, v in g.groupby("variant", sort=False):
        first = v.sort_values("seed").iloc[0]
        seeds = sorted(int(s) for s in v.seed.dropna().unique())
        config = store.artifact(first.run_id, "config.yaml")
        section.reproduce.append(
            {
                "label": variant,
                "command": command(job_overrides(first, defaults_cache), seeds),
                "seeds": ", ".join(map(str, seeds)),
                "commits": ", ".join(sorted(set(v.commit) - {""})) or "unknown",
                "runs": len(v),
                "config": config.read_text(encoding="utf-8") if config else "",
                "config_seed": int(first.seed) if first.seed is not None and not math.isnan(first.seed) else "?",
            }
        )
    return section


def build_report(
    tracking_uri: str,
    parent_run_id: str | None = None,
    experiment: str | None = None,
    tags: dict[str, str] | None = None,
    name: str | None = None,
    out_dir: str | Path | None = None,
    log_to_parent: bool = True,
    sweep_command: str | None = None,
) -> Path:
    """Write ``<out_dir>/<name>/report.md`` and ``report.html`` for the selected runs; returns the .md path."""
    from harness.report import default_reports_dir

    sel = Selection(parent_run_id, experiment, dict(tags or {}))
    store = RunStore(tracking_uri)
    parent = store.parent(parent_run_id) if parent_run_id else None
    df = runs_table(store.search(sel))
    if df.empty:
        raise ConfigError(
            f"no runs match {sel.describe()}", "check the run id, experiment name or tags (mlflow ui lists them)"
        )
    preset = parent.data.tags.get("harness.preset") if parent else None
    name = _safe_name(name or preset or experiment or (f"sweep-{parent_run_id[:8]}" if parent_run_id else "report"))
    final = (Path(out_dir) if out_dir else default_reports_dir()) / name
    # built in a folder of its own and moved into place at the end: an interrupted build (Ctrl-C, SIGTERM)
    # leaves no half-written report, and an earlier report of this name stays whole until then
    final.parent.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=final.parent))
    try:
        md = _build(store, df, sel, parent, parent_run_id, experiment, tags, name, out, sweep_command)
        if parent_run_id and log_to_parent:
            for path in [md, out / "report.html"] + sorted(out.glob("*.png")):
                store.client.log_artifact(parent_run_id, str(path), "report")
        if final.exists():
            shutil.rmtree(final)
        os.replace(out, final)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    md = final / "report.md"
    print(
        f"harness: report for {len(df)} runs ({sum(df.status != 'FINISHED')} failed) written to {md}", file=sys.stderr
    )
    return md


def _build(store, df, sel, parent, parent_run_id, experiment, tags, name: str, out: Path, sweep_command) -> Path:
    """The report's figures, report.md and report.html in ``out``; returns the .md path."""

    defaults_cache: dict = {}
    sections = []
    for _, g in df.groupby(["task", "dataset"], sort=False):
        if (g.status == "FINISHED").any():
            sections.append(_task_section(store, g, out, defaults_cache))
    failures = []
    for _, r in df[df.status != "FINISHED"].iterrows():
        failures.append(
            {
                "label": f"{r.variant} seed={r.seed}",
                "task": r.task,
                "status": r.status,
                "reason": (r.failure or "(no reason recorded)").splitlines()[0][:300],
                "run_id": r.run_id,
                "command": command(
                    job_overrides(r, defaults_cache),
                    [int(r.seed)] if r.seed is not None and not pd.isna(r.seed) else None,
                ),
            }
        )

    if sweep_command is None and parent is not None:
        sweep_command = parent.data.tags.get("harness.sweep_command")
    selector = (f"--parent {parent_run_id}" if parent_run_id else "") + (
        f" --experiment {experiment}" if experiment else ""
    )
    selector += "".join(f" --tag {k}={v}" for k, v in (tags or {}).items())
    import numpy

    report = Report(
        name=name,
        title=f"Comparison report: {name}",
        selection=sel.describe(),
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        sweep_command=sweep_command,
        parent_run_id=parent_run_id,
        sections=sections,
        failures=failures,
        environment={
            "harness": str(df.version.iloc[0] or "?"),
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "platform": f"{platform.system()} {platform.machine()}",
            "commits": ", ".join(sorted(set(df.commit) - {""})) or "unknown",
        },
        rebuild=f"python -m harness.report {selector.strip()} --name {name}",
    )
    md = out / "report.md"
    md.write_text(render_markdown(report), encoding="utf-8")
    html = out / "report.html"
    html.write_text(render_html(report, out), encoding="utf-8")
    return md
