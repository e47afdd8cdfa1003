"""Finite-difference gradient checks (float64).

``numerical_gradient`` perturbs every element (tiny shapes); ``directional_check`` compares the
analytic gradient with a numerical derivative along one random direction (realistic shapes).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

EPS = 1e-6  # central-difference step, suited to float64


def rel_error(a: np.ndarray | float, b: np.ndarray | float) -> float:
    """Max elementwise relative error |a - b| / max(|a| + |b|, tiny)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = np.maximum(np.abs(a) + np.abs(b), 1e-12)
    return float(np.max(np.abs(a - b) / denom)) if a.size else 0.0


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to every element of ``x`` (in place).

    ``x`` is perturbed in place and restored, so ``f`` must read it by reference.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        f_plus = f()
        x[i] = old - eps
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def directional_check(
    f: Callable[[], float], x: np.ndarray, analytic: np.ndarray, rng: np.random.Generator, eps: float = EPS
) -> float:
    """Relative error between <analytic, u> and (f(x + eps u) - f(x - eps u)) / 2 eps for a random unit u."""
    u = rng.standard_normal(x.shape)
    u /= np.linalg.norm(u)
    old = x.copy()
    x[...] = old + eps * u
    f_plus = f()
    x[...] = old - eps * u
    f_minus = f()
    x[...] = old
    return rel_error(float(np.sum(analytic * u)), (f_plus - f_minus) / (2 * eps))
