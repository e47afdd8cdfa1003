"""The HMM tagger's spelling model of unknown words: sklearn-exact, learns real clues, saves without pickles."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression

from harness.models.hmm import HMMTagger
from harness.models.hmm.unknown import FLOOR, SpellingModel, features

TAGS = ["NOUN", "PROPN", "VERB", "ADJ"]


def rare_words(seed: int = 0):
    """Word types (n,) and tag counts (n, 4) with real spelling clues: -ing verbs, -ness nouns,
    capitalised proper nouns, -ous adjectives, plus a little noise."""
    rng = np.random.default_rng(seed)
    stems = [
        "".join(rng.choice(list("bcdfglmnprstvz"), 1))
        + "".join(rng.choice(list("aeiou"), 1))
        + "".join(rng.choice(list("bcdfglmnprstvz"), 1))
        for _ in range(60)
    ]
    forms, counts = [], []
    for stem in stems:
        for ending, tag in (("ing", 2), ("ness", 0), ("ous", 3)):
            c = np.zeros(4)
            c[tag] = rng.integers(1, 4)
            if rng.random() < 0.1:
                c[rng.integers(4)] += 1  # noise
            forms.append(stem + ending)
            counts.append(c)
        forms.append(stem.capitalize() + "ton")
        counts.append(np.eye(4)[1] * 2)
    return forms, np.array(counts)


def test_probabilities_equal_sklearn_logistic_regression_on_the_same_features():
    forms, counts = rare_words()
    model = SpellingModel.fit(forms, counts, C=1.0, tol=1e-6, max_iter=2000)
    vec = DictVectorizer()
    X = vec.fit_transform([dict.fromkeys(features(w), 1) for w in forms])
    row, tag = np.nonzero(counts)
    lr = LogisticRegression(C=1.0, tol=1e-6, max_iter=2000).fit(X[row], tag, sample_weight=counts[row, tag])
    probe = ["dabing", "Zorton", "kindness", "famous", "xyz", "", "Q-9"]  # unseen forms, unseen features
    expected = np.maximum(lr.predict_proba(vec.transform([dict.fromkeys(features(w), 1) for w in probe])), FLOOR)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(probe), expected, atol=1e-6)


def test_unseen_forms_get_the_tag_their_spelling_says():
    model = SpellingModel.fit(*rare_words())
    p = model.predict_proba(["jumping", "darkness", "Hamilton", "glorious"])
    assert [TAGS[k] for k in p.argmax(axis=1)] == ["VERB", "NOUN", "PROPN", "ADJ"]
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (p >= FLOOR * 0.99).all()  # no tag impossible: no -inf path in Viterbi


def test_a_tag_no_rare_word_carried_keeps_only_the_floor():
    forms, counts = rare_words()
    counts = np.hstack([counts, np.zeros((len(forms), 1))])  # a fifth tag, never rare
    p = SpellingModel.fit(forms, counts).predict_proba(["jumping"])
    assert p.shape == (1, 5) and p[0, 4] == pytest.approx(FLOOR, rel=0.01)


@pytest.mark.parametrize("counts", [np.zeros((0, 3)), np.array([[2.0, 0, 0], [1.0, 0, 0]])])
def test_no_rare_words_or_a_single_tag_gives_the_prior_and_no_error(counts):
    forms = ["aa", "bb"][: len(counts)]
    p = SpellingModel.fit(forms, counts).predict_proba(["cc", "Dd"])
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[0], p[1])  # the prior: the spelling does not matter
    if len(counts):
        assert (p.argmax(axis=1) == 0).all()


def test_the_tagger_saves_and_reloads_its_spelling_model_without_pickles(tmp_path):
    forms, counts = rare_words()
    words = [["the", w, "runs"] for w, c in zip(forms, counts) for _ in range(int(c.sum()))]
    tags = [["DET", TAGS[int(c.argmax())], "VERB"] for w, c in zip(forms, counts) for _ in range(int(c.sum()))]
    model = HMMTagger().fit(words, tags)
    assert model.spelling_weight_.shape[1] == len(model.tags_) and len(model.spelling_features_) > 0
    np.savez(tmp_path / "hmm.npz", **model.state_dict())
    with np.load(tmp_path / "hmm.npz", allow_pickle=False) as d:
        loaded = HMMTagger.from_state_dict(d)
    probe = [["the", "kindness", "runs"], ["the", "Bolton", "runs"], ["the", "walking", "runs"]]
    assert loaded.predict(probe) == model.predict(probe)
    assert [s[1] for s in model.predict(probe)] == ["NOUN", "PROPN", "VERB"]


@pytest.mark.parametrize("smoothing", [0.5, 0.0])
def test_fit_reads_each_spelling_once_and_only_where_it_is_used(monkeypatch, smoothing):
    # the logistic model learns from the rare words; the prior P_unk(t|w) of every known word is needed
    # only when smoothing > 0
    import harness.models.hmm.tagger as hmm_module
    import harness.models.hmm.unknown as hmm_unknown

    calls = []
    spelling = hmm_unknown.features
    for module in (hmm_module, hmm_unknown):
        monkeypatch.setattr(module, "features", lambda w: calls.append(w) or spelling(w), raising=False)
    forms, counts = rare_words()
    words = [["the", w, "runs"] for w, c in zip(forms, counts) for _ in range(int(c.sum()))]
    tags = [["DET", TAGS[int(c.argmax())], "VERB"] for w, c in zip(forms, counts) for _ in range(int(c.sum()))]
    model = HMMTagger(smoothing=smoothing).fit(words, tags)
    read = sorted(calls)
    assert read == sorted(set(forms) | ({"the", "runs"} if smoothing else set()))  # once each
    C_wt = model.word_tag_counts_
    P_tw = model.emit_table_ * model.p_t_  # (V, K) back to P(t|w)
    if smoothing:
        np.testing.assert_allclose(
            P_tw,
            (C_wt + smoothing * model._spelling.predict_proba(model.symbols_.tolist()))
            / (C_wt.sum(axis=1, keepdims=True) + smoothing),
        )
    else:
        np.testing.assert_allclose(P_tw, C_wt / C_wt.sum(axis=1, keepdims=True))  # TnT's counts alone
