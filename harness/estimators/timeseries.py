"""Estimators for forecasting (harness.tasks.timeseries): the recurrent forecaster and the Gaussian HMM.

A prediction is one scaled target per window of the split (the task inverts the transform and scores
in original units). With a differencing transform the target of horizon h is the sum of the next h
scaled changes, so the HMM forecaster, which forecasts each future value, sums its 1..h forecasts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.estimators.base import Estimator, GradientEstimator, Hooks, timed


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
