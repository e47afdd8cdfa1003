"""Forward filtering for discrete hidden Markov models: the per-symbol log2 p(o_t | o_<t).

Shared by ``harness.data.text`` (the entropy rate of the known synthetic process) and
``harness.models.hmm.lm`` (scoring a learned HMM language model), so it depends on NumPy only.

Dimension letters: K states, V symbols, N documents, T steps. Documents are scored independently
(each starts from ``startprob``) and side by side: one (N, K) @ (K, K) product per step.

    alpha_1(k) = pi_k B[k, o_1],          p(o_1) = sum_k alpha_1(k)
    alpha_t(k) = sum_j alphahat_{t-1}(j) A[j, k] B[k, o_t],   p(o_t | o_<t) = sum_k alpha_t(k)
    alphahat_t = alpha_t / p(o_t | o_<t)       (the filtered state distribution p(s_t | o_<=t))

This is filtering, never smoothing: p(o_t | o_<t) uses nothing after t.
"""

from __future__ import annotations

import numpy as np


def documents_to_columns(stream: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lay the documents of a stream side by side: (ids (T, N) padded with 0, mask (T, N), lengths (N,)).

    ``starts`` (N,) are the offsets where documents begin (the first is 0).
    """
    ends = np.r_[starts[1:], len(stream)]
    lengths = ends - starts  # (N,)
    T = int(lengths.max()) if len(lengths) else 0
    mask = np.arange(T)[:, None] < lengths[None, :]  # (T, N)
    pos = starts[None, :] + np.arange(T)[:, None]  # (T, N) stream offset of each cell
    ids = np.where(mask, stream[np.minimum(pos, len(stream) - 1)], 0)
    return ids, mask, lengths


def filter_log2probs(
    startprob: np.ndarray, transmat: np.ndarray, emissionprob: np.ndarray, stream: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """log2 p(o_t | o_<t, same document) for every symbol of ``stream`` (T_total,), documents from ``starts``.

    startprob (K,), transmat (K, K), emissionprob (K, V); stream (T_total,) symbol ids; starts (N,).
    """
    ids, mask, lengths = documents_to_columns(stream, np.asarray(starts))
    T, N = ids.shape
    B = np.asarray(emissionprob, dtype=np.float64)  # (K, V)
    A = np.asarray(transmat, dtype=np.float64)  # (K, K)
    out = np.zeros((T, N))
    alpha = np.broadcast_to(np.asarray(startprob, dtype=np.float64), (N, B.shape[0]))  # prior over s_1, (N, K)
    for t in range(T):
        if t > 0:
            alpha = alpha @ A  # p(s_t | o_<t), (N, K)
        joint = alpha * B[:, ids[t]].T  # p(s_t, o_t | o_<t), (N, K)
        p = joint.sum(axis=1)  # p(o_t | o_<t), (N,)
        safe = np.where(p > 0, p, 1.0)
        out[t] = np.where(p > 0, np.log2(safe), -np.inf)
        alpha = joint / safe[:, None]  # p(s_t | o_<=t)
    # back to stream order: document n's step t sits at starts[n] + t
    result = np.empty(len(stream))
    result[(np.asarray(starts)[None, :] + np.arange(T)[:, None])[mask]] = out[mask]
    return result


def sequence_log_likelihoods(
    startprob: np.ndarray, transmat: np.ndarray, emissionprob: np.ndarray, ids: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """log p(o_1..o_L | model m) of every sequence under each of M HMMs, (N, M): the scaled forward algorithm,
    the models and the sequences side by side (one (M, N, K) @ (M, K, K) product per step).

    startprob (M, K), transmat (M, K, K), emissionprob (M, K, V); ids (T, N) symbol ids, left-aligned, any
    value where ``mask`` (T, N) is False. A symbol of probability 0 under a model gives -inf for it.
    """
    pi = np.asarray(startprob, dtype=np.float64)  # (M, K)
    A = np.asarray(transmat, dtype=np.float64)  # (M, K, K)
    B = np.asarray(emissionprob, dtype=np.float64)  # (M, K, V)
    ids, mask = np.where(mask, ids, 0), np.asarray(mask, dtype=bool)
    T, N = ids.shape
    M, K = pi.shape
    loglik = np.zeros((M, N))
    alpha = np.broadcast_to(pi[:, None, :], (M, N, K))  # p(s_1), (M, N, K)
    with np.errstate(divide="ignore"):
        for t in range(T):
            real = mask[t]  # (N,)
            prior = alpha if t == 0 else alpha @ A  # p(s_t | o_<t), (M, N, K)
            joint = prior * np.take_along_axis(B, np.broadcast_to(ids[t], (M, 1, N)), axis=2).transpose(0, 2, 1)
            p = joint.sum(axis=2)  # p(o_t | o_<t), (M, N)
            loglik += np.where(real, np.log(np.where(real, p, 1.0)), 0.0)
            safe = np.where(p > 0, p, 1.0)[..., None]
            alpha = np.where(real[None, :, None], joint / safe, alpha)  # p(s_t | o_<=t); unchanged after the end
    return loglik.T
