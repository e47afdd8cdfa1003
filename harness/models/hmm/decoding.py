"""Exact Viterbi over the sparse state spaces of the supervised tagger, vectorised over sentences.

The dense HMM of a second-order tagger has a state per label pair, (Z+1) Z of them, and hmmlearn's
Viterbi pays for every pair of states, O(T S^2), although (a, b) can only move to the Z pairs (b, c).
Lexicalised labels (word, tag) emit only their word, and capitalisation-flagged labels only words of
their case, so at each token only a few labels can emit it at all: its *candidates* (all plain tags
for an ordinary word; the (w, t) labels of a lexicalised word w; only those of the token's case).
Decoding over the candidates alone is exact: every other label has emission probability 0 there.

First order, candidates j of token t (slot i at t-1):

    delta_t(j) = max_i delta_{t-1}(i) + log P(c_t[j] | c_{t-1}[i]) + log b_j(o_t)

Second order, states are candidate pairs (i, j) = (label at t-1, label at t):

    delta_t(j, k) = max_i delta_{t-1}(i, j) + log P(c_t[k] | c_{t-2}[i], c_{t-1}[j]) + log b_k(o_t)

with BOS before the first token (c_{-1} = c_{-2} = BOS) and P(END | ...) after the last, as in the
dense model with its sentence boundary. Candidates are in ascending label order, and every argmax
takes the *last* maximum, as hmmlearn's backtracking does (``std::max`` over (score, state) pairs;
every word state of the concatenated sentences is chosen while backtracking from a boundary), so
ties break as in its dense Viterbi (states ordered by label, pair (a, b) before (a', b') when
(a, b) < (a', b'), BOS last).

Letters: n sentences, T longest sentence, N tokens, C candidates per token (padded), Z labels
(label Z = BOS as a context, END as an outcome).
"""

from __future__ import annotations

import numpy as np


def last_argmax(s: np.ndarray, axis: int) -> np.ndarray:
    """Index of the last maximum along ``axis`` (np.argmax returns the first)."""
    return s.shape[axis] - 1 - np.flip(s, axis=axis).argmax(axis=axis)


def viterbi_candidates(
    cand: np.ndarray, log_b: np.ndarray, lengths: np.ndarray, log_p: np.ndarray, order: int
) -> np.ndarray:
    """Best label path of every sentence, over per-token candidate labels.

    cand (N, C): candidate labels of each token, ascending; padding slots hold any label and have
    log_b = -inf. log_b (N, C): log emission of each candidate, up to a per-token constant.
    lengths (n,): sentence lengths (> 0), tokens in order. log_p: log P(label | context), shape
    (Z+1, Z+1) for order 1 or (Z+1, Z+1, Z+1) for order 2, index Z = BOS (context) / END (outcome).
    Returns the label of every token (N,).
    """
    n, C = len(lengths), cand.shape[1]
    Z = log_p.shape[0] - 1
    order_by_length = np.argsort(-lengths, kind="stable")  # longest first: active sentences are a prefix
    L = lengths[order_by_length]  # (n,) descending
    T = int(L[0])
    starts = (np.cumsum(lengths) - lengths)[order_by_length]  # (n,)
    tok = starts[:, None] + np.arange(T)[None, :]  # (n, T) token index, valid where t < L
    valid = np.arange(T)[None, :] < L[:, None]  # (n, T)
    tok = np.where(valid, tok, 0)
    c = cand[tok]  # (n, T, C)
    b = log_b[tok]  # (n, T, C)
    active = (L[None, :] > np.arange(T)[:, None]).sum(axis=1)  # (T,) sentences still running at t
    flat = log_p.ravel()
    Z1 = Z + 1

    if order == 1:
        delta = log_p[Z, c[:, 0]] + b[:, 0]  # (n, C) from BOS
        back, ends = [], np.empty(n, dtype=np.int64)  # back[t-1]: (n_t, C) best slot at t-1
        for t in range(1, T + 1):
            m = active[t] if t < T else 0
            done = slice(m, active[t - 1])  # sentences whose last token is t-1
            final = delta[done] + log_p[c[done, t - 1], Z]  # (d, C) into END
            ends[done] = last_argmax(final, axis=1)
            if m == 0:
                break
            s = delta[:m, :, None] + log_p[c[:m, t - 1, :, None], c[:m, t, None, :]]  # (m, C_i, C_j)
            arg = last_argmax(s, axis=1)  # (m, C_j)
            delta = np.take_along_axis(s, arg[:, None, :], axis=1)[:, 0] + b[:m, t]  # (m, C)
            back.append(arg)
        slots = np.zeros((n, T), dtype=np.int64)
        cur = ends.copy()  # (n,) slot at the current t of each sentence
        for t in range(T - 1, -1, -1):
            m = active[t]
            slots[:m, t] = cur[:m]
            if t:
                cur[:m] = back[t - 1][np.arange(m), cur[:m]]
    else:
        first = np.full(C, -np.inf)
        first[0] = 0.0  # slot 0 of the BOS "candidates" before the first token
        delta = first[None, :, None] + log_p[Z, Z, c[:, 0]][:, None, :] + b[:, 0][:, None, :]  # (n, C_i, C_j)
        bos = np.full((n, C), Z)
        back, ends = [], np.empty((n, 2), dtype=np.int64)  # back[t-1]: (n_t, C_j, C_k) best slot i
        for t in range(1, T + 1):
            m = active[t] if t < T else 0
            done = slice(m, active[t - 1])
            c1 = c[done, t - 1]  # (d, C)
            c2 = c[done, t - 2] if t >= 2 else bos[done]  # (d, C)
            final = delta[done] + log_p[c2[:, :, None], c1[:, None, :], Z]  # (d, C_i, C_j) into END
            best = last_argmax(final.reshape(len(c1), C * C), axis=1)  # pair (i, j) in C order: i outer
            ends[done] = np.stack([best // C, best % C], axis=1)
            if m == 0:
                break
            c2 = c[:m, t - 2] if t >= 2 else bos[:m]  # (m, C) labels of slot i at t-2
            idx = (c2[:, :, None, None] * Z1 + c[:m, t - 1, None, :, None]) * Z1 + c[:m, t, None, None, :]
            s = delta[:m, :, :, None] + flat[idx]  # (m, C_i, C_j, C_k)
            arg = last_argmax(s, axis=1)  # (m, C_j, C_k)
            delta = np.take_along_axis(s, arg[:, None], axis=1)[:, 0] + b[:m, t, None, :]  # (m, C_j, C_k)
            back.append(arg)
        slots = np.zeros((n, T), dtype=np.int64)
        prev, cur = ends[:, 0].copy(), ends[:, 1].copy()  # (n,) slots at t-1 and t
        for t in range(T - 1, -1, -1):
            m = active[t]
            slots[:m, t] = cur[:m]
            if t:
                prev[:m], cur[:m] = back[t - 1][np.arange(m), prev[:m], cur[:m]], prev[:m].copy()

    labels = np.take_along_axis(c, slots[:, :, None], axis=2)[:, :, 0]  # (n, T)
    out = np.empty(len(cand), dtype=np.int64)
    out[tok[valid]] = labels[valid]
    return out
