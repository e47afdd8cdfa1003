"""Embedding lookup as a layer: x = E[ids] forward; dE[v] = sum of dx over the positions reading v backward.

The backward sums rows by sorting the ids and adding runs with ``np.add.reduceat`` (several times
faster than ``np.add.at``), and returns the dense (V, D) gradient the optimisers expect.
"""

from __future__ import annotations

import numpy as np


def embedding_backward(ids: np.ndarray, dx: np.ndarray, vocab_size: int, skip_padding: bool = True) -> np.ndarray:
    """ids (...) int, dx (..., D) -> dE (V, D); row 0 (padding) stays zero when ``skip_padding``."""
    flat = ids.reshape(-1)
    rows = dx.reshape(len(flat), -1)
    if skip_padding:
        keep = flat != 0
        flat, rows = flat[keep], rows[keep]
    dE = np.zeros((vocab_size, rows.shape[1]), dtype=dx.dtype)
    if len(flat) == 0:
        return dE
    order = np.argsort(flat, kind="stable")
    sorted_ids = flat[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    dE[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return dE
