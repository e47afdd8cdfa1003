"""Text for language modelling: a known synthetic process with its exact entropy rate, UD ``# text``
lines, plain UTF-8 text files; document splits; the training vocabulary.

A split is a ``Stream``: the symbol ids of its documents concatenated (ids (T_total,)) and the
offsets where documents begin (starts (N,)). Documents are sentences (UD), lines (plain text) or
fixed-length samples of the synthetic process. Splits take whole documents in contiguous blocks
(train first, then dev, then test), so no document, and no stretch of a stream, is in two splits.

Vocabulary (from training only): id 0 is ``<unk>``, then the training symbols sorted. At char level
each document ends with ``"\\n"``, at word level with ``"</s>"``; both are ordinary symbols that a
model predicts.

Synthetic process (``TextProcess``): a K-state HMM over V letters. Each state stays put with
probability ``stickiness`` and otherwise jumps by a sparse Dirichlet row; emissions are sparse
Dirichlet rows that overlap between states, so the state must be inferred from several symbols
back (a longer memory than a short n-gram sees). Its entropy rate on the test stream is the
true model's bits per symbol, -1/T sum_t log2 p(o_t | o_<t) by the forward algorithm
(``harness.markov``): what the best possible model scores on exactly that stream.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import ConfigError, DataError
from harness.markov import filter_log2probs

UNK = "<unk>"
END = {"char": "\n", "word": "</s>"}


@dataclass
class Stream:
    ids: np.ndarray  # (T_total,) symbol ids, documents concatenated
    starts: np.ndarray  # (N,) offset of each document's first symbol; starts[0] == 0

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self) -> np.ndarray:
        """(T_total,) each symbol's position inside its document (0 = first)."""
        pos = np.arange(len(self.ids))
        doc = np.searchsorted(self.starts, pos, side="right") - 1
        return pos - self.starts[doc]


# -- the known synthetic process ---------------------------------------------------------------
@dataclass
class TextProcess:
    startprob: np.ndarray  # (K,)
    transmat: np.ndarray  # (K, K)
    emissionprob: np.ndarray  # (K, V + 1), column 0 (<unk>) is 0
    symbols: list[str]  # id -> symbol, symbols[0] == UNK

    def sample(self, n_docs: int, doc_length: int, rng: np.random.Generator) -> tuple[Stream, np.ndarray]:
        """n_docs independent documents of doc_length symbols: (stream, states (T_total,)), vectorised over documents."""
        K = len(self.startprob)
        cum_a, cum_b = np.cumsum(self.transmat, 1), np.cumsum(self.emissionprob, 1)  # (K, K), (K, V+1)
        s = np.minimum(np.searchsorted(np.cumsum(self.startprob), rng.random(n_docs)), K - 1)  # (N,)
        states, ids = np.empty((doc_length, n_docs), int), np.empty((doc_length, n_docs), int)
        for t in range(doc_length):
            if t > 0:
                s = np.minimum((cum_a[s] < rng.random(n_docs)[:, None]).sum(1), K - 1)  # s_t ~ A[s_{t-1}]
            states[t] = s
            ids[t] = np.minimum((cum_b[s] < rng.random(n_docs)[:, None]).sum(1), cum_b.shape[1] - 1)  # o_t ~ B[s_t]
        starts = np.arange(n_docs) * doc_length
        return Stream(ids.T.reshape(-1), starts), states.T.reshape(-1)

    def log2probs(self, stream: Stream) -> np.ndarray:
        """(T_total,) log2 p(o_t | o_<t) under the true process (forward filtering, per document)."""
        return filter_log2probs(self.startprob, self.transmat, self.emissionprob, stream.ids, stream.starts)

    def entropy_rate(self, stream: Stream) -> float:
        """The true process's bits per symbol on ``stream``: the best any model can score there."""
        return float(-self.log2probs(stream).mean())


def make_process(n_states: int, n_symbols: int, stickiness: float, seed: int) -> TextProcess:
    if not 1 <= n_symbols <= 26:
        raise ConfigError(f"task.synthetic.n_symbols must lie in 1..26, got {n_symbols}", "set it to a letter count")
    if n_states < 1:
        raise ConfigError(f"task.synthetic.n_states must be >= 1, got {n_states}", "set it to a positive integer")
    if not 0.0 <= stickiness < 1.0:
        raise ConfigError(f"task.synthetic.stickiness must lie in [0, 1), got {stickiness}", "set it to a fraction")
    rng = np.random.default_rng(seed)
    K, V = n_states, n_symbols
    jump = rng.dirichlet(np.full(K, 0.3), size=K)  # (K, K) sparse jump rows
    A = stickiness * np.eye(K) + (1 - stickiness) * jump
    B = np.zeros((K, V + 1))
    B[:, 1:] = rng.dirichlet(np.full(V, 0.1), size=K)  # (K, V) sparse, overlapping emission rows
    pi = np.full(K, 1.0 / K)
    return TextProcess(pi, A, B, [UNK, *string.ascii_lowercase[:V]])


# -- real text ------------------------------------------------------------------------------
def _read_utf8(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"text file {path} does not exist", "set task.path to a UTF-8 text file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"text file {path} is empty", "point task.path at a file with some text")
    if b"\x00" in raw:
        raise DataError(f"{path} looks binary (it holds NUL bytes)", "point task.path at a UTF-8 text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not UTF-8 text (bad byte at offset {e.start})", "convert it to UTF-8 or pick another file"
        ) from None


def read_text_lines(path: str | Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file (each a document), stripped of surrounding whitespace."""
    return [line.strip() for line in _read_utf8(Path(path)).splitlines() if line.strip()]


def read_ud_text(path: str | Path) -> list[str]:
    """The ``# text = ...`` sentence lines of a CoNLL-U file, in file order."""
    prefix = "# text = "
    docs = [line[len(prefix) :].strip() for line in _read_utf8(Path(path)).splitlines() if line.startswith(prefix)]
    if not docs:
        raise DataError(
            f"{path} has no '# text = ' lines", "use a CoNLL-U file with sentence text, or task.dataset=text"
        )
    return docs


def split_documents(docs: list[str], dev_fraction: float, test_fraction: float) -> tuple[list, list, list]:
    """Contiguous blocks of whole documents: the first for training, the next for dev, the last for test."""
    n = len(docs)
    n_test, n_dev = int(round(n * test_fraction)), int(round(n * dev_fraction))
    if n - n_test - n_dev < 1 or n_test < 1 or n_dev < 1:
        raise DataError(
            f"{n} documents cannot be split into train, dev ({dev_fraction}) and test ({test_fraction})",
            "use a longer text (one document per line) or change task.dev_fraction/task.test_fraction",
        )
    return docs[: n - n_dev - n_test], docs[n - n_dev - n_test : n - n_test], docs[n - n_test :]


def tokenize(doc: str, unit: str) -> list[str]:
    return [*(list(doc) if unit == "char" else doc.split()), END[unit]]


def build_vocab(train_docs: list[str], unit: str) -> list[str]:
    """id -> symbol: <unk>, then every training symbol sorted."""
    return [UNK, *sorted({s for d in train_docs for s in tokenize(d, unit)})]


def encode(docs: list[str], vocab: list[str], unit: str) -> Stream:
    index = {s: i for i, s in enumerate(vocab)}
    toks = [[index.get(s, 0) for s in tokenize(d, unit)] for d in docs]
    lengths = np.array([len(t) for t in toks])
    return Stream(np.array([i for t in toks for i in t], dtype=np.int64), np.r_[0, np.cumsum(lengths)[:-1]])


def check_known(stream: Stream, name: str) -> None:
    """A split whose symbols (the end-of-document marks aside) are all <unk> cannot be scored: say so."""
    ends = np.r_[stream.starts[1:], len(stream.ids)] - 1  # each document's end mark
    body = np.delete(stream.ids, ends)
    if not np.any(body != 0):
        raise DataError(
            f"the {name} text holds only symbols never seen in training",
            "use a text in the same script and language as the training text",
        )


def check_temperature(temperature: float) -> float:
    if not temperature > 0:
        raise ConfigError(
            f"task.temperature must be > 0, got {temperature!r}", "set task.temperature=1.0 (lower = more conservative)"
        )
    return float(temperature)
