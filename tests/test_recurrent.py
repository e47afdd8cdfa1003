"""Recurrent layers: float64 gradient checks for every cell x direction x depth on ragged batches,
padding invariance, reverse = forward on the reversed sequence, truncated BPTT, state dicts."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ConfigError, DataError
from harness.models.nn import recurrent
from harness.models.nn.gradcheck import numerical_gradient, rel_error
from harness.models.nn.recurrent import Recurrent, hidden_grad_norms, row_blocks, steps_back

TOL = 1e-6
# central-difference step: ~cbrt(float64 eps) balances truncation and rounding error; at 1e-6 the
# rounding noise (~1e-10 absolute) alone reaches 1e-6 relative on gradients of size ~1e-4
STEP = 1e-5
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
D, H = 2, 3
LENGTHS = [3, 5, 1, 4]  # unsorted and ragged: exercises the internal length sort


def ragged_mask(lengths, T=None):
    T = max(lengths) if T is None else T
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]  # (T, N)


def make(cell, nl, bi, layers, seed=0, dtype=np.float64):
    return Recurrent(
        cell, D, H, num_layers=layers, bidirectional=bi, nonlinearity=nl, rng=np.random.default_rng(seed), dtype=dtype
    )


def random_state(layer, N, rng, scale=0.5):
    shape = (layer.num_layers * layer.num_directions, N, layer.hidden_size)
    if layer.cell == "lstm":
        return (scale * rng.standard_normal(shape), scale * rng.standard_normal(shape))
    return scale * rng.standard_normal(shape)


def as_list(state):
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("cell,nl", CELLS)
@pytest.mark.parametrize(
    "bi,lengths", [(False, LENGTHS), (True, LENGTHS), (True, [4, 4, 4])]
)  # no padding: both directions in one loop
@pytest.mark.parametrize("layers", [1, 2])
def test_gradients_match_central_differences(cell, nl, bi, lengths, layers):
    rng = np.random.default_rng(1)
    layer = make(cell, nl, bi, layers)
    for v in layer.params.values():  # non-zero biases so every term is exercised
        v += 0.3 * rng.standard_normal(v.shape)
    mask = ragged_mask(lengths)
    T, N = mask.shape
    x = rng.standard_normal((T, N, D))
    state0 = random_state(layer, N, rng)
    R = rng.standard_normal((T, N, layer.output_size)) * mask[:, :, None]  # loss = sum(y * R) + sum(stateT * S)
    S = [rng.standard_normal(s.shape) for s in as_list(state0)]

    def loss():
        y, sT, _ = layer.forward(x, mask, state0=state0)
        return float(np.sum(y * R) + sum(np.sum(a * b) for a, b in zip(as_list(sT), S)))

    y, sT, cache = layer.forward(x, mask, state0=state0)
    dstateT = tuple(S) if cell == "lstm" else S[0]
    dx, grads, dstate0 = layer.backward(R, cache, dstateT=dstateT)
    assert set(grads) == set(layer.params)
    for name, p in layer.params.items():
        err = rel_error(grads[name], numerical_gradient(loss, p, eps=STEP))
        assert err < TOL, f"{name}: rel error {err:.2e}"
    assert rel_error(dx, numerical_gradient(loss, x, eps=STEP)) < TOL, "x"
    assert np.all(dx[~mask] == 0), "padding must receive no gradient"
    for k, (s, ds) in enumerate(zip(as_list(state0), as_list(dstate0))):
        err = rel_error(ds, numerical_gradient(loss, s, eps=STEP))
        assert err < TOL, f"state0[{k}]: rel error {err:.2e}"


@pytest.mark.parametrize("cell,nl", CELLS)
@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("lengths", [LENGTHS, [4, 4, 4]])
def test_inference_forward_equals_training_forward(cell, nl, bi, layers, lengths):
    """forward(grad=False) keeps nothing for backward but computes the very same numbers."""
    rng = np.random.default_rng(3)
    layer = make(cell, nl, bi, layers)
    mask = ragged_mask(lengths)
    x = rng.standard_normal((*mask.shape, D))
    state0 = random_state(layer, mask.shape[1], rng)
    y, sT, cache = layer.forward(x, mask, state0=state0)
    y_inf, sT_inf, cache_inf = layer.forward(x, mask, state0=state0, grad=False)
    assert cache is not None and cache_inf is None
    np.testing.assert_array_equal(y_inf, y)
    for a, b in zip(as_list(sT_inf), as_list(sT)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(DataError, match="run forward with grad=True"):
        layer.backward(np.ones_like(y), cache_inf)


@pytest.mark.parametrize("cell,nl", CELLS)
@pytest.mark.parametrize("bi", [False, True])
def test_padding_does_not_change_real_outputs_or_gradients(cell, nl, bi):
    rng = np.random.default_rng(2)
    layer = make(cell, nl, bi, 2)
    mask = ragged_mask(LENGTHS, T=6)
    T, N = mask.shape
    x = rng.standard_normal((T, N, D))
    x[~mask] = rng.standard_normal(((~mask).sum(), D)) * 100  # garbage at padding
    y, sT, cache = layer.forward(x, mask)
    dy = rng.standard_normal(y.shape)
    dx, grads, _ = layer.backward(dy, cache)
    assert np.all(y[~mask] == 0)
    for n, L in enumerate(LENGTHS):
        yn, sTn, cn = layer.forward(x[:L, n : n + 1], np.ones((L, 1), bool))
        np.testing.assert_allclose(y[:L, n : n + 1], yn, atol=1e-12)
        for a, b in zip(as_list(sT), as_list(sTn)):
            np.testing.assert_allclose(a[:, n : n + 1], b, atol=1e-12)
        dxn, _, _ = layer.backward(dy[:L, n : n + 1], cn)
        np.testing.assert_allclose(dx[:L, n : n + 1], dxn, atol=1e-12)
    # the batch gradient is the sum of the per-sequence gradients
    total = {k: 0 for k in grads}
    for n, L in enumerate(LENGTHS):
        _, _, cn = layer.forward(x[:L, n : n + 1], np.ones((L, 1), bool))
        for k, g in layer.backward(dy[:L, n : n + 1], cn)[1].items():
            total[k] = total[k] + g
    for k in grads:
        np.testing.assert_allclose(grads[k], total[k], atol=1e-12, err_msg=k)


@pytest.mark.parametrize("cell,nl", CELLS)
def test_reverse_direction_is_forward_cell_on_reversed_sequence(cell, nl):
    rng = np.random.default_rng(3)
    bi = make(cell, nl, True, 1)
    fwd = make(cell, nl, False, 1)
    fwd.load_state_dict({k: bi.params[k + "_reverse"] for k in fwd.params})
    mask = ragged_mask(LENGTHS)
    T, N = mask.shape
    x = rng.standard_normal((T, N, D))
    state0 = random_state(bi, N, rng)
    y, sT, _ = bi.forward(x, mask, state0=state0)
    for n, L in enumerate(LENGTHS):
        s0 = [s[1:2, n : n + 1] for s in as_list(state0)]
        yr, sTr, _ = fwd.forward(
            x[:L, n : n + 1][::-1], np.ones((L, 1), bool), state0=tuple(s0) if cell == "lstm" else s0[0]
        )
        np.testing.assert_allclose(y[:L, n : n + 1, H:], yr[::-1], atol=1e-12)
        for a, b in zip(as_list(sT), as_list(sTr)):
            np.testing.assert_allclose(a[1:2, n : n + 1], b, atol=1e-12)
    assert np.all(y[~mask] == 0), "a non-zero reverse h0 must not leak into padded outputs"


@pytest.mark.parametrize("cell,nl", CELLS)
def test_truncated_bptt_chunks_equal_one_full_forward(cell, nl):
    rng = np.random.default_rng(4)
    layer = make(cell, nl, False, 2)
    lengths = [7, 2, 5]
    mask = ragged_mask(lengths)
    x = rng.standard_normal((7, 3, D))
    y, sT, _ = layer.forward(x, mask)
    state, ys = None, []
    for start in range(0, 7, 3):  # chunks of 3 steps; sequence 1 has length 0 in the last chunks
        yc, state, _ = layer.forward(x[start : start + 3], mask[start : start + 3], state0=state)
        ys.append(yc)
    np.testing.assert_allclose(np.concatenate(ys), y, atol=1e-12)
    for a, b in zip(as_list(sT), as_list(state)):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_truncated_chunk_gradient_equals_full_gradient_within_chunk():
    # the last chunk's x-gradient (state0 detached) equals the full gradient when dy lives only there
    rng = np.random.default_rng(5)
    layer = make("lstm", "tanh", False, 1)
    mask = ragged_mask([6, 6])
    x = rng.standard_normal((6, 2, D))
    dy = np.zeros((6, 2, H))
    dy[3:] = rng.standard_normal((3, 2, H))
    _, _, cache = layer.forward(x, mask)
    dx_full, _, _ = layer.backward(dy, cache)
    _, s, _ = layer.forward(x[:3], mask[:3])
    _, _, c2 = layer.forward(x[3:], mask[3:], state0=s)
    dx2, _, ds0 = layer.backward(dy[3:], c2)
    np.testing.assert_allclose(dx2, dx_full[3:], atol=1e-12)
    assert np.abs(dx_full[:3]).max() > 0 and np.abs(ds0[0]).max() > 0  # what truncation drops


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bi", [False, True])
def test_names_and_shapes_follow_torch(cell, bi):
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    layer = Recurrent(cell, 5, 4, num_layers=2, bidirectional=bi, rng=np.random.default_rng(0))
    dirs = 2 if bi else 1
    expected = {}
    for k in range(2):
        for sfx in ["", "_reverse"][:dirs]:
            d_in = 5 if k == 0 else 4 * dirs
            expected.update(
                {
                    f"weight_ih_l{k}{sfx}": (G * 4, d_in),
                    f"weight_hh_l{k}{sfx}": (G * 4, 4),
                    f"bias_ih_l{k}{sfx}": (G * 4,),
                    f"bias_hh_l{k}{sfx}": (G * 4,),
                }
            )
    assert {k: v.shape for k, v in layer.params.items()} == expected
    assert all(v.dtype == np.float32 for v in layer.params.values())
    assert layer.output_size == 4 * dirs
    y, sT, _ = layer.forward(np.zeros((3, 2, 5)), np.ones((3, 2), bool))
    assert y.shape == (3, 2, 4 * dirs) and y.dtype == np.float32
    for s in as_list(sT):
        assert s.shape == (2 * dirs, 2, 4)


def test_initialisation_orthogonal_recurrent_blocks_and_forget_bias():
    layer = Recurrent("lstm", 6, 5, rng=np.random.default_rng(0), dtype=np.float64)
    w = layer.params["weight_hh_l0"]
    for g in range(4):
        block = w[g * 5 : (g + 1) * 5]
        np.testing.assert_allclose(block @ block.T, np.eye(5), atol=1e-12)
    np.testing.assert_array_equal(layer.params["bias_ih_l0"], np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    assert not layer.params["bias_hh_l0"].any()
    assert np.abs(layer.params["weight_ih_l0"]).max() <= np.sqrt(6 / 11)


def test_state_dict_round_trip_and_from_state_dict():
    a = make("gru", "tanh", True, 2, seed=0)
    b = make("gru", "tanh", True, 2, seed=9)
    sd = a.state_dict()
    b.load_state_dict(sd)
    sd["weight_hh_l0"][:] = 0  # a copy: the layer is unaffected
    assert a.params["weight_hh_l0"].any()
    mask = ragged_mask(LENGTHS)
    x = np.random.default_rng(0).standard_normal((*mask.shape, D))
    np.testing.assert_array_equal(a.forward(x, mask)[0], b.forward(x, mask)[0])
    c = Recurrent.from_state_dict(a.state_dict(), "gru")
    assert (c.num_layers, c.bidirectional, c.input_size, c.hidden_size, c.dtype) == (2, True, D, H, np.float64)
    np.testing.assert_array_equal(a.forward(x, mask)[0], c.forward(x, mask)[0])


def test_bad_state_dict_and_inputs_name_the_problem():
    layer = make("lstm", "tanh", False, 1)
    sd = layer.state_dict()
    sd["weight_hh_l0"] = np.zeros((4, 4))
    with pytest.raises(ConfigError, match="weight_hh_l0 has shape"):
        layer.load_state_dict(sd)
    with pytest.raises(ConfigError, match="missing"):
        layer.load_state_dict({})
    with pytest.raises(DataError, match="left-aligned"):
        layer.forward(np.zeros((3, 1, D)), np.array([[False], [True], [True]]))
    with pytest.raises(DataError, match=r"shape \(T, N, 2\)"):
        layer.forward(np.zeros((3, 1, 5)), np.ones((3, 1), bool))
    with pytest.raises(ConfigError, match="unknown recurrent cell"):
        Recurrent("transformer", 2, 2)


def test_dropout_only_in_training_and_gradient_goes_through_the_same_mask():
    layer = Recurrent("rnn", D, H, num_layers=2, dropout=0.5, rng=np.random.default_rng(0), dtype=np.float64)
    mask = ragged_mask(LENGTHS)
    x = np.random.default_rng(1).standard_normal((*mask.shape, D))
    y_eval = layer.forward(x, mask)[0]
    np.testing.assert_array_equal(y_eval, layer.forward(x, mask)[0])
    y1 = layer.forward(x, mask, train=True, rng=np.random.default_rng(7))[0]
    assert not np.allclose(y1, y_eval)
    R = np.random.default_rng(2).standard_normal(y1.shape)

    def loss():
        return float(np.sum(layer.forward(x, mask, train=True, rng=np.random.default_rng(7))[0] * R))

    _, _, cache = layer.forward(x, mask, train=True, rng=np.random.default_rng(7))
    dx, grads, _ = layer.backward(R, cache)
    assert rel_error(dx, numerical_gradient(loss, x, eps=STEP)) < TOL
    assert rel_error(grads["weight_ih_l1"], numerical_gradient(loss, layer.params["weight_ih_l1"], eps=STEP)) < TOL


def test_hidden_grad_norms_vanish_for_rnn_and_survive_for_lstm():
    rng = np.random.default_rng(0)
    T, N = 40, 4
    x = rng.standard_normal((T, N, D))
    mask = ragged_mask([40, 30, 40, 25])
    out = {}
    for cell in ("rnn", "lstm"):
        layer = Recurrent(cell, D, 16, rng=np.random.default_rng(1), dtype=np.float64)
        if cell == "rnn":
            layer.params["weight_hh_l0"] *= 0.5  # contractive recurrence
        norms = hidden_grad_norms(layer, x, mask, rng.standard_normal((N, 16)))
        assert norms.shape == (T, N) and np.all(norms[~mask] == 0)
        back = steps_back(norms, mask)
        assert np.isnan(back[30, 1]) and back[0, 1] == norms[29, 1]
        out[cell] = back[20] / back[0]
    assert np.all(out["rnn"] < 1e-4) and np.all(out["lstm"] > out["rnn"])


@pytest.mark.parametrize("cell,nl", CELLS)
def test_float32_path_matches_float64(cell, nl):
    ref = make(cell, nl, True, 2)
    f32 = Recurrent.from_state_dict(ref.state_dict(), cell, nonlinearity=nl, dtype=np.float32)
    assert all(v.dtype == np.float32 for v in f32.params.values())
    mask = ragged_mask(LENGTHS)
    x = np.random.default_rng(6).standard_normal((*mask.shape, D))
    y64, _, c64 = ref.forward(x, mask)
    y32, _, c32 = f32.forward(x, mask)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, atol=1e-5)
    dy = np.random.default_rng(7).standard_normal(y64.shape)
    dx64, g64, _ = ref.backward(dy, c64)
    dx32, g32, _ = f32.backward(dy, c32)
    np.testing.assert_allclose(dx32, dx64, atol=1e-4)
    for k in g64:
        assert g32[k].dtype == np.float32
        np.testing.assert_allclose(g32[k], g64[k], atol=1e-4, err_msg=k)


def test_row_blocks_split_products_until_each_block_is_small():
    assert row_blocks(512, 229, 32) == 4  # lstm step of the pos benchmark: 3.75M -> 4 blocks of 0.94M
    assert row_blocks(256, 66, 64) == 2  # lstm step of the ts benchmark: 1.08M -> 2 x 0.54M
    assert row_blocks(128, 229, 32) == 1  # rnn step: already small
    assert row_blocks(12, 10**9, 1) == 4  # stops where the block would have an odd number of rows


@pytest.mark.parametrize("cell,nl", CELLS)
@pytest.mark.parametrize("bi,lengths", [(False, [3, 5, 1, 4]), (True, [3, 5, 1, 4]), (True, [4, 4, 4])])
def test_row_blocked_step_products_equal_whole_ones(cell, nl, bi, lengths, monkeypatch):
    """The step products split into row blocks (what large layers do) give the numbers of the whole
    products (what the gradient-checked small layers do): forward, inference and backward."""
    rng = np.random.default_rng(8)
    layer = Recurrent(cell, 3, 8, num_layers=2, bidirectional=bi, nonlinearity=nl, rng=rng, dtype=np.float64)
    mask = ragged_mask(lengths)
    x = rng.standard_normal((*mask.shape, 3))
    state0 = random_state(layer, mask.shape[1], rng)
    dy = rng.standard_normal((*mask.shape, layer.output_size))

    def run():
        y, sT, cache = layer.forward(x, mask, state0=state0)
        y_inf, _, _ = layer.forward(x, mask, state0=state0, grad=False)
        dx, grads, ds0 = layer.backward(dy, cache)
        return [y, y_inf, *as_list(sT), dx, *as_list(ds0), *(grads[k] for k in sorted(grads))]

    whole = run()
    monkeypatch.setattr(recurrent, "SMALL_GEMM", 1)  # every product splits down to one-row blocks
    assert recurrent.row_blocks(4 * 8, 3 + 1 + 8, 4) == 32
    blocked = run()
    for a, b in zip(blocked, whole):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
