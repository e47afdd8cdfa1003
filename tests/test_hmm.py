"""Hidden Markov models: the supervised/unsupervised tagger and the Gaussian-HMM forecaster.

Known answers (brute-force Viterbi over every tag sequence, hand-counted parameters), properties
(normalised distributions, determinism, round trips) and the no-look-ahead guarantee.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hmmlearn.hmm import CategoricalHMM, GaussianHMM

import harness.models.hmm.tagger as hmm_module
from harness.errors import ConfigError, DataError
from harness.models.hmm import HMMTagger
from harness.models.hmm.regimes import RegimeForecaster
from harness.models.hmm.signatures import class_and_form, signature, suffix_keys, word_class
from harness.models.hmm.tagger import UNIGRAM_PSEUDOCOUNT

# ----------------------------------------------------------------------------------------------
# tiny corpora


def random_corpus(seed: int, n_sentences: int = 60, max_len: int = 5):
    """Sentences from a small random HMM: 3 tags, 7 words with overlapping emissions."""
    rng = np.random.default_rng(seed)
    tags = ["A", "B", "C"]
    words = ["w0", "w1", "w2", "w3", "w4", "w5", "w6"]
    start = np.array([0.5, 0.3, 0.2])
    A = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.3, 0.3, 0.4]])
    E = np.array(
        [
            [0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0],
            [0.0, 0.2, 0.3, 0.1, 0.4, 0.0, 0.0],
            [0.1, 0.0, 0.0, 0.2, 0.1, 0.3, 0.3],
        ]
    )
    W, T = [], []
    for _ in range(n_sentences):
        n = rng.integers(1, max_len + 1)
        t = [rng.choice(3, p=start)]
        for _ in range(n - 1):
            t.append(rng.choice(3, p=A[t[-1]]))
        W.append([words[rng.choice(7, p=E[k])] for k in t])
        T.append([tags[k] for k in t])
    return W, T


def brute_force_states(model: HMMTagger, sentence: list[str]) -> list[str]:
    """argmax over every state sequence of the model's expanded HMM, scored by hand.

    score = start[s1] e(w1|s1) prod A[s_{i-1}, s_i] e(wi|si) * A[s_n, B]   (B: end of sentence)
    with e(w|s) proportional to P(t|w)/P(t) of the state's tag (a per-word constant, so the
    argmax is that of the joint probability), zero where the state's capitalisation flag
    differs from the word's, and 1 / 0 for lexicalised words and states.
    """
    S = len(model.startprob_) - 1  # the last state is the sentence boundary
    B = S
    lexical = set(model.state_word_[model.state_word_ >= 0].tolist())

    def emission(w: str, s: int) -> float:
        v = model._index[w]
        if model.state_flag_[s] >= 0 and model.state_flag_[s] != int(w[:1].isupper()):
            return 0.0  # capitalisation flag of the state must match the word's
        if v in lexical or model.state_word_[s] >= 0:  # lexicalised states emit exactly their word
            return float(model.state_word_[s] == v)
        return model.emit_table_[v, model.state_emit_[s]]

    best, best_path = -np.inf, None
    for path in itertools.product(range(S), repeat=len(sentence)):
        p = model.startprob_[path[0]] * model.transmat_[path[-1], B]
        for i, s in enumerate(path):
            p *= emission(sentence[i], s)
            if i:
                p *= model.transmat_[path[i - 1], s]
        if p > best:
            best, best_path = p, path
    return [str(model.tags_[model.state_tag_[s]]) for s in best_path]


# ----------------------------------------------------------------------------------------------
# supervised tagger: known answers


# First order over the tags: three corpora, test sentences up to 5 words. Expanded states (tag pairs,
# capitalisation flags, lexicalised words): one corpus with some capitalised forms, sentences up to 3
# words (the brute force enumerates S^n paths).
EXPANDED = {
    "order2": dict(order=2),
    "order2-caps": dict(order=2, capitalization=True),
    "lexicalised": dict(order=1, lexicalize=2),
    "lexicalised-caps": dict(order=1, lexicalize=2, capitalization=True),
}


@pytest.mark.parametrize(
    "kwargs, corpus, capitalised, test_seed, test_lengths",
    [
        *[
            pytest.param(
                dict(order=1), dict(seed=seed), False, 100 + seed, (1, 2, 3, 4, 5, 5, 4), id=f"order1-corpus{seed}"
            )
            for seed in (0, 1, 2)
        ],
        *[
            pytest.param(kwargs, dict(seed=3, n_sentences=40, max_len=4), True, 7, (1, 2, 3), id=name)
            for name, kwargs in EXPANDED.items()
        ],
    ],
)
def test_viterbi_equals_brute_force(kwargs, corpus, capitalised, test_seed, test_lengths):
    W, T = random_corpus(**corpus)
    if capitalised:
        W = [[w.upper() if i % 3 == 0 else w for i, w in enumerate(s)] for s in W]  # some capitalised forms
    model = HMMTagger(**kwargs).fit(W, T)
    rng = np.random.default_rng(test_seed)
    vocab = sorted({w for s in W for w in s})
    tests = [[vocab[i] for i in rng.integers(0, len(vocab), size=n)] for n in test_lengths]
    for sentence, tags in zip(tests, model.predict(tests)):
        assert tags == brute_force_states(model, sentence), sentence


def test_first_order_parameters_are_the_hand_counts():
    # smoothing=0: P(w|t) = c(w,t)/c(t); P(t'|t) = l2 c(t,t')/c(t) + l1 c(t')/N with END as an outcome
    W = [["the", "dog", "runs"], ["a", "dog", "sleeps"], ["the", "cat", "runs"], ["dogs", "run"]]
    T = [["DET", "NOUN", "VERB"], ["DET", "NOUN", "VERB"], ["DET", "NOUN", "VERB"], ["NOUN", "VERB"]]
    model = HMMTagger(order=1, smoothing=0.0).fit(W, T)
    tags = model.tags_.tolist()
    assert tags == ["DET", "NOUN", "VERB"]
    det, noun, verb, end = 0, 1, 2, 3
    uni = np.array([3, 4, 4, 4]) + UNIGRAM_PSEUDOCOUNT  # DET NOUN VERB END: 11 tokens + 4 sentence ends
    uni = uni / uni.sum()
    big = np.zeros((4, 4))  # context BOS=3 ... outcome END=3
    for a, b, n in [(3, det, 3), (3, noun, 1), (det, noun, 3), (noun, verb, 4), (verb, end, 4)]:
        big[a, b] = n
    big = big / big.sum(axis=1, keepdims=True)
    l1, l2 = model.lambdas_
    expected = l2 * big + l1 * uni
    np.testing.assert_allclose(model.startprob_[:3], expected[3, :3] / expected[3, :3].sum())
    np.testing.assert_allclose(model.transmat_[:3, :3], expected[:3, :3])
    np.testing.assert_allclose(model.transmat_[:3, 3], expected[:3, 3])
    # emissions: P(t|w)/P(t) = c(w,t)/c(t) / P(w), so ratios between tags equal c(w,t)/c(t) ratios
    p_t = np.array([3, 4, 4]) / 11.0
    np.testing.assert_allclose(model.p_t_, p_t)
    runs = model.emit_table_[model._index["runs"]]
    np.testing.assert_allclose(runs * p_t, [0, 0, 1])  # P(t | runs)


def test_known_answer_tagging_resolves_ambiguity_by_context():
    W = [
        ["i", "book", "flights"],
        ["the", "book", "sells"],
        ["we", "book", "rooms"],
        ["a", "book", "sells"],
        ["i", "read", "the", "book"],
        ["we", "read", "a", "book"],
        ["the", "rooms", "sell"],
    ]
    T = [
        ["PRON", "VERB", "NOUN"],
        ["DET", "NOUN", "VERB"],
        ["PRON", "VERB", "NOUN"],
        ["DET", "NOUN", "VERB"],
        ["PRON", "VERB", "DET", "NOUN"],
        ["PRON", "VERB", "DET", "NOUN"],
        ["DET", "NOUN", "VERB"],
    ]
    for order in (1, 2):
        model = HMMTagger(order=order).fit(W, T)
        assert model.predict([["we", "book", "flights"], ["a", "book", "sells"], ["i", "read", "a", "book"]]) == [
            ["PRON", "VERB", "NOUN"],
            ["DET", "NOUN", "VERB"],
            ["PRON", "VERB", "DET", "NOUN"],
        ]


def test_second_order_beats_first_order_when_the_tag_two_back_matters():
    # 'x' is R after "a b" and T after "c b": only the tag two positions back tells them apart
    W = [["a", "b", "x"]] * 6 + [["c", "b", "x"]] * 4
    T = [["P", "Q", "R"]] * 6 + [["S", "Q", "T"]] * 4
    test_w, test_t = [["a", "b", "x"], ["c", "b", "x"]], [["P", "Q", "R"], ["S", "Q", "T"]]
    first = HMMTagger(order=1).fit(W, T).predict(test_w)
    second = HMMTagger(order=2).fit(W, T).predict(test_w)
    assert second == test_t
    assert first[1] != test_t[1]  # a bigram model can only pick the more frequent R after Q


def test_supervised_tagger_decodes_with_hmmlearn_and_never_fits_it(monkeypatch):
    calls = {"decode": 0, "fit": 0}
    decode = CategoricalHMM.decode

    def counting_decode(self, *args, **kwargs):
        calls["decode"] += 1
        return decode(self, *args, **kwargs)

    def no_fit(self, *args, **kwargs):
        calls["fit"] += 1
        raise AssertionError("the supervised tagger must not call CategoricalHMM.fit")

    monkeypatch.setattr(CategoricalHMM, "decode", counting_decode)
    monkeypatch.setattr(CategoricalHMM, "fit", no_fit)
    W, T = random_corpus(17)
    HMMTagger(order=1).fit(W, T).predict(W)
    assert calls == {"decode": 1, "fit": 0}  # first order: all sentences in one hmmlearn Viterbi call
    HMMTagger(order=2).fit(W, T).predict(W)
    assert calls == {"decode": 1, "fit": 0}  # second order: the sparse Viterbi (harness.models.hmm.decoding)


SPARSE = {
    "order1-lexicalised": dict(order=1, lexicalize=3),
    "order1-lexicalised-caps": dict(order=1, lexicalize=3, capitalization=True),
    "order2": dict(order=2),
    "order2-caps": dict(order=2, capitalization=True),
    "order2-lexicalised": dict(order=2, lexicalize=2),
    "order2-lexicalised-caps": dict(order=2, lexicalize=2, capitalization=True),
}


@pytest.mark.parametrize("kwargs", SPARSE.values(), ids=SPARSE.keys())
@pytest.mark.parametrize("seed", range(6))
def test_sparse_viterbi_gives_the_paths_of_hmmlearns_dense_viterbi(kwargs, seed):
    # same paths, ties included (seed 0 has exact ties between lexicalised labels: hmmlearn's backtracking
    # keeps the last maximum), on unseen words and sentences of 1 to 8 words decoded together
    W, T = random_corpus(seed, n_sentences=60)
    W = [[w.upper() if i % 3 == 0 else w for i, w in enumerate(s)] for s in W]
    model = HMMTagger(**kwargs).fit(W[:40], T[:40])
    test = W[40:] + [["zzz", "QQQ"], ["x"], []]
    assert model.predict(test) == model.predict(test, dense=True)


def last_best_path(cand, log_b, log_p, order):
    """Brute force over every candidate path of one sentence, with hmmlearn's tie rule: backtracking
    takes the last maximum, so among the best paths it keeps the one whose final state (for order 2 the
    pair (y_{T-2}, y_{T-1})) is largest, then the largest y_{T-3}, and so on back to the start."""
    Z = log_p.shape[0] - 1
    T, C = cand.shape
    best, best_key, best_path = -np.inf, None, None
    for slots in itertools.product(range(C), repeat=T):
        y = [int(cand[t, k]) for t, k in enumerate(slots)]
        ctx = [Z] * order + y + [Z]  # BOS ... labels ... END
        score = sum(log_b[t, k] for t, k in enumerate(slots))
        score += sum(log_p[tuple(ctx[t : t + order + 1])] for t in range(T + 1))
        key = tuple(reversed(y)) if order == 1 else (tuple(y[-2:]) if T > 1 else (Z, y[-1]), *reversed(y[:-2]))
        if score > best or (score == best and key > best_key):
            best, best_key, best_path = score, key, y
    return best_path


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("fixed", [True, False], ids=["same-candidates", "own-candidates"])
def test_sparse_viterbi_breaks_exact_ties_as_hmmlearns_backtracking_does(order, fixed):
    from harness.models.hmm.decoding import viterbi_candidates

    # small integers as log-probabilities: every sum is exact, so equal scores are real ties (many of them)
    rng = np.random.default_rng(order + 2 * fixed)
    Z, C = 4, 3
    log_p = -rng.integers(0, 3, size=(Z + 1,) * (order + 1)).astype(float)
    lengths = np.array([1, 2, 3, 4, 5, 5, 4, 3])
    N = lengths.sum()
    if fixed:
        cand = np.tile([0, 1, 3], (N, 1))
    else:
        cand = np.sort(np.array([rng.choice(Z, size=C, replace=False) for _ in range(N)]), axis=1)  # (N, C)
    log_b = -rng.integers(0, 2, size=(N, C)).astype(float)
    if not fixed:
        log_b[::3, 2] = -np.inf  # padding slots, as a token with fewer candidates has
    got = viterbi_candidates(cand, log_b, lengths, log_p, order)
    starts = np.cumsum(lengths) - lengths
    want = [last_best_path(cand[a : a + n], log_b[a : a + n], log_p, order) for a, n in zip(starts, lengths)]
    assert got.tolist() == [y for path in want for y in path]


@pytest.mark.parametrize("kwargs", [dict(order=2), dict(order=1, lexicalize=3, capitalization=True)])
def test_sparse_viterbi_batches_of_any_size_give_the_same_paths(kwargs, monkeypatch):
    import harness.models.hmm.decoding as decoding

    W, T = random_corpus(4, n_sentences=60)
    W = [[w.upper() if i % 3 == 0 else w for i, w in enumerate(s)] for s in W]
    model = HMMTagger(**kwargs).fit(W, T)
    whole = model.predict(W)
    monkeypatch.setattr(decoding, "STEP_BUDGET", {1: 1, 2: 1})  # one sentence a batch
    assert model.predict(W) == whole == model.predict(W, dense=True)


# ----------------------------------------------------------------------------------------------
# supervised tagger: properties


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(order=1),
        dict(order=2),
        dict(order=2, capitalization=True, lexicalize=3),
        dict(order=1, rare_threshold=1000),
        dict(order=1, unknown="suffix", rare_threshold=1000),
    ],
)
def test_distributions_are_normalised(kwargs):  # rare_threshold=1000: every word trains the unknown-word model
    W, T = random_corpus(4)
    model = HMMTagger(**kwargs).fit(W, T)
    np.testing.assert_allclose(model.startprob_.sum(), 1.0)
    np.testing.assert_allclose(model.transmat_.sum(axis=1), 1.0)
    if model.unknown == "suffix":
        assert len(model.suffix_prob_) > 1
        np.testing.assert_allclose(model.suffix_prob_.sum(axis=1), 1.0)  # P(t | suffix)
    elif model.rare_threshold == 1000:  # every word is rare: a real spelling model was fitted
        assert len(model.spelling_features_) > 0
    np.testing.assert_allclose(model._unknown_prob(["w1", "zzz", "Qq-9"]).sum(axis=1), 1.0)  # P_unk(t | w)
    np.testing.assert_allclose((model.emit_table_ * model.p_t_).sum(axis=1), 1.0)  # P(t | w)
    np.testing.assert_allclose(model.lambdas_.sum(), 1.0)
    np.testing.assert_allclose(model.ngram_.sum(axis=-1), 1.0)  # P(label | context), END included
    assert len(model.lambdas_) == model.order + 1
    assert (model.transmat_ >= 0).all() and (model.emit_table_ > 0).all()


WEIRD = [
    "---",
    "",
    " ",
    "1,234.5",
    "2026-11-22",
    "naïve",
    "東京",
    "😀",
    "x" * 500,
    "\t",
    "Ünïcödé",
    "A-1",
    "http://example.com/a?b=c",
    "CAPS",
    "Mixed-Case-Word",
    "’",
    "\x00",
    "-",
    "...",
]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(order=1),
        dict(order=2),
        dict(order=1, capitalization=True, lexicalize=2),
        dict(order=1, unknown="suffix"),
        dict(training="unsupervised", n_iter=5),
    ],
)
def test_unknown_and_weird_words_never_crash_or_give_nan(kwargs):
    W, T = random_corpus(5)
    model = HMMTagger(**kwargs).fit(W, T)
    sentences = [WEIRD] + [[w, "w1", w] for w in WEIRD] + [[w] for w in WEIRD]
    out = model.predict(sentences)
    assert [len(s) for s in out] == [len(s) for s in sentences]
    assert {t for s in out for t in s} <= set(model.tags_.tolist())
    x, extra = model._symbols(sentences)
    cols = model._column(np.unique(x), extra)
    assert np.isfinite(cols).all() and (cols.max(axis=1) > 0).all()


def test_empty_sentences_and_empty_input():
    W, T = random_corpus(6)
    model = HMMTagger().fit(W, T)
    assert model.predict([]) == []
    assert model.predict([[], ["w1"], []])[0] == [] and len(model.predict([[], ["w1"], []])[1]) == 1


@pytest.mark.parametrize("unknown", ["logistic", "suffix"])
def test_lower_case_fallback_uses_the_known_lower_case_word(unknown):
    W = [
        ["we", "run"],
        ["they", "run"],
        ["dogs", "run"],
        ["we", "sleep"],
        ["NASA", "sleeps"],
        ["IBM", "runs"],
        ["THE", "BBC", "runs"],
    ]
    T = [
        ["PRON", "VERB"],
        ["PRON", "VERB"],
        ["NOUN", "VERB"],
        ["PRON", "VERB"],
        ["PROPN", "VERB"],
        ["PROPN", "VERB"],
        ["PROPN", "PROPN", "VERB"],
    ]
    model = HMMTagger(unknown=unknown).fit(W, T)
    assert model.predict([["WE", "run"]]) == [["PRON", "VERB"]]  # 'WE' unseen, 'we' known
    # without the fallback, the suffix model (suffixes kept per shape class) sees only an all-caps word
    assert HMMTagger(case_weight=0, unknown="suffix").fit(W, T).predict([["WE", "run"]]) == [["PROPN", "VERB"]]
    W2 = W + [["Wendy", "runs"]] * 3 + [["the", "dogs", "run"], ["dogs", "sleep"]]
    T2 = T + [["PROPN", "VERB"]] * 3 + [["DET", "NOUN", "VERB"], ["NOUN", "VERB"]]
    assert HMMTagger(unknown=unknown).fit(W2, T2).predict([["wendy", "runs"]]) == [["PROPN", "VERB"]]  # 'Wendy' known
    assert HMMTagger(case_weight=0, unknown="suffix").fit(W2, T2).predict([["wendy", "runs"]]) != [["PROPN", "VERB"]]


def test_chunked_decoding_equals_one_call():
    W, T = random_corpus(8, n_sentences=80)
    one = HMMTagger(order=2).fit(W, T).predict(W)
    many = HMMTagger(order=2, chunk_tokens=30).fit(W, T).predict(W)  # order 2 decodes 3 tokens a call here
    assert one == many


@pytest.mark.parametrize(
    "kwargs",
    [dict(order=1, lexicalize=4), dict(order=2, lexicalize=2), dict(order=1, lexicalize=3, capitalization=True)],
)
def test_lexicalised_decoding_in_small_chunks_equals_one_call(kwargs, monkeypatch):
    # the dense decoder of a model too big for one HMM: chunks leave out the states of lexicalised words
    # they do not contain, an exact saving (the sparse decoder gives the same paths)
    W, T = random_corpus(14, n_sentences=80)
    W = [[w.upper() if i % 4 == 0 else w for i, w in enumerate(s)] for s in W]
    model = HMMTagger(**kwargs).fit(W, T)
    assert (model.state_word_ >= 0).sum() > 0
    sparse = model.predict(W)
    monkeypatch.setattr(hmm_module, "MAX_STATES", 1)
    model = HMMTagger(**kwargs).fit(W, T)
    assert model.transmat_ is None
    monkeypatch.setattr(hmm_module, "LEXICAL_LABELS_PER_CHUNK", {1: 10**6, 2: 10**6})
    whole = model.predict(W, dense=True)
    monkeypatch.setattr(hmm_module, "LEXICAL_LABELS_PER_CHUNK", {1: 1, 2: 1})
    calls = []
    decode = hmm_module.CategoricalHMM.decode
    monkeypatch.setattr(hmm_module.CategoricalHMM, "decode", lambda self, X: calls.append(1) or decode(self, X))
    assert model.predict(W, dense=True) == whole == sparse
    assert len(calls) > 1  # it really decoded chunk by chunk


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(order=1),
        dict(order=2, capitalization=True, lexicalize=2),
        dict(training="unsupervised", n_iter=5, n_states=4),
    ],
)
def test_state_dict_round_trip_through_npz(tmp_path, kwargs):
    W, T = random_corpus(9)
    model = HMMTagger(**kwargs).fit(W, T)
    path = tmp_path / "hmm.npz"
    np.savez(path, **model.state_dict())
    with np.load(path, allow_pickle=False) as d:
        loaded = HMMTagger.from_state_dict(d)
    probe = W[:10] + [["w1", "unseen", "W2", "---"]]
    assert loaded.predict(probe) == model.predict(probe)
    assert loaded.n_params == model.n_params > 0
    assert all(v.dtype != object for v in model.state_dict().values())
    if model.training == "supervised":  # the dense n-gram table is rebuilt, bit for bit, from the stored counts
        assert np.array_equal(loaded.ngram_, model.ngram_) and "ngram_" not in model.state_dict()


def test_saved_second_order_lexicalised_tagger_stores_counts_not_its_dense_table():
    rng = np.random.default_rng(0)
    T = [[str(t) for t in rng.integers(0, 5, size=8)] for _ in range(200)]  # 5 tags
    W = [[f"w{w}" for w in rng.integers(0, 30, size=8)] for _ in range(200)]  # every word seen with every tag
    model = HMMTagger(order=2, lexicalize=10).fit(W, T)  # 55 labels: 56^3 n-gram probabilities
    state = model.state_dict()
    assert model.ngram_.size > 20 * state["ngram_count_"].size
    assert sum(v.nbytes for v in state.values()) < model.ngram_.nbytes / 5


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(
            smoothing=1, unknown_c=1, case_weight=0, tol=1, random_state=None, n_states=None
        ),  # ints where floats are usual
        dict(smoothing=0.25, tol=float("inf"), random_state=7, n_states=3, capitalization=True, unknown="suffix"),
        dict(training="unsupervised", n_iter=3, n_states=None, random_state=None),
    ],
)
def test_state_dict_round_trip_keeps_every_hyperparameter_value_and_type(tmp_path, kwargs):
    W, T = random_corpus(9)
    model = HMMTagger(**kwargs).fit(W, T)
    np.savez(tmp_path / "hmm.npz", **model.state_dict())
    with np.load(tmp_path / "hmm.npz", allow_pickle=False) as d:
        loaded = HMMTagger.from_state_dict(d)
    for k in HMMTagger.HYPERPARAMS:
        original, back = getattr(model, k), getattr(loaded, k)
        assert (back, type(back)) == (original, type(original)), k


def test_fit_is_deterministic():
    W, T = random_corpus(10)
    for kwargs in (dict(order=2), dict(training="unsupervised", n_iter=10, random_state=3)):
        a, b = HMMTagger(**kwargs).fit(W, T), HMMTagger(**kwargs).fit(W, T)
        for key, value in a.state_dict().items():
            np.testing.assert_array_equal(value, b.state_dict()[key], err_msg=key)


# ----------------------------------------------------------------------------------------------
# unsupervised tagger


def test_unsupervised_maps_states_to_valid_tags_and_learns_something():
    W, T = random_corpus(11, n_sentences=300)
    model = HMMTagger(training="unsupervised", n_states=6, n_iter=30, random_state=0).fit(W, T)
    pred = model.predict(W)
    assert {t for s in pred for t in s} <= set(model.tags_.tolist())
    assert len(model.state_tag_) == 6
    gold = np.array([t for s in T for t in s])
    acc = (np.array([t for s in pred for t in s]) == gold).mean()
    majority = (gold == max(set(gold.tolist()), key=gold.tolist().count)).mean()
    assert acc > majority + 0.1  # many-to-one accuracy well above the majority tag
    np.testing.assert_allclose(model.transmat_.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.emit_table_.sum(axis=0), 1.0)  # (V, S): each state's emissions


@pytest.mark.parametrize("training", ["supervised", "unsupervised"])
def test_empty_sentences_in_training_are_harmless(training):
    W, T = random_corpus(12, n_sentences=80)
    kwargs = dict(training=training, n_iter=5, random_state=0)
    with_empty = HMMTagger(**kwargs).fit(W[:40] + [[]] + W[40:], T[:40] + [[]] + T[40:])  # unsupervised used to crash
    assert with_empty.predict([[]] + W[:5]) == [[]] + with_empty.predict(W[:5])
    if training == "unsupervised":  # nothing to learn from an empty sentence: the same model
        assert with_empty.predict(W) == HMMTagger(**kwargs).fit(W, T).predict(W)


def test_boundaries_leave_empty_sentences_out():
    seq, pos = HMMTagger._with_boundaries(np.array([5, 6, 7]), np.array([0, 2, 0, 0, 1, 0]), boundary=9)
    assert seq.tolist() == [5, 6, 9, 7, 9] and pos.tolist() == [0, 1, 3]  # no boundary -> boundary step


@pytest.mark.parametrize(
    "kwargs", [dict(order=1), dict(order=2), dict(order=1, lexicalize=3), dict(training="unsupervised", n_iter=5)]
)
def test_empty_sentences_anywhere_in_small_chunks_decode_like_without_them(kwargs):
    W, T = random_corpus(17, n_sentences=40)
    model = HMMTagger(**kwargs, chunk_tokens=1).fit(W, T)  # chunks of one sentence (some hold only empty ones)
    probe = W[:6]
    with_empty = [[], [], probe[0], [], probe[1], probe[2], [], [], probe[3], probe[4], probe[5], []]
    assert [s for s in model.predict(with_empty) if s] == model.predict(probe)
    assert [len(s) for s in model.predict(with_empty)] == [len(s) for s in with_empty]


def test_unsupervised_seed_changes_the_solution():
    W, T = random_corpus(12, n_sentences=100)
    a = HMMTagger(training="unsupervised", n_iter=5, random_state=0).fit(W, T)
    b = HMMTagger(training="unsupervised", n_iter=5, random_state=1).fit(W, T)
    assert not np.allclose(a.transmat_, b.transmat_)


# ----------------------------------------------------------------------------------------------
# errors


def test_bad_hyperparameters_and_data_raise_clear_errors():
    W, T = random_corpus(13)
    with pytest.raises(ConfigError, match="model.order must be 1 or 2"):
        HMMTagger(order=3).fit(W, T)
    with pytest.raises(ConfigError, match="model.training must be one of"):
        HMMTagger(training="semi").fit(W, T)
    with pytest.raises(ConfigError, match="model.smoothing must be >= 0"):
        HMMTagger(smoothing=-1).fit(W, T)
    with pytest.raises(DataError, match="sentence 0 has 2 words but 1 tags"):
        HMMTagger().fit([["a", "b"]], [["X"]])
    with pytest.raises(DataError, match="holds no tokens"):
        HMMTagger().fit([[]], [[]])
    with pytest.raises(RuntimeError, match="before fit"):  # a programming error, not bad input
        HMMTagger().predict([["a"]])


@pytest.mark.parametrize(
    "key, value",
    [
        ("order", 3),
        ("unknown", "crf"),
        ("init", "uniform"),
        ("smoothing", float("nan")),
        ("case_weight", -1.0),
        ("max_suffix", -1),
        ("unknown_c", 0.0),
        ("n_states", 0),
        ("n_iter", 0),
    ],
)
def test_config_check_and_fit_refuse_a_bad_hyperparameter_with_the_same_message(key, value):
    from harness.config import Config, HMMTaggerConfig, HMMUnsupervisedConfig, PosTaskConfig, check_config

    W, T = random_corpus(13)
    supervised = key in {f.name for f in dataclasses.fields(HMMTaggerConfig)}
    training = "supervised" if supervised else "unsupervised"
    with pytest.raises(ConfigError) as from_fit:
        HMMTagger(**{key: value, "training": training}).fit(W, T)
    schema = (
        HMMTaggerConfig if supervised else HMMUnsupervisedConfig
    )  # the Baum-Welch settings are model=hmm_unsupervised's
    with pytest.raises(ConfigError) as from_config:  # before any data is loaded
        check_config(Config(model=schema(**{key: value}), task=PosTaskConfig()))
    assert str(from_config.value) == str(from_fit.value) and f"model.{key}" in str(from_fit.value)


def test_config_check_of_hmm_configs_imports_neither_hmmlearn_nor_sklearn():
    import subprocess
    import sys

    code = """if True:
        import sys
        from harness.config import Config, PosTaskConfig, TimeSeriesTaskConfig, check_config, model_schema
        from harness.errors import ConfigError
        for task in (PosTaskConfig(), TimeSeriesTaskConfig()):
            check_config(Config(model=model_schema("hmm", task.name)(), task=task))
        for bad in (model_schema("hmm", "pos")(order=3), model_schema("hmm", "timeseries")(max_states=0)):
            try:
                check_config(Config(model=bad, task=PosTaskConfig()))
            except ConfigError as e:
                print(e)
        print(sorted(m for m in ("hmmlearn", "sklearn") if m in sys.modules))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("model.order must be 1 or 2") and lines[1].startswith(
        "model.max_states must be positive"
    )
    assert lines[2] == "[]"  # validation alone stays light (hmmlearn and scikit-learn take ~2 s to import)


def test_tagger_hyperparameters_are_listed_once_in_init_order():
    import inspect

    assert list(HMMTagger.HYPERPARAMS) == list(inspect.signature(HMMTagger).parameters)


def test_the_ewt_measurement_builds_taggers_from_the_config_defaults():
    import importlib.util
    from pathlib import Path

    from harness.config import HMMTaggerConfig, hmm_tagger_params

    path = Path(__file__).resolve().parents[1] / "scripts" / "measure_hmm_ewt.py"
    spec = importlib.util.spec_from_file_location("measure_hmm_ewt", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    defaults = hmm_tagger_params(HMMTaggerConfig())
    for name, overrides in script.CONFIGS.items():
        expected = {**defaults, **overrides}
        model = script.tagger(name)
        assert {k: getattr(model, k) for k in expected} == expected, name


def test_too_many_states_is_refused_before_allocating(monkeypatch):
    W, T = random_corpus(15)
    monkeypatch.setattr(hmm_module, "MAX_STATES", 20)
    with pytest.raises(
        ConfigError,
        match=r"model.order=2 with model.capitalization=True and 3 tags needs 43 "
        r"hidden states \(the limit is 20\)",
    ):
        HMMTagger(order=2, capitalization=True).fit(W, T)
    monkeypatch.setattr(hmm_module, "MAX_TABLE", 100)
    with pytest.raises(ConfigError, match=r"model.order=2 with model.lexicalize=2 .* needs a table of \d+ label"):
        HMMTagger(order=2, lexicalize=2).fit(W, T)


def test_lexicalised_model_too_big_for_one_hmm_decodes_by_chunks(monkeypatch):
    W, T = random_corpus(16, n_sentences=80)
    whole = HMMTagger(order=2, lexicalize=3).fit(W, T)
    monkeypatch.setattr(hmm_module, "MAX_STATES", 10)
    chunked = HMMTagger(order=2, lexicalize=3).fit(W, T)
    assert chunked.transmat_ is None and whole.transmat_ is not None
    assert chunked.predict(W) == whole.predict(W)


def test_signatures():
    assert [word_class(w) for w in ["", "---", "12a", "NASA", "Paris", "well-known", "dog", "東京"]] == [
        "p",
        "p",
        "d",
        "A",
        "C",
        "h",
        "l",
        "l",
    ]
    assert suffix_keys("Dogs", 3) == ["C\x00", "C\x00s", "C\x00gs", "C\x00ogs"]
    assert signature("Walking") == "<C:ng>" and signature("1984") == "<d:4>"
    # the suffix model and the signatures read one form: lower case for capitalised and all-caps words only
    assert [class_and_form(w) for w in ["NASA", "Paris", "McDonald-Smith", "iPhone", "X1"]] == [
        ("A", "nasa"),
        ("C", "paris"),
        ("C", "mcdonald-smith"),
        ("l", "iPhone"),
        ("d", "X1"),
    ]


# ----------------------------------------------------------------------------------------------
# the regime forecaster (harness.models.hmm.regimes); its mixtures and BIC are tested in test_forecast_models.py

TRUE_MEANS = np.array([[-2.0], [2.0]])


def two_regime_series(T: int = 600, seed: int = 0):
    """A series sampled from a known sticky two-state Gaussian HMM."""
    hmm = GaussianHMM(n_components=2, covariance_type="diag", init_params="", params="")
    hmm.startprob_ = np.array([0.5, 0.5])
    hmm.transmat_ = np.array([[0.95, 0.05], [0.1, 0.9]])
    hmm.means_ = TRUE_MEANS
    hmm.covars_ = np.array([[0.5], [0.5]])
    X, Z = hmm.sample(T, random_state=seed)
    return X[:, 0], Z, hmm


def test_regime_forecasts_never_touch_hmmlearn_smoothing(monkeypatch):
    x, _, _ = two_regime_series(200, seed=5)
    model = RegimeForecaster(n_states=2).fit(x)

    def forbidden(*args, **kwargs):
        raise AssertionError("forward-backward smoothing uses the future")

    for name in ("predict", "predict_proba", "score_samples", "decode"):
        monkeypatch.setattr(GaussianHMM, name, forbidden)
    W, M, S = model.predict_distribution(x, 3)
    assert np.isfinite(M).all() and np.isfinite(model.filter(x)).all()


def test_plain_regime_filter_matches_hmmlearn_at_the_last_step_of_each_prefix():
    """Without AR emissions the model is hmmlearn's GaussianHMM: smoothing at a prefix's last step is filtering."""
    x, _, _ = two_regime_series(200, seed=1)
    model = RegimeForecaster(n_states=2, autoregressive=False, random_state=0).fit(x)
    ref = GaussianHMM(n_components=2, covariance_type="diag", init_params="", params="")
    ref.startprob_, ref.transmat_ = model.startprob_, model.transmat_
    ref.means_, ref.covars_ = model.c_[:, None], (model.sigma_**2)[:, None]
    f = model.filter(x)  # (T, K)
    np.testing.assert_allclose(f.sum(axis=1), 1.0)
    for t in (0, 10, 57, 199):
        np.testing.assert_allclose(f[t], ref.predict_proba(x[: t + 1, None])[-1], atol=1e-10)


def test_regime_forecast_on_a_two_regime_series_is_close_to_the_oracle():
    x, _, true_hmm = two_regime_series(1500, seed=2)
    model = RegimeForecaster(autoregressive=False, random_state=0).fit(x[:1000])
    assert len(model.c_) == 2  # BIC finds the two regimes
    np.testing.assert_allclose(np.sort(model.c_), [-2, 2], atol=0.2)
    oracle = RegimeForecaster.from_state_dict(
        {
            "startprob": true_hmm.startprob_,
            "transmat": true_hmm.transmat_,
            "c": true_hmm.means_[:, 0],
            "phi": np.zeros(2),
            "sigma": np.sqrt(true_hmm.covars_[:, 0, 0]),
            "autoregressive": np.array(False),
            "loglik": np.array(0.0),
        }
    )
    origins = np.arange(999, 1499)
    y = x[origins + 1]

    def rmse(m):
        return float(np.sqrt(np.mean((m.predict(x, 1, origins)[:, 0] - y) ** 2)))

    assert rmse(model) <= 1.05 * rmse(oracle)
    assert rmse(model) < 0.8 * float(np.sqrt(np.mean((y - x[:1000].mean()) ** 2)))  # beats the unconditional mean
    # far ahead the forecast tends to the stationary mean pi . c
    far = model.predict(x, 200, origins[:5])[:, -1]
    w, v = np.linalg.eig(model.transmat_.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    np.testing.assert_allclose(far, (pi / pi.sum()) @ model.c_, atol=1e-6)


def test_regime_round_trip_table_and_size(tmp_path):
    x, _, _ = two_regime_series(300, seed=3)
    a = RegimeForecaster(n_states=2, random_state=5).fit(x)
    b = RegimeForecaster(n_states=2, random_state=5).fit(x)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key], err_msg=key)
    np.savez(tmp_path / "g.npz", **a.state_dict())
    with np.load(tmp_path / "g.npz", allow_pickle=False) as d:
        c = RegimeForecaster.from_state_dict(d)
    np.testing.assert_array_equal(a.predict(x, 3), c.predict(x, 3))
    assert a.n_params == 1 + 2 + 2 * 3
    table = a.regime_table(x)
    assert sorted(table) == ["p_state0", "p_state1", "state", "state_mean", "t", "value"]
    np.testing.assert_array_equal(table["state"], a.filter(x).argmax(axis=1))  # filtered, not smoothed
    assert all(len(v) == 300 for v in table.values())


@pytest.mark.parametrize("key, value", [("n_states", 0), ("n_states", -2), ("max_states", 0), ("tol", -1.0)])
def test_config_check_and_regime_fit_refuse_a_bad_hyperparameter_with_the_same_message(key, value):
    from harness.config import Config, HMMForecasterConfig, TimeSeriesTaskConfig, check_config

    with pytest.raises(ConfigError) as from_fit:
        RegimeForecaster(**{key: value}).fit(two_regime_series(100)[0])
    with pytest.raises(ConfigError) as from_config:  # before any data is loaded
        check_config(Config(model=HMMForecasterConfig(**{key: value}), task=TimeSeriesTaskConfig()))
    assert str(from_config.value) == str(from_fit.value) and f"model.{key}" in str(from_fit.value)


def test_regime_forecaster_from_config_reads_model_tol():
    """model.tol reaches EM: a huge tolerance stops the AR EM after two evaluations of the likelihood."""
    from harness.config import HMMForecasterConfig

    series = np.sin(np.linspace(0, 30, 300)) + 0.1 * np.random.default_rng(0).standard_normal(300)
    params = HMMForecasterConfig(n_states=2, tol=1e9, n_iter=50).estimator_params()
    loose = RegimeForecaster(**params).fit(series)
    tight = RegimeForecaster(**(params | {"tol": -0.0, "n_iter": 7})).fit(series)
    assert len(loose.history_) == 2 and len(tight.history_) == 7
