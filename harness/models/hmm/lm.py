"""HMM language models: a categorical HMM trained by Baum-Welch on the training stream, or counted
from known states (the exact supervised view, synthetic data); scored by forward filtering.

Baum-Welch runs either in hmmlearn (``implementation="hmmlearn"``: CategoricalHMM with its "scaling"
back-end, which gives the same log-likelihood as "log" to 1e-6 and is several times faster) or in
``baum_welch`` below (``"numpy"``, the default): the same scaled E- and M-steps (iterations equal
hmmlearn's to 1e-10, tests/test_lm.py) with all documents side by side, so each step is one BLAS
product. Seconds per iteration, 1 thread, shared machine (scripts/bench_lm.py baum-welch):
20,000 symbols: 64 states 0.77 (hmmlearn) vs 0.11 (numpy); 256 states 15.5 vs 0.88.
100,000 symbols (numpy): 64 states 0.68, 256 states 5.9, 1024 states 84.

A symbol EM never saw would get probability 0 (-inf bits): each emission row is mixed with the
uniform distribution, B <- (1 - EPS) B + EPS / C (EPS = 1e-4: at most 1.4e-4 bits lost elsewhere).
"""

from __future__ import annotations

import numpy as np
from hmmlearn.hmm import CategoricalHMM

from harness.markov import filter_log2probs

EPS = 1e-4


def fit_categorical(X, lengths, n_states: int, n_symbols: int, n_iter: int, tol: float, random_state):
    """Baum-Welch in hmmlearn (``CategoricalHMM``, "scaling" back-end, seeded) on sequences of symbol ids
    ``X`` (sum of lengths,) in [0, n_symbols): (startprob (K,), transmat (K, K), emissionprob (K, V), iterations run)."""
    hmm = CategoricalHMM(
        n_components=n_states,
        n_features=n_symbols,
        n_iter=n_iter,
        tol=tol,
        implementation="scaling",
        random_state=random_state,
    )
    hmm.fit(np.asarray(X)[:, None], lengths)
    return hmm.startprob_, hmm.transmat_, hmm.emissionprob_, int(hmm.monitor_.iter)


class HMMLM:
    def __init__(
        self, n_states: int, n_iter: int = 100, tol: float = 1e-3, random_state: int = 0, implementation: str = "numpy"
    ):
        self.n_states, self.n_iter, self.tol, self.random_state = int(n_states), int(n_iter), float(tol), random_state
        self.implementation = implementation

    def fit(self, ids: np.ndarray, starts: np.ndarray, vocab_size: int) -> HMMLM:
        """Baum-Welch on the documents of the training stream (``implementation``: numpy | hmmlearn)."""
        if self.implementation == "numpy":
            rng = np.random.default_rng(self.random_state)
            pi, A, B, history = baum_welch(ids, starts, vocab_size, self.n_states, self.n_iter, self.tol, rng)
            self.n_iter_ = len(history)
            self._set(pi, A, B)
            return self
        lengths = np.diff(np.r_[starts, len(ids)])
        pi, A, B, self.n_iter_ = fit_categorical(
            ids, lengths, self.n_states, vocab_size, self.n_iter, self.tol, self.random_state
        )
        self._set(pi, A, B)
        return self

    def fit_supervised(self, ids, states, starts, vocab_size: int, smoothing: float = 0.01) -> HMMLM:
        """Relative frequencies (plus ``smoothing``) of starts, transitions and emissions from known states."""
        K, C = self.n_states, vocab_size
        first = np.zeros(len(ids), bool)
        first[starts] = True
        pi = np.bincount(states[first], minlength=K) + smoothing  # (K,)
        prev, nxt = states[:-1][~first[1:]], states[1:][~first[1:]]  # transitions inside documents
        A = np.bincount(prev * K + nxt, minlength=K * K).reshape(K, K) + smoothing  # (K, K)
        B = np.bincount(states * C + ids, minlength=K * C).reshape(K, C) + smoothing  # (K, C)
        self._set(pi / pi.sum(), A / A.sum(1, keepdims=True), B / B.sum(1, keepdims=True))
        return self

    def _set(self, startprob, transmat, emissionprob) -> None:
        C = emissionprob.shape[1]
        self.startprob_, self.transmat_ = np.asarray(startprob, float), np.asarray(transmat, float)
        self.emissionprob_ = (1 - EPS) * np.asarray(emissionprob, float) + EPS / C

    @property
    def n_params(self) -> int:
        K, C = self.emissionprob_.shape
        return (K - 1) + K * (K - 1) + K * (C - 1)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"startprob": self.startprob_, "transmat": self.transmat_, "emissionprob": self.emissionprob_}

    def load_state_dict(self, d) -> None:
        self.startprob_, self.transmat_, self.emissionprob_ = d["startprob"], d["transmat"], d["emissionprob"]

    def log2probs(self, ids: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """(T_total,) log2 p(o_t | o_<t, same document) by forward filtering."""
        return filter_log2probs(self.startprob_, self.transmat_, self.emissionprob_, ids, starts)

    def sample(
        self, prompt: np.ndarray, length: int, temperature: float, rng: np.random.Generator, end_id: int | None = None
    ) -> np.ndarray:
        """Continue ``prompt``: filter it to p(s | prompt), then draw the state chain and emissions.

        Temperature tau sharpens (tau < 1) or flattens every row: p ** (1 / tau), renormalised.
        After ``end_id`` the chain restarts from ``startprob_``.
        """

        def temper(p):
            q = np.power(p, 1.0 / temperature)
            return q / q.sum(axis=-1, keepdims=True)

        pi, A = temper(self.startprob_), temper(self.transmat_)
        B = temper(self.emissionprob_[:, 1:])  # (K, C-1): symbol 0 (<unk>) is never drawn
        prompt = np.asarray(prompt, dtype=np.int64)
        if len(prompt):
            alpha = self.startprob_ * self.emissionprob_[:, prompt[0]]  # filtered p(s_t | o_<=t), (K,)
            for o in prompt[1:]:
                alpha = (alpha / alpha.sum()) @ self.transmat_ * self.emissionprob_[:, o]
            prior = temper((alpha / alpha.sum()) @ self.transmat_)
        else:
            prior = pi
        out = np.empty(length, dtype=np.int64)
        K, C = B.shape
        for t in range(length):
            s = rng.choice(K, p=prior)
            out[t] = 1 + rng.choice(C, p=B[s])
            prior = pi if end_id is not None and out[t] == end_id else A[s]
        return out


def baum_welch(
    ids: np.ndarray,
    starts: np.ndarray,
    vocab_size: int,
    n_states: int,
    n_iter: int = 100,
    tol: float = 1e-3,
    rng: np.random.Generator | None = None,
    init: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    max_cells: int = 20_000_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
    """Baum-Welch for a categorical HMM with the documents side by side: every step is one
    (N, K) @ (K, K) BLAS product instead of hmmlearn's per-sequence loop (same E- and M-steps, scaled
    forward-backward; see tests/test_lm.py for one iteration against hmmlearn's).

    Scaled recursions per document (N docs, K states; c_t = p(o_t | o_<t)):
        alpha_t = (alpha_{t-1} A) * B[:, o_t] / c_t            beta_t = (A (B[:, o_{t+1}] * beta_{t+1})) / c_{t+1}
        gamma_t = alpha_t * beta_t      sum_t xi_t = A * sum_t alpha_{t-1}^T (B[:, o_t] * beta_t / c_t)
    Documents are processed in groups of at most ``max_cells`` / (T K) so the stored alphas stay small.
    Returns (startprob (K,), transmat (K, K), emissionprob (K, C), log-likelihood (nats) per iteration).
    """
    rng = rng if rng is not None else np.random.default_rng()
    K, C = int(n_states), int(vocab_size)
    if init is None:
        pi, A, B = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), K), rng.dirichlet(np.ones(C), K)
    else:
        pi, A, B = (np.array(x, dtype=np.float64) for x in init)
    ends = np.r_[starts[1:], len(ids)]
    order = np.argsort(-(ends - starts), kind="stable")  # longest first: groups of similar length pad little
    history: list[float] = []
    for _ in range(n_iter):
        s_pi, s_A, s_B, loglik = np.zeros(K), np.zeros((K, K)), np.zeros((C, K)), 0.0
        g = 0
        while g < len(order):
            T = int(ends[order[g]] - starts[order[g]])
            n = max(1, min(len(order) - g, max_cells // max(T * K, 1)))
            docs = order[g : g + n]
            g += n
            lengths = ends[docs] - starts[docs]  # (n,)
            mask = np.arange(T)[:, None] < lengths[None, :]  # (T, n)
            obs = np.where(mask, ids[np.minimum(starts[docs][None, :] + np.arange(T)[:, None], len(ids) - 1)], 0)
            Bt = B.T  # (C, K)
            # forward: scaled alphas (T, n, K) and scales c (T, n)
            alpha, c = np.empty((T, n, K)), np.ones((T, n))
            a = pi * Bt[obs[0]]  # (n, K)
            c[0] = a.sum(1)
            alpha[0] = a / c[0][:, None]
            for t in range(1, T):
                a = (alpha[t - 1] @ A) * Bt[obs[t]]  # (n, K)
                ct = np.where(mask[t], a.sum(1), 1.0)
                c[t] = ct
                alpha[t] = np.where(mask[t][:, None], a / ct[:, None], alpha[t - 1])
            loglik += float(np.log(c[mask]).sum())
            # backward, accumulating the expected counts as it goes
            beta = np.ones((n, K))
            for t in range(T - 1, -1, -1):
                gamma = alpha[t] * beta * mask[t][:, None]  # (n, K) p(s_t | document)
                s_B += np.eye(C)[obs[t]].T @ gamma  # (C, K)
                if t == 0:
                    s_pi += gamma.sum(0)
                    break
                w = Bt[obs[t]] * beta / c[t][:, None] * mask[t][:, None]  # (n, K)
                s_A += alpha[t - 1].T @ w  # (K, K), times A below
                beta = np.where(mask[t][:, None], w @ A.T, beta)  # beta_{t-1}
        # M-step
        pi = s_pi / s_pi.sum()
        A = A * s_A
        A /= np.maximum(A.sum(1, keepdims=True), 1e-300)
        B = s_B.T / np.maximum(s_B.T.sum(1, keepdims=True), 1e-300)
        history.append(loglik)
        if len(history) > 1 and history[-1] - history[-2] < tol:
            break
    return pi, A, B, history
