"""Test accuracy against training-set size, one line per model family, from the runs of an MLflow experiment.

The report (python -m harness.report) plots a swept train size per variant; a variant is every swept
setting, so runs whose budgets differ by size (e.g. more epochs on small sets) would be separate lines.
This script groups POS runs by family instead (the model, the HMM's order, the recurrent model's
direction), counts the training words of each (size, seed) subset by loading it the way the run did,
and prints the table with 95 % t intervals over seeds and the crossover: the smallest size from which
the best recurrent family's mean stays above the best HMM's.

    python scripts/learning_curve.py --experiment pd_learning_curve --tracking-uri sqlite:///lc.db \
        --dataset peoples_daily --out reports/example_pd_curve/learning_curve.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats


def family(row) -> str:
    name = row["params.model.name"]
    if name == "hmm":
        return f"HMM, order {row.get('params.model.order', '1')}"
    bi = str(row.get("params.model.bidirectional", "False")) == "True"
    return ("Bi" if bi else "") + name.upper()


def words_of(dataset: str, size: int, seed: int) -> int:
    """Training words of the subset a run with ``task.train_size=size`` and ``seed`` read."""
    from harness.config import PosTaskConfig
    from harness.tasks.pos import load_pos

    data = load_pos(PosTaskConfig(dataset=dataset, train_size=size), seed)
    return sum(len(s) for s in data.train.words)


def predictions(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs' test_predictions.tsv, one frame with a seed column (as the report reads them)."""
    import mlflow

    frames = []
    for _, r in runs.iterrows():
        path = mlflow.artifacts.download_artifacts(run_id=r.run_id, artifact_path="test_predictions.tsv")
        p = pd.read_csv(path, sep="\t", keep_default_na=False, quoting=3, dtype=str).assign(seed=r.seed)
        frames.append(p.astype({"sentence": int, "position": int}))
    return pd.concat(frames, ignore_index=True)


def paired(pa: pd.DataFrame, pb: pd.DataFrame) -> str:
    """The report's test over items: accuracy difference a - b, its paired-bootstrap 95 % interval and p over
    sentences, and McNemar's exact p on the tokens (harness.report)."""
    from harness.report.significance import align_items
    from harness.report.stats import mcnemar_exact, paired_bootstrap

    ca, cb, units, *_ = align_items(pa, pb)
    diff, low, high, p = paired_bootstrap(ca, cb, units, 10_000)
    p_mc, _, _ = mcnemar_exact(ca >= 0.5, cb >= 0.5)
    return f"{diff:+.4f}, 95% CI [{low:+.4f}, {high:+.4f}], bootstrap p {p:.3g}, McNemar p {p_mc:.3g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--experiment", required=True)
    ap.add_argument("--tracking-uri", required=True)
    ap.add_argument("--dataset", required=True, help="the runs' task.dataset (to count training words)")
    ap.add_argument("--out", required=True, help="the PNG to write")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import os

    import matplotlib.pyplot as plt
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(args.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[args.experiment], filter_string="attributes.status = 'FINISHED'")
    runs = runs[runs["params.task.train_size"].notna()].copy()
    runs["family"] = runs.apply(family, axis=1)
    runs["size"] = runs["params.task.train_size"].astype(float).astype(int)
    runs["seed"] = runs["params.seed"].astype(int)
    words = {k: words_of(args.dataset, *k) for k in set(zip(runs["size"], runs["seed"]))}
    runs["words"] = [words[k] for k in zip(runs["size"], runs["seed"])]
    rows = []
    for (fam, size), g in runs.groupby(["family", "size"]):
        acc = g["metrics.test_accuracy"].to_numpy()
        half = stats.t.ppf(0.975, len(acc) - 1) * acc.std(ddof=1) / np.sqrt(len(acc)) if len(acc) > 1 else np.nan
        rows.append(
            {
                "family": fam,
                "lines": size,
                "words": int(g["words"].mean()),
                "seeds": len(acc),
                "accuracy": acc.mean(),
                "ci95": half,
                "unseen_words": g["metrics.test_oov_accuracy"].mean(),
                "train_s": g["metrics.train_seconds"].mean(),
            }
        )
    table = pd.DataFrame(rows).sort_values(["family", "lines"])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    wide = table.pivot(index="lines", columns="family", values="accuracy")
    hmm = wide[[c for c in wide.columns if c.startswith("HMM")]].max(axis=1)
    rnn = wide[[c for c in wide.columns if not c.startswith("HMM")]].max(axis=1)
    print("\nbest recurrent family against the best HMM, paired over the test sentences (seeds pooled):")
    for size in wide.index:
        row = wide.loc[size].dropna()
        h = [c for c in row.index if c.startswith("HMM")]
        r = [c for c in row.index if not c.startswith("HMM")]
        if h and r:
            a, b = row[r].idxmax(), row[h].idxmax()
            pa, pb = (predictions(runs[(runs.family == f) & (runs["size"] == size)]) for f in (a, b))
            print(f"  {size:>6,} lines: {a} - {b} {paired(pa, pb)}")
    both = hmm.notna() & rnn.notna()  # sizes where both sides ran
    ahead, sizes = (rnn[both] > hmm[both]).to_numpy(), wide.index[both.to_numpy()]
    from_here = [i for i in range(len(ahead)) if ahead[i:].all()]
    if from_here:
        print(f"crossover: the best recurrent family leads the best HMM from {sizes[from_here[0]]:,} lines on")
    else:
        print("crossover: none among these sizes")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for fam, g in table.groupby("family"):
        style = "--" if fam.startswith("HMM") else "-"
        for ax, col in zip(axes, ("accuracy", "unseen_words")):
            ax.errorbar(g.words, g[col], yerr=g.ci95 if col == "accuracy" else None, fmt="o" + style, label=fam, ms=4)
    for ax, title in zip(axes, ("test accuracy", "accuracy on words unseen in training")):
        ax.set_xscale("log")
        ax.set_xlabel("training words")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{args.dataset}: learning curves (mean over seeds, bars 95% t intervals)", fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
