"""Optimisers that update a dict of parameter arrays in place, and global-norm gradient clipping."""

from __future__ import annotations

import numpy as np


def clip_global_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients by min(1, max_norm / ||g||) in place; returns ||g|| before clipping (0 = off)."""
    norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
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

    def step(self, grads: dict[str, np.ndarray]) -> None:
        for k, p in self.params.items():
            g = grads[k]
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                v = self.velocity[k]
                v *= self.momentum
                v += g
                g = v
            p -= self.lr * g

    def state_dict(self) -> dict[str, np.ndarray]:
        return {f"velocity.{k}": v for k, v in self.velocity.items()}

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        for k in self.velocity:
            self.velocity[k][...] = d[f"velocity.{k}"]


class Adam:
    """Adam (Kingma & Ba): m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2; p <- p - lr m_hat / (sqrt(v_hat) + eps).

    ``weight_decay`` is decoupled (AdamW): p <- p - lr wd p.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        self.params, self.lr, self.betas, self.eps, self.weight_decay = params, lr, betas, eps, weight_decay
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = 0

    def step(self, grads: dict[str, np.ndarray]) -> None:
        b1, b2 = self.betas
        self.t += 1
        step_size = self.lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)  # bias corrections folded in
        for k, p in self.params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            if self.weight_decay:
                p -= self.lr * self.weight_decay * p
            p -= step_size * m / (np.sqrt(v) + self.eps)

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
