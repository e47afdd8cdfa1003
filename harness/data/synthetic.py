"""An English-like tagged corpus sampled from a known hidden Markov process, optionally with a
long-range dependency, and the Bayes-optimal accuracy of tagging it.

Tags are the 17 Universal POS tags. Transitions follow a hand-written sketch of English syntax;
each tag emits from its own lexicon: real function words for closed classes, made-up but
English-shaped words for open classes (nouns end in -tion/-ness/-er, adverbs in -ly, ...), so
suffixes carry signal for unseen words as they do in English.

Knobs (``task.synthetic.*``, see ``SyntheticPosConfig``):
- ``n_train``, ``n_dev``, ``n_test``: sentences per split (at most 60 words each).
- ``vocab_size``: word types in the lexicon; more types = more test words never seen in training.
- ``ambiguity`` in [0, 1]: the fraction of open-class word types that also belong to a second tag
  (NOUN|VERB, NOUN|ADJ, ADJ|ADV, VERB|ADJ). Function words like ``that`` (DET|SCONJ|PRON) and
  ``book``/``run``/``light`` are ambiguous whatever the knob, so context always matters.
- ``zipf``: word-frequency exponent within a tag's lexicon; lower = flatter = more OOV tokens.
- ``long_range`` = k >= 0 and ``long_range_strength`` = s in [0, 1], below.
- ``seed``: None = the run's seed. The lexicon and probabilities come from ``seed``, the sentences
  from a second stream, so the oracle can rebuild the process without resampling.

Long-range dependency (k > 0). Every word type w gets a flavour z(w) in {0, 1}, and each tag's
emission row is rescaled so that exactly half of its mass lies on flavour-1 words:
P(z = 1 | tag) = 1/2 for every tag. The tag at position i >= k is then drawn from

    P(t_i = b | t_{i-1} = a, w_{i-k}) = A_z[a, b],   z = z(w_{i-k}),
    A_z[a, b] = A[a, b] * (1 + e_z * s * (u_b - ubar_a) / m_a),   e_1 = +1, e_0 = -1,

where A is the first-order transition matrix (rows sum to 1 - P(end | a)), u_b = CUE_SIGN[b] splits
the tags into two groups (chosen so that the usual ambiguities NOUN|VERB, NOUN|ADJ, ADJ|ADV,
that = DET|PRON, to = ADP|PART straddle them), ubar_a is the mean of u under row a, and m_a the
largest |u_b - ubar_a| in row a, so s = 1 is the strongest change that keeps probabilities >= 0:
a flavour-1 word k positions back pushes the tag towards the + group, a flavour-0 word towards the
- group. Positions i < k use A. Because z(w_{i-k}) is independent of t_1..t_{i-1} and
(A_0 + A_1) / 2 = A, the tag sequence on its own is *exactly* the first-order chain (start, A,
end) and P(word | tag) is exactly ``emit``: a supervised first-order HMM trained on unlimited data
converges to ``process.first_order()``, the same parameters without the dependency.

Bayes-optimal figures (all exact, by forward-backward over all sentences at once, padded; the
words are observed, so the dependency on w_{i-k} only makes the transitions position-dependent):
- ``bayes_optimal_accuracy``: the expected accuracy, given the test words, of the best possible
  tagger (posterior-marginal decoding with the true process): sum_i max_k P(t_i = k | words) / n.
- ``bayes_optimal_hmm_accuracy`` (k > 0 only): the expected accuracy, under the true posterior, of
  posterior-marginal decoding with ``first_order()``, the best first-order HMM (its infinite-data
  limit): sum_i P(t_i = argmax_k Q(t_i = k | words) | words) / n. The gap between the two is what
  the long-range dependency is worth; at k = 0 they are equal and only the first is logged.
- ``bayes_decoder_test_accuracy`` / ``hmm_decoder_test_accuracy``: the same two decoders scored
  on the sampled test tags (realised, not expected), to compare a model on the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from harness.data.readers import TaggedCorpus
from harness.errors import DataError

TAGS = [
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
]
END = "<END>"

# P(next | tag) before normalisation; START is the sentence start. A rough sketch of English.
TRANSITIONS: dict[str, dict[str, float]] = {
    "START": {
        "DET": 30,
        "PRON": 25,
        "PROPN": 12,
        "ADV": 6,
        "ADP": 8,
        "NOUN": 6,
        "SCONJ": 4,
        "INTJ": 3,
        "ADJ": 3,
        "AUX": 3,
    },
    "DET": {"NOUN": 62, "ADJ": 28, "NUM": 4, "PROPN": 4, "ADV": 2},
    "ADJ": {"NOUN": 60, "PUNCT": 12, "CCONJ": 8, "ADP": 10, "ADJ": 5, "PART": 5},
    "NOUN": {
        "PUNCT": 22,
        "ADP": 24,
        "VERB": 14,
        "AUX": 10,
        "CCONJ": 8,
        "NOUN": 8,
        "PRON": 4,
        "SCONJ": 4,
        "PART": 3,
        END: 3,
    },
    "PROPN": {"PROPN": 20, "VERB": 22, "AUX": 12, "PUNCT": 20, "ADP": 12, "CCONJ": 6, "PART": 4, END: 4},
    "PRON": {"VERB": 45, "AUX": 35, "ADV": 6, "PUNCT": 6, "ADP": 4, "NOUN": 4},
    "VERB": {"DET": 28, "PRON": 14, "ADP": 16, "ADV": 10, "PUNCT": 12, "ADJ": 6, "PART": 6, "NOUN": 4, "SCONJ": 4},
    "AUX": {"VERB": 45, "ADV": 15, "PART": 12, "ADJ": 12, "DET": 10, "PRON": 6},
    "ADV": {"VERB": 30, "ADJ": 22, "PUNCT": 16, "ADV": 6, "ADP": 10, "AUX": 6, "DET": 6, END: 4},
    "ADP": {"DET": 52, "NOUN": 14, "PRON": 12, "PROPN": 12, "NUM": 6, "ADJ": 4},
    "CCONJ": {"DET": 22, "PRON": 18, "VERB": 18, "ADJ": 10, "NOUN": 12, "PROPN": 8, "ADV": 6, "AUX": 6},
    "SCONJ": {"PRON": 40, "DET": 30, "PROPN": 14, "NOUN": 8, "ADV": 4, "AUX": 4},
    "PART": {"VERB": 70, "ADV": 10, "ADJ": 10, "NOUN": 10},
    "NUM": {"NOUN": 60, "PUNCT": 14, "SYM": 10, "ADP": 8, "NUM": 4, END: 4},
    "SYM": {"NUM": 50, "NOUN": 30, "PUNCT": 20},
    "INTJ": {"PUNCT": 80, "PRON": 10, "INTJ": 10},
    "PUNCT": {END: 52, "CCONJ": 12, "PRON": 10, "DET": 10, "SCONJ": 6, "ADV": 4, "X": 2, "PROPN": 4},
    "X": {"X": 30, "PUNCT": 40, "NOUN": 30},
}

# Closed classes: real English function words (each tag's list in rough frequency order).
CLOSED: dict[str, list[str]] = {
    "DET": ["the", "a", "this", "that", "an", "some", "every", "no", "these", "those", "any", "each"],
    "PRON": ["it", "i", "you", "he", "they", "she", "we", "that", "them", "me", "him", "what", "who"],
    "ADP": ["of", "in", "to", "for", "on", "with", "at", "by", "from", "about", "into", "over", "after"],
    "AUX": ["is", "was", "have", "be", "will", "can", "would", "are", "do", "has", "had", "could", "did"],
    "CCONJ": ["and", "but", "or", "nor", "yet"],
    "SCONJ": ["that", "if", "because", "while", "when", "as", "although", "since", "before", "after"],
    "PART": ["to", "not", "'s", "n't"],
    "PUNCT": [".", ",", "!", "?", ";", ":", "-", "(", ")"],
    "SYM": ["$", "%", "&", "+", "="],
    "INTJ": ["oh", "yes", "well", "hey", "please", "wow"],
    "X": ["etc", "ie", "eg", "vs"],
}
# Open classes: made-up stems with English-like suffixes, so that suffixes predict the tag.
SUFFIXES: dict[str, list[str]] = {
    "NOUN": ["tion", "ness", "er", "ment", "ity", "s", "ist", "ance", ""],
    "VERB": ["ed", "ing", "s", "ize", "ate", "en", ""],
    "ADJ": ["ous", "ful", "al", "ive", "ic", "able", "less", "y"],
    "ADV": ["ly", "ward", "ly"],
    "PROPN": ["", "son", "ton", "ia", "burg"],
    "NUM": [],
}
OPEN_SHARE = {"NOUN": 0.45, "VERB": 0.25, "ADJ": 0.15, "PROPN": 0.08, "ADV": 0.05, "NUM": 0.02}
AMBIGUOUS_PAIRS = [("NOUN", "VERB"), ("NOUN", "ADJ"), ("ADJ", "ADV"), ("VERB", "ADJ")]
# Real English ambiguous words, added on top of the generated lexicon.
CLASSIC_AMBIGUOUS = {
    "book": ("NOUN", "VERB"),
    "run": ("VERB", "NOUN"),
    "play": ("VERB", "NOUN"),
    "light": ("NOUN", "ADJ"),
    "fast": ("ADV", "ADJ"),
    "back": ("ADV", "NOUN"),
}
ONSETS = [
    "b",
    "br",
    "c",
    "cl",
    "d",
    "dr",
    "f",
    "fl",
    "g",
    "gr",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "pl",
    "r",
    "s",
    "st",
    "sp",
    "t",
    "tr",
    "v",
    "w",
    "z",
    "sh",
    "ch",
    "th",
]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou"]
CODAS = ["", "n", "r", "l", "m", "s", "t", "nd", "rk", "st", "ng"]


# The two tag groups of the long-range dependency (u_b in the module docstring).
CUE_SIGN = {
    "NOUN": 1,
    "PROPN": 1,
    "NUM": 1,
    "SYM": 1,
    "DET": 1,
    "ADP": 1,
    "ADV": 1,
    "CCONJ": 1,
    "X": 1,
    "VERB": -1,
    "AUX": -1,
    "ADJ": -1,
    "PRON": -1,
    "SCONJ": -1,
    "PART": -1,
    "PUNCT": -1,
    "INTJ": -1,
}


@dataclass
class HiddenMarkovProcess:
    """The true generative process.

    First order: start (K,), trans (K, K) with rows summing to 1 - end, end (K,), emit (K, V) with
    rows summing to 1. With ``long_range`` = k > 0, ``flavour`` (V,) gives each word type's z and the
    tag at position i >= k is drawn from ``cue_trans[z(w_{i-k})]`` (2, K, K) instead of ``trans``.
    """

    tags: list[str]
    words: list[str]
    start: np.ndarray  # (K,)
    trans: np.ndarray  # (K, K), rows sum to 1 - end
    end: np.ndarray  # (K,)
    emit: np.ndarray  # (K, V), rows sum to 1
    long_range: int = 0
    flavour: np.ndarray | None = None  # (V,) 0/1
    cue_trans: np.ndarray | None = None  # (2, K, K), rows sum to 1 - end

    def first_order(self) -> HiddenMarkovProcess:
        """The first-order HMM with this process's tag-bigram and word-given-tag distributions (exact
        for the processes ``make_process`` builds; see the module docstring)."""
        return HiddenMarkovProcess(self.tags, self.words, self.start, self.trans, self.end, self.emit)

    def _step_probs(self) -> np.ndarray:
        """(3, 1+K, K+1) P(next | previous): table 0 no cue, 1 and 2 after a flavour-0 / flavour-1 word
        k back; row 0 is the sentence start, column K the end of the sentence."""
        K = len(self.tags)
        cue = self.cue_trans if self.cue_trans is not None else np.stack([self.trans, self.trans])
        P = np.zeros((3, 1 + K, K + 1))
        P[:, 0, :K] = self.start
        for j, A in enumerate([self.trans, cue[0], cue[1]]):
            P[j, 1:, :K] = A
            P[j, 1:, K] = self.end
        return P

    def _flavours(self) -> np.ndarray:
        return self.flavour if self.flavour is not None else np.zeros(len(self.words), dtype=np.int64)

    def sample(self, n: int, rng: np.random.Generator, max_len: int = 60) -> TaggedCorpus:
        """``n`` sentences, all drawn in parallel one position at a time. A sentence longer than
        ``max_len`` words is drawn again (rare), which leaves P(tags | words) unchanged."""
        K, V, k = len(self.tags), len(self.words), self.long_range
        step_cdf = np.cumsum(self._step_probs(), axis=-1)  # (3, 1+K, K+1)
        step_cdf[..., -1] = 1.0  # no rounding gap at the top
        step_cdf[:, 0, K - 1] = 1.0  # and a sentence never ends before its first word
        emit_cdf = np.cumsum(self.emit, axis=1)  # (K, V)
        z = self._flavours()
        vocab = np.array(self.words, dtype=object)
        words: list[list[str]] = []
        tags: list[list[str]] = []
        while len(words) < n:
            m = n - len(words)
            tag = np.zeros((max_len + 1, m), dtype=np.int64)  # (L, m)
            ids = np.zeros((max_len + 1, m), dtype=np.int64)  # (L, m)
            prev = np.full(m, -1)  # -1 = sentence start (row 0 of the step tables)
            alive = np.ones(m, dtype=bool)
            length = np.zeros(m, dtype=np.int64)
            for t in range(max_len + 1):
                table = 1 + z[ids[t - k]] if 0 < k <= t else np.zeros(m, dtype=np.int64)  # (m,)
                cdf = step_cdf[table, prev + 1]  # (m, K+1)
                nxt = (cdf < rng.random(m)[:, None]).sum(axis=1)  # (m,) K = end of sentence
                alive &= nxt < K
                if not alive.any():
                    break
                u = rng.random(m)
                for j in np.unique(nxt[alive]):
                    sel = alive & (nxt == j)
                    ids[t, sel] = np.searchsorted(emit_cdf[j], u[sel], side="right")
                np.minimum(ids[t], V - 1, out=ids[t])
                tag[t] = nxt
                length += alive
                prev = np.where(alive, nxt, prev)
            for j in np.flatnonzero(length <= max_len)[: n - len(words)]:
                L = length[j]
                words.append(vocab[ids[:L, j]].tolist())
                tags.append([self.tags[i] for i in tag[:L, j]])
        return TaggedCorpus(words, tags)

    def _encode(self, sentences: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """ids (T, N) word indices (0 at padding), mask (T, N)."""
        index = {w: i for i, w in enumerate(self.words)}
        lengths = np.array([len(s) for s in sentences])
        T, N = int(lengths.max()), len(sentences)
        mask = np.arange(T)[:, None] < lengths[None, :]  # (T, N)
        ids = np.zeros((T, N), dtype=np.int64)
        try:
            ids.T[mask.T] = [index[w] for s in sentences for w in s]
        except KeyError as e:
            raise DataError(
                f"word {e.args[0]!r} is not in the process's lexicon", "score only sentences it generated"
            ) from None
        return ids, mask

    def posteriors(self, sentences: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """P(t_i = k | words) by scaled forward-backward with the true parameters, all sentences at once.

        Returns post (T, N, K), zero at padding, and mask (T, N) True at real tokens.
        """
        ids, mask = self._encode(sentences)
        T, N = ids.shape
        k = self.long_range
        lengths = mask.sum(axis=0)  # (N,)
        b = self.emit.T[ids]  # b_t(s) = P(w_t | s), (T, N, K)
        z = self._flavours()[ids]  # (T, N)
        cue = self.cue_trans

        def forward_step(a: np.ndarray, t: int) -> np.ndarray:
            """sum_r a(r) A_t[r, s]: into position t, (N, K)."""
            if 0 < k <= t:
                return np.where(z[t - k][:, None] == 1, a @ cue[1], a @ cue[0])
            return a @ self.trans

        def backward_step(v: np.ndarray, t: int) -> np.ndarray:
            """sum_s A_t[r, s] v(s): out of position t-1, (N, K)."""
            if 0 < k <= t:
                return np.where(z[t - k][:, None] == 1, v @ cue[1].T, v @ cue[0].T)
            return v @ self.trans.T

        tiny = np.finfo(float).tiny
        alpha = np.empty_like(b)
        alpha[0] = self.start * b[0]
        alpha[0] /= np.maximum(alpha[0].sum(axis=1, keepdims=True), tiny)
        for t in range(1, T):
            alpha[t] = forward_step(alpha[t - 1], t) * b[t]
            alpha[t] /= np.maximum(alpha[t].sum(axis=1, keepdims=True), tiny)
        beta = np.ones_like(b)
        beta[T - 1] = np.where((lengths == T)[:, None], self.end, 1.0)
        for t in range(T - 2, -1, -1):
            inner = backward_step(b[t + 1] * beta[t + 1], t + 1)  # (N, K)
            last = (lengths == t + 1)[:, None]
            beta[t] = np.where(last, self.end, np.where((lengths > t + 1)[:, None], inner, 1.0))
            beta[t] /= np.maximum(beta[t].sum(axis=1, keepdims=True), tiny)
        post = alpha * beta
        post /= np.maximum(post.sum(axis=-1, keepdims=True), tiny)
        return post * mask[..., None], mask

    def bayes_optimal_accuracy(self, corpus: TaggedCorpus) -> float:
        """Expected accuracy of the best possible tagger, sum_i max_k P(tag_i = k | words) / n_tokens."""
        post, mask = self.posteriors(corpus.words)
        return expected_accuracy(post, post.argmax(axis=-1), mask)

    def decoder_accuracy(self, corpus: TaggedCorpus, decoder: HiddenMarkovProcess) -> float:
        """Expected accuracy, under this process's posterior, of posterior-marginal decoding with ``decoder``."""
        post, mask = self.posteriors(corpus.words)
        return expected_accuracy(post, decoder.posteriors(corpus.words)[0].argmax(axis=-1), mask)


def expected_accuracy(post: np.ndarray, pick: np.ndarray, mask: np.ndarray) -> float:
    """Expected accuracy of the tags ``pick`` (T, N) under the posterior ``post`` (T, N, K): the mean over
    real tokens of P(tag_i = pick_i | words)."""
    return float(np.take_along_axis(post, pick[..., None], axis=-1)[..., 0][mask].sum() / mask.sum())


def _made_up_word(rng: np.random.Generator, tag: str, taken: set[str]) -> str:
    while True:
        if tag == "NUM":
            word = (
                str(int(rng.integers(0, 3000))) if rng.random() < 0.7 else f"{rng.integers(1, 99)}.{rng.integers(0, 9)}"
            )
        else:
            syllables = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.integers(1, 3)))
            word = syllables + rng.choice(CODAS) + rng.choice(SUFFIXES[tag])
            if tag == "PROPN":
                word = word.capitalize()
        if word not in taken and word.lower() not in CLASSIC_AMBIGUOUS:
            taken.add(word)
            return word


def make_process(
    vocab_size: int, ambiguity: float, zipf: float, rng: np.random.Generator, long_range: int = 0, strength: float = 1.0
) -> HiddenMarkovProcess:
    """Build the lexicon and the probability tables of the English-like process (long_range = k > 0:
    with the flavour-k-back dependency of strength ``strength``, see the module docstring)."""
    K = len(TAGS)
    t = {tag: i for i, tag in enumerate(TAGS)}
    start = np.zeros(K)
    trans = np.zeros((K, K))
    end = np.zeros(K)
    for src, row in TRANSITIONS.items():
        total = sum(row.values())
        for dst, w in row.items():
            p = w / total
            if src == "START":
                start[t[dst]] = p
            elif dst == END:
                end[t[src]] = p
            else:
                trans[t[src], t[dst]] = p

    # lexicon: tag -> list of word types (frequency rank order)
    lexicon: dict[str, list[str]] = {tag: list(ws) for tag, ws in CLOSED.items()}
    taken = {w for ws in CLOSED.values() for w in ws}
    n_open = max(vocab_size - len(taken), len(OPEN_SHARE) * 5)
    for tag, share in OPEN_SHARE.items():
        lexicon[tag] = [_made_up_word(rng, tag, taken) for _ in range(max(3, int(share * n_open)))]
    # lexical ambiguity: a fraction of open-class words also belongs to a second tag
    for a, b_ in AMBIGUOUS_PAIRS:
        n_shared = int(ambiguity * len(lexicon[a]) / len(AMBIGUOUS_PAIRS))
        for w in rng.choice(lexicon[a], size=min(n_shared, len(lexicon[a])), replace=False):
            lexicon[b_].insert(int(rng.integers(0, len(lexicon[b_]))), str(w))
    for w, pair in CLASSIC_AMBIGUOUS.items():
        for tag in pair:
            lexicon[tag].insert(int(rng.integers(0, 10)), w)

    words = sorted({w for ws in lexicon.values() for w in ws})
    index = {w: i for i, w in enumerate(words)}
    emit = np.zeros((K, len(words)))
    for tag, ws in lexicon.items():
        weights = 1.0 / np.arange(1, len(ws) + 1) ** zipf  # Zipf over the tag's own lexicon
        for w, p in zip(ws, weights / weights.sum()):
            emit[t[tag], index[w]] += p
    if long_range <= 0:
        return HiddenMarkovProcess(list(TAGS), words, start, trans, end, emit)
    flavour = np.full(len(words), -1)
    for tag in TAGS:  # alternate flavours down each tag's frequency ranking (shared words keep their first)
        for r, w in enumerate(lexicon[tag]):
            if flavour[index[w]] < 0:
                flavour[index[w]] = (r + 1) % 2
    emit = balance_flavours(emit, flavour)
    sign = np.array([CUE_SIGN[tag] for tag in TAGS], dtype=float)
    return HiddenMarkovProcess(
        list(TAGS), words, start, trans, end, emit, long_range, flavour, cue_transitions(trans, sign, strength)
    )


def balance_flavours(emit: np.ndarray, flavour: np.ndarray) -> np.ndarray:
    """Rescale each emission row (K, V) so that half its mass lies on flavour-1 words: P(z = 1 | tag) = 1/2."""
    mass1 = emit @ (flavour == 1)  # (K,)
    if np.any((mass1 <= 0) | (mass1 >= 1)):
        raise DataError(
            "a tag emits words of one flavour only, so the long-range dependency cannot be balanced",
            "raise task.synthetic.vocab_size or change task.synthetic.seed",
        )
    return emit * np.where(flavour[None, :] == 1, 0.5 / mass1[:, None], 0.5 / (1 - mass1)[:, None])


def cue_transitions(trans: np.ndarray, sign: np.ndarray, strength: float) -> np.ndarray:
    """(2, K, K) A_z = A * (1 + e_z s (u_b - ubar_a) / m_a), e_0 = -1, e_1 = +1: (A_0 + A_1) / 2 = A exactly."""
    row = trans / np.maximum(trans.sum(axis=1, keepdims=True), np.finfo(float).tiny)  # P(b | a, not the end)
    dev = sign[None, :] - (row @ sign)[:, None]  # u_b - ubar_a, (K, K)
    m = np.where(trans > 0, np.abs(dev), 0.0).max(axis=1)  # (K,)
    step = strength * dev / np.where(m > 0, m, 1.0)[:, None]  # (K, K), |step| <= s on the row's support
    return np.stack([trans * (1 - step), trans * (1 + step)])


@lru_cache(maxsize=4)
def _process(vocab_size: int, ambiguity: float, zipf: float, long_range: int, strength: float, seed: int):
    return make_process(vocab_size, ambiguity, zipf, np.random.default_rng(seed), long_range, strength)


def build_process(cfg, seed: int) -> HiddenMarkovProcess:
    """The process for ``cfg`` (SyntheticPosConfig) and the run's ``seed`` (``cfg.seed`` wins); cached."""
    seed = seed if cfg.seed is None else cfg.seed
    return _process(
        cfg.vocab_size,
        float(cfg.ambiguity),
        float(cfg.zipf),
        int(getattr(cfg, "long_range", 0)),
        float(getattr(cfg, "long_range_strength", 1.0)),
        int(seed),
    )


def generate(cfg, seed: int) -> tuple[TaggedCorpus, TaggedCorpus, TaggedCorpus]:
    """train, dev and test corpora from ``cfg`` (SyntheticPosConfig); ``oracle_metrics`` scores the test set."""
    process = build_process(cfg, seed)
    rng = np.random.default_rng([seed if cfg.seed is None else cfg.seed, 1])  # the sentences' own stream
    train = process.sample(cfg.n_train, rng)
    dev = process.sample(cfg.n_dev, rng)
    test = process.sample(cfg.n_test, rng)
    return train, dev, test


def oracle_metrics(cfg, seed: int, test: TaggedCorpus) -> dict[str, float]:
    """The Bayes-optimal figures of the module docstring for the test corpus ``generate`` made."""
    process = build_process(cfg, seed)
    post, mask = process.posteriors(test.words)  # (T, N, K), (T, N)
    tag_index = {t: i for i, t in enumerate(process.tags)}
    gold = np.zeros(mask.shape, dtype=np.int64)
    gold.T[mask.T] = [tag_index[t] for ts in test.tags for t in ts]
    best = post.argmax(axis=-1)
    out = {
        "bayes_optimal_accuracy": expected_accuracy(post, best, mask),
        "bayes_decoder_test_accuracy": float((best == gold)[mask].mean()),
    }
    if process.long_range:
        pick = process.first_order().posteriors(test.words)[0].argmax(axis=-1)  # (T, N)
        out["bayes_optimal_hmm_accuracy"] = expected_accuracy(post, pick, mask)
        out["hmm_decoder_test_accuracy"] = float((pick == gold)[mask].mean())
    return out
