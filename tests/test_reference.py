"""The plain step equations (harness/models/nn/reference.py) as the torch-free oracle of the fast layer.

The reference is checked on its own first (known answers of one scalar step written with ``math``,
central differences, padding = running each sequence alone); then the fast layer must give its
outputs, final states and every gradient to 1e-10 in float64 for every cell, uni/bi, 1 and 2
layers, ragged and unpadded batches of random small shapes. The seed is printed (and named in
every failure); set REFERENCE_SEED to replay one.
"""

from __future__ import annotations

import math
import os
import secrets

import numpy as np
import pytest

from harness.models.nn import reference as ref
from harness.models.nn.gradcheck import numerical_gradient, rel_error
from harness.models.nn.recurrent import Recurrent, hidden_grad_norms

TOL = 1e-10  # fast layer vs reference, float64
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
SEED = int(os.environ.get("REFERENCE_SEED", secrets.randbits(32)))


def as_list(state):
    return list(state) if isinstance(state, tuple) else [state]


def random_state(cell, shape, rng):
    return (rng.standard_normal(shape), rng.standard_normal(shape)) if cell == "lstm" else rng.standard_normal(shape)


def sig(a):
    return 1 / (1 + math.exp(-a))


def test_scalar_steps_give_the_textbook_numbers():
    """H = D = N = 1: every step equation evaluated by hand with ``math``."""
    x, h, c = np.array([[0.7]]), np.array([[-0.4]]), np.array([[0.3]])
    U, W = np.array([[0.5], [-1.2], [0.8], [0.3]]), np.array([[0.9], [0.4], [-0.6], [1.1]])
    b = np.array([0.1, -0.2, 0.05, 0.3])
    u, w, bb = U[:, 0], W[:, 0], b  # gate k: a_k = b_k + w_k h + u_k x

    def a(k):
        return bb[k] + w[k] * -0.4 + u[k] * 0.7

    h_rnn, _ = ref.rnn_step_forward(x, h, U[:1], W[:1], b[:1])
    assert h_rnn[0, 0] == pytest.approx(math.tanh(a(0)), abs=1e-15)
    h_relu, _ = ref.rnn_step_forward(x, h, U[:1], W[:1], b[:1], "relu")
    assert h_relu[0, 0] == pytest.approx(max(a(0), 0.0), abs=1e-15)

    h_lstm, c_lstm, _ = ref.lstm_step_forward(x, h, c, U, W, b)  # gates i f g o
    c_want = sig(a(1)) * 0.3 + sig(a(0)) * math.tanh(a(2))
    assert c_lstm[0, 0] == pytest.approx(c_want, abs=1e-15)
    assert h_lstm[0, 0] == pytest.approx(sig(a(3)) * math.tanh(c_want), abs=1e-15)

    b_w = np.array([0.2, -0.1, 0.4])  # gates r z n; the hidden side of n sits inside r * (.)
    h_gru, _ = ref.gru_step_forward(x, h, U[:3], W[:3], b[:3], b_w)
    r = sig(b[0] + 0.5 * 0.7 + b_w[0] + 0.9 * -0.4)
    z = sig(b[1] + -1.2 * 0.7 + b_w[1] + 0.4 * -0.4)
    n = math.tanh(b[2] + 0.8 * 0.7 + r * (b_w[2] + -0.6 * -0.4))
    assert h_gru[0, 0] == pytest.approx((1 - z) * n + z * -0.4, abs=1e-15)


@pytest.mark.parametrize("cell,nl", CELLS)
def test_reference_backward_matches_central_differences(cell, nl):
    """The reference's backward is its forward's gradient (2 layers, bidirectional, ragged, states)."""
    rng = np.random.default_rng(3)
    layer = Recurrent(cell, 2, 2, num_layers=2, bidirectional=True, nonlinearity=nl, rng=rng, dtype=np.float64)
    params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in layer.params.items()}
    mask = np.arange(3)[:, None] < np.array([3, 1, 2])[None, :]
    x = rng.standard_normal((3, 3, 2))
    state0 = random_state(cell, (4, 3, 2), rng)
    R = rng.standard_normal((3, 3, 4)) * mask[:, :, None]
    S = as_list(random_state(cell, (4, 3, 2), rng))

    def loss():
        y, sT, _ = ref.forward(cell, params, x, mask, state0, nl)
        return float(np.sum(y * R) + sum(np.sum(a * b) for a, b in zip(as_list(sT), S)))

    _, _, cache = ref.forward(cell, params, x, mask, state0, nl)
    dx, grads, dstate0, _ = ref.backward(R, cache, tuple(S) if cell == "lstm" else S[0])
    for name, p in params.items():
        assert rel_error(grads[name], numerical_gradient(loss, p, eps=1e-5)) < 1e-6, name
    assert rel_error(dx, numerical_gradient(loss, x, eps=1e-5)) < 1e-6, "x"
    for k, (s, ds) in enumerate(zip(as_list(state0), as_list(dstate0))):
        assert rel_error(ds, numerical_gradient(loss, s, eps=1e-5)) < 1e-6, f"state0[{k}]"


@pytest.mark.parametrize("cell,nl", CELLS)
def test_reference_padding_equals_running_each_sequence_alone(cell, nl):
    rng = np.random.default_rng(4)
    layer = Recurrent(cell, 2, 3, num_layers=2, bidirectional=True, nonlinearity=nl, rng=rng, dtype=np.float64)
    lengths = [2, 5, 3]
    mask = np.arange(5)[:, None] < np.array(lengths)[None, :]
    x, dy = rng.standard_normal((5, 3, 2)), rng.standard_normal((5, 3, 6))
    y, sT, cache = ref.forward(cell, layer.params, x, mask, nonlinearity=nl)
    dx, grads, _, dh = ref.backward(dy, cache)
    assert np.all(y[~mask] == 0) and np.all(dx[~mask] == 0) and np.all(dh[:, :, ~mask] == 0)
    total = {k: 0.0 for k in grads}
    for n, L in enumerate(lengths):
        y1, sT1, c1 = ref.forward(cell, layer.params, x[:L, n : n + 1], nonlinearity=nl)
        dx1, g1, _, _ = ref.backward(dy[:L, n : n + 1], c1)
        np.testing.assert_allclose(y[:L, n], y1[:, 0], atol=1e-14)
        np.testing.assert_allclose(dx[:L, n], dx1[:, 0], atol=1e-14)
        for a, b in zip(as_list(sT), as_list(sT1)):
            np.testing.assert_allclose(a[:, n], b[:, 0], atol=1e-14)
        total = {k: total[k] + g1[k] for k in g1}
    for k in grads:
        np.testing.assert_allclose(grads[k], total[k], atol=1e-13, err_msg=k)


@pytest.mark.parametrize("cell,nl", CELLS)
@pytest.mark.parametrize("bi", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("ragged", [True, False], ids=["ragged", "unpadded"])
def test_fast_layer_equals_the_reference(cell, nl, bi, layers, ragged):
    seed = SEED + 1000 * CELLS.index((cell, nl)) + 100 * bi + 10 * layers + ragged
    print(f"seed {seed} (REFERENCE_SEED={SEED})")
    rng = np.random.default_rng(seed)
    T, N, D, H = (int(v) for v in rng.integers(1, [7, 5, 5, 5], endpoint=True))
    lengths = rng.integers(0 if T > 1 else 1, T, N, endpoint=True) if ragged else np.full(N, T)
    lengths[rng.integers(N)] = T  # the longest sequence fills the batch
    mask = np.arange(T)[:, None] < lengths[None, :]  # (T, N)
    layer = Recurrent(cell, D, H, num_layers=layers, bidirectional=bi, nonlinearity=nl, rng=rng, dtype=np.float64)
    for v in layer.params.values():  # non-zero biases so every term is exercised
        v += 0.3 * rng.standard_normal(v.shape)
    x = rng.standard_normal((T, N, D))
    shape = (layers * layer.num_directions, N, H)
    state0, dstateT = random_state(cell, shape, rng), random_state(cell, shape, rng)
    dy = rng.standard_normal((T, N, layer.output_size))
    where = f"seed {seed}: {cell}/{nl} T={T} N={N} D={D} H={H} lengths={lengths.tolist()}"

    y, stateT, cache = layer.forward(x, mask, state0=state0)
    dx, grads, dstate0 = layer.backward(dy, cache, dstateT=dstateT)  # dy at padding is ignored
    y_ref, stateT_ref, cache_ref = ref.forward(cell, layer.params, x, mask, state0, nl)
    dx_ref, grads_ref, dstate0_ref, _ = ref.backward(dy, cache_ref, dstateT)

    np.testing.assert_allclose(y, y_ref, rtol=TOL, atol=TOL, err_msg=f"y, {where}")
    for k, (a, b) in enumerate(zip(as_list(stateT), as_list(stateT_ref))):
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=f"stateT[{k}], {where}")
    np.testing.assert_allclose(dx, dx_ref, rtol=TOL, atol=TOL, err_msg=f"dx, {where}")
    assert set(grads) == set(grads_ref) == set(layer.params)
    for name in grads:
        np.testing.assert_allclose(grads[name], grads_ref[name], rtol=TOL, atol=TOL, err_msg=f"{name}, {where}")
    for k, (a, b) in enumerate(zip(as_list(dstate0), as_list(dstate0_ref))):
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=f"dstate0[{k}], {where}")


@pytest.mark.parametrize("cell,nl", CELLS)
def test_hidden_grad_norms_are_the_reference_dh(cell, nl):
    """The vanishing-gradient diagnostic: ||dL/dh_t|| of layer 0's forward direction when only each
    sequence's last real output of the top layer carries a gradient (2 layers, bi, unsorted lengths)."""
    rng = np.random.default_rng(5)
    layer = Recurrent(cell, 2, 3, num_layers=2, bidirectional=True, nonlinearity=nl, rng=rng, dtype=np.float64)
    lengths = np.array([3, 6, 1, 4])
    mask = np.arange(6)[:, None] < lengths[None, :]
    x, dy_last = rng.standard_normal((6, 4, 2)), rng.standard_normal((4, 6))
    norms = hidden_grad_norms(layer, x, mask, dy_last)
    dy = np.zeros((6, 4, 6))
    dy[lengths - 1, np.arange(4)] = dy_last
    _, _, cache = ref.forward(cell, layer.params, x, mask, nonlinearity=nl)
    dh = ref.backward(dy, cache)[3][0, 0]  # (T, N, H): layer 0, forward direction
    assert norms.shape == (6, 4) and np.all(norms[~mask] == 0) and np.all(norms[mask] > 0)
    np.testing.assert_allclose(norms, np.linalg.norm(dh, axis=-1), rtol=1e-12, atol=1e-14)
