"""Optimisers that update a dict of parameter arrays in place, and global-norm gradient clipping.

A gradient is either a dense array shaped like its parameter or, for embedding tables, a
``RowGrad``: the distinct rows a batch touched and their gradients. Rows absent from a batch are
left alone: their Adam moments and momentum do not decay and weight decay skips them ("lazy"
updates, as in torch.optim.SparseAdam and TF's LazyAdam), which makes a step cost O(rows touched)
instead of O(vocabulary).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RowGrad:
    """Gradient of a (V, D) table that is zero except at ``rows``: values (len(rows), D)."""

    rows: np.ndarray  # (R,) distinct row ids
    values: np.ndarray  # (R, D)
    shape: tuple[int, int]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        dense = np.zeros(self.shape, dtype=dtype or self.values.dtype)
        dense[self.rows] = self.values
        return dense

    def __imul__(self, scale: float) -> RowGrad:
        self.values *= scale
        return self


def _vdot(g) -> float:
    v = g.values if isinstance(g, RowGrad) else g
    return float(np.vdot(v, v))


def clip_global_norm(grads: dict, max_norm: float) -> float:
    """Scale all gradients by min(1, max_norm / ||g||) in place; returns ||g|| before clipping (0 = off)."""
    norm = float(np.sqrt(sum(_vdot(g) for g in grads.values())))
    if max_norm > 0 and norm > max_norm:
        scale = max_norm / (norm + 1e-12)
        for g in grads.values():
            g *= scale
    return norm


class SGD:
    """p <- p - lr * (g + wd p), with optional momentum v <- mu v + g."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        self.params, self.lr, self.momentum, self.weight_decay = params, lr, momentum, weight_decay
        self.velocity = {k: np.zeros_like(p) for k, p in params.items()} if momentum else {}

    def step(self, grads: dict) -> None:
        for k, p in self.params.items():
            g = grads[k]
            rows = slice(None)
            if isinstance(g, RowGrad):
                rows, g = g.rows, g.values
            if self.weight_decay:
                g = g + self.weight_decay * p[rows]
            if self.momentum:
                v = self.velocity[k]
                v[rows] = self.momentum * v[rows] + g
                g = v[rows]
            p[rows] -= self.lr * g

    def state_dict(self) -> dict[str, np.ndarray]:
        return {f"velocity.{k}": v for k, v in self.velocity.items()}

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        for k in self.velocity:
            self.velocity[k][...] = d[f"velocity.{k}"]


class Adam:
    """Adam (Kingma & Ba): m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2; p <- p - lr m_hat / (sqrt(v_hat) + eps).

    ``weight_decay`` is decoupled (AdamW): p <- p - lr wd p. Dense updates work in place with one
    scratch buffer per parameter (no temporaries per step).
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        self.params, self.lr, self.betas, self.eps, self.weight_decay = params, lr, betas, eps, weight_decay
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self._scratch = {k: np.empty_like(p) for k, p in params.items()}
        self.t = 0

    def step(self, grads: dict) -> None:
        b1, b2 = self.betas
        self.t += 1
        step_size = self.lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)  # bias corrections folded in
        for k, p in self.params.items():
            g = grads[k]
            if isinstance(g, RowGrad):
                self._step_rows(p, self.m[k], self.v[k], g, step_size)
                continue
            m, v, s = self.m[k], self.v[k], self._scratch[k]
            m *= b1
            np.multiply(g, 1 - b1, out=s)
            m += s  # m = b1 m + (1 - b1) g
            v *= b2
            np.multiply(g, g, out=s)
            s *= 1 - b2
            v += s  # v = b2 v + (1 - b2) g^2
            if self.weight_decay:
                p -= self.lr * self.weight_decay * p
            np.sqrt(v, out=s)
            s += self.eps
            np.divide(m, s, out=s)
            s *= step_size
            p -= s

    def _step_rows(self, p, m, v, g: RowGrad, step_size: float) -> None:
        b1, b2 = self.betas
        r = g.rows
        m[r] = b1 * m[r] + (1 - b1) * g.values
        v[r] = b2 * v[r] + (1 - b2) * (g.values * g.values)
        if self.weight_decay:
            p[r] -= self.lr * self.weight_decay * p[r]
        p[r] -= step_size * m[r] / (np.sqrt(v[r]) + self.eps)

    def state_dict(self) -> dict[str, np.ndarray]:
        d = {f"m.{k}": m for k, m in self.m.items()} | {f"v.{k}": v for k, v in self.v.items()}
        d["t"] = np.array(self.t)
        return d

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        for k in self.m:
            self.m[k][...] = d[f"m.{k}"]
            self.v[k][...] = d[f"v.{k}"]
        self.t = int(d["t"])


def make_optimizer(name: str, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
    if name == "sgd":
        return SGD(params, lr, momentum, weight_decay)
    return Adam(params, lr, weight_decay=weight_decay)
