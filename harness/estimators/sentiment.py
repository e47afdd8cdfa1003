"""Estimators for text classification (harness.tasks.sentiment): the recurrent classifier and the
class-conditional HMMs. A prediction is (N, C) class probabilities, texts in split order.

Both read texts as unit ids (harness.tasks.sentiment.encode_texts); ``export`` keeps what turns new
text into ids (the vocabulary, the units, the length kept) and the class names beside the weights, so
``predict_new`` (harness.predict, the MLflow model) classifies raw texts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import DataError
from harness.estimators.base import Estimator, GradientEstimator, Hooks, exported_state, timed
from harness.tasks.sentiment import encode_texts, padded_batches


class _TextClassifier(Estimator):
    """What both families share: class probabilities of unit-id sequences, and their export."""

    def _set_encoding(self, vocab: list[str], classes: list[str], units: str, max_length: int) -> None:
        self.vocab, self.classes, self.units, self.max_length = vocab, classes, units, max_length

    def proba_of_ids(self, ids: list[np.ndarray]) -> np.ndarray:
        """Each text's unit ids (L_i,), L_i >= 1 -> (N, C) class probabilities."""
        raise NotImplementedError

    def predict(self, data: Any, split: str) -> np.ndarray:
        return self.proba_of_ids(data.ids[split])

    def export(self, data: Any) -> dict[str, np.ndarray]:
        """Weights (``state.*``), the vocabulary (id -> unit), the class names, the units and the length kept."""
        state = {f"state.{k}": v for k, v in self.state_dict().items()}
        return state | {
            "vocab": np.array(data.vocab, dtype=np.str_),
            "classes": np.array(data.classes, dtype=np.str_),
            "units": np.array(data.units),
            "max_length": np.array(data.max_length),
        }

    @classmethod
    def _shell(cls, cfg: Any, arrays: dict[str, np.ndarray]) -> _TextClassifier:
        self = cls.__new__(cls)
        Estimator.__init__(self, cfg, None, np.random.default_rng(0), 0)
        self._set_encoding(
            arrays["vocab"].tolist(), arrays["classes"].tolist(), str(arrays["units"]), int(arrays["max_length"])
        )
        return self

    def predict_new(self, texts: list[str], **options: Any) -> dict[str, Any]:
        """``{"label": [N labels], "probability": (N,) of that label, "probabilities": (N, C), "classes": [C]}``."""
        ids = encode_texts(texts, self.vocab, self.units, self.max_length)
        empty = [i for i, x in enumerate(ids) if len(x) == 0]
        if empty:
            raise DataError(
                f"text {empty[0] + 1} of {len(texts)} has no {'character' if self.units == 'char' else 'word'}",
                "give every text at least one",
            )
        p = self.proba_of_ids(ids) if ids else np.zeros((0, len(self.classes)))  # (N, C)
        k = p.argmax(axis=1)
        return {
            "label": [self.classes[i] for i in k],
            "probability": p[np.arange(len(k)), k],
            "probabilities": p,
            "classes": list(self.classes),
        }


class RecurrentTextClassifier(GradientEstimator, _TextClassifier):
    """harness.models.rnn.RNNClassifier over ragged, masked batches: unit ids -> one class per text."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.rnn import RNNClassifier

        super().__init__(cfg, data, rng, seed)
        self._set_encoding(data.vocab, data.classes, data.units, data.max_length)
        self.model = RNNClassifier(data.n_symbols, data.n_classes, cfg, rng)

    def train_batches(self, data: Any, rng: np.random.Generator):
        return data.batches("train", self.cfg.batch_size, rng)

    def n_train_batches(self, data: Any) -> int:
        return -(-data.n_items("train") // self.cfg.batch_size)

    def batch_size_of(self, batch) -> int:
        return len(batch[1])

    def proba_of_ids(self, ids: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(ids), len(self.classes)))
        for X, mask, idx in padded_batches(ids, 256):
            out[idx] = self.model.predict_proba(X, mask)  # (N, C)
        return out

    @classmethod
    def from_export(cls, cfg: Any, arrays: dict[str, np.ndarray]) -> RecurrentTextClassifier:
        from harness.models.rnn import RNNClassifier

        self = cls._shell(cfg, arrays)
        self.model = RNNClassifier(len(self.vocab), len(self.classes), cfg, np.random.default_rng(0))
        self.model.load_state_dict(exported_state(arrays))
        return self

    def diagnostic_batch(self, data: Any):
        return next(data.batches("dev", 64))


class ClassConditionalHMMClassifier(_TextClassifier):
    """harness.models.hmm.classifier.ClassConditionalHMM: one Baum-Welch HMM per class, Bayes' rule."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.hmm.classifier import ClassConditionalHMM

        super().__init__(cfg, data, rng, seed)
        self._set_encoding(data.vocab, data.classes, data.units, data.max_length)
        self.model = ClassConditionalHMM(cfg.n_states, cfg.n_iter, cfg.tol, cfg.smoothing, random_state=seed)

    def fit(self, data: Any, hooks: Hooks) -> dict[str, float]:
        X, lengths = data.sequences("train")
        figures = timed(lambda: self.model.fit(X, lengths, data.labels["train"], data.n_symbols, data.n_classes))
        return figures | {"baum_welch_iterations": float(self.model.n_iter_.mean())}

    def proba_of_ids(self, ids: list[np.ndarray]) -> np.ndarray:
        lengths = np.array([len(x) for x in ids], dtype=np.int64)
        return self.model.predict_proba(np.concatenate(ids), lengths)

    @classmethod
    def from_export(cls, cfg: Any, arrays: dict[str, np.ndarray]) -> ClassConditionalHMMClassifier:
        from harness.models.hmm.classifier import ClassConditionalHMM

        self = cls._shell(cfg, arrays)
        self.model = ClassConditionalHMM.from_state_dict(exported_state(arrays), cfg.n_states, cfg.smoothing)
        return self
