"""The synthetic POS process: forward-backward against brute force, the long-range dependency,
the exact first-order projection, the oracle metrics and the config checks of the POS knobs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import synthetic_pos_task

from harness.config import SyntheticPosConfig
from harness.data import synthetic
from harness.data.readers import TaggedCorpus
from harness.data.synthetic import (
    CUE_SIGN,
    TAGS,
    HiddenMarkovProcess,
    balance_flavours,
    cue_transitions,
    make_process,
    oracle_metrics,
)
from harness.errors import ConfigError


def tiny_process(long_range: int, seed: int = 0, K: int = 3, V: int = 4) -> HiddenMarkovProcess:
    """Random K-tag, V-word process built exactly as make_process builds the long-range one."""
    rng = np.random.default_rng(seed)
    start = rng.dirichlet(np.ones(K))
    end = rng.uniform(0.2, 0.5, K)
    trans = rng.dirichlet(np.ones(K), size=K) * (1 - end)[:, None]
    emit = rng.dirichlet(np.ones(V), size=K)
    words = [f"w{i}" for i in range(V)]
    tags = [f"T{i}" for i in range(K)]
    if long_range == 0:
        return HiddenMarkovProcess(tags, words, start, trans, end, emit)
    flavour = np.arange(V) % 2
    sign = np.where(np.arange(K) % 2 == 0, 1.0, -1.0)
    return HiddenMarkovProcess(
        tags,
        words,
        start,
        trans,
        end,
        balance_flavours(emit, flavour),
        long_range,
        flavour,
        cue_transitions(trans, sign, 0.9),
    )


def joint(p: HiddenMarkovProcess, tags: tuple[int, ...], ids: tuple[int, ...]) -> float:
    """P(tags, words) straight from the generative story, one factor at a time."""
    prob = p.start[tags[0]] * p.emit[tags[0], ids[0]]
    for i in range(1, len(ids)):
        A = p.cue_trans[p.flavour[ids[i - p.long_range]]] if 0 < p.long_range <= i else p.trans
        prob *= A[tags[i - 1], tags[i]] * p.emit[tags[i], ids[i]]
    return prob * p.end[tags[-1]]


def brute_posteriors(p: HiddenMarkovProcess, ids: tuple[int, ...]) -> np.ndarray:
    K = len(p.tags)
    post = np.zeros((len(ids), K))
    for tags in itertools.product(range(K), repeat=len(ids)):
        w = joint(p, tags, ids)
        post[np.arange(len(ids)), tags] += w
    return post / post.sum(axis=1, keepdims=True)


SENTENCES = [ids for L in (1, 2, 3, 4) for ids in itertools.product(range(4), repeat=L)][::3]  # ragged batch


@pytest.mark.parametrize("long_range", [0, 1, 2])
def test_posteriors_match_brute_force_enumeration(long_range):
    p = tiny_process(long_range)
    post, mask = p.posteriors([[p.words[i] for i in ids] for ids in SENTENCES])  # (T, N, K)
    for n, ids in enumerate(SENTENCES):
        np.testing.assert_allclose(post[: len(ids), n], brute_posteriors(p, ids), atol=1e-12)
        assert mask[:, n].sum() == len(ids) and not post[len(ids) :, n].any()


def test_expected_accuracies_and_oracle_metrics_match_brute_force(monkeypatch):
    p = tiny_process(2, seed=1)
    q = p.first_order()
    gold = [[(n + i) % len(p.tags) for i in range(len(ids))] for n, ids in enumerate(SENTENCES)]  # any tags will do
    corpus = TaggedCorpus([[p.words[i] for i in ids] for ids in SENTENCES], [[p.tags[k] for k in g] for g in gold])
    best, hmm, best_hits, hmm_hits = 0.0, 0.0, 0, 0
    for ids, g in zip(SENTENCES, gold):
        true_post = brute_posteriors(p, ids)
        first_pick = brute_posteriors(q, ids).argmax(axis=1)
        best += true_post.max(axis=1).sum()
        hmm += true_post[np.arange(len(ids)), first_pick].sum()
        best_hits += int((true_post.argmax(axis=1) == g).sum())
        hmm_hits += int((first_pick == g).sum())
    n = corpus.n_tokens
    assert p.bayes_optimal_accuracy(corpus) == pytest.approx(best / n, abs=1e-12)
    assert p.decoder_accuracy(corpus, q) == pytest.approx(hmm / n, abs=1e-12)
    assert p.decoder_accuracy(corpus, q) < p.bayes_optimal_accuracy(corpus)  # the dependency is worth something
    monkeypatch.setattr(synthetic, "build_process", lambda cfg, seed: p)  # the figures a run logs, for this process
    assert oracle_metrics(None, 0, corpus) == pytest.approx(
        {
            "bayes_optimal_accuracy": best / n,
            "bayes_decoder_test_accuracy": best_hits / n,
            "bayes_optimal_hmm_accuracy": hmm / n,
            "hmm_decoder_test_accuracy": hmm_hits / n,
        },
        abs=1e-12,
    )


@pytest.mark.parametrize("long_range", [1, 2])
def test_tag_sequences_alone_follow_the_first_order_chain_exactly(long_range):
    """Summed over the words, the long-range process gives every tag sequence its first-order probability:
    so a supervised first-order HMM converges to first_order() (the logged bayes_optimal_hmm_accuracy)."""
    p = tiny_process(long_range, seed=2)
    q = p.first_order()
    K, V = len(p.tags), len(p.words)
    for L in (1, 2, 3, 4):
        for tags in itertools.product(range(K), repeat=L):
            words = list(itertools.product(range(V), repeat=L))
            assert sum(joint(p, tags, w) for w in words) == pytest.approx(
                sum(joint(q, tags, w) for w in words), rel=1e-12
            )


def test_cue_transitions_are_valid_and_average_to_the_first_order_ones():
    p = make_process(300, 0.3, 1.0, np.random.default_rng(0), long_range=3, strength=1.0)
    A0, A1 = p.cue_trans
    assert (A0 >= 0).all() and (A1 >= 0).all()
    np.testing.assert_allclose((A0 + A1) / 2, p.trans, atol=1e-15)
    np.testing.assert_allclose(A0.sum(axis=1) + p.end, 1.0)
    np.testing.assert_allclose(p.emit @ (p.flavour == 1), 0.5)  # P(flavour 1 | tag) = 1/2 for every tag
    np.testing.assert_allclose(p.emit.sum(axis=1), 1.0)


def _plus_share(corpus: TaggedCorpus, flavour: dict[str, int], offset: int) -> tuple[float, float]:
    """P(tag in the + group | flavour of the word `offset` back = 1) and (... = 0), empirically."""
    hits = {0: [], 1: []}
    for ws, ts in zip(corpus.words, corpus.tags):
        for i in range(offset, len(ws)):
            hits[flavour[ws[i - offset]]].append(CUE_SIGN[ts[i]] > 0)
    return float(np.mean(hits[1])), float(np.mean(hits[0]))


def test_long_range_dependency_is_really_there_at_k_and_absent_closer():
    p = make_process(300, 0.3, 1.0, np.random.default_rng(0), long_range=3, strength=1.0)
    corpus = p.sample(3000, np.random.default_rng(1))
    flavour = dict(zip(p.words, p.flavour.tolist()))
    with_1, with_0 = _plus_share(corpus, flavour, 3)
    assert with_1 - with_0 > 0.2  # the word 3 back moves the tag
    for offset in (1, 2):  # z(w_{i-j}) for j < k is independent of t_i exactly (it only moves t_{i-j+k})
        other_1, other_0 = _plus_share(corpus, flavour, offset)
        assert abs(other_1 - other_0) < 0.03


def test_first_order_process_is_unchanged_by_the_knob_at_zero():
    p = make_process(300, 0.3, 1.0, np.random.default_rng(0))
    assert p.long_range == 0 and p.flavour is None and p.cue_trans is None
    corpus = p.sample(200, np.random.default_rng(1), max_len=8)
    assert len(corpus) == 200 and max(len(s) for s in corpus.words) <= 8
    assert all(len(w) == len(t) for w, t in zip(corpus.words, corpus.tags))
    assert {t for ts in corpus.tags for t in ts} <= set(TAGS)


def test_oracle_metrics_log_the_first_order_figures_only_with_a_dependency():
    from harness.data.synthetic import generate

    cfg = SyntheticPosConfig(n_train=10, n_dev=10, n_test=300, vocab_size=300, long_range=2)
    *_, test = generate(cfg, 0)
    m = oracle_metrics(cfg, 0, test)  # their values: test_expected_accuracies_and_oracle_metrics_match_brute_force
    assert m["bayes_optimal_hmm_accuracy"] < m["bayes_optimal_accuracy"] <= 1
    assert 0.8 < m["bayes_decoder_test_accuracy"] <= 1 and 0.8 < m["hmm_decoder_test_accuracy"] <= 1
    cfg0 = SyntheticPosConfig(n_train=10, n_dev=10, n_test=50, vocab_size=300)
    *_, test0 = generate(cfg0, 0)
    assert set(oracle_metrics(cfg0, 0, test0)) == {"bayes_optimal_accuracy", "bayes_decoder_test_accuracy"}


# ---------------------------------------------------------------------------------------------
# config checks of the POS task's knobs (task.train_size itself: tests/test_pos_task.py)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("train_size", 0, "task.train_size must be positive"),
        ("long_range", -1, "task.synthetic.long_range must be >= 0"),
        ("long_range_strength", 1.5, r"task.synthetic.long_range_strength must lie in \[0, 1\]"),
    ],
)
def test_config_checks_of_the_pos_knobs(key, value, message):
    from harness.config import Config, check_config, model_schema

    task = synthetic_pos_task()
    setattr(task if key == "train_size" else task.synthetic, key, value)
    with pytest.raises(ConfigError, match=message):
        check_config(Config(model=model_schema("rnn", "pos")(), task=task))
