"""Sequences whose label is a cue seen ``distance`` steps earlier: the textbook test of memory.

Each sequence has ``distance + 1`` symbols:

    c_y  d_1  d_2  ...  d_{distance-1}  ?

the cue c_y (y uniform over ``n_classes``), ``distance - 1`` distractors drawn uniformly and
independently from ``n_distractors`` symbols, and the query ``?``. The label y is due at the query,
``distance`` steps after the cue. Nothing after the cue carries information about y, so the label
is a deterministic function of the first symbol alone, and a model that has forgotten the cue can
do no better than chance: 1 / n_classes in expectation (labels are uniform).

Symbol ids: 0..C-1 the cues, C..C+D-1 the distractors, C+D the query (C classes, D distractors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUERY = "?"


def alphabet(n_classes: int, n_distractors: int) -> list[str]:
    """Symbol names by id: cues ``c0..``, distractors ``d0..``, then the query ``?``."""
    return [f"c{i}" for i in range(n_classes)] + [f"d{i}" for i in range(n_distractors)] + [QUERY]


@dataclass
class CueSequences:
    """symbols (N, T) ids with T = distance + 1; labels (N,) class ids (= the cue's id)."""

    symbols: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def sample(n: int, distance: int, n_classes: int, n_distractors: int, rng: np.random.Generator) -> CueSequences:
    """``n`` independent sequences (see the module docstring)."""
    y = rng.integers(0, n_classes, size=n)  # (N,)
    x = np.empty((n, distance + 1), dtype=np.int64)  # (N, T)
    x[:, 0] = y  # the cue's id is its class
    x[:, 1:distance] = n_classes + rng.integers(0, n_distractors, size=(n, distance - 1))
    x[:, distance] = n_classes + n_distractors  # the query
    return CueSequences(x, y)


def generate(cfg, seed: int) -> tuple[CueSequences, CueSequences, CueSequences]:
    """train, dev, test for ``cfg`` (LongRangeTaskConfig); ``cfg.seed`` overrides the run's seed."""
    rng = np.random.default_rng(seed if cfg.seed is None else cfg.seed)
    sizes = (cfg.n_train, cfg.n_dev, cfg.n_test)
    return tuple(sample(n, cfg.distance, cfg.n_classes, cfg.n_distractors, rng) for n in sizes)
