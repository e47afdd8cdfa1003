"""The long-range recall task: the data, chance level, the HMM view, the many-to-one classifier's
gradients, and one tiny run end to end through the CLI into a temp MLflow store."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import only_run

from harness.config import LongRangeTaskConfig, model_schema
from harness.data.longrange import alphabet, sample
from harness.models.nn.gradcheck import numerical_gradient, rel_error
from harness.tasks.longrange import OTHER, load_longrange


@pytest.mark.parametrize("distance", [1, 2, 7])
@pytest.mark.parametrize("cue_distractors", [False, True])
def test_label_is_the_first_cue_and_nothing_else_carries_it(distance, cue_distractors):
    C, D = 3, 5
    s = sample(600, distance, C, D, np.random.default_rng(0), cue_distractors)
    assert s.symbols.shape == (600, distance + 1)
    np.testing.assert_array_equal(s.symbols[:, 0], s.labels)  # label = deterministic function of the cue
    assert (s.symbols[:, -1] == C + D).all()  # the query, `distance` steps after the cue
    middle = s.symbols[:, 1:-1]
    low = 0 if cue_distractors else C  # cue symbols recur in the middle only with cue_distractors
    assert ((middle >= low) & (middle < C + D)).all()
    if distance > 2:  # the distractors are independent of the label
        assert (middle < C).any() == cue_distractors
        for y in range(C):
            counts = np.bincount(middle[s.labels == y].ravel() - low, minlength=C + D - low)
            assert counts.min() > 0.6 * counts.mean()


@pytest.mark.parametrize("cue_distractors", [False, True])
def test_min_distance_varies_the_gap_and_the_first_cue_is_still_the_answer(cue_distractors):
    C, D, distance = 3, 5, 9
    s = sample(3000, distance, C, D, np.random.default_rng(0), cue_distractors, min_distance=4)
    gap = distance - s.cue_position
    assert gap.min() == 4 and gap.max() == 9  # every gap in [min_distance, distance] occurs
    np.testing.assert_array_equal(s.symbols[np.arange(3000), s.cue_position], s.labels)
    is_cue = s.symbols < C
    assert (np.argmax(is_cue, axis=1) == s.cue_position).all()  # nothing cue-like before the cue
    assert (s.symbols[:, -1] == C + D).all()
    data = load_longrange(LongRangeTaskConfig(distance=5, min_distance=2, n_train=5, n_dev=5, n_test=40), seed=0)
    words, tags = data.tagged("test")
    for ws, ts, y, p in zip(words, tags, data.test.labels, data.test.cue_position):
        assert ws[p] == f"c{y}" and ts[p] == ts[-1] == f"y{y}" and ts.count(OTHER) == 4


def test_chance_level_is_one_over_the_number_of_classes():
    data = load_longrange(LongRangeTaskConfig(n_classes=5, n_train=20000, n_dev=10, n_test=10), seed=0)
    assert data.chance_accuracy == 0.2
    freq = np.bincount(data.train.labels, minlength=5) / 20000
    np.testing.assert_allclose(freq, 0.2, atol=0.015)  # uniform labels: no class beats 1/C on average
    assert data.symbols == alphabet(5, 8) and data.symbols[-1] == "?"


def test_hmm_view_tags_cue_and_query_with_the_class_and_reads_the_query_tag_back():
    data = load_longrange(LongRangeTaskConfig(distance=4, n_classes=3, n_train=5, n_dev=5, n_test=5), seed=0)
    words, tags = data.tagged("test")
    for ws, ts, y in zip(words, tags, data.test.labels):
        assert ws[0] == f"c{y}" and ws[-1] == "?" and len(ws) == 5
        assert ts == [f"y{y}", OTHER, OTHER, OTHER, f"y{y}"]
    assert (data.labels_from_tags(tags) == data.test.labels).all()
    assert data.labels_from_tags([["y1", OTHER]]).tolist() == [-1]  # an O at the query is an error


@pytest.mark.parametrize("distance, lo, hi", [(1, 1.0, 1.0), (5, 0.2, 0.3)])
def test_first_order_hmm_answers_at_distance_one_and_is_at_chance_beyond(distance, lo, hi):
    from harness.models.hmm import HMMTagger

    data = load_longrange(LongRangeTaskConfig(distance=distance, n_train=800, n_dev=10, n_test=2000), seed=0)
    model = HMMTagger().fit(*data.tagged("train"))
    acc = data.accuracy("test", data.labels_from_tags(model.predict(data.tagged("test")[0])))
    assert lo <= acc <= hi  # chance = 0.25


def _classifier(cell, bidirectional=False, bptt_steps=0):
    from harness.models.rnn import RNNClassifier

    cfg = model_schema(cell, "longrange")(
        embedding_size=3, hidden_size=4, bidirectional=bidirectional, bptt_steps=bptt_steps, init_scale=0.5
    )
    rng = np.random.default_rng(1)
    model = RNNClassifier(6, 3, cfg, rng, dtype=np.float64)
    return model, rng.integers(0, 6, size=(5, 4)), rng.integers(0, 3, size=4)  # X (T, N), y (N,)


@pytest.mark.parametrize("cell, bidirectional", [("rnn", False), ("lstm", False), ("gru", False), ("gru", True)])
def test_classifier_gradients_match_finite_differences(cell, bidirectional):
    model, X, y = _classifier(cell, bidirectional)
    _, grads = model.loss_and_grads((X, y))
    for name, p in model.params.items():
        num = numerical_gradient(lambda: model.loss_and_grads((X, y))[0], p, eps=1e-3, stencil=5)
        assert rel_error(grads[name], num) < 1e-6, name


def test_classifier_truncated_bptt_sends_no_gradient_into_the_head():
    model, X, y = _classifier("lstm", bptt_steps=2)
    loss, grads = model.loss_and_grads((X, y))
    assert loss == pytest.approx(_classifier("lstm")[0].loss_and_grads((X, y))[0], rel=1e-12)  # same forward
    head_only = np.setdiff1d(X[:-2], X[-2:])
    assert head_only.size and not np.asarray(grads["embed.symbol"])[head_only].any()
    _, full = _classifier("lstm", bptt_steps=5)[0].loss_and_grads((X, y))  # k >= T: no truncation
    exact = _classifier("lstm")[0].loss_and_grads((X, y))[1]
    for name in exact:
        np.testing.assert_array_equal(full[name], exact[name])


def test_tiny_lstm_run_end_to_end_records_accuracy_and_chance(tmp_path, tracking_store, run_cli):
    out = run_cli(
        [
            "model=lstm",
            "task=longrange",
            "task.distance=3",
            "task.n_train=64",
            "task.n_dev=32",
            "task.n_test=32",
            "model.hidden_size=8",
            "model.embedding_size=4",
            "model.epochs=2",
            "progress=false",
        ],
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "harness: lstm on longrange (synthetic) seed=0: distance=3 test_accuracy=" in out.stdout
    client, run = only_run(tracking_store, "longrange")
    m = run.data.metrics
    assert m["chance_accuracy"] == 0.25 and 0 <= m["test_accuracy"] <= 1 and m["n_params"] > 0
    assert len(client.get_metric_history(run.info.run_id, "dev_accuracy")) == m["epochs_run"]
    assert run.data.params["task.distance"] == "3"


@pytest.mark.parametrize(
    "override, message",
    [
        ("task.n_classes=1", "task.n_classes must be >= 2, got 1"),
        ("task.min_distance=11", "task.min_distance must lie in [1, task.distance=10], got 11"),
    ],
)
def test_bad_longrange_knobs_fail_before_work(tmp_path, tracking_store, run_cli, override, message):
    out = run_cli(["model=hmm", "task=longrange", override], cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_vary_gap_draws_the_gap_between_half_the_distance_and_the_distance():
    data = load_longrange(LongRangeTaskConfig(distance=10, vary_gap=True, n_train=400, n_dev=5, n_test=5), seed=0)
    gaps = 10 - data.train.cue_position  # the query is always the last step
    assert gaps.min() == 5 and gaps.max() == 10
