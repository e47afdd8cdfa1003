"""Task ``timeseries``: many-to-one forecasting of a univariate series, scored in original units.

A sample is a window of ``W`` past values; its target is the value ``h`` (``horizon``) steps
after the window's last value (the forecast origin ``o``): inputs x[o-W+1 .. o], target x[o+h].

Split: the series of length T is cut chronologically by *target position* into train
[0, n_train), dev [n_train, n_train+n_dev) and test [n_train+n_dev, T), with n_dev and n_test
from the fractions. A window's inputs always lie strictly before its target, so dev and test
windows may read training values (the past) but no window ever reads its own future.

Transforms (``task.transform``), fitted on the training part only:
    g_t = log x_t (log, log_diff) or x_t (none, diff)
    z_t = g_t - g_{t-1} (diff, log_diff) or g_t
    s_t = (z_t - mu) / sigma,  mu and sigma from z over the training part
Inputs are s over the window. The target is s_{o+h}, or for the differencing transforms the
h-step change sum_{k=1..h} s_{o+k} (equal to s_{o+1} when h = 1), which inverts as
g_{o+h} = g_o + sigma * y + h * mu. A log forecast is inverted with exp (a median forecast).

Metrics, all in original units on targets x[t]: rmse, mae and mase = mae / (in-sample naive MAE
on the training part, lag = the season if one is set, else 1).

Baselines, computed in every run on the same test targets:
    naive           x̂_{o+h} = x_o  (persistence)
    seasonal_naive  x̂_{o+h} = x_{o+h-m*ceil(h/m)}  (season m; only when one is known)
    arima           statsmodels ARIMA(p, d, q), or seasonal ARIMA(p, d, q)(P, D, Q)_m with the
                    data set's season m, fitted once on train+dev in original units (constant
                    when d + D = 0, drift when d + D = 1). Forecasts keep those parameters and
                    read only the history x[0..o] up to each test origin: for h = 1 these are
                    the Kalman filter's one-step predictions on the whole series (each uses
                    x[0..t-1] only), for h > 1 the model is re-applied to x[0..o] per origin.
                    It sees only the past, as the models do.

Default ARIMA orders (``task.arima_order=null``), chosen by AIC on the train+dev part only
(never the test part) over p in {0,1,2,3,4,6,9} (seasonal sets {0,1,2}), q in {0,1,2},
P, Q in {0,1}; d from an ADF test (5 %) except sunspots, a bounded cycle, kept at d = 0; D = 1
for the monthly seasonal sets (for elnino only four candidates were compared: the full seasonal
grid is slow). ``scripts/measure_baselines.py --select`` reruns the search.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.data.series import Series, load_series
from harness.errors import ConfigError, DataError, check_fraction, check_positive
from harness.tasks.base import DatasetInfo, content_digest

TRANSFORMS = ("none", "log", "diff", "log_diff")
DEFAULT_ARIMA_ORDERS = {  # [p, d, q] or [p, d, q, P, D, Q]; see the module docstring
    "sunspots": (6, 0, 2),
    "co2": (1, 1, 1, 0, 1, 1),
    "nile": (1, 0, 1),
    "elnino": (1, 0, 1, 0, 1, 1),
    "synthetic_ar": (2, 0, 0),  # the true order
    "synthetic_regime": (1, 0, 1),
}
FALLBACK_ARIMA_ORDER = (2, 0, 1)
SPLITS = ("train", "dev", "test")


@dataclass
class Windows:
    """The samples of one split."""

    X: np.ndarray  # (N, W, 1) float32, scaled/transformed inputs
    y: np.ndarray  # (N,) float32, scaled/transformed target (the h-step sum when cumulative_target)
    target_index: np.ndarray  # (N,) int, position of each target in the original series

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Scaling:
    """The transform chain of the module docstring with the training part's mu and sigma: new values in
    original units -> a model's input window, and its scaled forecast -> original units."""

    transform: str
    mu: float
    sigma: float
    window: int  # W
    horizon: int  # h: the model's target is h steps after the window's last value

    @property
    def cumulative(self) -> bool:
        return self.transform in ("diff", "log_diff")

    @property
    def needs(self) -> int:
        """How many recent values make one window (one more for the differencing transforms)."""
        return self.window + int(self.cumulative)

    def window_of(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """The last ``needs`` values of x (T,) -> (s (W,) the scaled window, g_o the transformed last value)."""
        x = np.asarray(x, dtype=np.float64)[-self.needs :]  # (W or W+1,)
        if self.transform in ("log", "log_diff"):
            if (x <= 0).any():
                raise DataError(
                    f"the model was trained with task.transform={self.transform} and needs positive values, got {x.min():g}",
                    "give the series in the units the model was trained on",
                )
            g = np.log(x)
        else:
            g = x
        z = np.diff(g) if self.cumulative else g  # (W,)
        return (z - self.mu) / self.sigma, float(g[-1])

    def to_original(self, y: np.ndarray, g_o: float, h: int | np.ndarray) -> np.ndarray:
        """Scaled targets y at horizons h (the h-step sum for differencing transforms) -> original units."""
        y = np.asarray(y, dtype=np.float64)
        g = g_o + self.sigma * y + np.asarray(h) * self.mu if self.cumulative else self.sigma * y + self.mu
        return np.exp(g) if self.transform in ("log", "log_diff") else g

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "scaling.transform": np.array(self.transform),
            "scaling.mu_sigma": np.array([self.mu, self.sigma]),
            "scaling.window_horizon": np.array([self.window, self.horizon]),
        }

    @classmethod
    def from_arrays(cls, a) -> Scaling:
        (mu, sigma), (W, h) = a["scaling.mu_sigma"].tolist(), a["scaling.window_horizon"].tolist()
        return cls(str(a["scaling.transform"]), mu, sigma, int(W), int(h))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, mase_scale: float) -> dict[str, float]:
    """rmse, mae and mase (= mae / mase_scale) of predictions in original units."""
    err = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    mae = float(np.mean(np.abs(err)))
    mase = mae / mase_scale if mase_scale > 0 else math.nan  # a training part the naive forecast fits exactly
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": mae, "mase": mase}


def naive_mae(x: np.ndarray, lag: int) -> float:
    """In-sample MAE of the lag-``lag`` naive forecast: mean |x_t - x_{t-lag}|."""
    return float(np.mean(np.abs(x[lag:] - x[:-lag])))


@dataclass
class TimeSeriesData:
    """Windows for train/dev/test plus everything needed to score in original units."""

    name: str
    window: int
    horizon: int
    train: Windows
    dev: Windows
    test: Windows
    train_series: np.ndarray  # (T_train,) scaled/transformed training part
    series: np.ndarray  # (T,) original series, original units
    time: np.ndarray | None  # (T,) for plots
    true_states: np.ndarray | None  # (T,) synthetic_regime only
    season: int | None
    transform: str
    cumulative_target: bool  # True for diff transforms: y is the h-step sum of scaled values
    mu: float
    sigma: float
    mase_scale: float  # in-sample naive MAE on the training part
    arima_order: tuple[int, ...]  # the order used: (p, d, q) or (p, d, q, P, D, Q)
    n_train: int  # series positions [0, n_train) are the training part
    n_dev: int
    _g: np.ndarray = field(repr=False)  # (T,) log x or x
    source: str = ""  # the data set's name (task.dataset)
    origin: str = ""  # where the values came from: the CSV's path, or "harness:<dataset>" (embedded, generated)
    _baselines: tuple[dict, dict] | None = field(default=None, repr=False)

    # the task contract (harness.tasks.base.TaskData); a prediction is one scaled target per window
    main_metric = "test_rmse"
    higher_is_better = False
    dev_metric = "dev_rmse"
    dev_prefix = "dev_"
    predictions_file = "test_forecasts.csv"  # the artifact write_predictions fills
    items = "windows"

    def n_items(self, split: str) -> int:
        return len(self.split(split))

    def reference_metrics(self, test_scores: dict[str, float]) -> dict[str, float]:
        return {}

    def write_predictions(self, path, y_pred_scaled: np.ndarray) -> None:
        """test_forecasts.csv: target position, truth, the model's and each baseline's forecast (original units)."""
        from harness.diagnostics import write_csv

        truth = self.series[self.test.target_index]
        cols = {
            "target_index": self.test.target_index,
            "truth": truth,
            "model": self.to_original("test", y_pred_scaled),
        }
        write_csv(path, cols | self.baseline_predictions())

    def summary(self, metrics: dict[str, float]) -> list[str]:
        return [
            f"test_rmse={metrics['test_rmse']:.4g}",
            f"naive={metrics.get('baseline_naive_test_rmse', float('nan')):.4g}",
            f"arima={metrics.get('baseline_arima_test_rmse', float('nan')):.4g}",
        ]

    def dataset_info(self) -> DatasetInfo:
        """The series' name and origin, a digest of its values, split sizes in windows."""
        splits = {s: len(self.split(s)) for s in SPLITS}
        return DatasetInfo(self.source or self.name, self.origin, content_digest([self.series]), splits)

    def scaling(self) -> Scaling:
        """The training part's transform and scale, to apply the model to new values."""
        return Scaling(self.transform, self.mu, self.sigma, self.window, self.horizon)

    def split(self, split: str) -> Windows:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return getattr(self, split)

    def to_original(self, split: str, y_scaled: np.ndarray) -> np.ndarray:
        """Invert scaling and transforms for the targets of ``split``: (N,) -> (N,) original units."""
        t = self.split(split).target_index  # (N,)
        y = np.asarray(y_scaled, dtype=np.float64).reshape(-1)
        if y.shape != t.shape:
            raise ValueError(f"expected {len(t)} predictions for split {split!r}, got {y.shape}")
        if self.cumulative_target:
            g = self._g[t - self.horizon] + self.sigma * y + self.horizon * self.mu
        else:
            g = self.sigma * y + self.mu
        return np.exp(g) if self.transform in ("log", "log_diff") else g

    def score(self, split: str, y_pred_scaled: np.ndarray) -> dict[str, float]:
        """{"rmse", "mae", "mase"} of scaled predictions for ``split``, in original units."""
        y_hat = self.to_original(split, y_pred_scaled)
        return regression_metrics(self.series[self.split(split).target_index], y_hat, self.mase_scale)

    def baseline_predictions(self) -> dict[str, np.ndarray]:
        """Baseline name -> (N_test,) test predictions in original units."""
        return dict(self._compute_baselines()[1])

    def baselines(self) -> dict[str, float]:
        """``baseline_<name>_test_<metric>`` for naive, seasonal_naive (if a season) and arima."""
        return dict(self._compute_baselines()[0])

    def _compute_baselines(self) -> tuple[dict, dict]:
        if self._baselines is None:
            x, h = self.series, self.horizon
            t = self.test.target_index  # (N,)
            preds = {"naive": x[t - h]}
            if self.season:
                m = self.season
                preds["seasonal_naive"] = x[t - m * math.ceil(h / m)]
            preds["arima"] = arima_forecasts(x, self.n_train + self.n_dev, t - h, h, self.arima_order, self.season)
            metrics = {}
            for name, p in preds.items():
                for k, v in regression_metrics(x[t], p, self.mase_scale).items():
                    metrics[f"baseline_{name}_test_{k}"] = v
            self._baselines = (metrics, preds)
        return self._baselines


def arima_forecasts(
    x: np.ndarray, n_fit: int, origins: np.ndarray, h: int, order, season: int | None = None
) -> np.ndarray:
    """Fit ARIMA(order) on x[:n_fit] once; for each origin o forecast x[o+h] from x[0..o] only.

    ``order`` is (p, d, q) or (p, d, q, P, D, Q); the seasonal part uses period ``season``.
    """
    from statsmodels.tsa.arima.model import ARIMA

    p, d, q, P, D, Q = (*order, 0, 0, 0)[:6]
    seasonal = (P, D, Q, season) if (P, D, Q) != (0, 0, 0) else (0, 0, 0, 0)
    k = d + D
    trend = "c" if k == 0 else ("t" if k == 1 else "n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and start-parameter chatter from statsmodels
        try:
            res = ARIMA(x[:n_fit], order=(p, d, q), seasonal_order=seasonal, trend=trend).fit()
            if h == 1:
                # one-step predictions of the filter run over x with fixed parameters: x̂_t uses x[0..t-1]
                return res.apply(x).predict(start=int(origins[0]) + 1, end=int(origins[-1]) + 1)[origins - origins[0]]
            # (N,) one h-step forecast per origin, history cut at the origin
            return np.array([res.apply(x[: o + 1]).forecast(h)[-1] for o in origins])
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise ConfigError(
                f"the ARIMA{tuple(order)} baseline could not be fitted ({exc})", "choose another task.arima_order"
            ) from None


def _n_split(fraction: float, T: int) -> int:
    return int(math.floor(fraction * T + 0.5))


def _min_length(t_min: int, dev_fraction: float, test_fraction: float) -> int:
    """The shortest series with at least one train, dev and test window. The search starts at a lower
    bound in closed form (n_split(f, T) >= f T - 1/2, and >= 1 needs T >= 1 / (2 f)), so it takes a few
    steps whatever the window or fractions (a window of 1e12 or a fraction of 1e-12 used to spin for hours)."""
    rest = 1.0 - dev_fraction - test_fraction  # > 0: checked by check_config
    T = max(
        t_min + 1,
        math.floor((t_min - 1) / rest),
        math.ceil(0.5 / dev_fraction),
        math.ceil(0.5 / test_fraction),
    )
    while True:
        n_dev, n_test = _n_split(dev_fraction, T), _n_split(test_fraction, T)
        if n_dev >= 1 and n_test >= 1 and T - n_dev - n_test > t_min:
            return T
        T += 1


FLOAT32_MAX = float(np.finfo(np.float32).max)  # the models compute in float32


def _check_float32(values: np.ndarray, name: str, after: str) -> None:
    """A DataError when a value lies beyond what float32 holds (about 3.4e38): such a series would come back
    from the models and the scores as inf or NaN, and look like a diverging optimiser."""
    big = np.abs(values) > FLOAT32_MAX  # (T,)
    if big.any():
        i = int(np.flatnonzero(big)[0])
        raise DataError(
            f"series {name} has the value {values[i]:.3g} at position {i}{after}, beyond what the models' float32 "
            f"holds (±{FLOAT32_MAX:.3g})",
            "rescale the values (e.g. divide the column by a power of ten) or use task.transform=log",
        )


def check_config(cfg) -> tuple[int, ...]:
    """Validate the task fields that need no data; return the ARIMA order to use (default filled in)."""
    check_positive(cfg.window, "task.window")
    check_positive(cfg.horizon, "task.horizon")
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
    order = (
        tuple(cfg.arima_order)
        if cfg.arima_order is not None
        else DEFAULT_ARIMA_ORDERS.get(cfg.dataset, FALLBACK_ARIMA_ORDER)
    )
    if len(order) not in (3, 6) or any(int(v) != v or v < 0 for v in order):
        raise ConfigError(
            f"task.arima_order must be [p, d, q] or [p, d, q, P, D, Q] of non-negative integers, got {list(order)!r}",
            "set e.g. task.arima_order=[2,0,1]",
        )
    return tuple(int(v) for v in order)


def make_timeseries(s: Series, cfg) -> TimeSeriesData:
    """Windows, splits, train-only scaling and the MASE scale for one loaded series."""
    order = check_config(cfg)
    W, h = int(cfg.window), int(cfg.horizon)
    x = s.values  # (T,)
    T = len(x)
    season = s.season if cfg.season is None else (cfg.season or None)
    differenced = cfg.transform in ("diff", "log_diff")
    d0 = 1 if differenced else 0  # first position where z is defined
    t_min = d0 + W - 1 + h  # first target with a full window

    need = _min_length(t_min, cfg.dev_fraction, cfg.test_fraction)
    if T < need:
        raise DataError(
            f"series {s.name} has {T} points, but task.window={W} + task.horizon={h}"
            f"{' + 1 for differencing' if differenced else ''} with dev/test fractions"
            f" {cfg.dev_fraction:g}/{cfg.test_fraction:g} needs at least {need}",
            "use a smaller task.window or task.horizon, or a longer series",
        )
    n_dev, n_test = _n_split(cfg.dev_fraction, T), _n_split(cfg.test_fraction, T)
    n_train = T - n_dev - n_test
    if len(order) == 6 and any(order[3:]) and season is None:
        raise ConfigError(
            f"task.arima_order={list(order)} has a seasonal part but {s.name} has no season",
            "set task.season=<period> or give only [p, d, q]",
        )
    if season is not None and n_train <= season:
        raise ConfigError(
            f"task.season={season} is not shorter than the training part ({n_train} points)",
            "use a smaller task.season (0 for none) or a longer series",
        )

    _check_float32(x, s.name, "")
    # g, z, s: the transform chain of the module docstring, each (T,)
    if cfg.transform in ("log", "log_diff"):
        if (x <= 0).any():
            i = int(np.flatnonzero(x <= 0)[0])
            raise DataError(
                f"task.transform={cfg.transform} needs positive values, but {s.name} has {x[i]:g} at position {i}",
                "use task.transform=none or diff",
            )
        g = np.log(x)
    else:
        g = x.copy()
    z = np.full(T, np.nan)
    z[d0:] = np.diff(g) if differenced else g
    _check_float32(z[d0:], s.name, f" after task.transform={cfg.transform}")
    z_train = z[d0:n_train]
    mu, sigma = float(z_train.mean()), float(z_train.std())
    if not sigma > 0:
        raise DataError(
            f"the training part of {s.name} is constant after task.transform={cfg.transform}",
            "use a series that varies",
        )
    sc = (z - mu) / sigma  # (T,), NaN before d0
    cs = np.concatenate([[0.0], np.cumsum(np.nan_to_num(sc[1:]))])  # (T,) running sum, for h-step changes

    def windows(lo: int, hi: int) -> Windows:
        t = np.arange(max(lo, t_min), hi)  # (N,) target positions
        o = t - h  # (N,) forecast origins
        idx = o[:, None] + np.arange(-W + 1, 1)[None, :]  # (N, W) input positions, all <= o < t
        y = cs[t] - cs[o] if differenced else sc[t]
        return Windows(sc[idx][..., None].astype(np.float32), y.astype(np.float32), t)

    mase_lag = season or 1
    return TimeSeriesData(
        name=s.name,
        window=W,
        horizon=h,
        train=windows(0, n_train),
        dev=windows(n_train, n_train + n_dev),
        test=windows(n_train + n_dev, T),
        train_series=sc[d0:n_train].astype(np.float32),
        series=x,
        time=s.time,
        true_states=s.true_states,
        season=season,
        transform=cfg.transform,
        cumulative_target=differenced,
        mu=mu,
        sigma=sigma,
        mase_scale=naive_mae(x[:n_train], mase_lag),
        arima_order=order,
        n_train=n_train,
        n_dev=n_dev,
        _g=g,
        source=getattr(cfg, "dataset", s.name),
        origin=str(Path(cfg.path).resolve())
        if getattr(cfg, "path", None)
        else f"harness:{getattr(cfg, 'dataset', s.name)}",
    )


def load_timeseries(cfg, seed: int) -> TimeSeriesData:
    """Load ``cfg.dataset`` and cut it into scaled windows (see the module docstring)."""
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
