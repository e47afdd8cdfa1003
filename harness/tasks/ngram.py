"""Yardstick language models: add-one unigram and an interpolated Kneser-Ney n-gram (Chen & Goodman 1998).

Written here rather than taken from ``nltk.lm``: nltk is not a project dependency, and its
``score`` walks Python objects per n-gram per call; the count-based estimator below is ~80 lines of
dict counting, tested against hand-computed probabilities (tests/test_lm.py).

Documents are independent: each is read with n-1 ``BOS`` symbols before it. With D_k the
discount of order k (Ney's estimate n1 / (n1 + 2 n2) unless given), for a history h of k-1
symbols and h' = h without its first symbol:

    P_k(w | h) = max(c_k(h w) - D_k, 0) / S_k(h) + D_k N_k(h) / S_k(h) * P_{k-1}(w | h')   if S_k(h) > 0
               = P_{k-1}(w | h')                                                           otherwise
    P_0(w) = 1 / V

where c_n is the raw count at the highest order, c_k (k < n) the continuation count (the number
of distinct symbols seen just before h w), S_k(h) = sum_w c_k(h w) and N_k(h) the number of w with
c_k(h w) > 0.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

BOS = -1  # history padding before each document


def unigram_log2probs(train_ids: np.ndarray, ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """log2 of add-one unigram probabilities of ``ids`` (T,), counts from ``train_ids``."""
    counts = np.bincount(train_ids, minlength=vocab_size) + 1.0  # (V,)
    return np.log2(counts[ids] / counts.sum())


def _documents(ids: np.ndarray, starts: np.ndarray) -> list[list[int]]:
    return [d.tolist() for d in np.split(ids, starts[1:])]


class KneserNey:
    """Interpolated Kneser-Ney of ``order`` n over ``vocab_size`` symbols (ids 0..V-1)."""

    def __init__(self, order: int, vocab_size: int, discount: float | None = None):
        self.order, self.vocab_size, self.discount = int(order), int(vocab_size), discount

    def fit(self, ids: np.ndarray, starts: np.ndarray) -> KneserNey:
        n = self.order
        grams: Counter = Counter()
        for doc in _documents(ids, starts):
            padded = [BOS] * (n - 1) + doc
            grams.update(zip(*(padded[i:] for i in range(n))))
        # counts per order: raw at n, continuation below (distinct left extensions of each k-gram)
        self.counts = {n: grams}
        for k in range(n - 1, 0, -1):
            self.counts[k] = Counter(g[1:] for g in self.counts[k + 1])
        self.totals, self.types, self.discounts = {}, {}, {}
        for k, c in self.counts.items():
            S, N = Counter(), Counter()
            for g, v in c.items():
                S[g[:-1]] += v
                N[g[:-1]] += 1
            self.totals[k], self.types[k] = S, N
            if self.discount is not None:
                self.discounts[k] = self.discount
            else:
                n1 = sum(1 for v in c.values() if v == 1)
                n2 = sum(1 for v in c.values() if v == 2)
                self.discounts[k] = float(np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95)) if n1 + 2 * n2 else 0.5
        return self

    def prob(self, history: tuple, w: int) -> float:
        """P(w | history); ``history`` holds the n-1 previous symbols (BOS-padded)."""
        p = 1.0 / self.vocab_size
        for k in range(1, self.order + 1):  # from the unigram up to the full order
            h = tuple(history[len(history) - (k - 1) :]) if k > 1 else ()
            S = self.totals[k].get(h, 0)
            if S:
                D = self.discounts[k]
                p = (max(self.counts[k].get((*h, w), 0) - D, 0.0) + D * self.types[k][h] * p) / S
        return p

    def log2probs(self, ids: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """(T,) log2 P(o_t | the n-1 previous symbols of the same document)."""
        n, out = self.order, []
        for doc in _documents(ids, starts):
            padded = [BOS] * (n - 1) + doc
            out.extend(self.prob(tuple(padded[t : t + n - 1]), w) for t, w in enumerate(doc))
        return np.log2(np.array(out))
