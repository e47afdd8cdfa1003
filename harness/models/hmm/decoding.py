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

# Scores per step of a batch, n C^(order+1), by order: larger batches pay NumPy's per-call cost on
# fewer steps until the sums leave the CPU cache (measured on EWT with scripts/measure_hmm_ewt.py:
# order 2 gains 5% from 75k to 150-300k and loses from 600k; order 1 is flat to 150k, then loses).
STEP_BUDGET = {1: 75_000, 2: 600_000}


def last_argmax(s: np.ndarray, mx: np.ndarray, axis: int) -> np.ndarray:
    """Index of the last maximum along ``axis`` (np.argmax returns the first), given mx = s.max(axis):
    the largest index i with s[i] == mx (a max-reduction, faster than np.argmax off the last axis)."""
    n = s.shape[axis]
    index = np.arange(n, dtype=np.min_scalar_type(n - 1)).reshape([-1 if a == axis else 1 for a in range(s.ndim)])
    return ((s == np.expand_dims(mx, axis)) * index).max(axis=axis)


def viterbi_candidates(
    cand: np.ndarray, log_b: np.ndarray, lengths: np.ndarray, log_p: np.ndarray, order: int
) -> np.ndarray:
    """Best label path of every sentence, over per-token candidate labels.

    cand (N, C): candidate labels of each token, ascending; padding slots hold any label and have
    log_b = -inf. log_b (N, C): log emission of each candidate, up to a per-token constant.
    lengths (n,): sentence lengths (> 0), tokens in order. log_p: log P(label | context), shape
    (Z+1, Z+1) for order 1 or (Z+1, Z+1, Z+1) for order 2, index Z = BOS (context) / END (outcome).
    Returns the label of every token (N,). Sentences are decoded in batches of similar length.
    """
    starts = np.cumsum(lengths) - lengths  # (n,)
    by_length = np.argsort(-lengths, kind="stable")  # longest first: a batch's active sentences are a prefix
    fixed = bool((cand == cand[0]).all())  # every token has the same candidates: no gathers needed
    out = np.empty(len(cand), dtype=np.int64)
    size = max(1, STEP_BUDGET[order] // cand.shape[1] ** (order + 1))  # sentences per batch
    for i in range(0, len(lengths), size):
        batch = by_length[i : i + size]
        L = lengths[batch]  # (n,) descending
        T = int(L[0])
        valid = np.arange(T)[None, :] < L[:, None]  # (n, T)
        tok = np.where(valid, starts[batch, None] + np.arange(T)[None, :], 0)  # (n, T) token index
        c = cand[tok]  # (n, T, C)
        b = log_b[tok]  # (n, T, C)
        active = valid.sum(axis=0)  # (T,) sentences still running at t
        decode = _viterbi_order1 if order == 1 else _viterbi_order2
        labels = decode(c, b, active, log_p, cand[0] if fixed else None)  # (n, T)
        out[tok[valid]] = labels[valid]
    return out


def _viterbi_order1(c, b, active, log_p, fixed) -> np.ndarray:
    """delta_t(j) = max_i delta_{t-1}(i) + log P(c_t[j] | c_{t-1}[i]) + log b_j(o_t); labels (n, T).

    Back-pointers are not kept for every state: the forward pass keeps each delta_{t-1}, and the
    backtrack recomputes the one argmax it needs, psi_t(j) for the j on the path, from the same sums."""
    n, T, C = c.shape
    Z = log_p.shape[0] - 1
    A = None if fixed is None else log_p[np.ix_(fixed, fixed)]  # (C, C) the same at every step
    delta = log_p[Z, c[:, 0]] + b[:, 0]  # (n, C) from BOS
    history, ends = [], np.empty(n, dtype=np.int64)  # history[t-1]: delta_{t-1}, (n_t, C)
    for t in range(1, T + 1):
        m = active[t] if t < T else 0
        if active[t - 1] > m:  # some sentences end with token t-1
            done = slice(m, active[t - 1])
            final = delta[done] + log_p[c[done, t - 1], Z]  # (d, C) into END
            ends[done] = last_argmax(final, final.max(axis=1), axis=1)
        if m == 0:
            break
        trans = A if A is not None else log_p[c[:m, t - 1, :, None], c[:m, t, None, :]]  # (m, C_i, C_j)
        history.append(delta[:m])
        delta = (delta[:m, :, None] + trans).max(axis=1) + b[:m, t]  # (m, C_j)
    slots = np.zeros((n, T), dtype=np.int64)
    cur = ends.copy()  # (n,) slot at the current t of each sentence
    for t in range(T - 1, -1, -1):
        m = active[t]
        slots[:m, t] = cur[:m]
        if t:
            j = cur[:m]  # (m,)
            trans = A[:, j].T if A is not None else log_p[c[:m, t - 1], c[np.arange(m), t, j][:, None]]  # (m, C_i)
            s = history[t - 1] + trans  # (m, C_i): the sums the forward step maximised for (t, j)
            cur[:m] = last_argmax(s, s.max(axis=1), axis=1)  # psi_t(j)
    return np.take_along_axis(c, slots[:, :, None], axis=2)[:, :, 0]


def _viterbi_order2(c, b, active, log_p, fixed) -> np.ndarray:
    """delta_t(j, k) = max_i delta_{t-1}(i, j) + log P(c_t[k] | c_{t-2}[i], c_{t-1}[j]) + log b_k(o_t);
    state (i, j) = candidate slots at t-1 and t; labels (n, T). The sentences are the *last* axis of
    delta, so every sum runs over a contiguous row of the batch (numpy's loops over 17 slots are
    short and slow); back-pointers are recomputed while backtracking, as in the first order."""
    n, T, C = c.shape
    Z = log_p.shape[0] - 1
    Z1 = Z + 1
    flat = log_p.ravel()
    A = None if fixed is None else log_p[np.ix_(fixed, fixed, fixed)][..., None]  # (C, C, C, 1) from t = 2 on
    cT = np.ascontiguousarray(c.transpose(1, 2, 0))  # (T, C, n)
    bT = np.ascontiguousarray(b.transpose(1, 2, 0))  # (T, C, n)
    bos = np.full((1, n), Z)  # the one "candidate" before the first token: BOS
    delta = (log_p[Z, Z, cT[0]] + bT[0])[None]  # (1, C, n) states (BOS, c_0)
    history, ends = [], np.empty((n, 2), dtype=np.int64)  # history[t-1]: delta_{t-1}, (C_{t-2}, C_{t-1}, n_t)
    for t in range(1, T + 1):
        m = active[t] if t < T else 0
        if active[t - 1] > m:  # some sentences end with token t-1
            done = slice(m, active[t - 1])
            c1 = cT[t - 1][:, done]  # (C, d)
            c2 = cT[t - 2][:, done] if t >= 2 else bos[:, done]  # (C, d) or (1, d)
            final = delta[:, :, done] + log_p[c2[:, None, :], c1[None, :, :], Z]  # (C2, C, d) into END
            final = final.reshape(-1, final.shape[2])  # (C2 C, d): pair (i, j) in C order, i outer
            best = last_argmax(final, final.max(axis=0), axis=0)  # (d,)
            ends[done, 0], ends[done, 1] = best // C, best % C
        if m == 0:
            break
        if A is not None and t >= 2:
            trans = A  # (C, C, C, 1)
        else:
            c2 = cT[t - 2][:, :m] if t >= 2 else bos[:, :m]  # (C2, m) labels of slot i at t-2
            trans = flat[(c2[:, None, None, :] * Z1 + cT[t - 1][None, :, None, :m]) * Z1 + cT[t][None, None, :, :m]]
        history.append(delta[:, :, :m])
        delta = (delta[:, :, None, :m] + trans).max(axis=0) + bT[t][None, :, :m]  # (C_j, C_k, m)
    slots = np.zeros((n, T), dtype=np.int64)
    prev, cur = ends[:, 0].copy(), ends[:, 1].copy()  # (n,) slots at t-1 and t
    for t in range(T - 1, -1, -1):
        m = active[t]
        slots[:m, t] = cur[:m]
        if t:
            r, j, k = np.arange(m), prev[:m], cur[:m]  # (m,) each
            if A is not None and t >= 2:
                trans = A[:, j, k, 0].T  # (m, C_i)
            else:
                c2 = c[:m, t - 2] if t >= 2 else bos[0, :m, None]  # (m, C_i)
                trans = flat[(c2 * Z1 + c[r, t - 1, j][:, None]) * Z1 + c[r, t, k][:, None]]  # (m, C_i)
            s = history[t - 1][:, j, r].T + trans  # (m, C_i): the sums the forward step maximised for (t, j, k)
            prev[:m], cur[:m] = last_argmax(s, s.max(axis=1), axis=1), j.copy()  # psi_t(j, k), then shift
    return np.take_along_axis(c, slots[:, :, None], axis=2)[:, :, 0]
