"""Matplotlib figures for a report, each written as a PNG: learning curves, POS confusion matrices,
per-tag accuracy, OOV vs in-vocabulary accuracy, accuracy vs sentence length, forecasts against
truth and baselines, forecast error by horizon, fan charts (prediction intervals), metric vs a swept parameter (train size, distance), gradient norm vs step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from harness.report.stats import Summary  # noqa: E402

COLORS = plt.get_cmap("tab10").colors


@dataclass
class Figure:
    file: str  # PNG name in the report folder
    title: str
    caption: str


def _save(fig, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name


def _floor(lowest: float) -> float:
    """A bar chart's lower limit: a round value a little under the lowest bar, so small differences show."""
    return max(0.0, np.floor((lowest - 0.05 * (1 - lowest) - 0.01) * 20) / 20)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def seed_distribution(table, task: str, out: Path) -> Figure | None:
    """Each row's main metric per seed (a strip: one dot per seed, a bar at the mean)."""
    rows = [r for r in table.rows if table.main in r.cells and r.cells[table.main].n]
    if not rows or max(r.cells[table.main].n for r in rows) < 2:
        return None
    fig, ax = plt.subplots(figsize=(max(5.5, 0.9 * len(rows) + 2), 3.6))
    for i, r in enumerate(rows):
        v = r.cells[table.main].finite
        jitter = np.linspace(-0.12, 0.12, len(v)) if len(v) > 1 else np.zeros(1)
        color = COLORS[i % 10] if r.kind == "model" else "0.5"
        ax.scatter(i + jitter, v, s=22, color=color, zorder=3)
        ax.hlines(v.mean(), i - 0.25, i + 0.25, color=color, lw=2)
    ax.set_xticks(range(len(rows)), [r.label for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(table.main)
    ax.grid(alpha=0.3, axis="y")
    name = _save(fig, out, f"seeds_{_slug(task)}.png")
    return Figure(
        name,
        f"Seed distributions ({task})",
        f"{table.main} of every seed (dots) and the mean (bar) of each row; grey rows are baselines and references. "
        "A row without spread (a deterministic model) has all its dots on the bar.",
    )


def learning_curves(hist: pd.DataFrame, task: str, out: Path, best_epochs: pd.Series | None = None) -> Figure | None:
    """Dev metric and training loss per epoch; mean over the seeds still running, band = min..max.

    Where fewer seeds reach an epoch (early stopping) the line turns dashed and the point says n; the
    mean best epoch of each row is a star on the dev panel; the training loss is on a log axis.
    """
    dev = [m for m in ("dev_accuracy", "dev_rmse") if m in set(hist.metric)] or sorted(
        m for m in set(hist.metric) if m.startswith("dev_")
    )
    panels = dev[:1] + (["train_loss"] if "train_loss" in set(hist.metric) else [])
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], panels):
        h = hist[hist.metric == metric]
        for i, (variant, v) in enumerate(h.groupby("variant", sort=False)):
            color = COLORS[i % 10]
            n_all = v.seed.nunique()
            curve = v.groupby("step").value.agg(["mean", "min", "max", "count"])
            full = curve[curve["count"] == n_all]
            ax.plot(full.index, full["mean"], marker="o", ms=3, color=color, label=f"{variant} (n={n_all})")
            tail = curve[curve.index >= (full.index.max() if len(full) else curve.index.min())]
            if len(tail) > 1 or (len(tail) and not len(full)):
                ax.plot(tail.index, tail["mean"], ls="--", marker="o", ms=3, color=color)
                for x, row in tail[tail["count"] < n_all].iterrows():
                    ax.annotate(
                        f"n={int(row['count'])}",
                        (x, row["mean"]),
                        fontsize=6,
                        color=color,
                        xytext=(2, 3),
                        textcoords="offset points",
                    )
            ax.fill_between(curve.index, curve["min"], curve["max"], color=color, alpha=0.15)
            if metric.startswith("dev_") and best_epochs is not None:
                be = best_epochs.reindex(v.run_id.unique()).dropna()
                if len(be):
                    x = int(round(be.mean()))
                    if x in curve.index:
                        ax.plot([x], [curve.loc[x, "mean"]], marker="*", ms=12, color=color, mec="black", mew=0.5)
        if metric.endswith("loss") and (h.value > 0).all():
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric + (" (log)" if ax.get_yscale() == "log" else ""))
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=8)
    name = _save(fig, out, f"learning_curves_{_slug(task)}.png")
    return Figure(
        name,
        f"Learning curves ({task})",
        "Mean over the seeds that ran each epoch; the band spans the lowest and highest seed. Dashed with n=k: "
        "fewer seeds reach those epochs (early stopping). Star: the mean best epoch (the weights kept).",
    )


def metric_history(hist: pd.DataFrame, task: str, prefix: str, out: Path) -> Figure | None:
    """Any per-step metric whose name starts with ``prefix`` (e.g. grad_norm), log scale."""
    h = hist[hist.metric.str.startswith(prefix)]
    if h.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, ((variant, metric), v) in enumerate(h.groupby(["variant", "metric"], sort=False)):
        curve = v.groupby("step").value.mean()
        ax.plot(curve.index, curve.values, marker="o", ms=3, color=COLORS[i % 10], label=f"{variant} {metric}")
    ax.set_yscale("log")
    ax.set_xlabel("step (epoch)")
    ax.set_ylabel(prefix.rstrip("_"))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    name = _save(fig, out, f"{_slug(prefix)}_{_slug(task)}.png")
    return Figure(
        name,
        f"Gradient norm vs step ({task})" if prefix.startswith("grad") else f"{prefix} ({task})",
        "Mean global gradient norm (before clipping) over the batches of each epoch, mean over seeds.",
    )


def versus_axis(g: pd.DataFrame, axis: str, metric: str, task: str, out: Path) -> Figure | None:
    """``metric`` against a swept parameter (train size, distance): mean with 95% CI per model."""
    col = f"param.{axis}"
    if col not in g.columns:
        return None
    d = g[g[col].notna()].copy()
    d["x"] = pd.to_numeric(d[col], errors="coerce")
    d = d[d.x.notna()]
    if d.x.nunique() < 2:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (model, m) in enumerate(d.groupby("model", sort=False)):
        xs, means, lo, hi = [], [], [], []
        for x, v in m.groupby("x"):
            s = Summary({int(k): float(val) for k, val in zip(v.seed, v[f"metric.{metric}"])})
            a, b = s.ci95()
            (
                xs.append(x),
                means.append(s.mean),
                lo.append(s.mean - a if np.isfinite(a) else 0),
                hi.append(b - s.mean if np.isfinite(b) else 0),
            )
        ax.errorbar(xs, means, yerr=[lo, hi], marker="o", capsize=3, color=COLORS[i % 10], label=model)
    short = axis.split(".")[-1]
    if short == "train_size" and d.x.max() / max(d.x.min(), 1e-9) >= 10:
        ax.set_xscale("log")
    ticks = sorted(d.x.unique())
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel(axis)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    name = _save(fig, out, f"{_slug(metric)}_vs_{_slug(short)}_{_slug(task)}.png")
    titles = {"train_size": "Sample efficiency", "distance": "Accuracy vs distance"}
    return Figure(
        name,
        f"{titles.get(short, metric + ' vs ' + short)} ({task})",
        f"{metric} against {axis}; points are means over seeds, bars 95% t intervals.",
    )


# ----------------------------------------------------------------------------------------------
# part-of-speech predictions: sentence, position, word, gold, predicted


ANNOTATE_UP_TO = 6  # classes up to which a confusion matrix shows its numbers


def confusion_matrices(preds: dict[str, pd.DataFrame], task: str, out: Path) -> Figure | None:
    if not preds:
        return None
    tags = pd.concat(preds.values()).gold.value_counts().index.tolist()
    n = len(preds)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.3 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (variant, p) in zip(axes.flat, preds.items()):
        cm = pd.crosstab(p.gold, p.predicted).reindex(index=tags, columns=tags, fill_value=0).to_numpy(float)
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)  # row-normalised: P(predicted | gold)
        ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(tags)), tags, rotation=90, fontsize=7)
        ax.set_yticks(range(len(tags)), tags, fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("gold", fontsize=8)
        ax.set_title(variant, fontsize=9)
        if len(tags) <= ANNOTATE_UP_TO:  # a few classes: the shares written in the cells
            for (i, j), v in np.ndenumerate(cm):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9, color="white" if v > 0.6 else "black")
    name = _save(fig, out, f"confusion_{_slug(task)}.png")
    return Figure(
        name,
        f"Confusion matrices ({task})",
        "Rows: gold tag (label), columns: predicted, each row normalised; all seeds pooled.",
    )


def per_tag_accuracy(preds: dict[str, pd.DataFrame], task: str, out: Path) -> Figure | None:
    if not preds:
        return None
    tags = pd.concat(preds.values()).gold.value_counts().index.tolist()
    width = 0.8 / len(preds)
    fig, ax = plt.subplots(figsize=(min(12, max(7, 0.55 * len(tags) * max(1, len(preds) / 2))), 3.8))
    x = np.arange(len(tags))
    lowest = 1.0
    for i, (variant, p) in enumerate(preds.items()):
        acc = (p.gold == p.predicted).groupby(p.gold).mean().reindex(tags)
        ax.bar(x + i * width - 0.4 + width / 2, acc.to_numpy(), width, color=COLORS[i % 10], label=variant)
        lowest = min(lowest, float(np.nanmin(acc.to_numpy())))
    ax.set_xticks(x, tags, rotation=60, fontsize=8)
    ax.set_ylabel("accuracy (axis not from 0)")
    ax.set_ylim(_floor(lowest), 1.0 + 0.12 * (1.0 - _floor(lowest)))
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncols=min(6, len(preds)), loc="upper center")
    name = _save(fig, out, f"per_tag_accuracy_{_slug(task)}.png")
    return Figure(
        name,
        f"Per-tag accuracy ({task})",
        "Accuracy of the tokens of each gold tag, tags by frequency; all seeds pooled.",
    )


def accuracy_by_length(preds: dict[str, pd.DataFrame], task: str, out: Path) -> Figure | None:
    if not preds:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, (variant, p) in enumerate(preds.items()):
        key = ["seed", "sentence"] if "seed" in p.columns else ["sentence"]
        length = p.groupby(key).position.transform("size")
        bins = np.array([0, 5, 10, 15, 20, 30, 40, 60, 1000])
        b = np.digitize(length, bins)
        acc = (p.gold == p.predicted).groupby(b).mean()
        centres = [(bins[k - 1] + min(bins[k], length.max() + 1)) / 2 for k in acc.index]
        ax.plot(centres, acc.to_numpy(), marker="o", color=COLORS[i % 10], label=variant)
    ax.set_xlabel("sentence length (tokens, binned)")
    ax.set_ylabel("token accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    name = _save(fig, out, f"accuracy_by_length_{_slug(task)}.png")
    return Figure(
        name,
        f"Accuracy vs sentence length ({task})",
        "Token accuracy of the sentences in each length bin; all seeds pooled.",
    )


def oov_vs_invocab(g: pd.DataFrame, task: str, out: Path) -> Figure | None:
    """In-vocabulary accuracy from the logged metrics: acc = r * oov_acc + (1 - r) * iv_acc."""
    need = ["metric.test_accuracy", "metric.test_oov_accuracy", "metric.test_oov_rate"]
    if not all(c in g.columns for c in need):
        return None
    d = g.dropna(subset=need).copy()
    if d.empty:
        return None
    r = d["metric.test_oov_rate"]
    d["iv"] = (d["metric.test_accuracy"] - r * d["metric.test_oov_accuracy"]) / (1 - r).clip(lower=1e-9)
    means = d.groupby("variant", sort=False)[["iv", "metric.test_oov_accuracy"]].mean()
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(means)), 3.8))
    x = np.arange(len(means))
    ax.bar(x - 0.2, means["iv"], 0.4, label="in vocabulary", color=COLORS[0])
    ax.bar(x + 0.2, means["metric.test_oov_accuracy"], 0.4, label="out of vocabulary", color=COLORS[1])
    ax.set_xticks(x, means.index, rotation=20, fontsize=8)
    ax.set_ylabel("test accuracy (axis not from 0)")
    low = _floor(float(np.nanmin(means.to_numpy())))
    ax.set_ylim(low, 1.0 + 0.12 * (1.0 - low))
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncols=2, loc="upper center")
    name = _save(fig, out, f"oov_{_slug(task)}.png")
    rate = float(r.mean())
    return Figure(
        name,
        f"OOV vs in-vocabulary accuracy ({task})",
        f"Mean over seeds; {rate:.1%} of test tokens are forms unseen in training.",
    )


# ----------------------------------------------------------------------------------------------
# time series: target_index, truth, model, <baseline>...


def forecasts(fc: dict[str, pd.DataFrame], task: str, out: Path) -> Figure | None:
    """Every model's and yardstick's test forecasts against the truth; with several horizons, the 1-step ones."""
    if not fc:
        return None
    first = next(iter(fc.values()))
    multi = "horizon" in first.columns and first.horizon.nunique() > 1
    if "horizon" in first.columns:  # one forecast per target: the shortest horizon's
        fc = {k: f[f.horizon == f.horizon.min()] for k, f in fc.items()}
    fig, ax = plt.subplots(figsize=(9, 4))
    when = "date" if "date" in first.columns else "target_index"
    fc = {k: f.assign(target_index=pd.to_datetime(f.date)) if when == "date" else f for k, f in fc.items()}
    first = next(iter(fc.values()))
    ax.plot(first.target_index, first.truth, color="black", lw=1.6, label="truth")
    extra = [
        c
        for c in first.columns
        if c not in ("target_index", "truth", "model", "regime", "state", "seed", "date", "horizon", "origin")
    ]
    for j, c in enumerate(extra):
        ax.plot(
            first.target_index, first[c], lw=1.0, ls=("--", ":", "-.")[j % 3], color="0.45", label=f"{c} (baseline)"
        )
    for i, (variant, f) in enumerate(fc.items()):
        ax.plot(f.target_index, f.model, lw=1.1, color=COLORS[i % 10], label=variant)
        regime = next((c for c in ("regime", "state") if c in f.columns), None)
        if regime:
            ax.scatter(f.target_index, f.truth, c=f[regime], cmap="Set2", s=10, zorder=3)
    ax.set_xlabel("date" if when == "date" else "time index (no dates in the forecasts file)")
    ax.set_ylabel("value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncols=2)
    name = _save(fig, out, f"forecasts_{_slug(task)}.png")
    return Figure(
        name,
        f"Test forecasts against truth ({task})",
        ("The 1-step-ahead forecasts (the horizon-1 rows). " if multi else "")
        + "One seed per model (the lowest); grey dashed and dotted lines are the baselines; coloured dots, if present, are HMM regimes.",
    )


def horizon_curves(errors: pd.DataFrame, task: str, out: Path) -> Figure | None:
    """RMSE and MASE against the horizon h for every model (mean over seeds) and yardstick (grey)."""
    if errors.empty or errors.horizon.nunique() < 2:
        return None
    metrics = [m for m in ("rmse", "mase") if errors[m].notna().any()]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.6 * len(metrics), 3.9), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        n_model = n_base = 0
        groups = list(errors.groupby("forecaster", sort=False))
        for label, e in sorted(groups, key=lambda g: g[1].kind.iloc[0] != "model"):  # models first
            e = e.sort_values("horizon")
            if e.kind.iloc[0] == "model":
                style = {"color": COLORS[n_model % 10], "marker": "o", "lw": 1.6}
                n_model += 1
            else:
                style = {"color": "0.45", "ls": ("--", ":", "-.")[n_base % 3], "marker": "s", "ms": 4, "lw": 1.1}
                label = f"{label} (yardstick)"
                n_base += 1
            ax.plot(e.horizon, e[m], label=label, **style)
        ax.set_xticks(sorted(errors.horizon.unique()))
        ax.set_xlabel("horizon h (steps ahead)")
        ax.set_ylabel({"rmse": "RMSE (series units)", "mase": "MASE"}[m])
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    name = _save(fig, out, f"horizon_errors_{_slug(task)}.png")
    return Figure(
        name,
        f"Error by horizon ({task})",
        "RMSE and MASE of the h-step-ahead test forecasts at each horizon h; models: mean over seeds, grey: the "
        "yardsticks. The numbers are in the tables RMSE by horizon and MASE by horizon.",
    )


def _x(f: pd.DataFrame, dates: bool):
    return pd.to_datetime(f.date) if dates else f.target_index


def _bands(ax, x, iv: pd.DataFrame, color) -> None:
    for level, alpha in (("95", 0.14), ("80", 0.28)):
        ax.fill_between(x, iv[f"lower{level}"], iv[f"upper{level}"], color=color, alpha=alpha, lw=0)


def fan_charts(panels: dict[str, tuple[pd.DataFrame, pd.DataFrame | None]], task: str, out: Path) -> Figure | None:
    """One row per forecaster: the test period with the 1-step-ahead forecasts and their 80% and 95% bands (left),
    the last origin's path 1..H with its bands after the truth just before it (right).

    panels: label -> (forecasts: origin, horizon, target_index, truth, forecast, optional date; intervals at the
    same (origin, horizon): lower80, upper80, lower95, upper95, or None). None when no forecaster has intervals.
    """
    panels = {k: (f, iv) for k, (f, iv) in panels.items() if len(f)}
    if not any(iv is not None and len(iv) for _, iv in panels.values()):
        return None
    fig, axes = plt.subplots(
        len(panels), 2, figsize=(11, 2.7 * len(panels) + 0.3), squeeze=False, gridspec_kw={"width_ratios": [2.3, 1]}
    )
    levels = ["lower80", "upper80", "lower95", "upper95"]
    for (left, right), (label, (f, iv)) in zip(axes, panels.items()):
        dates = "date" in f.columns and f.date.notna().all()
        if iv is not None:
            f = f.merge(iv[["origin", "horizon", *levels]], on=["origin", "horizon"], how="left")
        truth = f.drop_duplicates("target_index").sort_values("target_index")
        one = f[f.horizon == f.horizon.min()].sort_values("target_index")  # the 1-step-ahead forecasts
        counts = f.groupby("origin").horizon.nunique()
        last = counts[counts == counts.max()].index.max()  # the last origin with a full path
        path = f[f.origin == last].sort_values("horizon")
        H = int(path.horizon.max())
        before = truth[(truth.target_index > last - 3 * H) & (truth.target_index <= last + H)]
        left.plot(_x(truth, dates), truth.truth, color="black", lw=1.2, label="truth")
        right.plot(_x(before, dates), before.truth, color="black", lw=1.2, marker=".", ms=4)
        if iv is not None and one[levels].notna().all(axis=None):
            _bands(left, _x(one, dates), one, COLORS[0])
        left.plot(_x(one, dates), one.forecast, color=COLORS[0], lw=1.0, label="1-step forecast, 80%/95% bands")
        for ax in (left, right):
            if iv is not None and path[levels].notna().all(axis=None):
                _bands(ax, _x(path, dates), path, COLORS[1])
            ax.plot(_x(path, dates), path.forecast, color=COLORS[1], lw=1.4, marker="o", ms=3)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
        left.plot([], [], color=COLORS[1], marker="o", ms=3, label=f"path h=1..{H} from the last origin")
        at = truth[truth.target_index == last]
        where = f"position {int(last)}"
        if not dates or len(at):
            x0 = _x(at, dates).iloc[0] if dates else last
            right.axvline(x0, color="0.4", ls=":", lw=1)
            where = f"{x0:%Y-%m-%d}" if dates else where
        note = "" if iv is not None and len(iv) else " (no intervals logged)"
        left.set_title(f"{label}{note}", fontsize=9, loc="left")
        right.set_title(f"from the last origin ({where}, dotted)", fontsize=8)
    axes[0][0].legend(fontsize=7, loc="upper left", ncols=3)
    axes[-1][0].set_xlabel("date" if dates else "time index")
    name = _save(fig, out, f"fan_charts_{_slug(task)}.png")
    return Figure(
        name,
        f"Fan charts ({task})",
        "Left: the test period's truth (black) and each forecaster's 1-step-ahead forecasts (blue) with their 80% "
        "(darker) and 95% bands, from test_intervals.csv at horizon 1; right: the truth up to the last origin "
        "(dotted line) and after it, with the forecast path h=1..H from that origin (orange) and its bands. One "
        "seed per model (the lowest), the best variant of each model, and the best yardstick.",
    )


def gradient_by_steps_back(norms: dict[str, pd.DataFrame], task: str, out: Path) -> Figure | None:
    """The runs' ``gradient_norms.csv`` (steps_back, grad_norm): how much gradient reaches k steps back."""
    if not norms:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, (variant, d) in enumerate(norms.items()):
        curve = d.groupby("steps_back").grad_norm.mean()
        ax.semilogy(curve.index, np.maximum(curve.to_numpy(), 1e-30), color=COLORS[i % 10], label=variant)
    ax.set_xlabel("steps back from the last step (k)")
    ax.set_ylabel("||dL_T / dx_{T-k}||")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    name = _save(fig, out, f"gradient_by_steps_back_{_slug(task)}.png")
    return Figure(
        name,
        f"Vanishing gradients: gradient norm vs steps back ({task})",
        "Norm of the gradient of a loss at the last step with respect to the input k steps earlier, "
        "measured on the trained model; mean over seeds.",
    )


def position_curves(curves: dict[str, pd.DataFrame], task: str, out: Path) -> Figure | None:
    """The language models' ``position_curve.csv`` (position, bits): how much a model gains from context."""
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, (variant, d) in enumerate(curves.items()):
        value = [c for c in d.columns if c.startswith("bits_per_")][0]
        curve = d.groupby("position")[value].mean()  # mean over seeds
        ax.plot(curve.index + 1, curve.to_numpy(), color=COLORS[i % 10], label=variant, lw=1.2)
    ax.set_xscale("log")
    ax.set_xlabel("position inside the document (1 = its first symbol)")
    ax.set_ylabel(value.replace("_", " "))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    name = _save(fig, out, f"position_curves_{_slug(task)}.png")
    return Figure(
        name,
        f"Bits by position inside a document ({task})",
        "Mean test bits of the symbol at each position of a document (position_curve.csv), mean over seeds: "
        "the first symbols are guessed without context, later ones read what came before; a model that keeps "
        "gaining further along uses a longer context.",
    )


def critical_difference(test, task: str, out: Path) -> Figure | None:
    """Demšar's critical-difference diagram: mean ranks on an axis (1 = best, left), forecasters whose
    ranks lie within one Nemenyi CD joined by a thick bar, the CD drawn above the axis."""
    if test is None:
        return None
    k = len(test.names)
    order = np.argsort(test.ranks)
    ranks = test.ranks[order]
    names = [test.names[i] for i in order]
    half = (k + 1) // 2
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.3 * half))
    ax.set_xlim(0.5, k + 0.5)
    top = 0.0
    ax.set_ylim(-(half + 1.5), 1.6)
    ax.axhline(top, color="black", lw=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [top, top + 0.15], color="black", lw=1)
        ax.text(r, top + 0.25, str(r), ha="center", va="bottom", fontsize=9)
    ax.plot([1, 1 + test.cd], [1.2, 1.2], color="black", lw=2)
    ax.text(1 + test.cd / 2, 1.3, f"CD = {test.cd:.2f}", ha="center", va="bottom", fontsize=9)
    for i, (name, r) in enumerate(zip(names, ranks)):
        left = i < half
        y = -(i + 1) if left else -(k - i)
        x_text = 0.6 if left else k + 0.4
        ax.plot([r, r, x_text], [top, y, y], color="0.3", lw=0.8)
        ax.text(x_text, y, f"{name} ({r:.2f})", ha="left" if left else "right", va="bottom", fontsize=8)
    for g, (i, j) in enumerate(test.groups()):
        y = -0.3 - 0.2 * g
        ax.plot([ranks[i] - 0.03, ranks[j] + 0.03], [y, y], color="black", lw=3)
    ax.axis("off")
    ax.set_title(
        f"{task}: mean rank over {test.n} series (Friedman p = {test.p_value:.2g}; bars join ranks within the Nemenyi CD)",
        fontsize=9,
    )
    name = _save(fig, out, f"critical_difference_{_slug(task)}.png")
    return Figure(
        name,
        "Critical-difference diagram",
        f"Mean rank of each forecaster by RMSE over the {test.n} series (1 = best). Forecasters joined by a bar are "
        f"not told apart by the Nemenyi test at alpha = {test.alpha} (critical difference {test.cd:.2f}; Demšar 2006).",
    )
