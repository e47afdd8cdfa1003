"""The hidden Markov part-of-speech tagger (on hmmlearn).

``HMMTagger`` (supervised) is a TnT-style tagger (Brants 2000): maximum-likelihood label n-grams
(order 1 or 2) smoothed by deleted interpolation, lexical probabilities from counts, and an
unknown-word model: a logistic regression on the spelling (default) or TnT's successive-abstraction
suffix tree. The counted parameters are written into an hmmlearn ``CategoricalHMM``
(``init_params=""``, parameters set directly, no ``fit``); first order over plain tags is decoded
with its Viterbi, second order and lexicalised labels with the exact sparse Viterbi of
``harness.models.hmm.decoding`` (same paths; ``predict(dense=True)`` uses hmmlearn's throughout).
Hidden-state *labels* are the tags, optionally (word, tag) pairs for the most ambiguous words
(``lexicalize``) and capitalisation flags (``capitalization``); second order makes one state per
label pair. With ``training="unsupervised"`` Baum-Welch (``CategoricalHMM.fit``)
estimates the HMM from the words alone.

Letters: K tags, Z labels, S hidden states, V symbols (word types), M suffix rows, N
tokens, U distinct symbols in one decoding call.

Decoding: sentences are concatenated into one sequence with a boundary symbol after each sentence,
emitted (with probability 1) only by a dedicated boundary state B. Every path passes through B at
each boundary, so one Viterbi call over many sentences equals per-sentence decoding, and the
transitions into B are TnT's end-of-sentence probabilities P(</s> | labels). hmmlearn pitfalls
are avoided by construction: the symbols of a call are renumbered 0..U-1 (no id >= n_features,
no negative id wrapping around), and every column has a non-zero emission in some state (all
tags are smoothed; unknown forms get suffix-model columns), so no NaN and no -inf path. Emission
columns only need to be right up to a per-symbol constant (every path emits the same symbols),
so each is P(t|w)/P(t); a never-observed slack symbol takes up each row's remaining mass.
"""

from __future__ import annotations

import itertools

import numpy as np
from hmmlearn.hmm import CategoricalHMM
from threadpoolctl import threadpool_limits

from harness.errors import ConfigError, DataError
from harness.models.hmm.decoding import viterbi_candidates
from harness.models.hmm.params import TAGGER_HYPERPARAMS, check_tagger_params, hyperparams_from_state, hyperparams_state
from harness.models.hmm.signatures import MAX_SUFFIX, SEP, class_and_form, signature, suffix_keys
from harness.models.hmm.unknown import SpellingModel, features

UNK_SYMBOL = "<unk>"
_COMMON_STATE = ("tags_", "symbols_", "lambdas_")
_SUPERVISED_STATE = (
    "word_tag_counts_",
    "suffix_keys_",
    "suffix_prob_",
    "p_t_",
    "ngram_index_",
    "ngram_count_",
    "label_tag_",
    "label_word_",
    "label_flag_",
    "spelling_features_",
    "spelling_weight_",
    "spelling_bias_",
)
_UNSUPERVISED_STATE = ("startprob_", "transmat_", "emit_table_", "state_emit_", "state_tag_")
EMISSION_FLOOR = 1e-10  # unsupervised: every symbol keeps a little mass in every state (no NaN, no -inf path)
UNIGRAM_PSEUDOCOUNT = 0.1  # every label (e.g. a capitalised tag never seen capitalised) stays reachable
LEXICAL_MIN_COUNT, LEXICAL_MIN_SHARE = 3, 0.01  # rarer (word, tag) pairs (count, share of the word) get no state
LEXICAL_LABELS_PER_CHUNK = {1: 48, 2: 6}  # dense decoding without a whole-model HMM: lexicalised labels a call
MAX_STATES = 4000  # the whole-model HMM is built only up to this size (dense S x S, O(T S^2) Viterbi)
MAX_TABLE = 20_000_000  # label n-gram table entries (order 2: (labels + 1)^3)


# ---------------------------------------------------------------------------------------------
# helpers


def _check_corpus(words, tags) -> None:
    if len(words) == 0 or sum(len(s) for s in words) == 0:
        raise DataError("the training corpus holds no tokens", "pass at least one non-empty sentence")
    if len(words) != len(tags):
        raise DataError(
            f"got {len(words)} word sequences but {len(tags)} tag sequences", "pass one tag list per sentence"
        )
    for i, (ws, ts) in enumerate(zip(words, tags)):
        if len(ws) != len(ts):
            raise DataError(f"sentence {i} has {len(ws)} words but {len(ts)} tags", "pass exactly one tag per word")


def _deleted_interpolation(counts: np.ndarray) -> np.ndarray:
    """Weights of the n-gram orders by deleted interpolation (Brants 2000, fig. 1).

    counts: (C_1, ..., C_{n-1}, O) n-gram counts, contexts first, outcome last. Returns
    lambdas (n,), lambdas[0] for the unigram ... lambdas[n-1] for the full n-gram.
    """
    n = counts.ndim
    idx = np.nonzero(counts)
    f = counts[idx]  # (G,) counts of the observed n-grams
    scores = []
    for k in range(1, n + 1):  # k = length of the n-gram being scored (1 = unigram)
        axes = tuple(range(n - k))  # drop the oldest n-k context positions
        num = counts.sum(axis=axes) if axes else counts
        den = num.sum(axis=-1)  # (contexts of length k-1)
        top = num[tuple(i for i in idx[n - k :])] - 1
        bottom = den[tuple(i for i in idx[n - k : -1])] - 1 if k > 1 else np.full_like(f, den - 1)
        scores.append(np.where(bottom > 0, top / np.maximum(bottom, 1), 0.0))
    best = np.argmax(np.stack(scores), axis=0)  # (G,) order with the best leave-one-out estimate
    lambdas = np.bincount(best, weights=f, minlength=n).astype(float)
    return lambdas / lambdas.sum()


def _conditional(counts: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Row-normalise counts over the last axis; rows with no counts take ``fallback``."""
    total = counts.sum(axis=-1, keepdims=True)
    return np.where(total > 0, counts / np.maximum(total, 1), fallback)


def _cap_flags(words) -> np.ndarray:
    """1 for tokens whose first character is upper case, else 0: (N,)."""
    return np.fromiter((w[:1].isupper() for s in words for w in s), dtype=np.int64)


def _to_unicode(strings) -> np.ndarray:
    """A 'U' array (never object dtype) so np.load(allow_pickle=False) can read it back."""
    strings = list(strings)
    return np.array(strings, dtype=str) if strings else np.zeros(0, dtype="U1")


# ---------------------------------------------------------------------------------------------
# tagger


class HMMTagger:
    """Hidden Markov POS tagger: supervised TnT-style (first or second order) or unsupervised.

    Parameters
    ----------
    order : 1 (bigram transitions) or 2 (trigram transitions; states are tag pairs).
    smoothing : weight (pseudo-count) of the unknown-word model in the lexical probabilities of
        known words, P(t|w) = (c(w,t) + smoothing * P_unk(t|w)) / (c(w) + smoothing); 0 is TnT's
        pure maximum likelihood. Rare words are affected most, frequent ones hardly at all.
    rare_threshold : words seen at most this often in training feed the unknown-word model (supervised)
        or are replaced by shape signatures (unsupervised), standing in for unseen words.
    unknown : the model of P(t|w) for unseen (and, through ``smoothing``, rare) words: "logistic"
        (a logistic regression on the spelling: suffixes, prefixes, shape, capitalisation, digits;
        harness.models.hmm.unknown) or "suffix" (TnT's successive-abstraction suffix tree).
    unknown_c : inverse L2 strength of the logistic unknown-word model.
    max_suffix : longest suffix used by the suffix unknown-word model.
    case_weight : an unknown form whose lower-case (else capitalised) form is known (``CALL``,
        sentence-initial ``Interesting``, ``wendy``) takes P(t|w) = (c(other,t) + case_weight *
        P_unk(t|w)) / (c(other) + case_weight); 0 ignores the other-case form.
    capitalization : TnT's capitalisation flags: each state is a (tag, capitalised?) pair, so
        transitions see whether neighbouring words are capitalised (doubles the states).
    lexicalize : give the this many most ambiguous training words (most tokens a
        most-frequent-tag guess gets wrong) their own states, one per (word, tag) seen, which
        emit only that word ("specialised" HMM, Pla & Molina 2004). Adds states.
    training : "supervised" (counts) or "unsupervised" (Baum-Welch on the words only).
    n_states : unsupervised only; hidden states (default: the number of distinct training tags).
    n_iter, tol : unsupervised Baum-Welch iterations and convergence tolerance (log-likelihood).
    init : unsupervised initial emissions, "frequency" (word frequencies times random noise) or
        "random" (uniform random, hmmlearn's default).
    random_state : seed of the unsupervised initialisation.
    chunk_tokens : tokens decoded per Viterbi call (memory bound; order 2 uses a tenth).

    Unsupervised training ignores the tags for estimating the model; the *training* tags are used
    only afterwards to map each hidden state to the gold tag it most often coincides with
    (many-to-one evaluation), so its accuracy is an upper-bound-style figure, not a tagger trained
    with supervision.
    """

    # The hyperparameters (__init__'s arguments, in order), as state_dict saves them and from_state_dict
    # reads them back.
    HYPERPARAMS = TAGGER_HYPERPARAMS

    def __init__(
        self,
        order: int = 1,
        smoothing: float = 0.5,
        rare_threshold: int = 10,
        max_suffix: int = MAX_SUFFIX,
        unknown: str = "logistic",
        unknown_c: float = 0.3,
        case_weight: float = 1.0,
        capitalization: bool = False,
        lexicalize: int = 0,
        training: str = "supervised",
        n_states: int | None = None,
        n_iter: int = 50,
        tol: float = 1e-3,
        init: str = "frequency",
        random_state: int = 0,
        chunk_tokens: int = 200_000,
    ):
        self.order = order
        self.smoothing = smoothing
        self.rare_threshold = rare_threshold
        self.max_suffix = max_suffix
        self.unknown = unknown
        self.unknown_c = unknown_c
        self.case_weight = case_weight
        self.capitalization = capitalization
        self.lexicalize = lexicalize
        self.training = training
        self.n_states = n_states
        self.n_iter = n_iter
        self.tol = tol
        self.init = init
        self.random_state = random_state
        self.chunk_tokens = chunk_tokens

    # -- validation -----------------------------------------------------------------------
    def check_params(self) -> None:
        """One ConfigError naming the ``model.*`` key and the fix for a bad hyperparameter. ``fit`` runs it,
        and so does the config check (harness.config), so a bad override fails before any work."""
        check_tagger_params({k: getattr(self, k) for k in self.HYPERPARAMS})

    # -- fitting --------------------------------------------------------------------------
    def fit(self, words: list[list[str]], tags: list[list[str]]) -> HMMTagger:
        """Estimate the model from tagged sentences (unsupervised: tags only for the state->tag map)."""
        self.check_params()
        _check_corpus(words, tags)
        self.tags_ = _to_unicode(sorted({t for ts in tags for t in ts}))
        tag_index = {t: i for i, t in enumerate(self.tags_.tolist())}
        y = np.fromiter((tag_index[t] for ts in tags for t in ts), dtype=np.int64)  # (N,)
        lengths = np.array([len(s) for s in words], dtype=np.int64)
        if self.training == "supervised":
            self._fit_supervised(words, y, lengths)
        else:
            self._fit_unsupervised(words, y, lengths)
        return self

    def _fit_supervised(self, words, y: np.ndarray, lengths: np.ndarray) -> None:
        K = len(self.tags_)
        index: dict[str, int] = {}
        x = np.fromiter((index.setdefault(w, len(index)) for s in words for w in s), dtype=np.int64)  # (N,)
        V = len(index)
        C_wt = np.zeros((V, K))  # (V, K) word-tag counts
        np.add.at(C_wt, (x, y), 1.0)
        n_w = C_wt.sum(axis=1)  # (V,)
        p_t = C_wt.sum(axis=0) / C_wt.sum()  # (K,) P(t)

        # the unknown-word model, from the rare words: P(t | spelling) or P(t | class, suffix); the
        # other model's arrays stay empty
        vocab = list(index)
        rare = np.flatnonzero(n_w <= self.rare_threshold)
        self.suffix_keys_, self.suffix_prob_ = _to_unicode([]), np.zeros((0, K))
        self.spelling_features_, self.spelling_weight_, self.spelling_bias_ = (
            _to_unicode([]),
            np.zeros((0, K)),
            np.zeros(K),
        )
        names = None  # (V,) the spelling features of every word, read once when the known words' prior needs them
        if self.unknown == "logistic":
            if self.smoothing > 0:
                names = [features(w) for w in vocab]
            rare_names = [features(vocab[v]) for v in rare] if names is None else [names[v] for v in rare]
            self._spelling = SpellingModel.fit_features(rare_names, C_wt[rare], C=self.unknown_c)
            self.spelling_features_, self.spelling_weight_, self.spelling_bias_ = (
                self._spelling.feature_names,
                self._spelling.weight,
                self._spelling.bias,
            )
        else:
            self.suffix_keys_, self.suffix_prob_ = self._suffix_tree([vocab[v] for v in rare], C_wt[rare], p_t)
        self.word_tag_counts_ = C_wt  # (V, K)
        self.p_t_ = p_t
        self.symbols_ = _to_unicode(vocab)
        self._derive_emissions(names)

        # hidden-state labels: the tag, or (word, tag) for the `lexicalize` most ambiguous words,
        # each optionally split by capitalisation (TnT); their n-grams give the transitions
        z, label_tag, label_word = y, np.arange(K), np.full(K, -1)
        if self.lexicalize > 0:
            wrong = n_w - C_wt.max(axis=1)  # (V,) tokens a most-frequent-tag guess gets wrong
            special = np.argsort(-wrong, kind="stable")[: self.lexicalize]
            special = special[wrong[special] > 0]
            keep = C_wt[special] >= np.maximum(LEXICAL_MIN_COUNT, LEXICAL_MIN_SHARE * n_w[special, None])
            pair_w, pair_t = np.nonzero(keep)  # (P,) the (word, tag) pairs seen often enough in training
            pair_id = np.full((V, K), -1)
            pair_id[special[pair_w], pair_t] = K + np.arange(len(pair_w))
            z = np.where(pair_id[x, y] >= 0, pair_id[x, y], y)
            label_tag = np.concatenate([label_tag, pair_t])
            label_word = np.concatenate([label_word, special[pair_w]])
        label_flag = np.full(len(label_tag), -1)
        if self.capitalization:
            z = 2 * z + _cap_flags(words)
            label_tag, label_word = np.repeat(label_tag, 2), np.repeat(label_word, 2)
            label_flag = np.tile([0, 1], len(label_flag))
        Z = len(label_tag)
        if (Z + 1) ** (self.order + 1) > MAX_TABLE:
            raise ConfigError(
                f"model.order={self.order} with model.lexicalize={self.lexicalize} and model.capitalization="
                f"{self.capitalization} needs a table of {(Z + 1) ** (self.order + 1)} label n-grams "
                f"(the limit is {MAX_TABLE})",
                "lower model.lexicalize, drop model.capitalization or use model.order=1",
            )
        self.label_tag_, self.label_word_, self.label_flag_ = label_tag, label_word, label_flag
        counts = self._ngram_counts(z, lengths, Z)
        self.ngram_index_ = np.flatnonzero(counts)  # (G,) the n-grams seen, as flat indices: the stored state
        self.ngram_count_ = counts.ravel()[self.ngram_index_]  # (G,)
        self.lambdas_ = _deleted_interpolation(counts)
        self.ngram_ = self._ngram_table(counts, self.lambdas_)
        self._build_full()

    def _suffix_tree(self, forms: list[str], counts: np.ndarray, p_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TnT's unknown-word model: P(t | class, suffix) by successive abstraction (Brants 2000, eq. 7)
        from rare words ``forms`` with tag ``counts`` (n, K). Returns keys (M,) and P (M, K)."""
        K = len(p_t)
        sfx_index: dict[str, int] = {"": 0}  # row 0: the global root (all rare words)
        parent = [-1]
        rows, sources = [], []
        for v, form in enumerate(forms):
            prev = 0
            for key in suffix_keys(form, self.max_suffix):
                r = sfx_index.get(key)
                if r is None:
                    r = sfx_index[key] = len(parent)
                    parent.append(prev)
                rows.append(r)
                sources.append(v)
                prev = r
        M = len(parent)
        C_st = np.zeros((M, K))  # (M, K) suffix-tag counts
        np.add.at(C_st, np.array(rows, dtype=np.int64), counts[np.array(sources, dtype=np.int64)])
        C_st[0] = counts.sum(axis=0)
        theta = float(np.std(p_t, ddof=1)) if K > 1 else 1.0
        parent_arr = np.array(parent, dtype=np.int64)
        depth = np.zeros(M, dtype=np.int64)
        for r in range(1, M):  # parents always precede children
            depth[r] = depth[parent_arr[r]] + 1
        P_st = np.empty((M, K))
        P_st[0] = (_conditional(C_st[0], p_t) + theta * p_t) / (1 + theta)
        for d in range(1, depth.max() + 1 if M > 1 else 1):
            r = np.flatnonzero(depth == d)
            P_st[r] = (_conditional(C_st[r], p_t) + theta * P_st[parent_arr[r]]) / (1 + theta)
        return _to_unicode(sfx_index), P_st

    def _ngram_counts(self, y: np.ndarray, lengths: np.ndarray, K: int) -> np.ndarray:
        """Counts of label n-grams, shape (K+1,) * (order+1): contexts 0..K with K = BOS, outcomes 0..K
        with K = END."""
        n = self.order + 1
        ends = np.cumsum(lengths)
        # padded label sequences BOS^order y_1 .. y_n END in one flat array; n-grams end at every
        # real token and at every END
        pad = np.full(len(y) + len(lengths) * n, K, dtype=np.int64)
        pos = np.arange(len(y)) + np.repeat(np.arange(len(lengths)) * n + self.order, lengths)
        pad[pos] = y
        gram_end = np.concatenate([pos, ends + np.arange(1, len(lengths) + 1) * n - 1])
        counts = np.zeros((K + 1,) * n)
        np.add.at(counts, tuple(pad[gram_end - (n - 1 - i)] for i in range(n)), 1.0)
        return counts

    def _ngram_table(self, counts: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
        """P(label | previous order labels) from the n-gram counts and the deleted-interpolation weights
        (order+1,), shape (K+1,) * (order+1). Dense (it is what decoding reads), and rebuilt from the sparse
        counts on loading rather than stored: second order with lexicalised labels makes it 10^8 bytes."""
        n = self.order + 1
        uni = counts.sum(axis=tuple(range(n - 1))) + UNIGRAM_PSEUDOCOUNT  # (K+1,) outcomes; none impossible
        p1 = uni / uni.sum()
        bi = counts.sum(axis=tuple(range(n - 2))) if n > 2 else counts  # (K+1 ctx, K+1 out)
        p2 = _conditional(bi, p1)
        if self.order == 1:
            return lambdas[1] * p2 + lambdas[0] * p1
        p3 = _conditional(counts, p2[None, :, :])  # unseen pair contexts back off to the bigram
        return lambdas[2] * p3 + lambdas[1] * p2[None] + lambdas[0] * p1

    def _hmm_for(self, live: np.ndarray | None = None):
        """The supervised model as an HMM over the labels ``live`` (all if None).

        Order 1: a state per label. Order 2: a state per label pair (a, b), a in live + BOS; the
        pair (a, b) moves to (b, c) with P(c | a, b). The last state is the sentence boundary B; with
        ``live``, a dead state D after B takes the probability of the labels left out (D emits
        nothing observable, so no path uses it). Returns startprob (S,), transmat (S, S) and the
        current and previous label (S_words,) of each word-emitting state (previous = Z for BOS).
        """
        P = self.ngram_
        Z = len(self.label_tag_)
        lab = np.arange(Z) if live is None else live  # (L,)
        L = len(lab)
        if self.order == 1:
            n_words = L
            cur, prev = lab, np.full(L, Z)
            into = P[np.ix_(lab, lab)]  # (L, L) label -> label
            end = P[lab, Z]  # (L,)
            first = P[Z, lab]  # (L,)
        else:
            ctx = np.append(lab, Z)  # (L+1,) previous labels, BOS last
            n_words = (L + 1) * L
            prev, cur = np.repeat(ctx, L), np.tile(lab, L + 1)  # state (ia, ib) = ia * L + ib
            into = np.zeros((n_words, n_words))
            ib = np.tile(np.arange(L), L + 1)
            dest = ib[:, None] * L + np.arange(L)[None, :]  # (n_words, L) state (b, c) for each next c
            into[np.arange(n_words)[:, None], dest] = P[prev[:, None], cur[:, None], lab[None, :]]
            end = P[prev, cur, Z]
            first = np.zeros(n_words)
            first[L * L + np.arange(L)] = P[Z, Z, lab]  # (BOS, c) from the context (BOS, BOS)
        dead = live is not None
        S = n_words + 1 + dead
        B = n_words
        A = np.zeros((S, S))
        A[:n_words, :n_words] = into
        A[:n_words, B] = end
        start = np.zeros(S)
        start[:n_words] = first
        A[B, :n_words] = first
        if dead:  # the mass of the labels left out goes to D
            start[-1] = max(0.0, 1.0 - start.sum())
            A[:-1, -1] = np.maximum(0.0, 1.0 - A[:-1].sum(axis=1))
            A[-1, -1] = 1.0
        start /= start.sum()
        A /= A.sum(axis=1, keepdims=True)
        return start, A, cur, prev

    def _build_full(self) -> None:
        """The HMM over all labels (startprob_, transmat_, state_* arrays) when it is small enough;
        models with lexicalised labels decode chunk by chunk over the labels present instead."""
        Z = len(self.label_tag_)
        n = Z + 1 if self.order == 1 else (Z + 1) * Z + 1
        if n > MAX_STATES:
            if not (self.label_word_ >= 0).any():
                raise ConfigError(
                    f"model.order={self.order} with model.capitalization={self.capitalization} and "
                    f"{len(self.tags_)} tags needs {n} hidden states (the limit is {MAX_STATES})",
                    "drop model.capitalization or use model.order=1",
                )
            self.startprob_ = self.transmat_ = None  # lexicalised: decoded chunk by chunk
            return
        self.startprob_, self.transmat_, cur, _ = self._hmm_for(None)
        self.state_tag_ = self.state_emit_ = self.label_tag_[cur]
        self.state_flag_ = self.label_flag_[cur]
        self.state_word_ = self.label_word_[cur]  # the only word a lexicalised state emits, else -1

    def _derive_emissions(self, names: list[list[str]] | None = None) -> None:
        """Emission tables of the supervised tagger from counts, up to a per-word constant (Bayes).

        P(w|t) = P(t|w) P(w) / P(t) and P(w) is the same for every tag, so a column P(t|w)/P(t)
        decodes exactly like P(w|t). Known words: P(t|w) = (c(w,t) + a P_unk(t|w)) / (c(w) + a).
        Unknown words: P(t|w) = P_unk(t|w), the unknown-word model (``unknown``). names (V,): the
        spelling features of every known word when the caller has them (``fit``).
        """
        self._index = {w: i for i, w in enumerate(self.symbols_.tolist())}
        self._sfx_index = {k: i for i, k in enumerate(self.suffix_keys_.tolist())}
        C_wt = self.word_tag_counts_
        a = self.smoothing
        smoothed = C_wt  # a = 0: TnT's counts alone, no prior to compute
        if a > 0:
            smoothed = C_wt + a * self._unknown_prob(self.symbols_.tolist(), names)  # (V, K)
        P_tw = smoothed / (C_wt.sum(axis=1) + a)[:, None]  # (V, K)
        self.emit_table_ = P_tw / self.p_t_  # (V, K)

    def _unknown_prob(self, forms: list[str], names: list[list[str]] | None = None) -> np.ndarray:
        """P_unk(t | w) of the unknown-word model for each form: (n, K). names (n,): the logistic
        model's features of the forms, if already computed."""
        if self.unknown == "logistic":
            if names is not None:
                return self._spelling.predict_proba_features(names)
            return self._spelling.predict_proba(forms)
        rows = np.fromiter(map(self._suffix_row, forms), dtype=np.int64, count=len(forms))
        return self.suffix_prob_[rows]

    def _suffix_row(self, word: str) -> int:
        """Row of the longest suffix of ``word`` (in its class) seen among rare training words."""
        cls, form = class_and_form(word)
        get = self._sfx_index.get
        prefix = cls + SEP
        best = get(prefix, 0)
        # every suffix of a stored suffix is stored too, so "stored" is monotone in the length:
        # binary search for the longest stored one
        lo, hi = 1, min(len(form), self.max_suffix)
        while lo <= hi:
            mid = (lo + hi) // 2
            r = get(prefix + form[-mid:])
            if r is None:
                hi = mid - 1
            else:
                best, lo = r, mid + 1
        return best

    def _fit_unsupervised(self, words, y: np.ndarray, lengths: np.ndarray) -> None:
        K = len(self.tags_)
        S_tags = self.n_states or K
        counts: dict[str, int] = {}
        for s in words:
            for w in s:
                counts[w] = counts.get(w, 0) + 1
        frequent = [w for w, c in counts.items() if c > self.rare_threshold]
        sigs = sorted({signature(w) for w, c in counts.items() if c <= self.rare_threshold})
        self.symbols_ = _to_unicode(frequent + sigs + [UNK_SYMBOL])
        self._index = {w: i for i, w in enumerate(self.symbols_.tolist())}
        x, _ = self._symbols(words)  # (N,)
        V = len(self.symbols_)
        seq = np.append(V, self._with_boundaries(x, lengths, boundary=V)[0])  # (1 + N + n_sentences,) B first

        rng = np.random.default_rng(self.random_state)
        S = S_tags + 1
        B = S_tags
        A = np.zeros((S, S))
        A[:S_tags, :] = rng.dirichlet(np.ones(S), size=S_tags)
        A[B, :S_tags] = rng.dirichlet(np.ones(S_tags))
        start = np.zeros(S)
        start[B] = 1.0  # the sequence opens with a boundary, so every sentence starts from B's row
        E = np.zeros((S, V + 1))  # last column: the boundary symbol
        if self.init == "frequency":
            freq = np.bincount(x, minlength=V) + 1.0
            E[:S_tags, :V] = freq * rng.uniform(0.5, 1.5, size=(S_tags, V))
        else:
            E[:S_tags, :V] = rng.uniform(size=(S_tags, V))
        E[:S_tags] /= E[:S_tags].sum(axis=1, keepdims=True)
        E[B, V] = 1.0

        hmm = CategoricalHMM(
            n_components=S,
            n_iter=self.n_iter,
            tol=self.tol,
            params="ste",
            init_params="",
            implementation="scaling",
            random_state=self.random_state,
        )
        hmm.n_features = V + 1
        hmm.startprob_, hmm.transmat_, hmm.emissionprob_ = start, A, E
        with threadpool_limits(1):  # tiny matrix products: BLAS threads only add contention
            hmm.fit(seq[:, None])
        self.n_iter_ = int(hmm.monitor_.iter)
        history = list(hmm.monitor_.history)  # hmmlearn's `converged` is also True after n_iter iterations
        self.converged_ = len(history) >= 2 and history[-1] - history[-2] < self.tol
        self.log_likelihood_ = float(hmm.monitor_.history[-1]) if hmm.monitor_.history else float("nan")

        E = hmm.emissionprob_[:S_tags, :V] + EMISSION_FLOOR  # (S_tags, V) no symbol impossible anywhere
        E /= E.sum(axis=1, keepdims=True)
        self.emit_table_ = E.T  # (V, S_tags)
        self.startprob_ = hmm.transmat_[B].copy()  # decoding chunks open with a sentence, i.e. after B
        self.transmat_ = hmm.transmat_.copy()
        self.state_emit_ = np.arange(S_tags)
        self.lambdas_ = np.zeros(0)

        # many-to-one: each state takes the training tag it most often coincides with
        states = self._decode_symbols(x, lengths)  # (N,)
        confusion = np.zeros((S_tags, K))
        np.add.at(confusion, (states, y), 1.0)
        majority = np.bincount(y, minlength=K).argmax()
        self.state_tag_ = np.where(confusion.sum(axis=1) > 0, confusion.argmax(axis=1), majority)

    # -- decoding -------------------------------------------------------------------------
    def _symbols(self, words) -> tuple[np.ndarray, np.ndarray]:
        """Symbol ids (N,) of every token and extra emission columns (X, n_emit) they may refer to.

        Supervised: a known form is its vocabulary id v < V; an unknown form is V + j, its column j
        of ``extra`` being P_unk(t|w)/P(t) or, when its lower-case (else capitalised) form is known
        (``CALL``, sentence-initial ``Interesting``, ``wendy``), that word's counts mixed with
        P_unk (``case_weight``). Unsupervised: unknown forms map to their signature.
        """
        get = self._index.get
        flat = list(itertools.chain.from_iterable(words))
        x = np.fromiter(map(get, flat, itertools.repeat(-1)), dtype=np.int64, count=len(flat))
        unknown = np.flatnonzero(x < 0)
        none = np.zeros((0, len(self.tags_)))
        if not len(unknown):
            return x, none
        if self.training != "supervised":
            unk = self._index[UNK_SYMBOL]
            x[unknown] = [get(signature(flat[i]), unk) for i in unknown.tolist()]
            return x, none
        column: dict[str, int] = {}  # unknown form -> its column in extra
        x[unknown] = [column.setdefault(flat[i], len(column)) for i in unknown.tolist()]
        forms = list(column)
        extra = self._unknown_prob(forms)  # (X, K) P_unk(t|w)
        if self.case_weight > 0:  # the same word in another case: "CALL" -> "call", "wendy" -> "Wendy"
            for j, w in enumerate(forms):
                other = next((v for v in map(get, (w.lower(), w.capitalize())) if v is not None), None)
                if other is not None:
                    counts, c = self.word_tag_counts_[other], self.case_weight
                    extra[j] = (counts + c * extra[j]) / (counts.sum() + c)
        x[unknown] += len(self.symbols_)
        return x, extra / self.p_t_

    @staticmethod
    def _with_boundaries(x: np.ndarray, lengths: np.ndarray, boundary: int) -> tuple[np.ndarray, np.ndarray]:
        """Tokens (N,) of sentences of ``lengths`` -> (N + n_sentences,) with ``boundary`` after each
        non-empty sentence, and the positions of the tokens in it (N,). Empty sentences are left out:
        they would need the impossible boundary -> boundary step."""
        lengths = lengths[lengths > 0]
        pos = np.arange(len(x)) + np.repeat(np.arange(len(lengths)), lengths)  # (N,)
        seq = np.full(len(x) + len(lengths), boundary, dtype=np.int64)
        seq[pos] = x
        return seq, pos

    def _column(self, symbols: np.ndarray, extra: np.ndarray) -> np.ndarray:
        """Emission columns (U, n_emit) for symbol ids: known words (< V), then ``extra`` rows."""
        V = len(self.symbols_)
        out = np.empty((len(symbols), self.emit_table_.shape[1]))
        known = symbols < V
        out[known] = self.emit_table_[symbols[known]]
        if not known.all():
            out[~known] = extra[symbols[~known] - V]
        return out

    def _decode_symbols(
        self,
        x: np.ndarray,
        lengths: np.ndarray,
        extra: np.ndarray | None = None,
        flags: np.ndarray | None = None,
        dense: bool = False,
    ) -> np.ndarray:
        """Viterbi decoding of tokens x (N,) in sentences of ``lengths``, chunk by chunk.

        Returns tag ids (N,) for the supervised tagger, hidden-state ids for the unsupervised one.
        flags (N,): capitalisation of each token when the labels carry it (else None). First order
        over plain tags (and the unsupervised tagger) decode with hmmlearn's dense Viterbi; second
        order and lexicalised labels over each token's candidate labels (harness.models.hmm.decoding),
        unless ``dense`` asks for hmmlearn there too (the reference the tests compare with). Dense
        with lexicalised labels: a chunk holds sentences that together contain few lexicalised
        words, and its HMM leaves out the labels of absent words (they could emit nothing there).
        """
        extra = np.zeros((0, self.emit_table_.shape[1])) if extra is None else extra
        supervised = self.training == "supervised"
        if supervised and not dense and (self.order == 2 or (self.label_word_ >= 0).any()):
            return self._decode_sparse(x, lengths, extra, flags)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        lexical = np.zeros(0, np.int64)  # chunk by lexicalised labels only when there is no whole-model HMM
        if supervised and self.transmat_ is None:
            lexical = np.unique(self.label_word_[self.label_word_ >= 0])
        limit = self.chunk_tokens if self.order == 1 else max(1, self.chunk_tokens // 10)  # memory: T x S lattices
        out = np.empty(len(x), dtype=np.int64)
        for first, last, here in self._chunks(x, starts, ends, limit, lexical):
            base, stop = starts[first], ends[last - 1]
            if base == stop:  # only empty sentences: nothing to decode
                continue
            if supervised and len(lexical):
                live = np.flatnonzero((self.label_word_ < 0) | np.isin(self.label_word_, here))
                start, A, cur, _ = self._hmm_for(live)
                emit = (self.label_tag_[cur], self.label_flag_[cur], self.label_word_[cur])
            elif supervised:
                start, A = self.startprob_, self.transmat_
                emit = (self.state_tag_, self.state_flag_, self.state_word_)
            else:
                start, A = self.startprob_, self.transmat_
                emit = (self.state_emit_, None, None)
            xc = x[base:stop] if flags is None else 2 * x[base:stop] + flags[base:stop]
            states = self._decode_chunk(xc, lengths[first:last], extra, flags is not None, start, A, *emit)
            out[base:stop] = emit[0][states] if supervised else states
        return out

    def _decode_sparse(
        self, x: np.ndarray, lengths: np.ndarray, extra: np.ndarray, flags: np.ndarray | None
    ) -> np.ndarray:
        """Tag ids (N,) by the exact Viterbi over each token's candidate labels: the labels that can emit
        it (its lexicalised labels if it is a lexicalised word, else the plain ones; of its case when the
        labels carry capitalisation). Emissions: P(t|w)/P(t) for plain labels, 1 for lexicalised ones."""
        V = len(self.symbols_)
        lexical = np.zeros(V + 1, dtype=bool)  # (V+1,) last entry: every unknown form
        lexical[self.label_word_[self.label_word_ >= 0]] = True
        # candidate groups: labels sharing (word, flag), each group's labels ascending
        code = (self.label_word_ + 1) * 3 + (self.label_flag_ + 1)  # (Z,)
        order = np.lexsort((np.arange(len(code)), code))
        codes, first, size = np.unique(code[order], return_index=True, return_counts=True)  # (G,)
        C = int(size.max())
        slot = np.arange(C)
        table = order[np.minimum(first[:, None] + slot, len(order) - 1)]  # (G, C) labels, padded
        open_ = slot[None, :] < size[:, None]  # (G, C) real candidates
        word = np.where(lexical[np.minimum(x, V)], x, -1)  # (N,) own word of a lexicalised token, else -1
        flag = np.full(len(x), -1) if flags is None else flags
        group = np.searchsorted(codes, (word + 1) * 3 + (flag + 1))  # (N,)
        cand = table[group]  # (N, C)
        column = self._column(np.where(word >= 0, 0, x), extra)  # (N, K) P(t|w)/P(t), unused rows for lexical
        with np.errstate(divide="ignore"):
            log_col = np.log(np.take_along_axis(column, self.label_tag_[cand], axis=1))  # (N, C)
        log_b = np.where(open_[group], np.where(word[:, None] >= 0, 0.0, log_col), -np.inf)  # (N, C)
        log_p = self._log_transitions()  # (Z+1,)*(order+1)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        limit = self.chunk_tokens if self.order == 1 else max(1, self.chunk_tokens // 10)  # memory: (n, C^3) steps
        out = np.empty(len(x), dtype=np.int64)
        for first_s, last_s, _ in self._chunks(x, starts, ends, limit, np.zeros(0, np.int64)):
            base, stop = starts[first_s], ends[last_s - 1]
            chunk_lengths = lengths[first_s:last_s]
            if base == stop:
                continue
            labels = viterbi_candidates(
                cand[base:stop], log_b[base:stop], chunk_lengths[chunk_lengths > 0], log_p, self.order
            )
            out[base:stop] = self.label_tag_[labels]
        return out

    def _log_transitions(self) -> np.ndarray:
        """log P(label | context) (Z+1,)*(order+1), index Z = BOS / END, read from the whole-model HMM when
        it exists (the very values hmmlearn's dense Viterbi and the brute force use, so ties break alike),
        else from the n-gram table (rows normalised)."""
        Z = len(self.label_tag_)
        with np.errstate(divide="ignore"):
            if self.transmat_ is None:
                return np.log(self.ngram_ / self.ngram_.sum(axis=-1, keepdims=True))
            logA, log_start = np.log(self.transmat_), np.log(self.startprob_)  # (S, S), (S,)
        B, z = len(log_start) - 1, np.arange(Z)
        out = np.full((Z + 1,) * (self.order + 1), -np.inf)
        if self.order == 1:  # state = label
            out[:Z, :Z], out[:Z, Z], out[Z, :Z] = logA[:Z, :Z], logA[:Z, B], log_start[:Z]
            return out
        a, b = np.arange(Z + 1)[:, None], z[None, :]  # state (a, b) = a * Z + b, a = Z for BOS
        out[a, b, :Z] = logA[(a * Z + b)[:, :, None], (b * Z)[:, :, None] + z]  # (a, b) -> (b, c)
        out[a, b, Z] = logA[a * Z + b, B]  # (a, b) -> END
        out[Z, Z, :Z] = log_start[Z * Z + z]  # (BOS, BOS) -> (BOS, c)
        return out

    def _chunks(self, x, starts, ends, limit: int, lexical: np.ndarray):
        """(first, last, here): sentence ranges of at most ``limit`` tokens and, with lexicalised labels, at
        most LEXICAL_LABELS_PER_CHUNK[order] labels of the lexicalised words they contain; ``here`` (H,)
        holds those words' ids (empty without lexicalised labels)."""
        if not len(lexical):
            first, none = 0, np.zeros(0, dtype=np.int64)
            while first < len(starts):
                last = max(first + 1, int(np.searchsorted(ends, starts[first] + limit, side="right")))
                yield first, last, none
                first = last
            return
        labels_of = np.bincount(self.label_word_[self.label_word_ >= 0], minlength=len(self.symbols_))  # (V,)
        budget = LEXICAL_LABELS_PER_CHUNK[self.order]
        lex_tokens = np.flatnonzero(np.isin(x, lexical))
        sentence_of = np.searchsorted(ends, lex_tokens, side="right")
        per_sentence: list[set[int]] = [set() for _ in range(len(starts))]
        for i, w in zip(sentence_of.tolist(), x[lex_tokens].tolist()):
            per_sentence[i].add(w)
        first, current, n_tokens = 0, set(), 0
        for i, here in enumerate(per_sentence):
            merged = current | here
            n = ends[i] - starts[i]
            if i > first and (labels_of[list(merged)].sum() > budget or n_tokens + n > limit):
                yield first, i, np.fromiter(current, dtype=np.int64, count=len(current))
                first, merged, n_tokens = i, here, 0
            current = merged
            n_tokens += n
        yield first, len(starts), np.fromiter(current, dtype=np.int64, count=len(current))

    def _decode_chunk(
        self,
        x: np.ndarray,
        lengths: np.ndarray,
        extra: np.ndarray,
        flagged: bool,
        start: np.ndarray,
        A: np.ndarray,
        emit_row: np.ndarray,
        emit_flag: np.ndarray | None,
        emit_word: np.ndarray | None,
    ) -> np.ndarray:
        """Viterbi states (N,) of one chunk with hmmlearn's CategoricalHMM.

        start (S,), A (S, S): the first n = len(emit_row) states emit words, then the boundary B,
        then (if S = n + 2) the dead state D. emit_row (n,): row of emit_table_ for each state;
        emit_flag (n,): capitalisation it emits (-1 any); emit_word (n,): its only word (-1 any).
        """
        used, inv = np.unique(x, return_inverse=True)  # U distinct symbols in this chunk
        U = len(used)
        sym = used // 2 if flagged else used  # (U,)
        W = self._column(sym, extra).T[emit_row]  # (n, U) emission up to a per-symbol constant
        if flagged:  # a state flagged capitalised emits only capitalised forms, and vice versa
            W *= (emit_flag[:, None] < 0) | (emit_flag[:, None] == (used % 2)[None, :])
        if emit_word is not None and (emit_word >= 0).any():
            lexical = np.isin(sym, emit_word[emit_word >= 0])  # (U,) columns of lexicalised words
            own = emit_word[:, None] == sym[None, :]  # (n, U)
            W = np.where(lexical[None, :], own * W.max(), W * (emit_word < 0)[:, None])
        W /= W.sum(axis=1).max() * (1 + 1e-6)  # any per-symbol scale leaves Viterbi unchanged
        n, S = len(emit_row), len(start)
        E = np.zeros((S, U + 2))  # columns: U symbols, the boundary, a never-observed slack symbol
        E[:n, :U] = W
        E[:n, U + 1] = 1.0 - W.sum(axis=1)
        E[n, U] = 1.0  # B emits the boundary
        E[n + 1 :, U + 1] = 1.0  # D emits only the slack
        hmm = CategoricalHMM(n_components=S, init_params="", params="", algorithm="viterbi")
        hmm.n_features = U + 2
        hmm.startprob_, hmm.transmat_, hmm.emissionprob_ = start, A, E
        seq, pos = self._with_boundaries(inv, lengths, boundary=U)
        logprob, states = hmm.decode(seq[:, None])
        if not np.isfinite(logprob):  # cannot happen with smoothed parameters; never return garbage
            raise RuntimeError("Viterbi found no path with non-zero probability; the model is broken")
        return states[pos]

    def predict(self, words: list[list[str]], dense: bool = False) -> list[list[str]]:
        """Most likely tag sequence (Viterbi) of every sentence; empty sentences give []. ``dense``: decode
        with hmmlearn's Viterbi over the whole expanded HMM even where the sparse one applies (same paths,
        slower; the reference the tests compare with)."""
        if not hasattr(self, "tags_"):
            raise RuntimeError("HMMTagger.predict called before fit; call fit(words, tags) first")
        lengths = np.array([len(s) for s in words], dtype=np.int64)
        if lengths.sum() == 0:
            return [[] for _ in words]
        x, extra = self._symbols(words)
        supervised = self.training == "supervised"
        flags = _cap_flags(words) if supervised and self.capitalization else None
        ids = self._decode_symbols(x, lengths, extra, flags, dense=dense)
        tags = self.tags_[ids if supervised else self.state_tag_[ids]].tolist()
        out, i = [], 0
        for n in lengths.tolist():
            out.append(tags[i : i + n])
            i += n
        return out

    # -- persistence ----------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """Free scalar parameters of the estimated distributions.

        Supervised: one free value per row of every n-gram table (K per context, END included),
        the interpolation weights, K-1 per known word and per suffix row. Unsupervised: the
        categorical HMM's start, transition and emission rows (boundary state's fixed zeros excluded).
        """
        K = len(self.tags_)
        if self.training == "supervised":
            Z = len(self.label_tag_)  # hidden-state labels: tags, (word, tag) pairs, capitalisation flags
            contexts = sum((Z + 1) ** k for k in range(self.order + 1))
            return int(
                contexts * Z
                + (len(self.lambdas_) - 1)
                + (self.word_tag_counts_.shape[0] + self.suffix_prob_.shape[0]) * (K - 1)
                + self.spelling_weight_.size
                + (K if self.unknown == "logistic" else 0)
            )
        S = len(self.state_emit_)
        V = self.emit_table_.shape[0]
        return int((S - 1) + S * S + (S - 1) + S * (V - 1))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Hyperparameters and learned arrays, numeric or 'U' only (np.load(allow_pickle=False) works)."""
        d = hyperparams_state(self)
        for name in _COMMON_STATE + (_SUPERVISED_STATE if self.training == "supervised" else _UNSUPERVISED_STATE):
            d[name] = np.asarray(getattr(self, name))
        return d

    @classmethod
    def from_state_dict(cls, d) -> HMMTagger:
        """Rebuild a fitted tagger from ``state_dict()`` output (or an ``np.load`` of it)."""
        model = cls(**hyperparams_from_state(d, cls.HYPERPARAMS))
        model.load_state_dict(d)
        return model

    def load_state_dict(self, d) -> HMMTagger:
        """Set the learned arrays from ``state_dict()`` output (hyperparameters must match)."""
        for name in _COMMON_STATE + (_SUPERVISED_STATE if self.training == "supervised" else _UNSUPERVISED_STATE):
            setattr(self, name, np.array(d[name]))
        if self.training == "supervised":
            counts = np.zeros((len(self.label_tag_) + 1,) * (self.order + 1))
            counts.flat[self.ngram_index_] = self.ngram_count_
            self.ngram_ = self._ngram_table(counts, self.lambdas_)
            if self.unknown == "logistic":
                self._spelling = SpellingModel(self.spelling_features_, self.spelling_weight_, self.spelling_bias_)
            self._derive_emissions()
            self._build_full()
        else:
            self._index = {w: i for i, w in enumerate(self.symbols_.tolist())}
        return self
