"""Language modelling (issue 15): forward filtering, the HMM and recurrent LMs, KN yardstick, bad input."""

from __future__ import annotations

import itertools
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import all_runs
from hmmlearn.hmm import CategoricalHMM
from omegaconf import OmegaConf

from harness.config import LMTaskConfig
from harness.data import text
from harness.errors import ConfigError, DataError
from harness.markov import filter_log2probs
from harness.models.hmm.lm import HMMLM
from harness.models.nn.gradcheck import numerical_gradient, rel_error
from harness.models.rnn_lm import RNNLM, LMBatch
from harness.tasks.lm import load
from harness.tasks.ngram import KneserNey

SEED = 1234
GRAD_TOL = 1e-6


def tiny_hmm(rng, K=3, C=4):
    return rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), K), rng.dirichlet(np.ones(C), K)


def brute_log2p(pi, A, B, seq) -> float:
    """log2 p(seq) by summing the joint over every state path."""
    total = 0.0
    for path in itertools.product(range(len(pi)), repeat=len(seq)):
        p = pi[path[0]] * B[path[0], seq[0]]
        for t in range(1, len(seq)):
            p *= A[path[t - 1], path[t]] * B[path[t], seq[t]]
        total += p
    return float(np.log2(total))


def rnn_cfg(cell, **kw):
    base = dict(cell=cell, embedding_size=3, hidden_size=4, num_layers=1, nonlinearity="tanh", dropout=0.0)
    return SimpleNamespace(**(base | dict(init_scale=0.5) | kw))


# -- the true process and its entropy rate -------------------------------------------------------
def test_filter_equals_brute_force_per_document():
    pi, A, B = tiny_hmm(np.random.default_rng(SEED))
    stream, starts = np.array([1, 3, 0, 2, 2, 1, 0, 3]), np.array([0, 4, 6])
    lp = filter_log2probs(pi, A, B, stream, starts)
    docs = np.split(stream, starts[1:])
    assert lp.sum() == pytest.approx(sum(brute_log2p(pi, A, B, d) for d in docs), rel=1e-12)
    # filtering, never smoothing: p(o_1..o_t) by brute force gives each prefix's total
    for t in range(1, 5):
        assert lp[:t].sum() == pytest.approx(brute_log2p(pi, A, B, stream[:t]), rel=1e-12)


def test_entropy_rate_of_tiny_process_is_the_true_models_bits():
    proc = text.TextProcess(*tiny_hmm(np.random.default_rng(SEED), K=2, C=3), symbols=["<unk>", "a", "b"])
    stream, _ = proc.sample(3, 5, np.random.default_rng(0))
    want = -sum(brute_log2p(proc.startprob, proc.transmat, proc.emissionprob, d) for d in np.split(stream.ids, 3))
    assert proc.entropy_rate(stream) == pytest.approx(want / 15, rel=1e-12)


def test_synthetic_default_entropy_rate_is_below_every_yardstick():
    cfg = OmegaConf.structured(LMTaskConfig)
    cfg.ngram_order = 3  # the tuned order (0) costs five fits
    d = load(cfg, 0)
    ref, base = d.reference_metrics({d.per: 0.0})["entropy_rate"], d.baselines()
    assert ref < base["baseline_ngram_test_bits_per_char"] < base["baseline_unigram_test_bits_per_char"]


# -- the HMM LM ----------------------------------------------------------------------------------
def test_hmm_lm_bits_equal_forward_log_likelihood():
    pi, A = np.array([0.6, 0.4]), np.array([[0.7, 0.3], [0.2, 0.8]])
    B = np.array([[0.5, 0.4, 0.1], [0.1, 0.3, 0.6]])
    ids, starts = np.array([0, 2, 1, 2, 0]), np.array([0, 3])
    lm = HMMLM(2)
    lm.load_state_dict({"startprob": pi, "transmat": A, "emissionprob": B})
    lp = lm.log2probs(ids, starts)
    # by hand, first document's first two symbols: p(o1=0) = .6*.5 + .4*.1 = .34;
    # p(o1=0, o2=2) = (.30*.7 + .04*.2)*.1 + (.30*.3 + .04*.8)*.6 = .0218 + .0732 = .095
    assert lp[0] == pytest.approx(np.log2(0.34), rel=1e-12)
    assert lp[1] == pytest.approx(np.log2(0.095 / 0.34), rel=1e-12)
    hmm = CategoricalHMM(2, n_features=3)
    hmm.startprob_, hmm.transmat_, hmm.emissionprob_ = pi, A, B
    assert lp.sum() == pytest.approx(hmm.score(ids[:, None], [3, 2]) / np.log(2), rel=1e-12)


def test_hmm_lm_baum_welch_beats_unigram_and_samples_reproducibly():
    proc = text.make_process(3, 5, 0.8, SEED)
    train, _ = proc.sample(20, 100, np.random.default_rng(1))
    lm = HMMLM(3, n_iter=20, random_state=0).fit(train.ids, train.starts, 6)
    uni = np.bincount(train.ids, minlength=6) / len(train)
    assert -lm.log2probs(train.ids, train.starts).mean() < -np.log2(uni[train.ids]).mean()
    a, b = (lm.sample(np.array([1, 2]), 50, 0.7, np.random.default_rng(5)) for _ in range(2))
    assert np.array_equal(a, b) and not np.array_equal(
        a, lm.sample(np.array([1, 2]), 50, 0.7, np.random.default_rng(6))
    )


# -- the recurrent LM -----------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rnn_lm_gradients_match_finite_differences_with_carried_state(cell):
    rng = np.random.default_rng(SEED)
    model = RNNLM(5, rnn_cfg(cell), rng, dtype=np.float64)
    x, y = rng.integers(0, 6, (4, 2)), rng.integers(0, 5, (4, 2))  # inputs include BOS = 5
    h0 = rng.standard_normal((1, 2, 4))
    carry = (h0, rng.standard_normal((1, 2, 4))) if cell == "lstm" else h0
    batch = LMBatch(x, y, reset=False)

    def loss():
        model.carry = carry
        return model.loss_and_grads(batch)[0]

    model.carry = carry
    _, grads = model.loss_and_grads(batch)
    for name, p in model.params.items():
        err = rel_error(np.asarray(grads[name]), numerical_gradient(loss, p))
        assert err < GRAD_TOL, f"{cell} {name}: relative error {err:.2e}"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stream_cut_in_chunks_gives_the_whole_streams_loss(cell):
    rng = np.random.default_rng(SEED)
    model = RNNLM(5, rnn_cfg(cell), rng, dtype=np.float64)
    ids, starts = rng.integers(1, 5, 24), np.array([0])
    whole = list(model.train_batches(ids, starts, 2, 12, None, offset=0))
    chunks = list(model.train_batches(ids, starts, 2, 5, None, offset=0))
    assert len(whole) == 1 and len(chunks) == 3
    total = model.loss_and_grads(whole[0])[0] * whole[0].y.size
    summed = sum(model.loss_and_grads(b)[0] * b.y.size for b in chunks)  # state carried chunk to chunk
    assert summed == pytest.approx(total, rel=1e-12)
    # without the carried state the chunked loss differs: the test can fail
    cut = sum(model.loss_and_grads(LMBatch(b.x, b.y, reset=True))[0] * b.y.size for b in chunks)
    assert abs(cut - total) > 1e-6
    # scoring: chunk length does not change a document's log-probabilities
    docs = np.array([0, 10, 13])
    assert np.allclose(model.log2probs(ids, docs, chunk=3), model.log2probs(ids, docs, chunk=256), atol=1e-12)


def test_rnn_lm_scores_see_no_future_and_restart_at_documents():
    rng = np.random.default_rng(SEED)
    model = RNNLM(5, rnn_cfg("lstm"), rng, dtype=np.float64)
    ids, starts = rng.integers(1, 5, 20), np.array([0, 8])
    lp = model.log2probs(ids, starts)
    changed = ids.copy()
    changed[5:8] = (changed[5:8] % 4) + 1  # only the end of document 0 changes
    lp2 = model.log2probs(changed, starts)
    assert np.array_equal(lp[:5], lp2[:5]) and np.array_equal(lp[8:], lp2[8:])
    assert np.allclose(np.exp2(lp).sum(), np.exp2(lp).sum())  # finite
    # each distribution sums to 1: scoring every symbol at position 0 of a document
    firsts = [model.log2probs(np.array([s]), np.array([0]))[0] for s in range(5)]
    assert np.exp2(firsts).sum() == pytest.approx(1.0, rel=1e-12)


def test_rnn_lm_sampling_is_reproducible_under_a_seed():
    model = RNNLM(5, rnn_cfg("gru"), np.random.default_rng(SEED))
    a, b = (model.sample(np.array([1, 2]), 40, 0.8, np.random.default_rng(3), end_id=4) for _ in range(2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, model.sample(np.array([1, 2]), 40, 0.8, np.random.default_rng(4), end_id=4))
    cold = model.sample(np.array([1]), 30, 1e-3, np.random.default_rng(0))  # near-greedy: deterministic
    assert np.array_equal(cold, model.sample(np.array([1]), 30, 1e-3, np.random.default_rng(99)))


# -- Kneser-Ney by hand --------------------------------------------------------------------------
def test_kneser_ney_bigram_against_hand_computation():
    # train "a b a a" (a=1, b=2, unk=0, V=3), D = 1/2. Continuation counts: c'(a)=3, c'(b)=1, sum 4, 2 types.
    # P1(a) = 2.5/4 + .5*2/4/3 = 17/24, P1(b) = 5/24, P1(unk) = 2/24.
    # P(a|BOS) = .5/1 + .5*1/1*P1(a) = 41/48; P(b|a) = .5/2 + .5*2/2*P1(b) = 17/48; P(b|b) = .5*P1(b) = 5/48
    kn = KneserNey(2, 3, discount=0.5).fit(np.array([1, 2, 1, 1]), np.array([0]))
    assert kn.prob((-1,), 1) == pytest.approx(41 / 48)
    assert sum(kn.prob((1,), w) for w in range(3)) == pytest.approx(1.0)
    lp = kn.log2probs(np.array([1, 2, 2]), np.array([0]))
    assert np.allclose(lp, np.log2([41 / 48, 17 / 48, 5 / 48]))


# -- bad input -------------------------------------------------------------------------------------
def text_cfg(path, **kw):
    cfg = OmegaConf.structured(LMTaskConfig)
    cfg.dataset, cfg.path = "text", str(path)
    for k, v in kw.items():
        cfg[k] = v
    return cfg


def test_empty_and_binary_text_files_are_one_line_data_errors(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n\n")
    with pytest.raises(DataError, match="is empty"):
        load(text_cfg(tmp_path / "empty.txt"), 0)
    (tmp_path / "bin.txt").write_bytes(b"ab\x00\x01cd\n" * 20)
    with pytest.raises(DataError, match="looks binary"):
        load(text_cfg(tmp_path / "bin.txt"), 0)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1") * 20)
    with pytest.raises(DataError, match="not UTF-8"):
        load(text_cfg(tmp_path / "latin1.txt"), 0)


def test_test_stream_of_unknown_symbols_only_is_a_data_error(tmp_path):
    lines = ["abc abc"] * 16 + ["xyz"] * 2 + ["qqq"] * 2  # dev and test blocks use only unseen letters
    (tmp_path / "t.txt").write_text("\n".join(lines))
    with pytest.raises(DataError, match="only symbols never seen in training"):
        load(text_cfg(tmp_path / "t.txt"), 0)
    (tmp_path / "ok.txt").write_text("\n".join(["abc abc"] * 20))
    d = load(text_cfg(tmp_path / "ok.txt"), 0)
    assert d.vocab == ["<unk>", "\n", " ", "a", "b", "c"] and len(d.test.starts) == 2


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_temperature_must_be_positive(temperature):
    cfg = OmegaConf.structured(LMTaskConfig)
    cfg.temperature = temperature
    with pytest.raises(ConfigError, match="task.temperature must be > 0"):
        load(cfg, 0)


# -- the command line ------------------------------------------------------------------------------
def test_tiny_gru_lm_run_records_bits_entropy_rate_and_a_sample(tmp_path, tracking_store, run_cli):
    small = ["task.synthetic.n_train=8", "task.synthetic.n_dev=2", "task.synthetic.n_test=2", "task.ngram_order=3"]
    args = ["model=gru", "task=lm", *small, "model.hidden_size=8", "model.epochs=2", "task.sample_length=40"]
    out = run_cli([*args, "progress=false"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "harness: gru on lm (synthetic) seed=0: test_bits_per_char=" in out.stdout and "entropy_rate=" in out.stdout
    client, runs = all_runs(tracking_store)
    (run,) = runs
    m = run.data.metrics
    assert m["entropy_rate"] < m["baseline_unigram_test_bits_per_char"] and m["test_bits_per_char"] > 0
    assert len(client.get_metric_history(run.info.run_id, "dev_bits_per_char")) == m["epochs_run"] == 2
    sample = client.download_artifacts(run.info.run_id, "samples.txt", str(tmp_path))
    assert len(open(sample, encoding="utf-8").read()) == 40
    curve = client.download_artifacts(run.info.run_id, "position_curve.csv", str(tmp_path))
    lines = open(curve, encoding="utf-8").read().splitlines()
    assert lines[0] == "position,bits_per_char" and lines[1].startswith("0,") and len(lines) == 1 + 250
    assert float(lines[1].split(",")[1]) == pytest.approx(m["test_bits_per_char_pos0"], rel=1e-5)


def test_a_trained_language_model_continues_a_prompt_from_its_run(tmp_path, tracking_store, run_cli):
    """harness.predict on an LM run: the prompt continued by the model rebuilt from predictor.npz alone,
    reproducible under a seed, equal to the estimator's own continuation, and scoring like the run did."""
    from harness.predictor import Predictor

    small = ["task.synthetic.n_train=8", "task.synthetic.n_dev=2", "task.synthetic.n_test=2", "task.ngram_order=3"]
    out = run_cli(["model=hmm", "task=lm", *small], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    client, (run,) = all_runs(tracking_store)
    path = client.download_artifacts(run.info.run_id, "predictor.npz", str(tmp_path))
    predictor = Predictor.load(path)
    first = predictor.continue_text("abc", length=30, seed=4)
    assert first.startswith("abc") and len(first) == 33 and first == predictor.continue_text("abc", length=30, seed=4)
    assert first != predictor.continue_text("abc", length=30, seed=5)

    def predict(*args):
        command = [sys.executable, "-m", "harness.predict", f"run={run.info.run_id}", *args]
        return subprocess.run(command, input="abc\n", capture_output=True, text=True, timeout=120, cwd=tmp_path)

    cli = predict("length=30", "seed=4")
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == first
    bad = predict("temperature=0")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "temperature" in bad.stderr


def test_bad_temperature_on_the_command_line_is_one_line_and_records_nothing(tmp_path, tracking_store, run_cli):
    out = run_cli(["model=hmm", "task=lm", "task.temperature=-0.5"], cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "harness: error: task.temperature must be > 0, got -0.5; set task.temperature=1.0 (lower = more conservative)"
    ]
    assert not all_runs(tracking_store)[1]


def test_numpy_baum_welch_iterations_equal_hmmlearns():
    from harness.models.hmm.lm import baum_welch

    rng = np.random.default_rng(SEED)
    init = tiny_hmm(rng, K=4, C=6)
    ids, starts = rng.integers(0, 6, 50), np.array([0, 7, 20, 21, 35])  # unequal documents, one of length 1
    pi, A, B, history = baum_welch(ids, starts, 6, 4, n_iter=3, tol=-np.inf, init=init)
    hmm = CategoricalHMM(4, n_features=6, n_iter=3, tol=-np.inf, init_params="", params="ste", implementation="scaling")
    hmm.startprob_, hmm.transmat_, hmm.emissionprob_ = init
    hmm.fit(ids[:, None], np.diff(np.r_[starts, 50]))
    for mine, theirs in ((pi, hmm.startprob_), (A, hmm.transmat_), (B, hmm.emissionprob_)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(history, hmm.monitor_.history, rtol=1e-12)


def test_ud_text_lines_and_word_units(tmp_path):
    for split, sents in {"train": ["the cat sat", "a dog ran"], "dev": ["the dog sat"], "test": ["a cat flew"]}.items():
        blocks = [f"# sent_id = {i}\n# text = {s}\n1\tx\tx\tX\t_\t_\t0\troot\t_\t_\n" for i, s in enumerate(sents)]
        (tmp_path / f"xx-ud-{split}.conllu").write_text("\n".join(blocks) + "\n")
    cfg = OmegaConf.structured(LMTaskConfig)
    cfg.dataset, cfg.path, cfg.unit = "ud_text", str(tmp_path), "word"
    d = load(cfg, 0)
    assert d.vocab == ["<unk>", "</s>", "a", "cat", "dog", "ran", "sat", "the"]
    assert d.decode(d.test.ids) == "a cat <unk> </s>" and d.main_metric == "test_bits_per_word"
    scores = d.score("test", np.log2([0.5, 0.25, 0.25, 0.125]))  # 1 + 2 + 2 + 3 bits over 4 words
    assert scores["bits_per_word"] == pytest.approx(2.0) and scores["perplexity"] == pytest.approx(4.0)
    assert scores["bits_per_word_pos0"] == pytest.approx(1.0) and scores["bits_per_word_pos1_3"] == pytest.approx(7 / 3)


def test_a_bidirectional_language_model_is_refused():
    from harness.config import model_schema

    with pytest.raises(ConfigError, match="cannot be bidirectional"):  # by its schema, before any data is loaded
        model_schema("lstm", "lm")(bidirectional=True).check()


def test_rnn_lm_resumed_from_an_epoch_checkpoint_ends_bit_for_bit_the_same():
    from harness.config import model_schema
    from harness.estimators.base import Hooks
    from harness.estimators.lm import RecurrentLM

    cfg = OmegaConf.structured(LMTaskConfig)
    cfg.synthetic.n_train, cfg.synthetic.n_dev, cfg.synthetic.n_test, cfg.synthetic.doc_length = 8, 2, 2, 50
    data = load(cfg, 0)
    mcfg = model_schema("gru", "lm")(hidden_size=8, embedding_size=4, epochs=3, patience=0, batch_size=4, bptt_steps=7)
    saved = []

    def log(epoch, values):
        pass

    full = RecurrentLM(mcfg, data, np.random.default_rng(0), 0)
    full.fit(data, Hooks(log, checkpoint=lambda state: saved.append({k: v.copy() for k, v in state.items()})))
    resumed = RecurrentLM(mcfg, data, np.random.default_rng(0), 0)
    resumed.fit(data, Hooks(log, resume=saved[1]))  # the state after epoch 1 (saved[0] is before training)
    np.testing.assert_array_equal(full.predict(data, "test"), resumed.predict(data, "test"))
