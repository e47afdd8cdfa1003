"""Gaussian-HMM forecaster on hmmlearn: E[x_{t+h} | x_1..x_t] from the *filtered* state distribution.

hmmlearn's ``GaussianHMM`` is fitted by Baum-Welch (``implementation="scaling"``); the forecast uses a
forward pass written here (hmmlearn's ``predict_proba`` smooths with the future and is never used).

Letters: K states, D series dimensions, N windows, W window length.
"""

from __future__ import annotations

import numpy as np
from hmmlearn.hmm import GaussianHMM
from threadpoolctl import threadpool_limits

from harness.errors import ConfigError, DataError
from harness.models.hmm.params import check_forecaster_params, hyperparams_from_state, hyperparams_state


def _matrix_power_rows(p: np.ndarray, A: np.ndarray, h: int) -> np.ndarray:
    """p A^h for row vectors p (N, K) without forming A^h for large h."""
    for _ in range(h):
        p = p @ A
    return p


class GaussianHMMForecaster:
    """Gaussian HMM forecaster: E[x_{t+h} | x_1..x_t] from the filtered state distribution.

    The forecast for a window is  p_W A^h mu, where p_W (K,) is the forward (filtering)
    distribution of the state at the window's last step, A (K, K) the transition matrix and mu
    (K, D) the state means. The forward pass starts each window from the stationary distribution
    of A, since a window begins at an arbitrary point of the series, not at its start.
    """

    HYPERPARAMS = ("n_states", "covariance_type", "n_iter", "random_state", "tol")  # __init__'s arguments

    def __init__(
        self,
        n_states: int = 3,
        covariance_type: str = "diag",
        n_iter: int = 100,
        random_state: int | None = 0,
        tol: float = 1e-4,
    ):
        self.n_states = n_states
        self.covariance_type = covariance_type
        self.n_iter = n_iter
        self.random_state = random_state
        self.tol = tol

    @staticmethod
    def _as_2d(series, name: str = "series") -> np.ndarray:
        X = np.asarray(series, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or len(X) == 0:
            raise DataError(
                f"{name} must have shape (T,) or (T, D) with T > 0, got {np.shape(series)}",
                "pass a 1-D array of values or a 2-D (time, dimension) array",
            )
        if not np.isfinite(X).all():
            raise DataError(f"{name} contains NaN or infinite values", "fill or drop missing values before fitting")
        return X

    def check_params(self) -> None:
        """One ConfigError naming the ``model.*`` key and the fix for a bad hyperparameter. ``fit`` runs it,
        and so does the config check (harness.config), so a bad override fails before any work."""
        check_forecaster_params(vars(self))

    def fit(self, series: np.ndarray) -> GaussianHMMForecaster:
        """Baum-Welch on one scaled series (T,) or (T, D)."""
        self.check_params()
        X = self._as_2d(series)
        if len(X) < 2 * self.n_states:
            raise DataError(
                f"series of length {len(X)} is too short for {self.n_states} states",
                "use fewer model.n_states or a longer series",
            )
        self.series_dim_ = X.shape[1] if np.ndim(series) == 2 else 0  # 0: the caller passed (T,)
        hmm = GaussianHMM(
            n_components=self.n_states,
            covariance_type=self.covariance_type,
            n_iter=self.n_iter,
            tol=self.tol,
            random_state=self.random_state,
            implementation="scaling",
        )
        with threadpool_limits(1):  # BLAS threads on these tiny matrices only oversubscribe the cores (~50x slower)
            hmm.fit(X)
        self._set_hmm(hmm)
        self.n_iter_ = int(hmm.monitor_.iter)
        history = list(hmm.monitor_.history)  # hmmlearn's `converged` is also True after n_iter iterations
        self.converged_ = len(history) >= 2 and history[-1] - history[-2] < self.tol
        return self

    def _set_hmm(self, hmm: GaussianHMM) -> None:
        self.hmm_ = hmm
        self.startprob_ = hmm.startprob_
        self.transmat_ = hmm.transmat_
        self.means_ = hmm.means_  # (K, D)
        self.covars_ = self._full_covars(hmm)  # (K, D, D) full form whatever the covariance type
        # Gaussian log-density pieces: Sigma_k = L_k L_k^T
        L = np.linalg.cholesky(self.covars_)  # (K, D, D)
        self._Linv = np.linalg.inv(L)  # (K, D, D)
        self._log_norm = -0.5 * self.means_.shape[1] * np.log(2 * np.pi) - np.log(np.diagonal(L, axis1=1, axis2=2)).sum(
            axis=1
        )  # (K,)
        self.stationary_ = self._stationary(self.transmat_)

    @staticmethod
    def _full_covars(hmm: GaussianHMM) -> np.ndarray:
        """(K, D, D) covariances. hmmlearn 0.3.3's ``covars_`` is wrong for spherical with D > 1 after
        fit (its internal array becomes (K, D) with equal columns), so spherical is rebuilt here."""
        if hmm.covariance_type != "spherical":
            return hmm.covars_
        var = np.asarray(hmm._covars_).reshape(hmm.n_components, -1).mean(axis=1)  # (K,)
        return var[:, None, None] * np.eye(hmm.means_.shape[1])

    @staticmethod
    def _stationary(A: np.ndarray) -> np.ndarray:
        """pi with pi A = pi (the eigenvector of A^T for eigenvalue 1, made a distribution)."""
        w, v = np.linalg.eig(A.T)
        pi = np.abs(np.real(v[:, np.argmin(np.abs(w - 1))]))
        return pi / pi.sum()

    def _log_emission(self, X: np.ndarray) -> np.ndarray:
        """log N(x | mu_k, Sigma_k) for X (..., D) -> (..., K)."""
        diff = X[..., None, :] - self.means_  # (..., K, D)
        z = np.einsum("kde,...ke->...kd", self._Linv, diff)  # (..., K, D) whitened
        return self._log_norm - 0.5 * (z * z).sum(axis=-1)

    def _forward(self, X: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """Filtered distributions (N, W, K) of windows X (N, W, D), forward pass in scaled form."""
        logb = self._log_emission(X)  # (N, W, K)
        b = np.exp(logb - logb.max(axis=-1, keepdims=True))  # per-step scale cancels on normalising
        alpha = np.empty_like(b)
        p = prior * b[:, 0]  # (N, K)
        alpha[:, 0] = p / p.sum(axis=1, keepdims=True)
        for t in range(1, X.shape[1]):
            p = (alpha[:, t - 1] @ self.transmat_) * b[:, t]
            alpha[:, t] = p / p.sum(axis=1, keepdims=True)
        return alpha

    def _check_fitted(self) -> None:
        if not hasattr(self, "transmat_"):
            raise RuntimeError("GaussianHMMForecaster used before fit; call fit(series) first")

    def filtered_state_probs(self, series: np.ndarray) -> np.ndarray:
        """P(z_t | x_1..x_t) for every t (T, K), starting from the fitted start distribution."""
        self._check_fitted()
        X = self._as_2d(series)
        return self._forward(X[None], self.startprob_)[0]

    def predict(self, windows: np.ndarray, horizon: int = 1) -> np.ndarray:
        """Expected value ``horizon`` steps after each window's last value: (N,) or (N, D)."""
        self._check_fitted()
        if horizon < 1:
            raise ConfigError(f"task.horizon must be >= 1, got {horizon!r}", "set task.horizon=1")
        X = np.asarray(windows, dtype=float)
        D = self.means_.shape[1]
        if X.ndim == 2 and D == 1:
            X = X[..., None]
        if X.ndim != 3 or X.shape[2] != D or X.shape[1] == 0:
            raise DataError(
                f"windows must have shape (N, W) or (N, W, {D}), got {np.shape(windows)}",
                "pass the past values of each window",
            )
        if not np.isfinite(X).all():
            raise DataError("windows contain NaN or infinite values", "fill or drop missing values first")
        p = self._forward(X, self.stationary_)[:, -1]  # (N, K) filtered at the window's end
        y = _matrix_power_rows(p, self.transmat_, horizon) @ self.means_  # (N, D)
        return y[:, 0] if self.series_dim_ == 0 else y

    def state_path(self, series: np.ndarray) -> np.ndarray:
        """Most likely state sequence (Viterbi) of a whole series (T,)."""
        self._check_fitted()
        return self.hmm_.predict(self._as_2d(series))

    def regime_table(self, series: np.ndarray) -> dict[str, np.ndarray]:
        """Columns for a regime CSV/plot: time index, value(s), Viterbi state, that state's mean,
        and the filtered probability of every state (``p_state<k>``); arrays of length T."""
        X = self._as_2d(series)
        path = self.state_path(series)
        table = {"t": np.arange(len(X)), "state": path}
        for d in range(X.shape[1]):
            suffix = "" if X.shape[1] == 1 else str(d)
            table["value" + suffix] = X[:, d]
            table["state_mean" + suffix] = self.means_[path, d]
        for k, column in enumerate(self.filtered_state_probs(series).T):
            table[f"p_state{k}"] = column
        return table

    @property
    def n_params(self) -> int:
        """Free parameters: start K-1, transitions K(K-1), means K*D, covariances by type."""
        K, D = self.means_.shape
        cov = {"spherical": K, "diag": K * D, "full": K * D * (D + 1) // 2, "tied": D * (D + 1) // 2}
        return (K - 1) + K * (K - 1) + K * D + cov[self.covariance_type]

    def log_likelihood(self, series: np.ndarray) -> float:
        self._check_fitted()
        return float(self.hmm_.score(self._as_2d(series)))

    def bic(self, series: np.ndarray) -> float:
        """-2 log L + n_params log T (lower is better)."""
        T = len(self._as_2d(series))
        return -2.0 * self.log_likelihood(series) + self.n_params * np.log(T)

    def state_dict(self) -> dict[str, np.ndarray]:
        self._check_fitted()
        return {
            **hyperparams_state(self),
            "series_dim_": np.array(self.series_dim_),
            "startprob_": self.startprob_,
            "transmat_": self.transmat_,
            "means_": self.means_,
            "covars_": self.covars_,
        }

    @classmethod
    def from_state_dict(cls, d) -> GaussianHMMForecaster:
        return cls(**hyperparams_from_state(d, cls.HYPERPARAMS)).load_state_dict(d)

    def load_state_dict(self, d) -> GaussianHMMForecaster:
        full = np.array(d["covars_"])  # (K, D, D)
        typed = {
            "full": full,
            "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
            "spherical": np.diagonal(full, axis1=1, axis2=2).mean(axis=1),
            "tied": full[0],
        }[self.covariance_type]
        hmm = GaussianHMM(
            n_components=self.n_states,
            covariance_type=self.covariance_type,
            init_params="",
            params="",
            n_iter=self.n_iter,
            random_state=self.random_state,
        )
        hmm.n_features = full.shape[1]
        hmm.startprob_ = np.array(d["startprob_"])
        hmm.transmat_ = np.array(d["transmat_"])
        hmm.means_ = np.array(d["means_"])
        hmm.covars_ = typed
        self.series_dim_ = int(d["series_dim_"])
        self._set_hmm(hmm)
        return self
