"""Scores of probabilistic and point forecasts: CRPS, central-interval coverage and width, RMSE/MAE/MASE/sMAPE.

The forecast of origin i at horizon h is a predictive distribution: a K-component Gaussian mixture of g,
where the forecast variable is x = g, or x = exp(g) for a model of log values (then x is a mixture of
log-normals). ``Predictive`` holds N x H of them and answers what the scores ask: a point forecast, the
CDF, quantiles and central intervals.

CRPS(F, y) = ∫ (F(x) - 1{x >= y})^2 dx = E|X - y| - ½ E|X - X'| (Gneiting & Raftery 2007): lower is
better, in the units of y, and it reduces to the absolute error for a point forecast. A Gaussian
mixture has a closed form (Grimit et al. 2006):

    CRPS = Σ_k w_k A(y - m_k, s_k) - ½ Σ_k Σ_l w_k w_l A(m_k - m_l, sqrt(s_k² + s_l²)),
    A(m, s) = E|N(m, s²)| = m (2Φ(m/s) - 1) + 2 s φ(m/s),

computed by scoringrules (``crps_normal`` for K = 1, ``crps_mixnorm``; both checked against
numerical integration in the tests). A log-normal mixture is integrated numerically
(``crps_numeric``).

Every score is NaN-aware: a NaN observation scores NaN, and the per-horizon means skip it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

TAIL = 1e-6  # crps_numeric integrates between the TAIL and 1 - TAIL quantiles (the rest is exact)
QUANTILE_RTOL = 1e-13  # quantile iterations stop when a step is below this, relative to |g| + sd
MAX_ITER = 200  # safeguarded Newton: quadratic near the root, bisection (halving the bracket) elsewhere
CHUNK = 1 << 22  # crps_numeric evaluates at most this many component CDFs at a time (memory)


@dataclass(frozen=True, eq=False)
class Predictive:
    """Predictive distributions for N origins x H horizons: a K-component Gaussian mixture of g, and the
    forecast variable is x = g (log=False) or x = exp(g) (log=True)."""

    weights: np.ndarray  # (N, H, K), sums to 1 over K
    means: np.ndarray  # (N, H, K)
    sds: np.ndarray  # (N, H, K), > 0
    log: bool = False

    def __post_init__(self):
        for name in ("weights", "means", "sds"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        if not (self.weights.shape == self.means.shape == self.sds.shape and self.means.ndim == 3):
            raise ValueError(
                f"weights, means and sds must share one (N, H, K) shape, got "
                f"{self.weights.shape}, {self.means.shape}, {self.sds.shape}"
            )

    @classmethod
    def gaussian(cls, mean, sd, log: bool = False) -> Predictive:
        """One Gaussian (K = 1) per origin and horizon from (N, H) means and standard deviations."""
        mean, sd = np.asarray(mean, dtype=np.float64), np.asarray(sd, dtype=np.float64)
        return cls(np.ones_like(mean)[..., None], mean[..., None], sd[..., None], log)

    def point(self) -> np.ndarray:
        """(N, H) point forecast: the mixture mean of g, exp'd when log. For log=True that is exp(E g), the
        median of a single log-normal and a geometric-mean (median-type) forecast of a mixture, below its
        mean exp(m + s²/2): the forecast that suits absolute and relative errors rather than squared ones."""
        g = (self.weights * self.means).sum(-1)  # (N, H)
        return np.exp(g) if self.log else g

    def _mix(self, u: np.ndarray, fn) -> np.ndarray:
        """Σ_k w_k fn((u - m_k) / s_k) for u (N, H, ...) in g units, with the shape of u."""
        extra = (1,) * (u.ndim - 2)
        w, m, s = (a.reshape(*a.shape[:2], *extra, a.shape[-1]) for a in (self.weights, self.means, self.sds))
        return (w * fn((u[..., None] - m) / s)).sum(-1)

    def _cdf_g(self, u: np.ndarray) -> np.ndarray:
        return self._mix(u, ndtr)

    def _sf_g(self, u: np.ndarray) -> np.ndarray:
        """1 - F(u), without the cancellation of 1 - F in the upper tail."""
        return self._mix(u, lambda z: ndtr(-z))

    def cdf(self, x) -> np.ndarray:
        """(N, H) P(X <= x) for x (N, H)."""
        x = np.asarray(x, dtype=np.float64)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), -np.inf)  # P(exp(g) <= x) = 0 for x <= 0
        return self._cdf_g(x)

    def _quantile_g(self, q: float) -> np.ndarray:
        """(N, H) the q-quantile of g: Newton on the mixture CDF, kept inside a bisection bracket."""
        if not 0 < q < 1:
            raise ValueError(f"a quantile level must lie in (0, 1), got {q!r}")
        comp = self.means + self.sds * ndtri(q)  # (N, H, K) component quantiles
        lo, hi = comp.min(-1), comp.max(-1)  # F(lo) <= q <= F(hi): each F_k is <= q at lo, >= q at hi
        u = np.clip((self.weights * comp).sum(-1), lo, hi)  # (N, H)
        tol = QUANTILE_RTOL * (np.abs(u) + self.sds.max(-1))  # (N, H)
        for _ in range(MAX_ITER):
            r = self._cdf_g(u) - q  # (N, H)
            lo, hi = np.where(r < 0, u, lo), np.where(r > 0, u, hi)
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = u - r / self._mix_density(u)
            nxt = np.where((newton > lo) & (newton < hi), newton, 0.5 * (lo + hi))
            done = np.abs(nxt - u) <= tol
            u = nxt
            if done.all():
                break
        return u

    def _mix_density(self, u: np.ndarray) -> np.ndarray:
        """Σ_k w_k φ((u - m_k) / s_k) / s_k, the mixture density of g at u (N, H)."""
        z = (u[..., None] - self.means) / self.sds  # (N, H, K)
        return (self.weights * np.exp(-0.5 * z * z) / (np.sqrt(2 * np.pi) * self.sds)).sum(-1)

    def quantile(self, q: float) -> np.ndarray:
        """(N, H) the q-quantile of x, q in (0, 1): exp of g's quantile when log (exp is increasing)."""
        u = self._quantile_g(q)
        return np.exp(u) if self.log else u

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """The central ``level`` % interval: the (1 - level/100)/2 and (1 + level/100)/2 quantiles, each (N, H)."""
        if not 0 < level < 100:
            raise ValueError(f"an interval level must lie in (0, 100), got {level!r}")
        a = (1 - level / 100) / 2
        return self.quantile(a), self.quantile(1 - a)


def crps(pred: Predictive, y: np.ndarray) -> np.ndarray:
    """(N, H) CRPS of each predictive distribution at its observation y (N, H); NaN where y is NaN.
    Closed form for log=False (scoringrules), numerical integration for log=True."""
    y = np.asarray(y, dtype=np.float64)
    if pred.log:
        return crps_numeric(pred, y)
    import scoringrules as sr  # imported here: 0.3 s that only scoring needs

    if pred.means.shape[-1] == 1:
        return np.asarray(sr.crps_normal(y, pred.means[..., 0], pred.sds[..., 0], backend="numpy"))
    return np.asarray(sr.crps_mixnorm(y, pred.means, pred.sds, pred.weights, backend="numpy"))


def _segment(pred: Predictive, a: np.ndarray, b: np.ndarray, upper: bool, n: int) -> np.ndarray:
    """(N, H) Simpson's rule for ∫_a^b G(u)^2 J(u) du on n (odd) points, G = F (lower) or 1 - F (upper),
    J(u) = exp(u) when log (dx = e^u du), else 1; in chunks of grid points to bound memory."""
    t = np.linspace(0.0, 1.0, n)  # (n,)
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    w /= 3.0 * (n - 1)  # Simpson weights on [0, 1]
    N, H, K = pred.means.shape
    total = np.zeros((N, H))
    for j in np.array_split(np.arange(n), max(1, N * H * K * n // CHUNK)):
        u = a[..., None] + (b - a)[..., None] * t[j]  # (N, H, c)
        G = pred._sf_g(u) if upper else pred._cdf_g(u)
        total += (G * G * (np.exp(u) if pred.log else 1.0) * w[j]).sum(-1)
    return (b - a) * total


def crps_numeric(pred: Predictive, y: np.ndarray, n: int = 4000) -> np.ndarray:
    """(N, H) CRPS as the integral of (F(x) - 1{x >= y})^2 dx, NaN where y is NaN.

    Between the TAIL and 1 - TAIL quantiles the integral is split at y (so the integrand is smooth on each
    part) and taken by Simpson's rule on about n/2 points each, in g units (x = exp(g), dx = e^g dg, when
    log: a grid even in log x follows a log-normal's skew). Outside them F is within TAIL of 0 or 1, so
    the part between y and the grid (when y lies outside it) is its length. For tests and for log=True."""
    y = np.asarray(y, dtype=np.float64)
    u_lo, u_hi = pred._quantile_g(TAIL), pred._quantile_g(1 - TAIL)  # (N, H)
    x_lo, x_hi = (np.exp(u_lo), np.exp(u_hi)) if pred.log else (u_lo, u_hi)
    y_in = np.clip(y, x_lo, x_hi)  # (N, H) y moved onto the grid; NaN stays NaN
    split = np.log(y_in) if pred.log else y_in
    m = n // 2 | 1  # odd, for Simpson's rule
    inside = _segment(pred, u_lo, split, upper=False, n=m) + _segment(pred, split, u_hi, upper=True, n=m)
    return inside + np.abs(y - y_in)


def nanmean_columns(a: np.ndarray) -> np.ndarray:
    """(N, H) -> (H,) mean over the non-NaN values of each column; NaN for a column without any."""
    count = (~np.isnan(a)).sum(0)  # (H,)
    return np.where(count > 0, np.nansum(a, 0) / np.maximum(count, 1), np.nan)


def interval_scores(lower, upper, y, level: float) -> dict[str, np.ndarray]:
    """Per horizon (H,): ``coverage<level>``, the share of y inside [lower, upper], and ``width<level>``, the
    mean width, over the origins where y and both bounds are known (each array (N, H))."""
    lower, upper, y = (np.asarray(a, dtype=np.float64) for a in (lower, upper, y))
    known = ~(np.isnan(lower) | np.isnan(upper) | np.isnan(y))  # (N, H)
    inside = np.where(known, (lower <= y) & (y <= upper), np.nan)  # (N, H)
    width = np.where(known, upper - lower, np.nan)
    return {f"coverage{level:g}": nanmean_columns(inside), f"width{level:g}": nanmean_columns(width)}


def point_scores(y, yhat, mase_scale: float) -> dict[str, np.ndarray]:
    """Per horizon (H,) over the origins where y and yhat (N, H) are known: rmse, mae, mase = mae /
    mase_scale (the in-sample naive MAE), smape = mean of 200 |e| / (|y| + |yhat|) in percent, 0 where
    both are 0."""
    y, yhat = np.asarray(y, dtype=np.float64), np.asarray(yhat, dtype=np.float64)
    e = yhat - y  # (N, H), NaN where either is
    denom = np.abs(y) + np.abs(yhat)
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.where(denom > 0, 200 * np.abs(e) / denom, np.where(np.isnan(e), np.nan, 0.0))  # (N, H)
    mae = nanmean_columns(np.abs(e))
    return {
        "rmse": np.sqrt(nanmean_columns(e * e)),
        "mae": mae,
        "mase": mae / mase_scale,
        "smape": nanmean_columns(ape),
    }
