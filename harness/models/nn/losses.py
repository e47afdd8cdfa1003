"""Losses, each returning (loss, gradient with respect to its input).

Dimension letters: T time, N batch, C classes.
"""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(o: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> tuple[float, np.ndarray]:
    """Cross-entropy of y_t = softmax(o_t) against the targets, summed over real steps, averaged per real token.

    o (T, N, C) logits; targets (T, N) class ids; mask (T, N) True at real tokens.
    Returns (loss, do) with do (T, N, C) = (y_t - onehot(target_t)) / n_real at real steps, 0 at padding.
    """
    n_real = max(int(mask.sum()), 1)
    shifted = o - o.max(axis=-1, keepdims=True)  # stable: the largest logit is 0
    e = np.exp(shifted)
    total = e.sum(axis=-1, keepdims=True)
    logy = shifted - np.log(total)  # log softmax, (T, N, C)
    picked = np.take_along_axis(logy, targets[..., None], axis=-1)[..., 0]  # (T, N)
    loss = -float(picked[mask].sum()) / n_real
    do = e / total  # y
    np.put_along_axis(do, targets[..., None], np.take_along_axis(do, targets[..., None], axis=-1) - 1, axis=-1)
    do *= (mask / n_real)[..., None].astype(do.dtype)
    return loss, do


def mse(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error over all elements; returns (loss, dpred)."""
    diff = pred - target
    return float(np.mean(diff**2)), (2.0 / diff.size) * diff
