"""Gradient checks of the assembled models (embeddings -> recurrent -> linear -> loss) and known answers
for the losses and optimisers. float64, tiny shapes, ragged batches."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config import model_schema
from harness.models.nn.gradcheck import numerical_gradient, rel_error
from harness.models.nn.losses import mse, softmax_cross_entropy
from harness.models.nn.optim import SGD, Adam, clip_global_norm
from harness.models.rnn import RNNForecaster, RNNTagger
from harness.tasks.pos import Batch

TOL = 1e-6
EPS = 1e-3  # five-point stencil: truncation ~eps^4; round-off of an O(1) loss ~1e-16 / eps
# (gradient elements as small as 1e-7 occur, so the three-point rule's round-off at eps = 1e-6 is too coarse)


def tiny_batch(rng, vocab_sizes, n_tags, lengths):
    T, N = max(lengths), len(lengths)
    mask = np.arange(T)[:, None] < np.array(lengths)[None, :]  # (T, N)
    inputs = {f: np.where(mask, rng.integers(1, V, (T, N)), 0) for f, V in vocab_sizes.items()}
    tags = np.where(mask, rng.integers(1, n_tags, (T, N)), 0)
    return Batch(inputs, tags, mask, np.arange(N))


def check_all_params(model, loss_fn, analytic):
    """Elementwise relative error |a - n| / (|a| + |n|) < TOL for every element of every parameter."""
    for name, p in model.params.items():
        err = rel_error(analytic[name], numerical_gradient(loss_fn, p, eps=EPS, stencil=5))
        assert err < TOL, f"{name}: relative error {err:.2e}"


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_tagger_gradients_match_finite_differences(cell, bidirectional):
    rng = np.random.default_rng(7)
    cfg = model_schema(cell, "pos")(
        embedding_size=3, feature_size=2, hidden_size=4, bidirectional=bidirectional, init_scale=0.5
    )
    vocab = {"word": 6, "suffix2": 4}
    model = RNNTagger(vocab, 5, cfg, rng, dtype=np.float64)
    batch = tiny_batch(rng, vocab, 5, [4, 2, 3])
    loss, grads = model.loss_and_grads(batch)
    check_all_params(model, lambda: model.loss_and_grads(batch)[0], grads)
    assert np.asarray(grads["embed.word"])[0].tolist() == [0.0] * 3  # padding row never learns


def test_tagger_padding_does_not_change_loss_or_gradients():
    rng = np.random.default_rng(1)
    cfg = model_schema("lstm", "pos")(embedding_size=3, hidden_size=4)
    model = RNNTagger({"word": 7}, 4, cfg, rng, dtype=np.float64)
    batch = tiny_batch(rng, {"word": 7}, 4, [3, 2])
    loss, grads = model.loss_and_grads(batch)
    padded = Batch(
        {"word": np.pad(batch.inputs["word"], ((0, 3), (0, 0)))},
        np.pad(batch.tags, ((0, 3), (0, 0))),
        np.pad(batch.mask, ((0, 3), (0, 0))),
        batch.index,
    )
    padded.inputs["word"][3:] = 5  # garbage in padded positions must not matter
    padded.tags[3:] = 2
    loss2, grads2 = model.loss_and_grads(padded)
    assert loss == pytest.approx(loss2, rel=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], grads2[k], rtol=1e-10, atol=1e-14)


def test_truncated_bptt_with_long_chunks_equals_full_bptt_and_short_chunks_differ():
    rng = np.random.default_rng(3)
    cfg = model_schema("gru", "pos")(embedding_size=3, hidden_size=4)
    model = RNNTagger({"word": 6}, 4, cfg, rng, dtype=np.float64)
    batch = tiny_batch(rng, {"word": 6}, 4, [6, 4, 5])
    loss, grads = model.loss_and_grads(batch)
    cfg.bptt_steps = 6  # one chunk: identical
    loss6, grads6 = model.loss_and_grads(batch)
    cfg.bptt_steps = 2  # same forward pass (state carried), truncated gradients
    loss2, grads2 = model.loss_and_grads(batch)
    assert loss6 == pytest.approx(loss) and loss2 == pytest.approx(loss)
    np.testing.assert_allclose(grads6["rnn.weight_hh_l0"], grads["rnn.weight_hh_l0"], rtol=1e-12)
    assert rel_error(grads2["rnn.weight_hh_l0"], grads["rnn.weight_hh_l0"]) > 1e-3
    np.testing.assert_allclose(grads2["out.weight"], grads["out.weight"], rtol=1e-10)  # the output layer is local


@pytest.mark.parametrize("cell,bidirectional", [("rnn", False), ("lstm", True), ("gru", False)])
def test_forecaster_gradients_match_finite_differences(cell, bidirectional):
    rng = np.random.default_rng(5)
    cfg = model_schema(cell, "timeseries")(hidden_size=3, bidirectional=bidirectional)
    model = RNNForecaster(1, cfg, rng, dtype=np.float64)
    X, y = rng.standard_normal((4, 5, 1)), rng.standard_normal(4)
    _, grads = model.loss_and_grads((X, y))
    check_all_params(model, lambda: model.loss_and_grads((X, y))[0], grads)


def test_softmax_cross_entropy_known_answer_and_gradient():
    T, N, C = 3, 2, 4
    o = np.zeros((T, N, C))
    targets = np.ones((T, N), dtype=int)
    mask = np.array([[1, 1], [1, 0], [0, 0]], dtype=bool)
    loss, do = softmax_cross_entropy(o, targets, mask)
    assert loss == pytest.approx(np.log(C))  # uniform prediction: log C per real token
    assert np.all(do[~mask] == 0)
    rng = np.random.default_rng(0)
    o = rng.standard_normal((T, N, C))
    _, do = softmax_cross_entropy(o, targets, mask)
    num = numerical_gradient(lambda: softmax_cross_entropy(o, targets, mask)[0], o)
    assert rel_error(do, num) < TOL


def test_mse_known_answer():
    loss, d = mse(np.array([1.0, 3.0]), np.array([0.0, 1.0]))
    assert loss == pytest.approx(2.5)
    np.testing.assert_allclose(d, [1.0, 2.0])


def test_clip_global_norm_scales_to_the_limit():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    assert clip_global_norm(grads, 1.0) == pytest.approx(5.0)
    assert np.sqrt(grads["a"] ** 2 + grads["b"] ** 2)[0] == pytest.approx(1.0)
    grads = {"a": np.array([0.3])}
    clip_global_norm(grads, 1.0)
    assert grads["a"][0] == pytest.approx(0.3)  # under the limit: unchanged


def test_adam_first_step_moves_each_weight_by_lr_and_state_round_trips():
    p = {"w": np.array([1.0, -2.0])}
    opt = Adam(p, lr=0.1)
    opt.step({"w": np.array([0.5, -3.0])})
    np.testing.assert_allclose(p["w"], [0.9, -1.9], atol=1e-6)  # first step = lr * sign(g)
    other = Adam({"w": p["w"].copy()}, lr=0.1)
    other.load_state_dict(opt.state_dict())
    opt.step({"w": np.array([1.0, 1.0])})
    other.step({"w": np.array([1.0, 1.0])})
    np.testing.assert_allclose(p["w"], other.params["w"])


def test_sgd_with_momentum_known_answer():
    p = {"w": np.array([1.0])}
    opt = SGD(p, lr=0.1, momentum=0.9)
    opt.step({"w": np.array([1.0])})  # v = 1, w = 0.9
    opt.step({"w": np.array([1.0])})  # v = 1.9, w = 0.71
    assert p["w"][0] == pytest.approx(0.71)


def test_tagger_learns_a_copy_task():
    """A real optimisation check: the tag is a function of the current word; accuracy must reach 1."""
    rng = np.random.default_rng(0)
    cfg = model_schema("rnn", "pos")(embedding_size=8, hidden_size=16)
    model = RNNTagger({"word": 10}, 6, cfg, rng)
    opt = Adam(model.params, lr=0.05)
    for _ in range(150):
        batch = tiny_batch(rng, {"word": 10}, 6, [5, 3, 4, 6])
        batch.tags = np.where(batch.mask, batch.inputs["word"] % 5 + 1, 0)
        _, grads = model.loss_and_grads(batch)
        opt.step(grads)
    batch = tiny_batch(rng, {"word": 10}, 6, [6, 6])
    pred = model.predict(batch.inputs, batch.mask)
    assert np.all(pred[batch.mask] == (batch.inputs["word"] % 5 + 1)[batch.mask])


def test_word_dropout_trains_the_unknown_embedding_on_rare_words_only():
    rng = np.random.default_rng(0)
    cfg = model_schema("rnn", "pos")(embedding_size=3, hidden_size=4, word_dropout=1.0)
    counts = np.array([0, 0, 1, 1000])  # <pad>, <unk>, a singleton, a frequent word
    model = RNNTagger({"word": 4}, 3, cfg, rng, dtype=np.float64, word_counts=counts)
    np.testing.assert_allclose(model.unk_prob, [0.0, 0.0, 0.5, 1 / 1001])
    T, N = 1, 4000
    words = np.tile([2, 3], N // 2)[None, :]
    batch = Batch({"word": words}, np.ones((T, N), dtype=int), np.ones((T, N), bool), np.arange(N))
    _, grads = model.loss_and_grads(batch, np.random.default_rng(1))
    dE = np.asarray(grads["embed.word"])
    g_unk, g_rare = np.abs(dE[1]).sum(), np.abs(dE[2]).sum()
    assert g_unk > 0 and g_rare > 0  # about half of the singleton's occurrences train <unk>
    _, grads = model.loss_and_grads(batch)  # no rng: evaluation, no dropout
    assert np.abs(np.asarray(grads["embed.word"])[1]).sum() == 0


def test_embedding_backward_sums_rows_per_id_and_skips_padding():
    from harness.models.nn.embedding import embedding_backward

    ids = np.array([[1, 0], [3, 1]])
    dx = np.arange(8, dtype=float).reshape(2, 2, 2)  # (T, N, D)
    dE = embedding_backward(ids, dx, 5)
    assert dE.rows.tolist() == [1, 3]  # only the rows the batch read
    np.testing.assert_array_equal(np.asarray(dE), [[0, 0], [0 + 6, 1 + 7], [0, 0], [4, 5], [0, 0]])
    assert np.asarray(embedding_backward(ids, dx, 5, skip_padding=False))[0].tolist() == [2, 3]


def test_lazy_adam_on_rows_equals_dense_adam_on_the_touched_rows_and_leaves_others():
    from harness.models.nn.optim import RowGrad

    rng = np.random.default_rng(0)
    dense_p, lazy_p = {"E": rng.standard_normal((5, 2))}, {}
    lazy_p["E"] = dense_p["E"].copy()
    dense, lazy = Adam(dense_p, lr=0.1), Adam(lazy_p, lr=0.1)
    g = RowGrad(np.array([1, 3]), rng.standard_normal((2, 2)), (5, 2))
    before = lazy_p["E"].copy()
    dense.step({"E": np.asarray(g)})
    lazy.step({"E": g})
    np.testing.assert_allclose(lazy_p["E"][[1, 3]], dense_p["E"][[1, 3]])
    np.testing.assert_array_equal(lazy_p["E"][[0, 2, 4]], before[[0, 2, 4]])
    # a second step touching only row 0: dense Adam moves rows 1 and 3 with their momentum, lazy does not
    after_first = lazy_p["E"].copy()
    g0 = RowGrad(np.array([0]), rng.standard_normal((1, 2)), (5, 2))
    dense.step({"E": np.asarray(g0)})
    lazy.step({"E": g0})
    assert not np.allclose(dense_p["E"][[1, 3]], after_first[[1, 3]])  # the test can tell the two apart
    np.testing.assert_array_equal(lazy_p["E"][[1, 2, 3, 4]], after_first[[1, 2, 3, 4]])
    assert not np.allclose(lazy_p["E"][0], after_first[0])
    assert clip_global_norm({"E": RowGrad(np.array([0]), np.array([[3.0, 4.0]]), (5, 2))}, 1.0) == pytest.approx(5.0)
