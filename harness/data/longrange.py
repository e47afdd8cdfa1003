"""Sequences whose label is a cue seen ``distance`` steps earlier: the textbook test of memory.

Each sequence has ``distance + 1`` symbols; by default (``min_distance`` unset):

    c_y  d_1  d_2  ...  d_{distance-1}  ?

the cue c_y (y uniform over ``n_classes``), ``distance - 1`` distractors drawn uniformly and
independently from ``n_distractors`` symbols, and the query ``?``. The label y is due at the query,
``distance`` steps after the cue. Nothing but the cue carries information about y, so the label is
a deterministic function of the cue alone, and a model that has forgotten the cue can do no better
than chance: 1 / n_classes in expectation (labels are uniform).

Knobs:
- ``min_distance`` = m < distance: the gap varies. The cue sits at a uniform position p in
  0..distance-m (preceded by p plain distractors), so it lies between m and ``distance`` steps
  before the query. With a fixed gap a vanilla RNN can keep the cue by a fixed rotation of its
  state (orthogonal recurrent weights, small inputs) and read it out at that one delay; with a
  varying gap it has to hold it still (a latch), which is where gradients vanish.
- ``cue_distractors``: after the cue, distractors are drawn from the cue symbols too, so the
  answer is the *first* cue symbol, not the latest one (before the cue, only plain distractors).

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
    """symbols (N, T) ids with T = distance + 1; labels (N,) class ids (= the cue's id);
    cue_position (N,) where the cue is (0 unless min_distance is set)."""

    symbols: np.ndarray
    labels: np.ndarray
    cue_position: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def sample(
    n: int,
    distance: int,
    n_classes: int,
    n_distractors: int,
    rng: np.random.Generator,
    cue_distractors: bool = False,
    min_distance: int | None = None,
) -> CueSequences:
    """``n`` independent sequences (see the module docstring)."""
    C, D = n_classes, n_distractors
    y = rng.integers(0, C, size=n)  # (N,)
    spread = 0 if min_distance is None else distance - min_distance
    p = rng.integers(0, spread + 1, size=n)  # (N,) cue positions; gap = distance - p
    t = np.arange(distance + 1)[None, :]  # (1, T)
    plain = C + rng.integers(0, D, size=(n, distance + 1))  # (N, T) plain distractors
    mixed = rng.integers(0, C + D, size=(n, distance + 1)) if cue_distractors else plain  # cue symbols recur
    x = np.where(t < p[:, None], plain, mixed)  # before the cue: plain; after: mixed or plain
    x[np.arange(n), p] = y  # the cue's id is its class
    x[:, distance] = C + D  # the query
    return CueSequences(x, y, p)


def generate(cfg, seed: int) -> tuple[CueSequences, CueSequences, CueSequences]:
    """train, dev, test for ``cfg`` (LongRangeTaskConfig); ``cfg.seed`` overrides the run's seed."""
    rng = np.random.default_rng(seed if cfg.seed is None else cfg.seed)
    sizes = (cfg.n_train, cfg.n_dev, cfg.n_test)
    min_distance = max(1, cfg.distance // 2) if cfg.vary_gap and cfg.min_distance is None else cfg.min_distance
    knobs = dict(cue_distractors=bool(cfg.cue_distractors), min_distance=min_distance)
    return tuple(sample(n, cfg.distance, cfg.n_classes, cfg.n_distractors, rng, **knobs) for n in sizes)
