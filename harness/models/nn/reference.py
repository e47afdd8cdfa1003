"""The recurrent cells written plainly: the place to read the maths of ``recurrent.py``.

Each cell is a pair of pure step functions, CS231n-style: ``*_step_forward`` returns the new state
and a cache, ``*_step_backward`` consumes the cache and returns the gradients. The sequence
functions ``forward`` and ``backward`` loop over the steps (uni- and bidirectional, stacked, with
masks). Nothing here is fast; it is the torch-free oracle the fast layer is tested against
(tests/test_reference.py) and what the vanishing-gradient diagnostic reads dL/dh_t from.

Dimension letters: T time steps, N batch, D input features, H hidden units, G gates (1 rnn, 4 lstm,
3 gru). Step arrays are batch-major, x (N, D), h (N, H); sequences are time-major, x (T, N, D).

Textbook names: U (G*H, D) maps the input to the pre-activations, W (G*H, H) the previous state,
b (G*H,) is the bias; a tagger's head then reads o_t = c + V h_t (``harness/models/rnn.py``). These
are torch's ``weight_ih``, ``weight_hh`` and ``bias_ih + bias_hh``, gates stacked in torch's order
(lstm i f g o, gru r z n), so the same parameter dict drives both implementations.

    rnn:  h_t = tanh(b + W h_{t-1} + U x_t)                       (or relu)
    lstm: [i, f, g, o] = [sig, sig, tanh, sig](b + W h_{t-1} + U x_t)
          c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)
    gru:  [r, z] = sig(b_u + U x_t + b_w + W h_{t-1})            (the r, z rows)
          n_t = tanh(b_un + U_n x_t + r * (b_wn + W_n h_{t-1}))  (the n rows)
          h_t = (1 - z) * n_t + z * h_{t-1}

The gru keeps its two biases apart (b_u = bias_ih, b_w = bias_hh) because the hidden side of n is
multiplied by r before it is added.

Masks: mask (T, N) is True at real steps, which come first in each sequence. A padded step
carries the state unchanged and contributes nothing (zero output, no gradient); so the forward
direction ends at each sequence's own last real step, and the reverse direction starts there.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit as sigmoid

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


# ---------------------------------------------------------------------- steps


def rnn_step_forward(x, h_prev, U, W, b, nonlinearity="tanh"):
    """One vanilla RNN step.

    Inputs: x (N, D); h_prev (N, H); U (H, D); W (H, H); b (H,); nonlinearity "tanh" or "relu".
    Returns a tuple of: h (N, H); cache.
    """
    a = b + h_prev @ W.T + x @ U.T  # (N, H)
    h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)
    return h, (x, h_prev, U, W, a, h, nonlinearity)


def rnn_step_backward(dh, cache):
    """Backward of ``rnn_step_forward``.

    Inputs: dh (N, H), the total dL/dh of this step; cache.
    Returns a tuple of: dx (N, D); dh_prev (N, H); dU (H, D); dW (H, H); db (H,).
    """
    x, h_prev, U, W, a, h, nonlinearity = cache
    da = dh * (1.0 - h**2) if nonlinearity == "tanh" else dh * (a > 0)  # through the nonlinearity
    return da @ U, da @ W, da.T @ x, da.T @ h_prev, da.sum(0)


def lstm_step_forward(x, h_prev, c_prev, U, W, b):
    """One LSTM step.

    Inputs: x (N, D); h_prev, c_prev (N, H); U (4H, D); W (4H, H); b (4H,), gates in the order i f g o.
    Returns a tuple of: h (N, H); c (N, H); cache.
    """
    H = h_prev.shape[1]
    a = b + h_prev @ W.T + x @ U.T  # (N, 4H)
    i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H]), sigmoid(a[:, 3 * H :])  # (N, H) each
    g = np.tanh(a[:, 2 * H : 3 * H])
    c = f * c_prev + i * g
    tc = np.tanh(c)
    h = o * tc
    return h, c, (x, h_prev, c_prev, U, W, i, f, g, o, tc)


def lstm_step_backward(dh, dc, cache):
    """Backward of ``lstm_step_forward``.

    Inputs: dh (N, H), the total dL/dh of this step; dc (N, H), dL/dc from the later steps; cache.
    Returns a tuple of: dx (N, D); dh_prev (N, H); dc_prev (N, H); dU (4H, D); dW (4H, H); db (4H,).
    """
    x, h_prev, c_prev, U, W, i, f, g, o, tc = cache
    do = dh * tc
    dc = dc + dh * o * (1.0 - tc**2)  # into c through h = o tanh(c)
    di, df, dg = dc * g, dc * c_prev, dc * i
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)  # (N, 4H)
    return da @ U, da @ W, dc * f, da.T @ x, da.T @ h_prev, da.sum(0)


def gru_step_forward(x, h_prev, U, W, b_u, b_w):
    """One GRU step.

    Inputs: x (N, D); h_prev (N, H); U (3H, D); W (3H, H); b_u, b_w (3H,), gates in the order r z n.
    Returns a tuple of: h (N, H); cache.
    """
    H = h_prev.shape[1]
    au = b_u + x @ U.T  # (N, 3H) input side
    aw = b_w + h_prev @ W.T  # (N, 3H) hidden side
    r = sigmoid(au[:, :H] + aw[:, :H])
    z = sigmoid(au[:, H : 2 * H] + aw[:, H : 2 * H])
    n = np.tanh(au[:, 2 * H :] + r * aw[:, 2 * H :])
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, U, W, aw[:, 2 * H :], r, z, n)


def gru_step_backward(dh, cache):
    """Backward of ``gru_step_forward``.

    Inputs: dh (N, H), the total dL/dh of this step; cache.
    Returns a tuple of: dx (N, D); dh_prev (N, H); dU (3H, D); dW (3H, H); db_u (3H,); db_w (3H,).
    """
    x, h_prev, U, W, awn, r, z, n = cache
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    dan = dn * (1 - n**2)  # through tanh
    dr = dan * awn
    dar, daz = dr * r * (1 - r), dz * z * (1 - z)  # through the sigmoids
    dau = np.concatenate([dar, daz, dan], axis=1)  # (N, 3H) input side
    daw = np.concatenate([dar, daz, dan * r], axis=1)  # (N, 3H) hidden side
    dh_prev = dh * z + daw @ W
    return dau @ U, dh_prev, dau.T @ x, daw.T @ h_prev, dau.sum(0), daw.sum(0)


# ---------------------------------------------------------------------- one direction


def _names(layer, reverse):
    sfx = f"_l{layer}" + ("_reverse" if reverse else "")
    return f"weight_ih{sfx}", f"weight_hh{sfx}", f"bias_ih{sfx}", f"bias_hh{sfx}"


def direction_forward(cell, params, layer, reverse, x, mask, state0, nonlinearity="tanh"):
    """One direction of one layer over a masked sequence.

    Inputs: x (T, N, D_k); mask (T, N) bool; state0 a list of (N, H) arrays (h0, and c0 for lstm).
    Returns a tuple of: y (T, N, H), zero at padding; stateT (list like state0); cache.
    """
    U, W, b_u, b_w = (params[k] for k in _names(layer, reverse))
    T = x.shape[0]
    state, caches = list(state0), [None] * T
    y = np.zeros((T, x.shape[1], W.shape[1]))
    for t in range(T - 1, -1, -1) if reverse else range(T):
        m = mask[t][:, None]  # (N, 1): real step or padding
        if cell == "rnn":
            new, caches[t] = rnn_step_forward(x[t], state[0], U, W, b_u + b_w, nonlinearity)
            new = [new]
        elif cell == "lstm":
            *new, caches[t] = lstm_step_forward(x[t], *state, U, W, b_u + b_w)
        else:
            new, caches[t] = gru_step_forward(x[t], state[0], U, W, b_u, b_w)
            new = [new]
        state = [np.where(m, s_new, s) for s_new, s in zip(new, state)]  # padding carries the state
        y[t] = state[0] * m
    return y, state, (cell, layer, reverse, mask, caches)


def direction_backward(dy, dstateT, cache):
    """Backward of ``direction_forward``.

    Inputs: dy (T, N, H) (ignored at padding); dstateT a list like stateT; cache.
    Returns a tuple of: dx (T, N, D_k); {name: grad}; dstate0 (list); dh (T, N, H), the total
    dL/dh_t reaching each real step's h_t (zero at padding).
    """
    cell, layer, reverse, mask, caches = cache
    T = len(caches)
    names = _names(layer, reverse)
    grads = {k: 0.0 for k in names}
    dstate = [np.array(s, dtype=float) for s in dstateT]
    dx, dh = [None] * T, np.zeros(dy.shape)
    for t in range(T) if reverse else range(T - 1, -1, -1):  # the forward's steps, backwards
        m = mask[t][:, None]  # (N, 1)
        dstate[0] = dstate[0] + dy[t] * m
        dh[t] = dstate[0] * m
        dnew = [d * m for d in dstate]  # into this step's computation (real steps only)
        if cell == "rnn":
            dx[t], dprev, dU, dW, db = rnn_step_backward(dnew[0], caches[t])
            dprev, step = [dprev], (dU, dW, db, db)
        elif cell == "lstm":
            dx[t], dh_prev, dc_prev, dU, dW, db = lstm_step_backward(*dnew, caches[t])
            dprev, step = [dh_prev, dc_prev], (dU, dW, db, db)
        else:
            dx[t], dprev, dU, dW, db_u, db_w = gru_step_backward(dnew[0], caches[t])
            dprev, step = [dprev], (dU, dW, db_u, db_w)
        dstate = [dp + d * ~m for dp, d in zip(dprev, dstate)]  # padding passed the state through
        for k, g in zip(names, step):
            grads[k] = grads[k] + g
    return np.stack(dx), grads, dstate, dh


# ---------------------------------------------------------------------- the stack


def _split_state(cell, state, n):
    """torch's (L*dirs, N, H) state [pair for lstm] -> n lists of (N, H) arrays."""
    parts = state if cell == "lstm" else (state,)
    return [[s[k] for s in parts] for k in range(n)]


def _join_state(cell, states):
    parts = [np.stack([s[j] for s in states]) for j in range(len(states[0]))]
    return tuple(parts) if cell == "lstm" else parts[0]


def forward(cell, params, x, mask=None, state0=None, nonlinearity="tanh"):
    """A stacked, optionally bidirectional layer with torch-named ``params`` (sizes read from them).

    Inputs: x (T, N, D); mask (T, N) bool, real steps first (None: no padding); state0 like torch's
    h_0 (L*dirs, N, H), or (h_0, c_0) for lstm, None = zeros.
    Returns a tuple of: y (T, N, H*dirs), zero at padding; stateT like state0; cache.
    """
    x = np.asarray(x, dtype=float)
    T, N, _ = x.shape
    mask = np.ones((T, N), bool) if mask is None else np.asarray(mask, bool)
    L = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in params if k.startswith("weight_ih"))
    dirs = 2 if "weight_ih_l0_reverse" in params else 1
    H = params["weight_hh_l0"].shape[1]
    if state0 is None:
        state0 = tuple(np.zeros((L * dirs, N, H)) for _ in range(2)) if cell == "lstm" else np.zeros((L * dirs, N, H))
    inits = _split_state(cell, state0, L * dirs)
    inp, finals, caches = x, [], []
    for layer in range(L):
        outs = []
        for d in range(dirs):
            y, sT, c = direction_forward(cell, params, layer, bool(d), inp, mask, inits[layer * dirs + d], nonlinearity)
            outs.append(y)
            finals.append(sT)
            caches.append(c)
        inp = np.concatenate(outs, axis=2)  # (T, N, H*dirs): the next layer's input
    return inp, _join_state(cell, finals), (cell, L, dirs, H, caches)


def backward(dy, cache, dstateT=None):
    """Backward of ``forward``.

    Inputs: dy (T, N, H*dirs); cache; dstateT like stateT (None = zeros).
    Returns a tuple of: dx (T, N, D); {name: grad}; dstate0 like state0; dh (L, dirs, T, N, H), the
    total dL/dh_t of every layer and direction (zero at padding).
    """
    cell, L, dirs, H, caches = cache
    T, N, _ = dy.shape
    if dstateT is None:
        dstateT = tuple(np.zeros((L * dirs, N, H)) for _ in range(2)) if cell == "lstm" else np.zeros((L * dirs, N, H))
    dfinals = _split_state(cell, dstateT, L * dirs)
    grads, dstate0, dh = {}, [None] * (L * dirs), np.zeros((L, dirs, T, N, H))
    for layer in reversed(range(L)):
        dinp = 0.0
        for d in range(dirs):
            k = layer * dirs + d
            dx, g, dstate0[k], dh[layer, d] = direction_backward(dy[:, :, d * H : (d + 1) * H], dfinals[k], caches[k])
            grads.update(g)
            dinp = dinp + dx  # both directions read the same input
        dy = dinp
    return dy, grads, _join_state(cell, dstate0), dh
