"""Significance over test items: each row against the best row of its table, on the per-item artifacts.

Classification (POS tagging, long-range recall) reads ``test_predictions.tsv``; the columns it needs are
``gold``/``label`` and ``predicted``, plus ``sentence`` and ``position`` (POS: a unit is a sentence, a
decision a token) or ``sequence`` (long range: a unit is a sequence, one decision each). It reports a paired
bootstrap over units (95% interval of the accuracy difference, p) and an exact McNemar test on decisions.

Forecasting reads ``test_forecasts.csv``, one row per (origin, horizon): ``origin``, ``horizon``, ``target_index``,
``truth``, ``model``, one column per yardstick (baseline forecaster), optionally ``date`` (used by the plots). An
older file has one horizon and no ``horizon`` (the task's ``task.horizon``) and may lack ``origin`` (then
``target_index - horizon``). The Diebold–Mariano test (HLN correction) compares squared errors: per horizon h
(HAC lag h - 1) against the forecaster with the lowest mean squared error at h (``horizon_tests``), and on the
per-origin squared error averaged over the horizons 1..H (HAC lag H - 1: paths from origins less than H apart
overlap) against the best row of the comparison table (``forecast_tests``; the verdict's test). With one horizon
the two are the same test.

Pooling seeds (documented in the report too): when every seed of both rows saw the same test set (a fixed
treebank or series), a token's correctness is its mean over the row's seeds, for the bootstrap (so the observed
difference equals the difference of mean accuracies), and "correct in at least half of the seeds" for
McNemar; a forecaster's loss at an (origin, horizon) is its mean over seeds. When the test set changes with the seed
(synthetic data drawn per seed), an item is a (seed, unit) pair over the seeds both rows have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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


def baseline_predictions(preds: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Yardsticks' per-item predictions, as the comparison table labels their rows: a ``baseline_<name>`` column of
    a predictions file (sentiment: ``baseline_naive_bayes``) becomes the row ``<name>`` (underscores as spaces),
    read from the first variant that has it (a yardstick depends on the data, not on the model)."""
    out: dict[str, pd.DataFrame] = {}
    for p in preds.values():
        for column in (c for c in p.columns if c.startswith("baseline_")):
            label = column.removeprefix("baseline_").replace("_", " ")
            if label not in out:
                out[label] = p.drop(columns=[c for c in p.columns if c.startswith("baseline_") or c == "probability"])
                out[label]["predicted"] = p[column]
    return out


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


def forecast_frame(fc: pd.DataFrame, horizon: int = 1) -> pd.DataFrame | None:
    """A ``test_forecasts.csv`` (either form) with ``seed``, ``origin`` and ``horizon`` columns; None without the
    columns a forecast file has. ``horizon``: the task's horizon, the one horizon of a file without the column."""
    if "truth" not in fc.columns or "model" not in fc.columns:
        return None
    if "horizon" not in fc.columns:
        fc = fc.assign(horizon=horizon)
    if "origin" not in fc.columns:
        if "target_index" not in fc.columns:
            return None
        fc = fc.assign(origin=fc.target_index - fc.horizon)
    if "seed" not in fc.columns:
        fc = fc.assign(seed=0)
    return fc


def forecaster_columns(fc: pd.DataFrame) -> list[str]:
    """``model`` and the yardstick columns (numeric, not bookkeeping) of a forecast file."""
    return ["model"] + [c for c in fc.columns if c not in NOT_FORECASTERS and pd.api.types.is_numeric_dtype(fc[c])]


def yardstick_label(column: str) -> str:
    """A yardstick's row label, as the comparison table names ``baseline_<name>_test_<metric>``."""
    return column.replace("_", " ")


def _losses(fc: pd.DataFrame, horizon: int) -> dict[str, pd.DataFrame] | None:
    """forecaster column -> (origins, horizons) squared error, mean over seeds; None when the seeds' test
    series differ (their truths disagree at some target)."""
    f = forecast_frame(fc, horizon)
    if f is None:
        return None
    key = [f.origin, f.horizon]
    truth = f.groupby(key).truth.agg(["min", "max"])
    if not np.allclose(truth["min"], truth["max"]):
        return None
    cols = forecaster_columns(f)
    se = f[cols].sub(f.truth, axis=0) ** 2  # (rows, forecasters)
    mse = se.groupby(key).mean()  # (origins x horizons, forecasters), NaN forecasts skipped
    return {c: mse[c].unstack("horizon").sort_index() for c in cols if mse[c].notna().any()}


def _all_losses(fc: dict[str, pd.DataFrame], horizon: int) -> dict[str, pd.DataFrame]:
    """row label -> (origins, horizons) squared errors: each variant's ``model`` and the yardsticks (from the first
    file that has them; a yardstick's label is its column name with '_' as ' ')."""
    losses: dict[str, pd.DataFrame] = {}
    for label, f in fc.items():
        got = _losses(f, horizon)
        if got is None or "model" not in got:
            continue
        losses[label] = got.pop("model")
        for col, loss in got.items():
            losses.setdefault(yardstick_label(col), loss)
    return losses


def _span(horizons) -> str:
    lo, hi = min(horizons), max(horizons)
    return f"h={lo}" if lo == hi else f"h={lo}..{hi}"


def forecast_tests(fc: dict[str, pd.DataFrame], table: Table, horizon: int = 1) -> dict:
    """label -> ItemTest (Diebold–Mariano on squared errors) of each row against the table's best row, models and
    the yardsticks the files carry. The loss of an origin is its squared error averaged over the horizons both rows
    forecast from every origin compared (the table's metrics average over horizons too), HAC lag H - 1; with one
    horizon, the test at that horizon. ``horizon``: the task's horizon (the horizon of a file without the column).
    """
    losses = _all_losses(fc, horizon)
    best = losses.get(table.best_label)
    if best is None:
        return {}
    out = {}
    for label, loss in losses.items():
        if label == table.best_label:
            continue
        hs = sorted(set(loss.columns) & set(best.columns))
        a, b = loss[hs].dropna().align(best[hs].dropna(), join="inner", axis=0)  # (n, H): origins with every h
        if a.empty:
            continue
        H = int(max(hs))
        dbar, _, p, half = diebold_mariano(a.mean(axis=1).to_numpy(), b.mean(axis=1).to_numpy(), H)  # (n,) each
        if not math.isfinite(dbar):
            continue
        if len(hs) == 1:  # the test at the one horizon, as for a single-horizon task
            test = f"Diebold–Mariano (HLN) on squared errors over {len(a)} origins, h={H}"
        else:
            what = f"squared errors averaged over {_span(hs)} per origin"
            test = f"Diebold–Mariano (HLN) on {what} ({len(a)} origins, HAC lag {H - 1})"
        out[label] = ItemTest(dbar, dbar - half, dbar + half, p, test)
    return out


@dataclass
class HorizonTests:
    """Diebold–Mariano per horizon: at each h, every forecaster against the one with the lowest mean squared
    error there, on the origins both forecast."""

    best: dict[int, str] = field(default_factory=dict)  # h -> label of the lowest MSE at h
    tests: dict[int, dict[str, ItemTest]] = field(default_factory=dict)  # h -> label -> test against best[h]
    mse: dict[int, dict[str, float]] = field(default_factory=dict)  # h -> label -> mean squared error


def horizon_tests(fc: dict[str, pd.DataFrame], horizon: int = 1) -> HorizonTests:
    """At each horizon h of the files: the forecaster with the lowest mean squared error (models and yardsticks,
    seeds pooled) and the Diebold–Mariano (HLN, HAC lag h - 1) test of every other one against it."""
    losses = _all_losses(fc, horizon)
    out = HorizonTests()
    for h in sorted({int(h) for loss in losses.values() for h in loss.columns}):  # a loop over horizons
        at_h = {label: loss[h].dropna() for label, loss in losses.items() if h in loss.columns}
        at_h = {label: s for label, s in at_h.items() if len(s)}
        if not at_h:
            continue
        out.mse[h] = {label: float(s.mean()) for label, s in at_h.items()}
        best = min(out.mse[h], key=out.mse[h].get)
        out.best[h], out.tests[h] = best, {}
        for label, s in at_h.items():
            if label == best:
                continue
            a, b = s.align(at_h[best], join="inner")  # (n,) the same origins
            dbar, _, p, half = diebold_mariano(a.to_numpy(), b.to_numpy(), h)
            if math.isfinite(dbar):
                test = f"Diebold–Mariano (HLN) on squared errors over {len(a)} origins, h={h}"
                out.tests[h][label] = ItemTest(dbar, dbar - half, dbar + half, p, test)
    return out
