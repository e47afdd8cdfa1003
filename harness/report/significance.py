"""Significance over test items: each row against the best row of its table, on the per-item artifacts.

Classification (POS tagging, long-range recall) reads ``test_predictions.tsv``; the columns it needs are
``gold``/``label`` and ``predicted``, plus ``sentence`` and ``position`` (POS: a unit is a sentence, a
decision a token) or ``sequence`` (long range: a unit is a sequence, one decision each). It reports a paired
bootstrap over units (95% interval of the accuracy difference, p) and an exact McNemar test on decisions.

Forecasting reads ``test_forecasts.csv``: ``target_index`` (or ``origin``), ``truth``, ``model``, one column per
baseline forecaster, optionally ``date`` (used by the plot) and ``horizon`` (then only the rows at the task's
horizon are tested). The Diebold–Mariano test (HLN correction, HAC lag h - 1) compares squared errors.

Pooling seeds (documented in the report too): when every seed of both rows saw the same test set (a fixed
treebank or series), a token's correctness is its mean over the row's seeds, for the bootstrap (so the observed
difference equals the difference of mean accuracies), and "correct in at least half of the seeds" for
McNemar; a forecaster's per-origin loss is its mean over seeds. When the test set changes with the seed
(synthetic data drawn per seed), an item is a (seed, unit) pair over the seeds both rows have.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.report.stats import ItemTest, Table, diebold_mariano, mcnemar_exact, paired_bootstrap

NOT_FORECASTERS = {"target_index", "origin", "truth", "model", "regime", "state", "seed", "date", "horizon"}


def _normalise_predictions(p: pd.DataFrame) -> tuple[pd.DataFrame, list[str]] | None:
    """(frame with seed, keys..., gold, correct) and the item keys, or None when the columns are not there."""
    p = p.rename(columns={"label": "gold"})
    if "seed" not in p.columns:
        p = p.assign(seed=0)
    if {"sentence", "position"} <= set(p.columns):
        keys = ["sentence", "position"]
    elif "sequence" in p.columns:
        keys = ["sequence"]
    else:
        return None
    if not {"gold", "predicted"} <= set(p.columns):
        return None
    out = p[["seed", *keys, "gold"]].copy()
    out["gold"] = out.gold.astype(str)
    out["correct"] = (p.gold.astype(str) == p.predicted.astype(str)).astype(float)
    return out, keys


def _fixed_test_set(p: pd.DataFrame, keys: list[str]) -> pd.Series | None:
    """The gold labels by item if every seed of ``p`` saw the same test set, else None."""
    gold = None
    for _, s in p.groupby("seed"):
        g = s.set_index(keys).gold.sort_index()
        if gold is None:
            gold = g
        elif not (len(g) == len(gold) and g.index.equals(gold.index) and (g.values == gold.values).all()):
            return None
    return gold


def align_items(pa: pd.DataFrame, pb: pd.DataFrame):
    """Paired per-decision correctness of two rows: (ca, cb, units, pooled, unit name, n units) or None."""
    na, nb = _normalise_predictions(pa), _normalise_predictions(pb)
    if na is None or nb is None or na[1] != nb[1]:
        return None
    (a, keys), (b, _) = na, nb
    ga, gb = _fixed_test_set(a, keys), _fixed_test_set(b, keys)
    unit = "sentence" if keys[0] == "sentence" else "sequence"
    if ga is not None and gb is not None and ga.index.equals(gb.index) and (ga.values == gb.values).all():
        ca = a.groupby(keys).correct.mean().sort_index()  # (N,) mean correctness over seeds
        cb = b.groupby(keys).correct.mean().reindex(ca.index)
        units = ca.index.get_level_values(0).to_numpy()
        return ca.to_numpy(), cb.to_numpy(), units, True, unit, len(np.unique(units))
    m = a.merge(b, on=["seed", *keys], suffixes=("_a", "_b"))
    m = m[m.gold_a == m.gold_b]
    if m.empty:
        return None
    units = pd.factorize(pd.MultiIndex.from_frame(m[["seed", keys[0]]]))[0]
    return m.correct_a.to_numpy(), m.correct_b.to_numpy(), units, False, unit, int(units.max()) + 1


def classification_tests(preds: dict[str, pd.DataFrame], table: Table, n_resamples: int = 10_000) -> dict:
    """label -> ItemTest of each model row with predictions against the best row (when it has predictions)."""
    best = preds.get(table.best_label)
    if best is None:
        return {}
    out = {}
    for label, p in preds.items():
        if label == table.best_label:
            continue
        aligned = align_items(p, best)
        if aligned is None:
            continue
        ca, cb, units, pooled, unit, n_units = aligned
        diff, low, high, p_boot = paired_bootstrap(ca, cb, units, n_resamples)
        p_mc, n10, n01 = mcnemar_exact(ca >= 0.5, cb >= 0.5)
        where = f"{n_units} test {unit}s" + (", seeds pooled" if pooled else ", (seed, item) pairs")
        out[label] = ItemTest(diff, low, high, p_boot, f"paired bootstrap over {where}", p_mc, (n10, n01))
    return out


def _losses(fc: pd.DataFrame, horizon: int) -> dict[str, pd.Series] | None:
    """forecaster -> mean squared error over seeds per origin; None when the seeds' test series differ."""
    origin = "origin" if "origin" in fc.columns else "target_index"
    if origin not in fc.columns or not {"truth", "model"} <= set(fc.columns):
        return None
    if "horizon" in fc.columns:
        fc = fc[fc.horizon == horizon]
    if "seed" not in fc.columns:
        fc = fc.assign(seed=0)
    truth = fc.groupby(origin).truth.agg(["min", "max"])
    if not np.allclose(truth["min"], truth["max"]):
        return None
    out = {}
    for col in [c for c in fc.columns if c not in NOT_FORECASTERS or c == "model"]:
        if pd.api.types.is_numeric_dtype(fc[col]):
            out[col] = ((fc[col] - fc.truth) ** 2).groupby(fc[origin]).mean().sort_index()  # (n,)
    return out


def forecast_tests(fc: dict[str, pd.DataFrame], table: Table, horizon: int = 1) -> dict:
    """label -> ItemTest (Diebold–Mariano on squared errors) of each row against the best row, models and the
    baselines the files carry (a baseline row's label is its column name with '_' as ' ')."""
    losses: dict[str, pd.Series] = {}
    for label, f in fc.items():
        got = _losses(f, horizon)
        if got is None:
            continue
        losses[label] = got.pop("model")
        for col, loss in got.items():
            losses.setdefault(col.replace("_", " "), loss)
    best = losses.get(table.best_label)
    if best is None:
        return {}
    out = {}
    for label, loss in losses.items():
        if label == table.best_label:
            continue
        a, b = loss.align(best, join="inner")
        dbar, _, p, half = diebold_mariano(a.to_numpy(), b.to_numpy(), horizon)
        if not math.isfinite(dbar):
            continue
        out[label] = ItemTest(
            dbar,
            dbar - half,
            dbar + half,
            p,
            f"Diebold–Mariano (HLN) on squared errors over {len(a)} origins, h={horizon}",
        )
    return out
