"""Estimators on a panel (harness.tasks.panel.PanelData): local fits in parallel, or one global network.

``model.scope=local`` (the regime HMM's only scope; the networks' on request): the family's one-series
adapter (``ESTIMATORS[("timeseries", family)]``) is built, fitted and asked for its dev and test
forecasts on every series, in ``task.n_jobs`` worker processes (joblib) with a progress bar. Each
series' forecasts are kept in the run's checkpoint as they come back (at most every CHECKPOINT_SECONDS,
and at the end), so ``resume=<run id>`` after an interruption fits only the series not yet done.
Series i is fitted with the generator ``default_rng([seed, i])``: the same forecasts whatever the
number of workers or the order they finish in.

``model.scope=global`` (the networks' default): one harness.models.rnn.RNNForecaster trained on the
union of every series' training windows (each in its own series' u-scale, each window minus its last
value by the network's default normalisation, so windows of series of any level look alike), early-
stopped on the panel's dev score (the geometric mean over series of dev RMSE relative to persistence),
forecasting each series' origins. The training loop, its checkpoints and resume are those of every
recurrent estimator (GradientEstimator); no new differentiable piece.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

from harness.estimators.base import Estimator, GradientEstimator, Hooks
from harness.forecasting.scoring import Predictive
from harness.tasks.base import resolve

CHECKPOINT_SECONDS = 10.0


def panel_forecaster(cfg: Any, data: Any, rng: np.random.Generator, seed: int) -> Estimator:
    """The estimator of ``cfg`` on panel ``data``: GlobalForecaster for scope global, else LocalForecasters."""
    if getattr(cfg, "scope", "local") == "global":
        return GlobalForecaster(cfg, data, rng, seed)
    return LocalForecasters(cfg, data, rng, seed)


# -- local --------------------------------------------------------------------------------------------


def _encode(prediction) -> dict[str, np.ndarray]:
    if isinstance(prediction, Predictive):
        return {"weights": prediction.weights, "means": prediction.means, "sds": prediction.sds}
    return {"point": np.asarray(prediction, dtype=np.float64)}


def _decode(arrays: dict[str, np.ndarray], prefix: str):
    if f"{prefix}.point" in arrays:
        return arrays[f"{prefix}.point"]
    return Predictive(arrays[f"{prefix}.weights"], arrays[f"{prefix}.means"], arrays[f"{prefix}.sds"])


def _fit_one(cfg: Any, family: str, ts: Any, seed: int, i: int) -> tuple[str, dict]:
    """Fit the family's one-series estimator on ``ts``: its dev and test predictions and figures."""
    from threadpoolctl import threadpool_limits

    from harness.estimators import ESTIMATORS

    with threadpool_limits(limits=1):
        est = resolve(ESTIMATORS[("timeseries", family)])(cfg, ts, np.random.default_rng([seed, i]), seed)
        figures = est.fit(ts, Hooks(log=lambda epoch, values: None, progress=False))
        out = {"dev": est.predict(ts, "dev"), "test": est.predict(ts, "test")}
        out["figures"] = {k: float(v) for k, v in (figures | est.metrics(ts)).items()} | {"n_params": est.n_params}
    return ts.name, out


class LocalForecasters(Estimator):
    """One model of the family per series (see the module docstring)."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        super().__init__(cfg, data, rng, seed)
        self.family = type(cfg).family
        self.seed = seed
        self.results: dict[str, dict] = {}
        self.model = None

    def _state(self, data) -> dict[str, np.ndarray]:
        state = {}
        for i, ts in enumerate(data.series):
            r = self.results.get(ts.name)
            if r is None:
                continue
            state[f"s{i}.name"] = np.array(ts.name)
            state[f"s{i}.figures"] = np.array(json.dumps(r["figures"]))
            for split in ("dev", "test"):
                state |= {f"s{i}.{split}.{k}": v for k, v in _encode(r[split]).items()}
        return state

    def _restore(self, data, arrays: dict[str, np.ndarray]) -> None:
        for i, ts in enumerate(data.series):
            if f"s{i}.name" in arrays and str(arrays[f"s{i}.name"]) == ts.name:
                self.results[ts.name] = {
                    "dev": _decode(arrays, f"s{i}.dev"),
                    "test": _decode(arrays, f"s{i}.test"),
                    "figures": json.loads(str(arrays[f"s{i}.figures"])),
                }

    def fit(self, data: Any, hooks: Hooks) -> dict[str, float]:
        from joblib import Parallel, delayed
        from tqdm import tqdm

        start = time.perf_counter()
        if hooks.resume:
            self._restore(data, hooks.resume)
            print(f"harness: panel: {len(self.results)} series already fitted, resumed", file=sys.stderr, flush=True)
        todo = [i for i, ts in enumerate(data.series) if ts.name not in self.results]
        jobs = (delayed(_fit_one)(self.cfg, self.family, data.series[i], self.seed, i) for i in todo)
        n_jobs = max(1, min(data.n_jobs, len(todo)))
        results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs) if todo else []
        bar = tqdm(
            results,
            total=len(data.series),
            initial=len(data.series) - len(todo),
            desc=f"{self.cfg.name} per series",
            unit="series",
            disable=None if hooks.progress else True,
            file=sys.stderr,
        )
        last = time.perf_counter()
        for name, result in bar:
            self.results[name] = result
            if hooks.checkpoint and time.perf_counter() - last > CHECKPOINT_SECONDS:
                hooks.checkpoint(self._state(data))
                last = time.perf_counter()
        if hooks.checkpoint and todo:
            hooks.checkpoint(self._state(data))
        seconds = [r["figures"].get("train_seconds", 0.0) for r in self.results.values()]
        return {
            "train_seconds": time.perf_counter() - start,
            "train_seconds_per_series": float(np.mean(seconds)),
            "train_seconds_sum": float(np.sum(seconds)),
        }

    def predict(self, data: Any, split: str) -> list:
        return [self.results[ts.name][split] for ts in data.series]

    def metrics(self, data: Any) -> dict[str, float]:
        keys = sorted({k for r in self.results.values() for k in r["figures"]} - {"n_params", "train_seconds"})
        means = {}
        for k in keys:
            v = np.array([r["figures"].get(k, np.nan) for r in self.results.values()], dtype=np.float64)
            if np.isfinite(v).any():
                means[f"mean_{k}"] = float(np.nanmean(v))
        return means

    @property
    def n_params(self) -> int:
        return int(sum(r["figures"]["n_params"] for r in self.results.values()))

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}


# -- global -------------------------------------------------------------------------------------------


class GlobalForecaster(GradientEstimator):
    """One RNNForecaster on the union of every series' windows (see the module docstring)."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.rnn import RNNForecaster

        self.X = np.concatenate([ts.train.X for ts in data.series])  # (N, W, 1)
        self.Y = np.concatenate([ts.train.Y for ts in data.series])  # (N, H)
        cfg = cfg.budget(len(self.X))
        super().__init__(cfg, data, rng, seed)
        self.model = RNNForecaster(1, cfg, rng, horizons=data.horizon)

    def train_batches(self, data: Any, rng: np.random.Generator):
        from harness.estimators.timeseries import shuffled_batches

        return shuffled_batches(self.X, self.Y, self.cfg.batch_size, rng)

    def n_train_batches(self, data: Any) -> int:
        return -(-len(self.X) // self.cfg.batch_size)

    def batch_size_of(self, batch) -> int:
        return len(batch[1])

    def predict(self, data: Any, split: str) -> list:
        Xs = [ts.split(split).X for ts in data.series]
        mean, sd = self.model.predict_distribution(np.concatenate(Xs))  # (N, H) each, all series at once
        ends = np.cumsum([len(x) for x in Xs])[:-1]
        sds = np.split(sd, ends) if sd is not None else [None] * len(Xs)
        return [ts.scaling.from_u(m, s) for ts, m, s in zip(data.series, np.split(mean, ends), sds)]

    def diagnostic_batch(self, data: Any):
        return self.X[-64:], self.Y[-64:]
