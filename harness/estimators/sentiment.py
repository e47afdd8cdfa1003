"""Estimators for text classification (harness.tasks.sentiment): the recurrent classifier and the
class-conditional HMMs. A prediction is (N, C) class probabilities, texts in split order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.estimators.base import Estimator, GradientEstimator, Hooks, timed


class RecurrentTextClassifier(GradientEstimator):
    """harness.models.rnn.RNNClassifier over ragged, masked batches: unit ids -> one class per text."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.rnn import RNNClassifier

        super().__init__(cfg, data, rng, seed)
        self.model = RNNClassifier(data.n_symbols, data.n_classes, cfg, rng)

    def train_batches(self, data: Any, rng: np.random.Generator):
        return data.batches("train", self.cfg.batch_size, rng)

    def n_train_batches(self, data: Any) -> int:
        return -(-data.n_items("train") // self.cfg.batch_size)

    def batch_size_of(self, batch) -> int:
        return len(batch[1])

    def predict(self, data: Any, split: str) -> np.ndarray:
        out = np.zeros((data.n_items(split), data.n_classes))
        for X, _, mask, idx in data.batches(split, 256):
            out[idx] = self.model.predict_proba(X, mask)  # (N, C)
        return out

    def diagnostic_batch(self, data: Any):
        return next(data.batches("dev", 64))


class ClassConditionalHMMClassifier(Estimator):
    """harness.models.hmm.classifier.ClassConditionalHMM: one Baum-Welch HMM per class, Bayes' rule."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.hmm.classifier import ClassConditionalHMM

        super().__init__(cfg, data, rng, seed)
        self.model = ClassConditionalHMM(cfg.n_states, cfg.n_iter, cfg.tol, cfg.smoothing, random_state=seed)

    def fit(self, data: Any, hooks: Hooks) -> dict[str, float]:
        X, lengths = data.sequences("train")
        figures = timed(lambda: self.model.fit(X, lengths, data.labels["train"], data.n_symbols, data.n_classes))
        return figures | {"baum_welch_iterations": float(self.model.n_iter_.mean())}

    def predict(self, data: Any, split: str) -> np.ndarray:
        return self.model.predict_proba(*data.sequences(split))
