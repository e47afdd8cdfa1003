"""Class-conditional HMMs: the classic generative sequence classifier.

One categorical HMM per class c (hmmlearn ``CategoricalHMM``, "scaling" back-end), trained by Baum-Welch
on the training sequences of that class alone; a sequence x goes to the class of highest posterior,
Bayes' rule on the forward log-likelihoods:

    log P(c | x) = log P(x | c) + log P(c) - log sum_c' P(x | c') P(c')

with P(c) the class's share of the training sequences. P(x | c) sums over every state path of class
c's HMM (the forward algorithm, ``harness.markov.sequence_log_likelihoods``, all classes and sequences
side by side).

Symbols are ids 0..V-1 (the caller reserves one for unknown symbols: hmmlearn reads a negative id as
an index from the end without complaint, so none may reach it). A symbol a class never emitted in
training would get probability 0 under that class, and a single one would rule the class out: each
emission row is mixed with the uniform distribution, B <- (1 - smoothing) B + smoothing / V.

Dimension letters: C classes, K states, V symbols, N sequences, T steps.
"""

from __future__ import annotations

import numpy as np

from harness.markov import sequence_log_likelihoods


def _columns(X: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat sequences (sum of lengths,) -> (ids (T, N) left-aligned, mask (T, N))."""
    lengths = np.asarray(lengths, dtype=np.int64)
    T = int(lengths.max()) if len(lengths) else 0
    mask = np.arange(T)[:, None] < lengths[None, :]  # (T, N)
    ids = np.zeros(mask.shape, dtype=np.int64)
    ids.T[mask.T] = X  # sequence by sequence
    return ids, mask


class ClassConditionalHMM:
    """``fit(X, lengths, y, n_symbols, n_classes)`` then ``predict_proba``/``predict``/``log_likelihoods``.

    Learned state (trailing ``_``): ``startprob_`` (C, K), ``transmat_`` (C, K, K), ``emissionprob_``
    (C, K, V) (smoothed), ``class_prior_`` (C,), ``n_iter_`` (C,) Baum-Welch iterations run per class.
    """

    def __init__(self, n_states: int, n_iter: int = 50, tol: float = 1e-2, smoothing: float = 1e-3, random_state=0):
        self.n_states, self.n_iter, self.tol = int(n_states), int(n_iter), float(tol)
        self.smoothing, self.random_state = float(smoothing), random_state

    def fit(self, X: np.ndarray, lengths: np.ndarray, y: np.ndarray, n_symbols: int, n_classes: int):
        """X (sum of lengths,) symbol ids in [0, n_symbols); lengths (N,); y (N,) class ids in [0, n_classes)."""
        from harness.models.hmm.lm import fit_categorical

        X, lengths, y = np.asarray(X, dtype=np.int64), np.asarray(lengths, dtype=np.int64), np.asarray(y)
        if X.size and (X.min() < 0 or X.max() >= n_symbols):
            raise ValueError(f"symbol ids must lie in [0, {n_symbols}), got {X.min()}..{X.max()}")
        of_text = np.repeat(np.arange(len(lengths)), lengths)  # (sum of lengths,) each symbol's sequence
        start, trans, emit, iters = [], [], [], []
        for c in range(n_classes):  # a loop over classes: one HMM each
            mine = y == c
            if not mine.any():
                raise ValueError(f"class {c} has no training sequence")
            pi, A, B, n = fit_categorical(
                X[mine[of_text]], lengths[mine], self.n_states, n_symbols, self.n_iter, self.tol, self.random_state
            )
            start.append(pi)
            trans.append(A)
            emit.append(B)
            iters.append(n)
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        self.set_params(np.array(start), np.array(trans), np.array(emit), counts / counts.sum())
        self.n_iter_ = np.array(iters)
        return self

    def set_params(self, startprob, transmat, emissionprob, class_prior) -> ClassConditionalHMM:
        """Set the learned state directly (smoothing the emissions as ``fit`` does)."""
        V = np.shape(emissionprob)[-1]
        self.startprob_ = np.asarray(startprob, dtype=np.float64)  # (C, K)
        self.transmat_ = np.asarray(transmat, dtype=np.float64)  # (C, K, K)
        self.emissionprob_ = (1 - self.smoothing) * np.asarray(emissionprob, dtype=np.float64) + self.smoothing / V
        self.class_prior_ = np.asarray(class_prior, dtype=np.float64)  # (C,)
        return self

    @classmethod
    def from_state_dict(cls, d: dict[str, np.ndarray], n_states: int, smoothing: float) -> ClassConditionalHMM:
        """The classifier ``state_dict`` saved (emissions already smoothed: not smoothed again)."""
        self = cls(n_states, smoothing=smoothing)
        self.startprob_, self.transmat_ = np.asarray(d["startprob"]), np.asarray(d["transmat"])
        self.emissionprob_, self.class_prior_ = np.asarray(d["emissionprob"]), np.asarray(d["class_prior"])
        return self

    def log_likelihoods(self, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """log P(x | c) of every sequence under every class, (N, C)."""
        ids, mask = _columns(np.asarray(X, dtype=np.int64), lengths)
        return sequence_log_likelihoods(self.startprob_, self.transmat_, self.emissionprob_, ids, mask)

    def predict_proba(self, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """P(c | x), (N, C): Bayes' rule on the log-likelihoods and the training class shares."""
        score = self.log_likelihoods(X, lengths) + np.log(self.class_prior_)[None, :]  # (N, C)
        score -= score.max(axis=1, keepdims=True)
        p = np.exp(score)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(N,) the class of highest posterior."""
        return self.predict_proba(X, lengths).argmax(axis=1)

    @property
    def n_params(self) -> int:
        C, K, V = self.emissionprob_.shape
        return C * ((K - 1) + K * (K - 1) + K * (V - 1)) + (C - 1)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {
            "startprob": self.startprob_,
            "transmat": self.transmat_,
            "emissionprob": self.emissionprob_,
            "class_prior": self.class_prior_,
        }
