"""Numeric tables of a POS report, from the runs' ``test_predictions.tsv`` (all seeds pooled): precision, recall
and F1 per tag (scikit-learn), and the most frequent confusions (gold -> predicted) of each row.

Each table is a dict: title, header (list of str), rows (list of lists of str), note.
"""

from __future__ import annotations

import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

TOP_CONFUSIONS = 8


def per_tag(preds: dict[str, pd.DataFrame]) -> dict | None:
    """Rows: tags by frequency; columns: support (tokens per seed) then precision / recall / F1 of each row."""
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
        "title": "Per-tag precision / recall / F1",
        "header": ["tag", "tokens"] + list(preds),
        "rows": rows,
        "note": "Each cell is precision / recall / F1 of the tag (scikit-learn), all seeds pooled; "
        "tokens: gold tokens of the tag per seed.",
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
