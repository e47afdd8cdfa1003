"""The distance task (many-to-one classification): recall a cue seen ``task.distance`` steps back.

Data from ``harness.data.longrange``. Scored by accuracy at the query; ``chance_accuracy`` is
1 / n_classes (uniform labels), ``baseline_test_accuracy`` the majority training class.

Two views of the same sequences:
- recurrent models read symbol ids (T, N) and are trained by cross-entropy on the label at the
  last step only (``RNNClassifier``, many-to-one; no loss anywhere else).
- the HMM tagger reads the symbols as words with *local* tags: the cue is tagged with its class,
  each distractor ``O`` (a cue symbol recurring as a distractor too), the query with the label. The prediction is the tag it gives the query
  (a query tagged ``O`` counts as wrong). The tags carry no memory of the cue, so a first-order HMM
  can only answer at distance 1 (an order-2 HMM at distance <= 2) and is at chance beyond: the
  textbook point that an HMM's memory is its current state. (Tagging every step with the class
  would hand it the memory, and it would be perfect at any distance.)

Dimension letters: N sequences, T = distance + 1 steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from harness.data.longrange import CueSequences, alphabet, generate
from harness.tasks.base import DatasetInfo, content_digest

OTHER = "O"  # the HMM view's tag of a distractor


@dataclass
class LongRangeData:
    train: CueSequences
    dev: CueSequences
    test: CueSequences
    symbols: list[str]  # id -> name
    n_classes: int
    distance: int
    source: str = "synthetic"

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @property
    def chance_accuracy(self) -> float:
        return 1.0 / self.n_classes

    def split(self, name: str) -> CueSequences:
        return {"train": self.train, "dev": self.dev, "test": self.test}[name]

    def class_name(self, y: int) -> str:
        return f"y{y}"

    # -- recurrent view ------------------------------------------------------------------------
    def batches(
        self, name: str, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(X (T, N) symbol ids, y (N,) labels), shuffled when ``rng`` is given."""
        s = self.split(name)
        order = np.arange(len(s)) if rng is None else rng.permutation(len(s))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield np.ascontiguousarray(s.symbols[idx].T), s.labels[idx]

    # -- HMM view ------------------------------------------------------------------------------
    def tagged(self, name: str) -> tuple[list[list[str]], list[list[str]]]:
        """words, tags: the cue and the query tagged with the class, distractors ``O``."""
        s = self.split(name)
        names = np.array(self.symbols, dtype=object)
        words = names[s.symbols].tolist()
        T = s.symbols.shape[1]
        tags = [
            [OTHER] * p + [self.class_name(y)] + [OTHER] * (T - 2 - p) + [self.class_name(y)]
            for y, p in zip(s.labels.tolist(), s.cue_position.tolist())
        ]
        return words, tags

    def labels_from_tags(self, tags: list[list[str]]) -> np.ndarray:
        """(N,) the class of each query's tag; -1 (always wrong) for a query tagged ``O``."""
        index = {self.class_name(y): y for y in range(self.n_classes)}
        return np.array([index.get(ts[-1], -1) for ts in tags], dtype=np.int64)

    # -- the task contract (harness.tasks.base.TaskData); a prediction is one class id per sequence --
    main_metric = "test_accuracy"
    higher_is_better = True
    dev_metric = "dev_accuracy"
    dev_prefix = "best_dev_"
    predictions_file = "test_predictions.tsv"  # the artifact write_predictions fills
    items = "sequences"

    def n_items(self, split: str) -> int:
        return len(self.split(split).labels)

    def accuracy(self, name: str, predicted: np.ndarray) -> float:
        return float(np.mean(predicted == self.split(name).labels))

    def score(self, split: str, predicted: np.ndarray) -> dict[str, float]:
        return {"accuracy": self.accuracy(split, predicted)}

    def majority_baseline(self, name: str) -> float:
        """Accuracy of always answering the most frequent training class."""
        top = np.bincount(self.train.labels, minlength=self.n_classes).argmax()
        return self.accuracy(name, np.full(len(self.split(name)), top))

    def baselines(self) -> dict[str, float]:
        return {"baseline_test_accuracy": self.majority_baseline("test")}

    def reference_metrics(self, test_scores: dict[str, float]) -> dict[str, float]:
        return {"chance_accuracy": self.chance_accuracy}

    def write_predictions(self, path: Path, predicted: np.ndarray) -> None:
        """test_predictions.tsv: sequence, label, predicted."""
        with path.open("w", encoding="utf-8") as f:
            f.write("sequence\tlabel\tpredicted\n")
            for i, (y, p) in enumerate(zip(self.test.labels.tolist(), predicted.tolist())):
                f.write(f"{i}\t{y}\t{p}\n")

    def dataset_info(self) -> DatasetInfo:
        """The generated sequences: a digest of every split's symbols and labels, split sizes in sequences."""
        parts = (a for c in (self.train, self.dev, self.test) for a in (c.symbols, c.labels))
        splits = {s: len(self.split(s)) for s in ("train", "dev", "test")}
        return DatasetInfo(f"longrange_d{self.distance}", "harness:longrange", content_digest(parts), splits)

    def summary(self, metrics: dict[str, float]) -> list[str]:
        return [
            f"distance={self.distance}",
            f"test_accuracy={metrics['test_accuracy']:.4f}",
            f"chance={metrics['chance_accuracy']:.4f}",
        ]


def load_longrange(cfg, seed: int) -> LongRangeData:
    """The task's data for ``cfg`` (LongRangeTaskConfig)."""
    train, dev, test = generate(cfg, seed)
    return LongRangeData(train, dev, test, alphabet(cfg.n_classes, cfg.n_distractors), cfg.n_classes, cfg.distance)
