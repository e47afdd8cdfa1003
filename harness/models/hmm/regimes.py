"""A regime-switching forecaster: a Gaussian HMM on the (transformed, differenced, scaled) series, with
optionally autoregressive emission means, the number of regimes chosen by BIC, and a Gaussian-mixture
predictive distribution for horizons 1..H. Strictly causal: forecasts use the *filtered* state only.

Model, for states s_t in 1..K with transition matrix A (K, K) and start distribution pi (K,):
    z_t | s_t = k  ~  N(c_k + phi_k z_{t-1}, sigma_k^2)      (phi = 0 without ``autoregressive``)
The autoregressive model conditions on z_0 (its likelihood starts at t = 1).

Fitting (training part only): for each K in 1..``max_states`` (or the given ``n_states``),
hmmlearn's GaussianHMM (implementation="scaling", ``random_state``) fits the plain model; with
``autoregressive`` that fit starts EM for the AR emissions here (scaled forward-backward, weighted
least squares per state). K minimises BIC = -2 log L + p log n, p = (K - 1) + K (K - 1) + K (2 or 3).

Forecasting from an origin o: alpha_o = p(s_o | z_0..z_o) by the forward recursion (never smoothed;
hmmlearn's predict/predict_proba smooth and are not used). The state h steps ahead has distribution
w_h = alpha_o A^h. Without AR this gives the exact predictive mixture sum_k w_hk N(c_k, sigma_k^2).
With AR, h = 1 is exact (means c_k + phi_k z_o); for h > 1 the mixture is moment-matched per state:
the moments of z_{o+h-1} given s_{o+h} = k (a mixture over the previous state j with weights
proportional to w_{h-1,j} A_jk) are pushed through the AR step. ``cumulative=True`` returns the same
kind of mixture for the sum z_{o+1} + .. + z_{o+h} (a differenced series back to its level change),
tracking the covariance of the running sum with the last value.

Dimension letters: T time, N origins, H horizons, K states.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from hmmlearn.hmm import GaussianHMM
from threadpoolctl import threadpool_limits

MIN_POINTS_PER_STATE = 5  # a K-state model is fitted only to a series of at least 5 K points
VAR_FLOOR = 1e-4  # floor on sigma_k^2, relative to the variance of the training series


class RegimeForecaster:
    """Gaussian HMM forecaster with regime-dependent AR(1) means; see the module docstring."""

    HYPERPARAMS = ("n_states", "max_states", "autoregressive", "n_iter", "tol", "random_state")

    def __init__(
        self,
        n_states: int | None = None,
        max_states: int = 4,
        autoregressive: bool = True,
        n_iter: int = 200,
        tol: float = 1e-6,
        random_state: int | None = 0,
    ):
        self.n_states = n_states
        self.max_states = max_states
        self.autoregressive = autoregressive
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state

    # fitting

    def fit(self, z: np.ndarray) -> RegimeForecaster:
        """Fit on the training series z (T,); K by BIC unless ``n_states`` is set. Sets ``bic_`` {K: BIC} and
        ``history_`` (the chosen K's log-likelihood at each EM iteration)."""
        from harness.models.hmm.params import check_regime_params

        check_regime_params({k: getattr(self, k) for k in ("n_states", "max_states", "n_iter", "tol")})
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        candidates = [self.n_states] if self.n_states else list(range(1, self.max_states + 1))
        self.bic_, fits = {}, {}
        for K in candidates:
            if len(z) < MIN_POINTS_PER_STATE * K:
                continue
            params, loglik, history = self._fit_k(z, K)
            n_free = (K - 1) + K * (K - 1) + K * (3 if self.autoregressive else 2)
            n_obs = len(z) - 1 if self.autoregressive else len(z)
            self.bic_[K] = -2 * loglik + n_free * math.log(n_obs)
            if not np.isfinite(loglik):
                del self.bic_[K]
                continue
            fits[K] = (params, loglik, history)
        if not fits:
            raise ValueError(f"a series of {len(z)} points is too short for a regime model")
        K = min(self.bic_, key=self.bic_.get)
        (self.startprob_, self.transmat_, self.c_, self.phi_, self.sigma_), self.loglik_, self.history_ = fits[K]
        return self

    def _fit_k(self, z: np.ndarray, K: int):
        var0 = z.var()
        hmm = GaussianHMM(
            n_components=K,
            covariance_type="diag",
            n_iter=self.n_iter,
            tol=self.tol,
            random_state=self.random_state,
            implementation="scaling",
        )
        quiet = logging.getLogger("hmmlearn.base")  # "Model is not converging" at 1e-6 is rounding, not news
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            with threadpool_limits(1):  # BLAS threads only oversubscribe the cores on (K, K) products
                hmm.fit(z[:, None])
        finally:
            quiet.setLevel(level)
        pi, A = hmm.startprob_.copy(), hmm.transmat_.copy()
        c = hmm.means_[:, 0].copy()
        sigma = np.sqrt(np.maximum(hmm.covars_.reshape(K, -1)[:, 0], VAR_FLOOR * var0))
        phi = np.zeros(K)
        if not self.autoregressive:
            return (pi, A, c, phi, sigma), float(hmm.score(z[:, None])), list(hmm.monitor_.history)
        # EM for the AR(1) emissions, started from the plain fit
        y, x = z[1:], z[:-1]  # (T-1,) targets and their regressors
        Xr = np.stack([np.ones_like(x), x], axis=1)  # (T-1, 2)
        # a step no state explains (a zero of A, a collapsed state on a short series) has scale 0: its log-likelihood
        # is -inf, the loop stops below and BIC passes over the candidate; no warning for an expected case
        with np.errstate(divide="ignore", invalid="ignore"):
            history = []  # log-likelihood before each M-step
            for _ in range(self.n_iter):
                logb = self._log_emission_ar(y, x, c, phi, sigma)  # (T-1, K)
                alpha, scale, offset = self._forward(logb, pi, A)
                loglik = float(np.log(scale).sum() + offset.sum())
                history.append(loglik)
                if len(history) >= 2 and history[-1] - history[-2] < self.tol:
                    break
                beta = self._backward(logb, A, offset)
                gamma = alpha * beta  # (T-1, K) smoothed state probabilities (fitting only)
                if not np.all(
                    gamma.sum(axis=1) > 0
                ):  # a step no state explains (a zero of A): stop at these parameters
                    break
                gamma /= gamma.sum(axis=1, keepdims=True)
                b = np.exp(logb - offset[:, None])  # (T-1, K)
                xi_t = (
                    A[None] * alpha[:-1, :, None] * (b[1:] * beta[1:])[:, None, :]
                )  # (T-2, K, K), up to a factor per t
                xi = (xi_t / xi_t.sum(axis=(1, 2), keepdims=True)).sum(axis=0)  # (K, K) expected transition counts
                pi = gamma[0]
                A = xi / np.maximum(xi.sum(axis=1, keepdims=True), 1e-300)
                # weighted least squares per state: (X^T G_k X) beta_k = X^T G_k y
                XtGX = np.einsum("tk,ti,tj->kij", gamma, Xr, Xr) + 1e-8 * np.eye(2)  # (K, 2, 2)
                XtGy = np.einsum("tk,ti,t->ki", gamma, Xr, y)  # (K, 2)
                coef = np.linalg.solve(XtGX, XtGy[..., None])[..., 0]  # (K, 2)
                c, phi = coef[:, 0], np.clip(coef[:, 1], -0.99, 0.99)
                resid = y[:, None] - (c + phi * x[:, None])  # (T-1, K)
                var = (gamma * resid**2).sum(axis=0) / np.maximum(gamma.sum(axis=0), 1e-12)
                sigma = np.sqrt(np.maximum(var, VAR_FLOOR * var0))
            logb = self._log_emission_ar(y, x, c, phi, sigma)
            _, scale, offset = self._forward(logb, pi, A)
            return (pi, A, c, phi, sigma), float(np.log(scale).sum() + offset.sum()), history

    @staticmethod
    def _log_emission_ar(y, x, c, phi, sigma) -> np.ndarray:
        """log N(y_t | c_k + phi_k x_t, sigma_k^2), (T, K)."""
        r = (y[:, None] - (c + phi * x[:, None])) / sigma  # (T, K)
        return -0.5 * np.log(2 * np.pi) - np.log(sigma) - 0.5 * r * r

    @staticmethod
    def _forward(logb: np.ndarray, prior: np.ndarray, A: np.ndarray):
        """Scaled forward pass: alpha (T, K) filtered probabilities, scale (T,) with
        log p(z) = sum log scale + sum offset."""
        T, K = logb.shape
        offset = logb.max(axis=1)  # (T,)
        b = np.exp(logb - offset[:, None])  # (T, K)
        alpha, scale = np.empty((T, K)), np.empty(T)
        p = prior * b[0]
        for t in range(T):
            if t:
                p = (alpha[t - 1] @ A) * b[t]  # predict, then weigh by the emission
            scale[t] = p.sum()
            alpha[t] = p / scale[t]
        return alpha, scale, offset

    @staticmethod
    def _backward(logb: np.ndarray, A: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Backward variables (T, K), each row normalised to sum 1."""
        T, K = logb.shape
        b = np.exp(logb - offset[:, None])
        beta = np.ones((T, K))
        for t in range(T - 2, -1, -1):
            beta[t] = A @ (b[t + 1] * beta[t + 1])
            beta[t] /= beta[t].sum()  # any per-step factor cancels: gamma and xi are normalised per step
        return beta

    # filtering and forecasting

    def _check_fitted(self) -> None:
        if not hasattr(self, "transmat_"):
            raise RuntimeError("RegimeForecaster used before fit; call fit(z) first")

    def filter(self, z: np.ndarray) -> np.ndarray:
        """alpha (T, K): p(s_t | z_0..z_t) for every t, from z alone (forward recursion, never smoothed).
        With AR emissions z_0 is conditioned on and alpha_0 is set to the start distribution."""
        self._check_fitted()
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        if self.autoregressive:
            logb = self._log_emission_ar(z[1:], z[:-1], self.c_, self.phi_, self.sigma_)  # (T-1, K)
            alpha, _, _ = self._forward(logb, self.startprob_, self.transmat_)  # pi: the state at t = 1
            return np.concatenate([self.startprob_[None], alpha], axis=0)
        logb = self._log_emission_ar(z, np.zeros_like(z), self.c_, self.phi_, self.sigma_)
        return self._forward(logb, self.startprob_, self.transmat_)[0]

    def predict_distribution(
        self, z: np.ndarray, horizons: int, origins: np.ndarray | None = None, cumulative: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predictive Gaussian mixtures of z_{o+h} (or of z_{o+1} + .. + z_{o+h} if ``cumulative``) for each
        origin o (default: every t) and h = 1..``horizons``, from z[0..o] only.

        Returns weights, means, sds, each (N, H, K); weights sum to 1 over K.
        """
        alpha = self.filter(z)  # (T, K)
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        o = np.arange(len(z)) if origins is None else np.asarray(origins, dtype=int)
        A, c, phi, var = self.transmat_, self.c_, self.phi_, self.sigma_**2
        N, K, H = len(o), len(c), horizons
        W, M, V = np.empty((N, H, K)), np.empty((N, H, K)), np.empty((N, H, K))
        # per origin and state of the previous step: moments of (z, S) with S the running sum
        w = alpha[o]  # (N, K) state at the origin
        ez = np.repeat(z[o][:, None], K, axis=1)  # (N, K) E[z_prev | s_prev = j]
        vz = np.zeros((N, K))  # Var[z_prev | j]
        es, vs, csz = np.zeros((N, K)), np.zeros((N, K)), np.zeros((N, K))  # E S, Var S, Cov(S, z_prev) given j
        for h in range(H):
            w_next = w @ A  # (N, K) state distribution h+1 steps ahead
            back = w[:, :, None] * A[None] / np.maximum(w_next[:, None, :], 1e-300)  # (N, j, k) p(s_prev=j | s=k)
            mz = np.einsum("njk,nj->nk", back, ez)  # (N, K) moments of the previous (z, S) given the new state k
            ms = np.einsum("njk,nj->nk", back, es)
            qz = np.einsum("njk,nj->nk", back, vz + ez**2) - mz**2
            qs = np.einsum("njk,nj->nk", back, vs + es**2) - ms**2
            qsz = np.einsum("njk,nj->nk", back, csz + es * ez) - ms * mz
            ez = c + phi * mz  # z_new = c_k + phi_k z_prev + e
            vz = var + phi**2 * np.maximum(qz, 0.0)
            csz = phi * qsz + vz  # Cov(S_prev + z_new, z_new)
            es = ms + ez
            vs = np.maximum(qs, 0.0) + vz + 2 * phi * qsz
            w = w_next
            W[:, h], M[:, h] = w, (es if cumulative else ez)
            V[:, h] = vs if cumulative else vz
        return W, M, np.sqrt(V)

    def predict(self, z: np.ndarray, horizons: int, origins: np.ndarray | None = None, cumulative: bool = False):
        """Predictive means (N, H): sum_k w_hk m_hk."""
        W, M, _ = self.predict_distribution(z, horizons, origins, cumulative)
        return (W * M).sum(axis=-1)

    # reporting and persistence

    def regimes(self) -> list[dict[str, float]]:
        """One row per state: its long-run mean c/(1-phi), AR coefficient, noise sd, expected duration
        1/(1-A_kk) and share of time under the stationary distribution."""
        self._check_fitted()
        w, v = np.linalg.eig(self.transmat_.T)
        share = np.abs(np.real(v[:, np.argmin(np.abs(w - 1))]))
        share /= share.sum()
        rows = []
        for k in range(len(self.c_)):
            rows.append(
                {
                    "state": k,
                    "mean": float(self.c_[k] / (1 - self.phi_[k])),
                    "phi": float(self.phi_[k]),
                    "sd": float(self.sigma_[k]),
                    "duration": float(1 / max(1 - self.transmat_[k, k], 1e-12)),
                    "share": float(share[k]),
                }
            )
        return rows

    @property
    def n_params(self) -> int:
        """Free parameters: start (K - 1), transitions K (K - 1), per state c, sigma (and phi)."""
        self._check_fitted()
        K = len(self.c_)
        return (K - 1) + K * (K - 1) + K * (3 if self.autoregressive else 2)

    def regime_table(self, z: np.ndarray) -> dict[str, np.ndarray]:
        """Per step t of z (T,): the filtered state probabilities p(s_t | z_0..z_t) (``p_state<k>``), the most
        probable filtered state and that state's conditional mean c_k + phi_k z_{t-1} (causal: no smoothing)."""
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        alpha = self.filter(z)  # (T, K)
        state = alpha.argmax(axis=1)  # (T,)
        prev = np.concatenate([[z[0]], z[:-1]])  # (T,) z_{t-1} (z_0 for t = 0)
        table = {"t": np.arange(len(z)), "value": z, "state": state}
        table["state_mean"] = self.c_[state] + self.phi_[state] * prev
        return table | {f"p_state{k}": alpha[:, k] for k in range(alpha.shape[1])}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays (``np.savez``; loads with ``allow_pickle=False``)."""
        self._check_fitted()
        d = {
            "startprob": self.startprob_,
            "transmat": self.transmat_,
            "c": self.c_,
            "phi": self.phi_,
            "sigma": self.sigma_,
            "autoregressive": np.array(self.autoregressive),
            "loglik": np.array(self.loglik_),
        }
        return {k: np.asarray(v).copy() for k, v in d.items()}

    @classmethod
    def from_state_dict(cls, d) -> RegimeForecaster:
        model = cls(n_states=len(d["c"]), autoregressive=bool(d["autoregressive"]))
        model.startprob_, model.transmat_ = np.array(d["startprob"]), np.array(d["transmat"])
        model.c_, model.phi_, model.sigma_ = np.array(d["c"]), np.array(d["phi"]), np.array(d["sigma"])
        model.loglik_ = float(d["loglik"])
        return model
