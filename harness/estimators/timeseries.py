"""Estimators for forecasting (harness.tasks.timeseries): the recurrent forecaster and the Gaussian HMM.

A prediction is one scaled target per window of the split (the task inverts the transform and scores
in original units). With a differencing transform the target of horizon h is the sum of the next h
scaled changes, so the HMM forecaster, which forecasts each future value, sums its 1..h forecasts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import DataError
from harness.estimators.base import Estimator, GradientEstimator, Hooks, timed
from harness.tasks.timeseries import Scaling

Z95 = 1.959963984540054  # the 97.5 % point of the standard normal: 95 % central intervals


def _state(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k.removeprefix("state."): v for k, v in arrays.items() if k.startswith("state.")}


def _recent_window(scaling: Scaling, values) -> tuple[np.ndarray, float]:
    """The scaled window (W,) and transformed last value of new values (T,), or a DataError if too few."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(x) < scaling.needs or not np.isfinite(x).all():
        problem = "non-finite values" if len(x) >= scaling.needs else f"{len(x)} values"
        raise DataError(
            f"the forecaster reads the last {scaling.needs} values (window {scaling.window}"
            f"{', plus one for differencing' if scaling.cumulative else ''}), got {problem}",
            f"give at least {scaling.needs} recent finite values, oldest first",
        )
    return scaling.window_of(x)


class RecurrentForecaster(GradientEstimator):
    """harness.models.rnn.RNNForecaster on windows (N, W, 1) of the scaled series."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.rnn import RNNForecaster

        super().__init__(cfg, data, rng, seed)
        self.model = RNNForecaster(data.train.X.shape[-1], cfg, rng)

    def train_batches(self, data: Any, rng: np.random.Generator):
        tr = data.train
        order = rng.permutation(len(tr))
        for s in range(0, len(order), self.cfg.batch_size):
            idx = order[s : s + self.cfg.batch_size]
            yield tr.X[idx], tr.y[idx]

    def n_train_batches(self, data: Any) -> int:
        return -(-len(data.train) // self.cfg.batch_size)

    def batch_size_of(self, batch) -> int:
        return len(batch[1])

    def predict(self, data: Any, split: str) -> np.ndarray:
        return self.model.predict(data.split(split).X)

    def diagnostic_batch(self, data: Any):
        return data.dev.X[:64], data.dev.y[:64]

    def export(self, data: Any) -> dict[str, np.ndarray]:
        """Weights (``state.*``) and the training part's transform and scale (``scaling.*``)."""
        return {f"state.{k}": v for k, v in self.state_dict().items()} | data.scaling().to_arrays()

    @classmethod
    def from_export(cls, cfg: Any, arrays: dict[str, np.ndarray]) -> RecurrentForecaster:
        from harness.models.rnn import RNNForecaster

        self = cls.__new__(cls)
        Estimator.__init__(self, cfg, None, np.random.default_rng(0), 0)
        self.scaling = Scaling.from_arrays(arrays)
        self.model = RNNForecaster(1, cfg, np.random.default_rng(0))
        self.model.load_state_dict(_state(arrays))
        return self

    def predict_new(self, values, horizon: int | None = None, **options: Any) -> dict[str, np.ndarray]:
        """The forecast ``scaling.horizon`` steps after the last of ``values`` (T,), original units; with
        ``lower``/``upper`` (95 %) when the network gives a predictive spread."""
        h = self.scaling.horizon
        if horizon not in (None, h):
            raise DataError(
                f"this recurrent forecaster was trained for horizon {h} and cannot forecast horizon {horizon}",
                f"drop horizon= or set horizon={h}",
            )
        s, g_o = _recent_window(self.scaling, values)
        mean, sd = self.model.predict_distribution(s[None, :, None])  # (1, H'), (1, H') or None
        y = mean[0, :1]  # (1,) the target at horizon h
        out = {"horizon": np.array([h]), "forecast": self.scaling.to_original(y, g_o, h)}
        if sd is not None:
            out["lower"] = self.scaling.to_original(y - Z95 * sd[0, :1], g_o, h)
            out["upper"] = self.scaling.to_original(y + Z95 * sd[0, :1], g_o, h)
        return out


class HMMForecaster(Estimator):
    """harness.models.hmm.GaussianHMMForecaster fitted by Baum-Welch on the scaled training part."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.hmm import GaussianHMMForecaster

        super().__init__(cfg, data, rng, seed)
        self.model = GaussianHMMForecaster(**cfg.estimator_params(), random_state=seed)

    def fit(self, data: Any, hooks: Hooks) -> dict[str, float]:
        return timed(lambda: self.model.fit(data.train_series))

    def predict(self, data: Any, split: str) -> np.ndarray:
        w = data.split(split).X[..., 0]  # (N, W)
        if data.cumulative_target:  # the change over h steps = the sum of the next h values
            return sum(self.model.predict(w, k) for k in range(1, data.horizon + 1))
        return self.model.predict(w, data.horizon)

    def metrics(self, data: Any) -> dict[str, float]:
        return {"bic": float(self.model.bic(data.train_series))}

    def artifacts(self, data: Any):
        def write_regimes(path) -> None:  # Viterbi path, state means, filtered probabilities on the training part
            from harness.diagnostics import write_regime_artifacts

            title = f"Gaussian HMM regimes, {data.name}"
            write_regime_artifacts(self.model.regime_table(data.train_series), path.parent, title)

        return {"regimes.csv": write_regimes}

    def export(self, data: Any) -> dict[str, np.ndarray]:
        """The HMM's state (``state.*``) and the training part's transform and scale (``scaling.*``)."""
        return {f"state.{k}": v for k, v in self.state_dict().items()} | data.scaling().to_arrays()

    @classmethod
    def from_export(cls, cfg: Any, arrays: dict[str, np.ndarray]) -> HMMForecaster:
        from harness.models.hmm import GaussianHMMForecaster

        self = cls.__new__(cls)
        Estimator.__init__(self, cfg, None, np.random.default_rng(0), 0)
        self.scaling = Scaling.from_arrays(arrays)
        self.model = GaussianHMMForecaster.from_state_dict(_state(arrays))
        return self

    def predict_new(self, values, horizon: int | None = None, **options: Any) -> dict[str, np.ndarray]:
        """Forecasts 1..H steps after the last of ``values`` (T,), original units (H = ``horizon``, default the
        trained horizon): the filtered state's expected path, no intervals (a point forecast)."""
        H = int(horizon or self.scaling.horizon)
        if H < 1:
            raise DataError(f"horizon must be >= 1, got {H}", "set horizon=1 or more")
        s, g_o = _recent_window(self.scaling, values)
        y = np.array([self.model.predict(s[None], k)[0] for k in range(1, H + 1)])  # (H,) scaled, step by step
        if self.scaling.cumulative:  # the h-step change is the sum of the next h scaled changes
            y = np.cumsum(y)
        ks = np.arange(1, H + 1)
        return {"horizon": ks, "forecast": self.scaling.to_original(y, g_o, ks)}
