"""Embedding lookup as a layer: x = E[ids] forward; dE[v] = sum of dx over the positions reading v backward.

The backward sums rows by sorting the ids and adding runs with ``np.add.reduceat`` (several times
faster than ``np.add.at``) and returns only the rows the batch touched (a ``RowGrad``), so the
optimiser's step costs O(rows touched), not O(vocabulary). ``np.asarray(grad)`` gives the dense (V, D).
"""

from __future__ import annotations

import numpy as np

from harness.models.nn.optim import RowGrad


def embedding_backward(ids: np.ndarray, dx: np.ndarray, vocab_size: int, skip_padding: bool = True) -> RowGrad:
    """ids (...) int, dx (..., D) -> dE as a RowGrad over (V, D); row 0 (padding) gets no gradient when ``skip_padding``."""
    flat = ids.reshape(-1)
    rows = dx.reshape(len(flat), -1)
    if skip_padding:
        keep = flat != 0
        flat, rows = flat[keep], rows[keep]
    order = np.argsort(flat, kind="stable")
    sorted_ids = flat[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]) if len(flat) else np.zeros(0, int)
    values = np.add.reduceat(rows[order], starts, axis=0) if len(flat) else np.zeros((0, rows.shape[1]), dx.dtype)
    return RowGrad(sorted_ids[starts], values, (vocab_size, rows.shape[1]))
