"""HMM language models: hmmlearn's CategoricalHMM trained by Baum-Welch on the training stream, or
counted from known states (the exact supervised view, synthetic data); scored by forward filtering.

Dimension letters: K states, C symbols. Every document is a separate sequence (``lengths``) that
starts from ``startprob_``. Scores are p(o_t | o_<t) by the forward algorithm with the learned
parameters (``harness.markov.filter_log2probs``: filtering, never smoothing), so the sum over a
document is exactly hmmlearn's ``score`` (its forward log-likelihood) in bits.

A symbol EM never saw would get probability 0 (-inf bits): each emission row is mixed with the
uniform distribution, B <- (1 - EPS) B + EPS / C (EPS = 1e-4: at most 1.4e-4 bits lost elsewhere).
"""

from __future__ import annotations

import numpy as np
from hmmlearn.hmm import CategoricalHMM

from harness.markov import filter_log2probs

EPS = 1e-4


class HMMLM:
    def __init__(self, n_states: int, n_iter: int = 100, tol: float = 1e-3, random_state: int = 0):
        self.n_states, self.n_iter, self.tol, self.random_state = int(n_states), int(n_iter), float(tol), random_state

    def fit(self, ids: np.ndarray, starts: np.ndarray, vocab_size: int) -> HMMLM:
        """Baum-Welch (hmmlearn, scaling implementation) on the documents of the training stream."""
        lengths = np.diff(np.r_[starts, len(ids)])
        hmm = CategoricalHMM(
            n_components=self.n_states,
            n_features=vocab_size,
            n_iter=self.n_iter,
            tol=self.tol,
            implementation="scaling",
            random_state=self.random_state,
        )
        hmm.fit(np.asarray(ids)[:, None], lengths)
        self.n_iter_ = int(hmm.monitor_.iter)
        self._set(hmm.startprob_, hmm.transmat_, hmm.emissionprob_)
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
