"""An English-like tagged corpus sampled from a known first-order hidden Markov process.

Tags are the 17 Universal POS tags. Transitions follow a hand-written sketch of English syntax;
each tag emits from its own lexicon: real function words for closed classes, made-up but
English-shaped words for open classes (nouns end in -tion/-ness/-er, adverbs in -ly, ...), so
suffixes carry signal for unseen words as they do in English. A fraction ``ambiguity`` of word
types is shared between two open-class tags (``book`` NOUN|VERB) and function words like ``that``
(DET|SCONJ|PRON) are ambiguous by construction, so context matters. Word frequencies are Zipfian,
so the test set holds words never seen in training.

Because every probability is known, the Bayes-optimal tagging accuracy (posterior-marginal decoding
with the true parameters) is computed exactly by forward-backward: ``bayes_optimal_accuracy``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.data.readers import TaggedCorpus

TAGS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
        "PUNCT", "SCONJ", "SYM", "VERB", "X"]  # fmt: skip
END = "<END>"

# P(next | tag) before normalisation; START is the sentence start. A rough sketch of English.
TRANSITIONS: dict[str, dict[str, float]] = {
    "START": {"DET": 30, "PRON": 25, "PROPN": 12, "ADV": 6, "ADP": 8, "NOUN": 6, "SCONJ": 4, "INTJ": 3, "ADJ": 3, "AUX": 3},
    "DET": {"NOUN": 62, "ADJ": 28, "NUM": 4, "PROPN": 4, "ADV": 2},
    "ADJ": {"NOUN": 60, "PUNCT": 12, "CCONJ": 8, "ADP": 10, "ADJ": 5, "PART": 5},
    "NOUN": {"PUNCT": 22, "ADP": 24, "VERB": 14, "AUX": 10, "CCONJ": 8, "NOUN": 8, "PRON": 4, "SCONJ": 4, "PART": 3, END: 3},
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
CLASSIC_AMBIGUOUS = {"book": ("NOUN", "VERB"), "run": ("VERB", "NOUN"), "play": ("VERB", "NOUN"),
                     "light": ("NOUN", "ADJ"), "fast": ("ADV", "ADJ"), "back": ("ADV", "NOUN")}  # fmt: skip
ONSETS = ["b", "br", "c", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "pl",
          "r", "s", "st", "sp", "t", "tr", "v", "w", "z", "sh", "ch", "th"]  # fmt: skip
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou"]
CODAS = ["", "n", "r", "l", "m", "s", "t", "nd", "rk", "st", "ng"]


@dataclass
class HiddenMarkovProcess:
    """The true generative process: start (K,), transition (K, K), end (K,), emission (K, V) probabilities."""

    tags: list[str]
    words: list[str]
    start: np.ndarray  # (K,)
    trans: np.ndarray  # (K, K), rows sum to 1 - end
    end: np.ndarray  # (K,)
    emit: np.ndarray  # (K, V), rows sum to 1

    def sample(self, n: int, rng: np.random.Generator, max_len: int = 60) -> TaggedCorpus:
        """``n`` sentences; one longer than ``max_len`` words is drawn again (rare), which leaves the
        posterior of the tags given the words and the length unchanged."""
        K = len(self.tags)
        step_cdf = np.cumsum(np.concatenate([self.start[None], self.trans], axis=0), axis=1)  # (1+K, K): row 0 = START
        step_cdf = np.concatenate([step_cdf, np.ones((K + 1, 1))], axis=1)  # column K = END
        emit_cdf = np.cumsum(self.emit, axis=1)
        words, tags = [], []
        while len(words) < n:
            seq = []
            k = int(np.searchsorted(step_cdf[0], rng.random(), side="right"))
            while k < K and len(seq) <= max_len:
                seq.append(k)
                k = int(np.searchsorted(step_cdf[1 + k], rng.random(), side="right"))
            if len(seq) > max_len:
                continue
            seq = np.array(seq)
            ids = np.minimum((emit_cdf[seq] < rng.random(len(seq))[:, None]).sum(axis=1), len(self.words) - 1)
            words.append([self.words[i] for i in ids])
            tags.append([self.tags[i] for i in seq])
        return TaggedCorpus(words, tags)

    def posteriors(self, sentence: list[str]) -> np.ndarray:
        """P(tag_i = k | words, length) by scaled forward-backward with the true parameters; (T, K)."""
        index = {w: i for i, w in enumerate(self.words)}
        b = self.emit[:, [index[w] for w in sentence]].T  # (T, K)
        T = len(sentence)
        alpha = np.empty_like(b)
        alpha[0] = self.start * b[0]
        alpha[0] /= alpha[0].sum()
        for t in range(1, T):
            alpha[t] = (alpha[t - 1] @ self.trans) * b[t]
            alpha[t] /= alpha[t].sum()
        beta = np.empty_like(b)
        beta[-1] = self.end
        for t in range(T - 2, -1, -1):
            beta[t] = self.trans @ (b[t + 1] * beta[t + 1])
            beta[t] /= beta[t].sum()
        post = alpha * beta
        return post / post.sum(axis=1, keepdims=True)

    def bayes_optimal_accuracy(self, corpus: TaggedCorpus) -> float:
        """Expected accuracy of the best possible tagger, sum_i max_k P(tag_i = k | words) / n_tokens."""
        total = sum(float(self.posteriors(ws).max(axis=1).sum()) for ws in corpus.words)
        return total / corpus.n_tokens


def _made_up_word(rng: np.random.Generator, tag: str, taken: set[str]) -> str:
    while True:
        if tag == "NUM":
            word = str(int(rng.integers(0, 3000))) if rng.random() < 0.7 else f"{rng.integers(1, 99)}.{rng.integers(0, 9)}"
        else:
            syllables = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.integers(1, 3)))
            word = syllables + rng.choice(CODAS) + rng.choice(SUFFIXES[tag])
            if tag == "PROPN":
                word = word.capitalize()
        if word not in taken and word.lower() not in CLASSIC_AMBIGUOUS:
            taken.add(word)
            return word


def make_process(vocab_size: int, ambiguity: float, zipf: float, rng: np.random.Generator) -> HiddenMarkovProcess:
    """Build the lexicon and the probability tables of the English-like process."""
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
    return HiddenMarkovProcess(list(TAGS), words, start, trans, end, emit)


def generate(cfg, seed: int) -> tuple[TaggedCorpus, TaggedCorpus, TaggedCorpus, float]:
    """train, dev, test corpora and the test set's Bayes-optimal accuracy, from ``cfg`` (SyntheticPosConfig)."""
    rng = np.random.default_rng(seed if cfg.seed is None else cfg.seed)
    process = make_process(cfg.vocab_size, cfg.ambiguity, cfg.zipf, rng)
    train = process.sample(cfg.n_train, rng)
    dev = process.sample(cfg.n_dev, rng)
    test = process.sample(cfg.n_test, rng)
    return train, dev, test, process.bayes_optimal_accuracy(test)
