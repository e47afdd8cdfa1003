"""Estimators for long-range recall (harness.tasks.longrange): the recurrent classifier and the HMM tagger.

A prediction is one class id per sequence of the split. The HMM reads the task's locally tagged
view and answers with the tag it gives the query (harness.tasks.longrange explains why this view
carries no memory of the cue).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.estimators.base import Estimator, GradientEstimator, Hooks, timed


class RecurrentClassifier(GradientEstimator):
    """harness.models.rnn.RNNClassifier: symbol ids (T, N) -> one class per sequence."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.rnn import RNNClassifier

        super().__init__(cfg, data, rng, seed)
        self.model = RNNClassifier(data.n_symbols, data.n_classes, cfg, rng)

    def train_batches(self, data: Any, rng: np.random.Generator):
        return data.batches("train", self.cfg.batch_size, rng)

    def n_train_batches(self, data: Any) -> int:
        return -(-len(data.split("train")) // self.cfg.batch_size)

    def batch_size_of(self, batch) -> int:
        return len(batch[1])

    def predict(self, data: Any, split: str) -> np.ndarray:
        return np.concatenate([self.model.predict(X) for X, _ in data.batches(split, 1024)])

    def diagnostic_batch(self, data: Any):
        return next(data.batches("dev", 64))


class HMMTaggerClassifier(Estimator):
    """harness.models.hmm.HMMTagger on the locally tagged view; the answer is the query's tag."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.hmm import HMMTagger

        super().__init__(cfg, data, rng, seed)
        self.model = HMMTagger(**cfg.estimator_params(), random_state=seed)

    def fit(self, data: Any, hooks: Hooks) -> dict[str, float]:
        return timed(lambda: self.model.fit(*data.tagged("train")))

    def predict(self, data: Any, split: str) -> np.ndarray:
        return data.labels_from_tags(self.model.predict(data.tagged(split)[0]))
