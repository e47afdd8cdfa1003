"""P(tag | word form) for words the HMM tagger has (almost) never seen: a logistic regression on
the form's spelling, trained on the rare training words that stand in for unseen ones.

TnT's suffix tree (``signatures.suffix_keys``) looks at one clue, the longest known suffix.
This model weighs many at once: suffixes of 1-4 characters (alone and with the word's shape
class), prefixes of 1-3, capitalisation, digits, hyphens, length and a collapsed shape
(``Xxxx-99`` -> ``Aa-9``). Fitting uses scikit-learn (multinomial ``LogisticRegression`` on
``DictVectorizer`` features, one row per (rare word, tag) pair weighted by its count);
prediction needs only the learned arrays, so a saved model loads without pickles:

    logits (n, K) = b + sum over the features f of a word of  W[:, f]
    P(t | w)      = softmax(logits)

Letters: K tags, F features, n forms.
"""

from __future__ import annotations

import itertools
import string

import numpy as np
from threadpoolctl import threadpool_limits

from harness.models.hmm.signatures import word_class

FLOOR = 1e-4  # a tag no rare training word carried keeps this probability (no -inf path)
_SHAPE = str.maketrans(
    {
        **dict.fromkeys(string.ascii_uppercase, "A"),
        **dict.fromkeys(string.ascii_lowercase, "a"),
        **dict.fromkeys(string.digits, "9"),
    }
)


def features(word: str) -> list[str]:
    """The spelling clues of ``word`` (binary features, by name), e.g. ``Xbox-360``: class ``d``
    (digits), suffixes ``0``, ``60``, ``360``, ``-360`` (alone and with the class), prefixes ``x``,
    ``xb``, ``xbo``, shape ``Aa-9``, length, flags. A word shorter than 4 is its own longer suffixes."""
    cls, low = word_class(word), word.lower()
    s1, s2, s3, s4 = low[-1:], low[-2:], low[-3:], low[-4:]
    shape = "".join(k for k, _ in itertools.groupby(word.translate(_SHAPE)))[:6]
    out = [
        "class=" + cls,
        "len=" + str(min(len(word), 12)),
        "shape=" + shape,
        "s1=" + s1,
        "s2=" + s2,
        "s3=" + s3,
        "s4=" + s4,
        cls + "s1=" + s1,
        cls + "s2=" + s2,
        cls + "s3=" + s3,
        cls + "s4=" + s4,
        "p1=" + low[:1],
        "p2=" + low[:2],
        "p3=" + low[:3],
    ]
    if "-" in word:
        out.append("hyphen")
    if word[:1].isupper():
        out.append("cap")
    if word.isupper():
        out.append("caps")
    if word[1:] != low[1:]:
        out.append("inner_cap")
    return out


class SpellingModel:
    """P(t | spelling of w), shape (n, K): ``SpellingModel.fit(forms, counts)``, or rebuilt from its
    arrays ``SpellingModel(feature_names, weight, bias)``."""

    def __init__(self, feature_names: np.ndarray, weight: np.ndarray, bias: np.ndarray):
        self.feature_names = feature_names  # (F,) 'U'
        self.weight = weight  # (F, K) W^T
        self.bias = bias  # (K,)
        self._index = {f: i for i, f in enumerate(feature_names.tolist())}
        self._weight_padded = np.vstack([weight, np.zeros((1, weight.shape[1]))])  # (F+1, K) row F: no feature

    @classmethod
    def fit(
        cls, forms: list[str], counts: np.ndarray, C: float = 0.3, tol: float = 1e-3, max_iter: int = 300
    ) -> SpellingModel:
        """forms (n,) word types, counts (n, K) their tag counts; C is the inverse L2 strength, tol
        the L-BFGS stopping tolerance (1e-3: half the iterations of the default, same tagging)."""
        return cls.fit_features([features(w) for w in forms], counts, C=C, tol=tol, max_iter=max_iter)

    @classmethod
    def fit_features(
        cls, names: list[list[str]], counts: np.ndarray, C: float = 0.3, tol: float = 1e-3, max_iter: int = 300
    ) -> SpellingModel:
        """``fit`` from the forms' features (n,) (``features(w)`` of each), for a caller that has them."""
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        K = counts.shape[1]
        row, tag = np.nonzero(counts)  # one training row per (form, tag) pair seen
        if len(np.unique(tag)) < 2:  # no rare words, or a single tag: nothing to learn but the prior
            bias = np.where(counts.sum(axis=0) > 0, 0.0, -30.0) if len(tag) else np.zeros(K)
            return cls(np.zeros(0, dtype="U1"), np.zeros((0, K)), bias)
        vec = DictVectorizer()
        X = vec.fit_transform([dict.fromkeys(f, 1) for f in names])  # (n, F) sparse, columns sorted by name
        with threadpool_limits(1):  # small products: BLAS threads only contend
            lr = LogisticRegression(C=C, tol=tol, max_iter=max_iter).fit(X[row], tag, sample_weight=counts[row, tag])
        weight = np.zeros((X.shape[1], K))
        bias = np.full(K, -30.0)  # tags no rare word carried: only FLOOR after the softmax
        coef = lr.coef_ if len(lr.classes_) > 2 else np.vstack([-lr.coef_, lr.coef_]) / 2
        intercept = lr.intercept_ if len(lr.classes_) > 2 else np.array([-lr.intercept_[0], lr.intercept_[0]]) / 2
        weight[:, lr.classes_] = coef.T
        bias[lr.classes_] = intercept
        names = np.array(vec.get_feature_names_out(), dtype=str)
        return cls(names, weight, bias)

    def predict_proba(self, forms: list[str]) -> np.ndarray:
        """P(t | w) for each form, (n, K); unknown features contribute nothing."""
        return self.predict_proba_features([features(w) for w in forms])

    def predict_proba_features(self, names: list[list[str]]) -> np.ndarray:
        """``predict_proba`` from the forms' features (n,) (``features(w)`` of each)."""
        K = len(self.bias)
        if not names:
            return np.zeros((0, K))
        F = self.weight.shape[0]
        sizes = np.fromiter(map(len, names), dtype=np.int64, count=len(names))
        ids = np.fromiter(
            map(self._index.get, itertools.chain.from_iterable(names), itertools.repeat(F)),
            dtype=np.int64,
            count=int(sizes.sum()),
        )  # features never seen in training: row F (zeros)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        logits = self.bias + np.add.reduceat(self._weight_padded[ids], offsets, axis=0)  # (n, K)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        p = np.maximum(p, FLOOR)
        return p / p.sum(axis=1, keepdims=True)
