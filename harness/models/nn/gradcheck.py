"""Finite-difference gradient checks (float64).

``numerical_gradient`` perturbs every element (tiny shapes); ``rel_error`` compares the result with
the analytic gradient.
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


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = EPS, stencil: int = 3) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to every element of ``x`` (in place).

    ``stencil=3``: (f(x+e) - f(x-e)) / 2e, error O(e^2). ``stencil=5``:
    (8 (f(x+e) - f(x-e)) - (f(x+2e) - f(x-2e))) / 12e, error O(e^4), which allows a larger step and so
    less round-off: use it (with eps ~1e-3) for O(1) losses whose gradient holds very small elements.
    ``x`` is perturbed in place and restored, so ``f`` must read it by reference.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]

        def at(delta: float, i=i, old=old) -> float:
            x[i] = old + delta
            return f()

        if stencil == 5:
            near, far = at(eps) - at(-eps), at(2 * eps) - at(-2 * eps)  # differences first: exact 0 if f ignores x[i]
            grad[i] = (8 * near - far) / (12 * eps)
        else:
            grad[i] = (at(eps) - at(-eps)) / (2 * eps)
        x[i] = old
    return grad
