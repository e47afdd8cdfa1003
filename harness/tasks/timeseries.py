"""Task ``timeseries``: forecast horizons 1..H of a univariate series from rolling origins, scored in
original units against automatic yardsticks, with predictive distributions.

Notation: x_t (T,) the series in original units; o a forecast origin (the last value known);
H = ``task.horizon``; forecasts of x_{o+1} .. x_{o+H} may read x_0 .. x_o and nothing later.

Splits, by position: train [0, n_train), dev [n_train, n_train + n_dev), test [n_train + n_dev, T),
n_dev and n_test from the fractions. A split's origins are every position whose first target lies in
the split (test: o = n_train + n_dev - 1 .. T - 2); a target past the split's end is NaN (not scored),
so horizon h is scored over the origins that have it. Training windows keep all H targets inside the
training part. Models are fitted once on the training part (dev for early stopping); forecasts from
later origins read the longer history, never refit. With H = 1 the test origins are the historical
one-step windows.

Transform (``task.transform``; ``auto`` decides on the training part only, harness.forecasting.transform):
    g_t = log x_t (log, log_diff) or x_t (none, diff)
    u_t = (g_t - c) / d,  c = mean of g and d = sd of the first differences of g over the training part
    z_t = (Δg_t - mu) / sd (diff, log_diff) or (g_t - mu) / sd,  mu, sd over the training part
The recurrent forecaster reads windows of u of length W (``task.window``; default
``default_window``: two seasons, at least 12) and predicts u_{o+1..o+H}; with its
default per-window normalisation (last value subtracted) it forecasts the change from the origin, so
it needs no differencing. The regime HMM models z (stationary when the transform differences) and
forecasts its mixture, summed over the horizon when differenced. Both hand back a predictive
distribution over g (harness.forecasting.scoring.Predictive); x = exp(g) for the log transforms.

Yardsticks (``task.yardsticks``; harness.forecasting.yardsticks): naive, seasonal naive, AutoARIMA,
AutoETS and AutoTheta from statsforecast (on log x when the transform takes logs), fitted on the
history up to each test origin, refitted every ``task.refit_every`` origins (between refits the fitted model reads the longer
history), with their own 80 % / 95 % intervals. Every run logs all of them.

Metrics (harness.forecasting.scoring), per horizon and averaged over horizons 1..H: rmse, mae, mase
(mae / the training part's in-sample naive MAE at lag m, the season, or 1), smape, crps (of the
predictive distribution; the yardsticks' is Gaussian with their 95 % interval's width), coverage80/95
and width80/95. The main metric is test_rmse (the mean of the per-horizon RMSEs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from harness.data.series import PANELS, Series, load_series
from harness.errors import ConfigError, DataError, check_fraction, check_positive
from harness.forecasting.scoring import Predictive, interval_scores, point_scores
from harness.tasks.base import DatasetInfo, content_digest

TRANSFORMS = ("auto", "none", "log", "diff", "log_diff")
SPLITS = ("train", "dev", "test")
LEVELS = (80, 95)
Z95 = 1.959963984540054  # the 97.5 % point of the standard normal
PER_HORIZON = ("rmse", "crps")  # logged per horizon as <split>_<metric>_h<h> when H > 1
MIN_TRAIN_POINTS = 12  # the auto transform's unit-root tests need this many training values


@dataclass
class Windows:
    """The samples of one split: u over the W values up to each origin, and u at the H targets."""

    X: np.ndarray  # (N, W, 1) float32
    Y: np.ndarray  # (N, H) float32, NaN where the target lies past the split's end
    origin: np.ndarray  # (N,) int, the position of each window's last value

    def __len__(self) -> int:
        return len(self.origin)


@dataclass(frozen=True)
class Scaling:
    """The training part's transform and scales: new values in original units -> what a model reads, and
    its forecast over g -> original units (see the module docstring)."""

    transform: str  # none | log | diff | log_diff (auto resolved)
    c: float
    d: float
    mu: float
    sd: float
    window: int  # W
    horizon: int  # H

    @property
    def log(self) -> bool:
        return self.transform in ("log", "log_diff")

    @property
    def differenced(self) -> bool:
        return self.transform in ("diff", "log_diff")

    def g_of(self, x: np.ndarray) -> np.ndarray:
        """x (T,) original units -> g (T,); a DataError for a non-positive value under a log transform."""
        x = np.asarray(x, dtype=np.float64)
        if not self.log:
            return x
        if (x <= 0).any():
            i = int(np.flatnonzero(x <= 0)[0])
            raise DataError(
                f"task.transform={self.transform} needs positive values, but the series has {x[i]:g} at position {i}",
                "use task.transform=none or diff (or give the values in the units the model was trained on)",
            )
        return np.log(x)

    def u_of(self, g: np.ndarray) -> np.ndarray:
        return (g - self.c) / self.d

    def z_of(self, g: np.ndarray) -> np.ndarray:
        """g (T,) -> z (T,), NaN at position 0 when differenced."""
        z = np.concatenate([[np.nan], np.diff(g)]) if self.differenced else g
        return (z - self.mu) / self.sd

    def from_u(self, mean: np.ndarray, sd: np.ndarray | None) -> Predictive | np.ndarray:
        """A recurrent forecast in u (N, H) (and its sd) -> a Predictive over g, or the point forecast of g."""
        g = self.c + self.d * np.asarray(mean, dtype=np.float64)
        return g if sd is None else Predictive.gaussian(g, self.d * np.asarray(sd, dtype=np.float64))

    def from_z(self, weights, means, sds, g_origin: np.ndarray) -> Predictive:
        """The regime model's mixture of z (N, H, K) (the h-step sum when differenced) -> a Predictive over g;
        g_origin (N,) is g at each origin."""
        h = np.arange(1, means.shape[1] + 1)[None, :, None]  # (1, H, 1)
        if self.differenced:  # g_{o+h} = g_o + sd * S_h + h mu
            m = g_origin[:, None, None] + self.sd * means + h * self.mu
        else:
            m = self.mu + self.sd * means
        return Predictive(weights, m, self.sd * sds)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "scaling.transform": np.array(self.transform),
            "scaling.c_d_mu_sd": np.array([self.c, self.d, self.mu, self.sd]),
            "scaling.window_horizon": np.array([self.window, self.horizon]),
        }

    @classmethod
    def from_arrays(cls, a) -> Scaling:
        (c, d, mu, sd), (W, H) = a["scaling.c_d_mu_sd"].tolist(), a["scaling.window_horizon"].tolist()
        return cls(str(a["scaling.transform"]), c, d, mu, sd, int(W), int(H))


def naive_mae(x: np.ndarray, lag: int) -> float:
    """In-sample MAE of the lag-``lag`` naive forecast: mean |x_t - x_{t-lag}|."""
    return float(np.mean(np.abs(x[lag:] - x[:-lag])))


def summarise(scores: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-horizon scores (H,) -> their mean over horizons, plus ``<metric>_h<h>`` for PER_HORIZON when H > 1."""
    out = {k: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan for k, v in scores.items()}
    for k in PER_HORIZON:
        v = scores.get(k)
        if v is not None and len(v) > 1:
            out |= {f"{k}_h{h}": float(v[h - 1]) for h in range(1, len(v) + 1)}
    return out


@dataclass
class TimeSeriesData:
    """Rolling-origin windows for train/dev/test and everything needed to score in original units."""

    name: str
    scaling: Scaling
    train: Windows
    dev: Windows
    test: Windows
    series: np.ndarray  # (T,) x, original units
    g: np.ndarray  # (T,) the transformed series
    z: np.ndarray  # (T,) the regime model's series (NaN at 0 when differenced)
    time: np.ndarray | None  # (T,) for plots and the forecasts file
    true_states: np.ndarray | None  # (T,) synthetic_regime only
    season: int | None
    frequency: str | None
    transform_reason: str  # why this transform: "set" or auto's statistics
    mase_scale: float
    n_train: int
    n_dev: int
    yardstick_names: tuple[str, ...]
    refit_every: int
    source: str = ""  # task.dataset
    origin_of_data: str = ""  # the CSV's path, or "harness:<dataset>"
    yardsticks_on_logs: bool | None = None  # None: as the transform (logs when it takes logs)
    _yardsticks: dict | None = field(default=None, repr=False)

    @property
    def yardstick_log(self) -> bool:
        """Whether the automatic yardsticks model log x: as the transform does, except on a competition's
        series (a given test part), whose published figures model x itself."""
        return self.scaling.log if self.yardsticks_on_logs is None else self.yardsticks_on_logs

    # the task contract (harness.tasks.base.TaskData); a prediction is a Predictive over g (or g's point forecast)
    main_metric = "test_rmse"
    higher_is_better = False
    dev_metric = "dev_rmse"
    dev_prefix = "dev_"
    predictions_file = "test_forecasts.csv"  # with test_intervals.csv beside it
    items = "windows"

    @property
    def window(self) -> int:
        return self.scaling.window

    @property
    def horizon(self) -> int:
        return self.scaling.horizon

    @property
    def transform(self) -> str:
        return self.scaling.transform

    @property
    def differenced(self) -> bool:
        return self.scaling.differenced

    @property
    def z_train(self) -> np.ndarray:
        """The regime model's training series: z over the training part (T_z,)."""
        return self.z[int(self.differenced) : self.n_train]

    def split(self, split: str) -> Windows:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return getattr(self, split)

    def n_items(self, split: str) -> int:
        return len(self.split(split))

    def split_end(self, split: str) -> int:
        return {"train": self.n_train, "dev": self.n_train + self.n_dev, "test": len(self.series)}[split]

    def truth(self, split: str) -> np.ndarray:
        """x at each origin's targets (N, H), NaN past the split's end."""
        t = self.split(split).origin[:, None] + np.arange(1, self.horizon + 1)[None, :]  # (N, H)
        end = self.split_end(split)
        return np.where(t < end, self.series[np.minimum(t, len(self.series) - 1)], np.nan)

    def predictive(self, prediction) -> tuple[np.ndarray, Predictive | None]:
        """A model's prediction over g -> (point forecast (N, H) in original units, the Predictive or None)."""
        if isinstance(prediction, Predictive):
            p = replace(prediction, log=self.scaling.log)
            return p.point(), p
        g = np.asarray(prediction, dtype=np.float64)
        return (np.exp(g) if self.scaling.log else g), None

    def score(self, split: str, prediction) -> dict[str, float]:
        """Scores of a prediction for ``split`` in original units, averaged over horizons (and per horizon)."""
        y = self.truth(split)  # (N, H)
        point, p = self.predictive(prediction)
        if point.shape != y.shape:
            raise ValueError(f"expected forecasts of shape {y.shape} for split {split!r}, got {point.shape}")
        return summarise(self._scores(y, point, p, {lv: p.interval(lv) for lv in LEVELS} if p else None))

    def _scores(self, y, point, p: Predictive | None, intervals) -> dict[str, np.ndarray]:
        from harness.forecasting.scoring import crps, nanmean_columns

        scores = point_scores(y, point, self.mase_scale)
        H = y.shape[1]
        scores["crps"] = (
            nanmean_columns(crps(p, y)) if p is not None else np.full(H, np.nan)
        )  # a horizon no origin has: NaN
        for lv in LEVELS:
            if intervals is None:
                scores[f"coverage{lv}"] = scores[f"width{lv}"] = np.full(H, np.nan)
                continue
            scores |= interval_scores(*intervals[lv], y, lv)
        return scores

    def yardsticks(self) -> dict:
        """name -> YardstickForecasts from the test origins (computed once)."""
        if self._yardsticks is None:
            from harness.forecasting.yardsticks import rolling_forecasts

            self._yardsticks = rolling_forecasts(
                self.series,
                self.test.origin,
                self.horizon,
                self.season,
                self.yardstick_names,
                self.refit_every,
                log=self.yardstick_log,
            )
        return self._yardsticks

    def baselines(self) -> dict[str, float]:
        """``baseline_<name>_test_<metric>`` for every yardstick, scored as the model is."""
        y = self.truth("test")
        out = {}
        for name, f in self.yardsticks().items():
            sd = np.maximum((f.upper[95] - f.lower[95]) / (2 * Z95), 1e-12 * (1 + np.abs(f.mean)))  # (N, H)
            p = Predictive.gaussian(f.mean, sd)
            scores = summarise(self._scores(y, f.mean, p, {lv: (f.lower[lv], f.upper[lv]) for lv in LEVELS}))
            out |= {f"baseline_{name}_test_{k}": v for k, v in scores.items()}
            out[f"baseline_{name}_seconds"] = f.fit_seconds
        return out

    def reference_metrics(self, test_scores: dict[str, float]) -> dict[str, float]:
        return {}

    def run_tags(self) -> dict[str, str]:
        """What the task decided from the data, for the run's tags."""
        tags = {"transform": self.transform, "transform_reason": self.transform_reason}
        tags |= {"season": str(self.season or "none"), "frequency": self.frequency or "unknown"}
        tags |= {f"yardstick_{n}": f.spec for n, f in self.yardsticks().items() if f.spec}
        return tags

    def write_predictions(self, path, prediction) -> None:
        """test_forecasts.csv (one row per origin and horizon: truth, the model's and every yardstick's point
        forecast) and test_intervals.csv beside it (80 % and 95 % intervals of every forecaster that has them)."""
        from harness.diagnostics import write_csv

        path = Path(path)
        o = self.test.origin  # (N,)
        N, H = len(o), self.horizon
        origin = np.repeat(o, H)  # (N H,) row-major: origin, then horizon
        horizon = np.tile(np.arange(1, H + 1), N)
        target = origin + horizon
        keep = target < len(self.series)
        point, p = self.predictive(prediction)
        cols = {"origin": origin, "horizon": horizon, "target_index": target}
        if self.time is not None:
            cols["date"] = np.array([str(t) for t in self.time[np.minimum(target, len(self.series) - 1)]])
        cols |= {"truth": self.truth("test").reshape(-1), "model": point.reshape(-1)}
        ys = self.yardsticks()
        cols |= {name: f.mean.reshape(-1) for name, f in ys.items()}
        write_csv(path, {k: v[keep] for k, v in cols.items()})
        bands = ({"model": {lv: p.interval(lv) for lv in LEVELS}} if p is not None else {}) | {
            name: {lv: (f.lower[lv], f.upper[lv]) for lv in LEVELS} for name, f in ys.items()
        }
        rows: dict[str, list] = {k: [] for k in ("forecaster", "origin", "horizon", "lower80", "upper80")}
        rows |= {"lower95": [], "upper95": []}
        for name, by_level in bands.items():
            rows["forecaster"].append(np.full(int(keep.sum()), name))
            rows["origin"].append(origin[keep])
            rows["horizon"].append(horizon[keep])
            for lv in LEVELS:
                rows[f"lower{lv}"].append(by_level[lv][0].reshape(-1)[keep])
                rows[f"upper{lv}"].append(by_level[lv][1].reshape(-1)[keep])
        write_csv(path.with_name("test_intervals.csv"), {k: np.concatenate(v) for k, v in rows.items()})

    def summary(self, metrics: dict[str, float]) -> list[str]:
        ranked = sorted(
            (v, k.removeprefix("baseline_").removesuffix("_test_rmse"))
            for k, v in metrics.items()
            if k.startswith("baseline_") and k.endswith("_test_rmse") and math.isfinite(v)
        )
        fields = [f"test_rmse={metrics['test_rmse']:.4g}" + (f" (h=1..{self.horizon})" if self.horizon > 1 else "")]
        fields.append(f"naive={metrics.get('baseline_naive_test_rmse', float('nan')):.4g}")
        if ranked:
            fields.append(f"best yardstick {ranked[0][1]}={ranked[0][0]:.4g}")
        if math.isfinite(metrics.get("test_crps", math.nan)):
            fields.append(f"crps={metrics['test_crps']:.4g}")
        return fields

    def dataset_info(self) -> DatasetInfo:
        """The series' name and origin, a digest of its values, split sizes in windows."""
        splits = {s: len(self.split(s)) for s in SPLITS}
        return DatasetInfo(self.source or self.name, self.origin_of_data, content_digest([self.series]), splits)


def default_window(season: int | None, n_train: int, minimum: int = 12) -> int:
    """``task.window=null``: a window that reaches two seasonal lags (2 m) and at least ``minimum`` steps,
    capped at a third of the training part so that enough windows remain."""
    W = max(minimum, 2 * season if season else 0)
    return int(max(2, min(W, n_train // 3)))


def _n_split(fraction: float, T: int) -> int:
    return int(math.floor(fraction * T + 0.5))


FLOAT32_MAX = float(np.finfo(np.float32).max)  # the models compute in float32


SCORE_MAX = 1e150  # errors in original units are squared in float64 (max 1.8e308)


def _check_float32(values: np.ndarray, name: str, after: str, log: bool = False) -> None:
    """A DataError when a value lies beyond what float32 holds (about 3.4e38): such a series would come back
    from the models and the scores as inf or NaN, and look like a diverging optimiser. Under a log transform
    the models see logs, so the original values need only stay squarable in float64 (SCORE_MAX)."""
    limit = SCORE_MAX if log else FLOAT32_MAX
    big = np.abs(values) > limit  # (T,)
    if big.any():
        i = int(np.flatnonzero(big)[0])
        where = "the float64 scores can square" if log else "the models' float32 holds"
        raise DataError(
            f"series {name} has the value {values[i]:.3g} at position {i}{after}, beyond what {where} (±{limit:.3g})",
            "rescale the values (e.g. divide the column by a power of ten)"
            + ("" if log or (values[np.isfinite(values)] <= 0).any() else ", or use task.transform=log"),
        )


def check_config(cfg) -> None:
    """Validate the task fields that need no data."""
    from harness.forecasting.yardsticks import YARDSTICKS

    if cfg.window is not None:
        check_positive(cfg.window, "task.window")
    check_positive(cfg.horizon, "task.horizon")
    check_positive(cfg.refit_every, "task.refit_every")
    check_fraction(cfg.dev_fraction, "task.dev_fraction", closed_low=False)
    check_fraction(cfg.test_fraction, "task.test_fraction", closed_low=False)
    if cfg.dev_fraction + cfg.test_fraction >= 1:
        raise ConfigError(
            f"task.dev_fraction + task.test_fraction = {cfg.dev_fraction + cfg.test_fraction:g} leaves no training part",
            "make their sum < 1",
        )
    if cfg.transform not in TRANSFORMS:
        raise ConfigError(f"unknown task.transform={cfg.transform!r}", f"choose one of {', '.join(TRANSFORMS)}")
    if cfg.season is not None and cfg.season < 0:
        raise ConfigError(f"task.season must be >= 0, got {cfg.season!r}", "set task.season=<period>, 0 for none")
    for name in cfg.yardsticks:
        if name not in YARDSTICKS:
            raise ConfigError(f"unknown yardstick {name!r} in task.yardsticks", f"choose from {', '.join(YARDSTICKS)}")
    if "naive" not in cfg.yardsticks:
        raise ConfigError(
            "task.yardsticks must include naive: persistence is the yardstick every forecaster is read against",
            "add naive to task.yardsticks",
        )


def _choose_transform(cfg, x_train: np.ndarray, season: int | None) -> tuple[str, str]:
    """(transform, why): the set one, or auto's choice on the training part."""
    if cfg.transform != "auto":
        return cfg.transform, "set"
    from harness.forecasting.transform import choose_transform

    c = choose_transform(x_train, season)
    why = (
        f"auto: spread-level slope {c.spread_slope:.2f}, level ratio {c.level_ratio:.2f}, "
        f"ADF p {c.adf_pvalue:.3f}, KPSS p {c.kpss_pvalue:.3f}"
    )
    return c.name, why


def split_sizes(s: Series, cfg) -> tuple[int, int, int]:
    """(n_train, n_dev, n_test) of series ``s``: by the fractions of its length, or, when the series comes with
    its test part (``s.test_points``, a competition's), that test part and a dev part of
    ``task.dev_fraction`` of the rest (at least one point)."""
    T = len(s.values)
    if s.test_points:
        n_test = int(s.test_points)
        n_dev = max(1, _n_split(cfg.dev_fraction, T - n_test))
    else:
        n_dev, n_test = _n_split(cfg.dev_fraction, T), _n_split(cfg.test_fraction, T)
    return T - n_dev - n_test, n_dev, n_test


def make_timeseries(s: Series, cfg) -> TimeSeriesData:
    """Windows, splits, the train-only transform and scales, and the MASE scale for one loaded series.

    A series with a given test part (``s.test_points``, a competition's) is scored as the competition
    scores it: from one origin, the end of its training part (train and dev here), over horizons 1..H, with
    the MASE scale taken over that whole training part."""
    check_config(cfg)
    x = s.values  # (T,)
    T, H = len(x), int(cfg.horizon)
    season = s.season if cfg.season is None else (cfg.season or None)
    n_train, n_dev, n_test = split_sizes(s, cfg)
    fix = "use a smaller task.horizon or task.window, larger fractions, or a longer series"
    if n_train < MIN_TRAIN_POINTS or n_dev < 1:
        raise DataError(
            f"series {s.name} has {T} points: a training part of {n_train} and a dev part of {n_dev} with "
            f"dev/test fractions {cfg.dev_fraction:g}/{cfg.test_fraction:g}; forecasting needs at least "
            f"{MIN_TRAIN_POINTS} training points and one dev point",
            f"use a task.dev_fraction of at least {1 / T:.3g}"
            if n_train >= MIN_TRAIN_POINTS
            else "use a longer series or smaller task.dev_fraction/task.test_fraction",
        )
    if n_test < H:
        raise DataError(
            f"series {s.name} has a test part of {n_test} points, shorter than task.horizon={H}: no origin "
            f"would be scored at every horizon",
            fix,
        )
    if season is not None and n_train <= season:
        raise ConfigError(
            f"task.season={season} is not shorter than the training part ({n_train} points)",
            "use a smaller task.season (0 for none) or a longer series",
        )
    W = int(cfg.window) if cfg.window is not None else default_window(season, n_train)
    if n_train - H - W + 1 < 1:
        raise DataError(
            f"series {s.name} has a training part of {n_train} points, too short for one window of "
            f"task.window={W} followed by task.horizon={H} targets",
            fix,
        )
    _check_float32(x, s.name, "", log=True)  # squarable at all (the transform's own statistics square too)
    transform, why = _choose_transform(cfg, x[:n_train], season)
    if transform not in ("log", "log_diff"):
        _check_float32(x, s.name, "")
    if transform in ("log", "log_diff") and (x <= 0).any():
        i = int(np.flatnonzero(x <= 0)[0])
        raise DataError(
            f"task.transform={transform} needs positive values, but {s.name} has {x[i]:g} at position {i}",
            "use task.transform=none or diff",
        )
    g = np.log(x) if transform in ("log", "log_diff") else x.copy()  # (T,)
    differenced = transform in ("diff", "log_diff")
    dg = np.diff(g[:n_train])  # (n_train - 1,)
    zt = dg if differenced else g[:n_train]
    if not g[:n_train].std() > 0:
        spread = float(np.ptp(x[:n_train]))
        if spread > 0:  # e.g. values near 1e-320: their squares underflow, so every spread computes as 0
            raise DataError(
                f"the training part of {s.name} varies by only {spread:.3g} (values up to "
                f"{float(np.abs(x[:n_train]).max()):.3g}), too little for float64 statistics to see",
                "rescale the values (e.g. multiply the column by a power of ten)",
            )
        raise DataError(f"the training part of {s.name} is constant", "use a series that varies")
    # scales: a straight line has constant differences, so fall back to the spread of g, then to 1
    d = float(dg.std()) or float(g[:n_train].std())
    c, mu, sd = float(g[:n_train].mean()), float(zt.mean()), float(zt.std()) or 1.0
    scaling = Scaling(transform, c, d, mu, sd, W, H)
    u = scaling.u_of(g)  # (T,)
    _check_float32(u, s.name, f" after task.transform={transform}")

    def windows(first: int, last: int, end: int) -> Windows:
        o = np.arange(max(first, W - 1), last + 1)  # (N,) origins
        X = u[o[:, None] + np.arange(-W + 1, 1)[None, :]]  # (N, W), positions o-W+1 .. o
        t = o[:, None] + np.arange(1, H + 1)[None, :]  # (N, H) target positions
        Y = np.where(t < end, u[np.minimum(t, T - 1)], np.nan)
        return Windows(X[..., None].astype(np.float32), Y.astype(np.float32), o)

    n_fit = n_train + n_dev
    return TimeSeriesData(
        name=s.name,
        scaling=scaling,
        train=windows(0, n_train - 1 - H, n_train),
        dev=windows(n_train - 1, n_fit - 2, n_fit),
        test=windows(n_fit - 1, n_fit - 1 if s.test_points else T - 2, T),
        series=x,
        g=g,
        z=scaling.z_of(g),
        time=s.time,
        true_states=s.true_states,
        season=season,
        frequency=getattr(s, "frequency", None),
        transform_reason=why,
        mase_scale=naive_mae(x[: n_fit if s.test_points else n_train], season or 1),
        yardsticks_on_logs=False if s.test_points else None,
        n_train=n_train,
        n_dev=n_dev,
        yardstick_names=tuple(n for n in cfg.yardsticks if n != "seasonal_naive" or season),
        refit_every=int(cfg.refit_every),
        source=getattr(cfg, "dataset", s.name),
        origin_of_data=str(Path(cfg.path).resolve())
        if getattr(cfg, "path", None)
        else f"harness:{getattr(cfg, 'dataset', s.name)}",
    )


def load_timeseries(cfg, seed: int):
    """Load ``cfg.dataset`` and cut it into rolling-origin windows (see the module docstring); a panel
    (``task.dataset=panel``) is harness.tasks.panel.PanelData, its series cut one by one."""
    if cfg.dataset in PANELS:
        from harness.tasks.panel import load_panel_task

        return load_panel_task(cfg, seed)
    s = load_series(
        cfg.dataset,
        path=cfg.path,
        value_column=cfg.value_column,
        time_column=cfg.time_column,
        missing=cfg.missing,
        n_points=cfg.n_points,
        seed=seed,
    )
    return make_timeseries(s, cfg)
