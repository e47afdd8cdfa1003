"""Language modelling (one-to-many): next-symbol prediction over streams of documents.

A model's prediction for a split is the array of log2-probabilities it gives each symbol of that
split's stream (``Stream.ids``, documents concatenated, each scored from its own start), so this
module scores every model alike without knowing any: bits per symbol = -mean log2 p, perplexity =
2 ** bits, and the per-position curve (bits by position inside the document: how much a model
gains from a longer context). Yardsticks on test: add-one unigram and interpolated Kneser-Ney
(``harness.tasks.ngram``). On synthetic data the known process gives the entropy rate, the best
score any model can reach on the test stream.

Data sources (``task.dataset``): ``synthetic`` (``harness.data.text.TextProcess``), ``ud_text``
(the ``# text`` lines of a UD treebank's train/dev/test files: ``task.path`` folder, else the EWT
download), ``text`` (a UTF-8 file, one document per line, split in contiguous blocks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.data import text
from harness.data.text import Stream, TextProcess
from harness.errors import ConfigError, check_choice
from harness.tasks.ngram import KneserNey, unigram_log2probs

POSITION_BUCKETS = ((0, 1), (1, 4), (4, 16), (16, 64), (64, None))  # [lo, hi) positions inside a document


@dataclass
class LMData:
    train: Stream
    dev: Stream
    test: Stream
    vocab: list[str]  # id -> symbol; 0 = <unk>
    unit: str  # char | word
    source: str
    ngram_order: int = 0  # 0 = tuned on dev
    chunk_length: int = 64  # truncated-BPTT chunk when model.bptt_steps = 0
    temperature: float = 1.0
    sample_length: int = 300
    prompt: str = ""
    process: TextProcess | None = None  # the true process (synthetic only)
    train_states: np.ndarray | None = None  # (T_train,) true hidden states (synthetic only)
    _baselines: dict[str, float] = field(default_factory=dict, repr=False)

    # -- the contract ----------------------------------------------------------------------------
    @property
    def per(self) -> str:
        return f"bits_per_{self.unit}"

    @property
    def main_metric(self) -> str:
        return f"test_{self.per}"

    @property
    def dev_metric(self) -> str:
        return f"dev_{self.per}"

    higher_is_better = False
    dev_prefix = "best_dev_"
    predictions_file = "test_predictions.tsv"

    @property
    def items(self) -> str:
        return f"{self.unit}s"

    def n_items(self, split: str) -> int:
        return len(self.split(split))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def split(self, name: str) -> Stream:
        return {"train": self.train, "dev": self.dev, "test": self.test}[name]

    def _check(self, split: str, prediction: np.ndarray) -> np.ndarray:
        lp = np.asarray(prediction, dtype=np.float64)
        if lp.shape != (len(self.split(split)),):
            raise ValueError(f"prediction for {split} must have shape ({len(self.split(split))},), got {lp.shape}")
        if np.any(lp > 1e-9):
            raise ValueError(f"prediction for {split} holds log2-probabilities above 0 (max {lp.max()})")
        return lp

    def score(self, split: str, prediction: np.ndarray) -> dict[str, float]:
        """Bits per symbol, perplexity and the per-position curve of log2-probabilities ``prediction`` (T,)."""
        lp = self._check(split, prediction)
        bits = float(-lp.mean())
        out = {self.per: bits, "perplexity": float(2.0**bits)}
        pos = self.split(split).positions()
        for lo, hi in POSITION_BUCKETS:
            sel = (pos >= lo) if hi is None else (pos >= lo) & (pos < hi)
            if sel.any():
                out[
                    f"{self.per}_pos{lo}" + (f"_{hi - 1}" if hi is not None and hi - 1 > lo else "" if hi else "_up")
                ] = float(-lp[sel].mean())
        return out

    def position_curve(self, prediction: np.ndarray, split: str = "test", max_pos: int = 256) -> np.ndarray:
        """(max_pos,) mean bits at each position 0..max_pos-1 inside a document (NaN where none)."""
        lp = self._check(split, prediction)
        pos = self.split(split).positions()
        keep = pos < max_pos
        total = np.bincount(pos[keep], weights=-lp[keep], minlength=max_pos)
        count = np.bincount(pos[keep], minlength=max_pos)
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / count

    def curve_artifacts(self, prediction: np.ndarray, split: str = "test") -> dict:
        """{"position_curve.csv": writer}: mean bits at each position inside a document (the context a model uses)."""
        curve = self.position_curve(prediction, split)

        def write(path) -> None:
            rows = [f"{p},{b:.6f}" for p, b in enumerate(curve) if np.isfinite(b)]
            Path(path).write_text("\n".join([f"position,{self.per}", *rows]) + "\n", encoding="utf-8")

        return {"position_curve.csv": write}

    def baselines(self) -> dict[str, float]:
        """The yardsticks on test: add-one unigram and interpolated Kneser-Ney of ``ngram_order``."""
        if not self._baselines:
            t, s = self.train, self.test
            uni = unigram_log2probs(t.ids, s.ids, self.vocab_size)
            order = self.ngram_order or self.best_ngram_order()
            kn = KneserNey(order, self.vocab_size).fit(t.ids, t.starts).log2probs(s.ids, s.starts)
            self._baselines = {
                "baseline_ngram_order": float(order),
                f"baseline_unigram_test_{self.per}": float(-uni.mean()),
                f"baseline_ngram_test_{self.per}": float(-kn.mean()),
            }
        return dict(self._baselines)

    def best_ngram_order(self, orders=range(2, 7)) -> int:
        """The Kneser-Ney order with the lowest dev bits (the yardstick is tuned like any model)."""
        t, d = self.train, self.dev
        dev_bits = [
            -KneserNey(n, self.vocab_size).fit(t.ids, t.starts).log2probs(d.ids, d.starts).mean() for n in orders
        ]
        return int(list(orders)[int(np.argmin(dev_bits))])

    def reference_metrics(self, test_scores: dict[str, float]) -> dict[str, float]:
        """The entropy rate of the true process on the test stream (synthetic) and the gap to it, else nothing."""
        if self.process is None:
            return {}
        rate = self.process.entropy_rate(self.test)
        return {"entropy_rate": rate, "gap_to_entropy_rate": test_scores[self.per] - rate}

    def write_predictions(self, path, prediction: np.ndarray, split: str = "test") -> None:
        """TSV: document, position, symbol, bits (one row per symbol of the split); beside it
        ``position_curve.csv``, the mean bits at each position inside a document."""
        self.curve_artifacts(prediction, split)["position_curve.csv"](Path(path).parent / "position_curve.csv")
        lp = self._check(split, prediction)
        s = self.split(split)
        doc = np.searchsorted(s.starts, np.arange(len(s)), side="right") - 1
        with Path(path).open("w", encoding="utf-8") as f:
            f.write("document\tposition\tsymbol\tbits\n")
            for d, p, i, b in zip(doc, s.positions(), s.ids, -lp):
                f.write(f"{d}\t{p}\t{self.vocab[i].encode('unicode_escape').decode()}\t{b:.5f}\n")

    def summary(self, metrics: dict[str, float]) -> list[str]:
        parts = [f"{self.main_metric}={metrics[self.main_metric]:.4f}"] if self.main_metric in metrics else []
        parts += [f"{k}={metrics[k]:.4f}" for k in ("entropy_rate",) if k in metrics]
        for k in (f"baseline_ngram_test_{self.per}", f"baseline_unigram_test_{self.per}"):
            if k in metrics:
                parts.append(f"{k.split('_')[1]}={metrics[k]:.4f}")
        return parts

    # -- text <-> ids ----------------------------------------------------------------------------
    def encode_prompt(self, prompt: str) -> np.ndarray:
        """Prompt text -> ids (no end mark); unknown symbols become <unk>."""
        index = {s: i for i, s in enumerate(self.vocab)}
        toks = list(prompt) if self.unit == "char" else prompt.split()
        return np.array([index.get(t, 0) for t in toks], dtype=np.int64)

    def decode(self, ids) -> str:
        sep = "" if self.unit == "char" else " "
        return sep.join(self.vocab[i] for i in ids)


def load(cfg, seed: int) -> LMData:
    """Build the LM task data from ``LMTaskConfig``-shaped ``cfg``."""
    check_choice(cfg.dataset, "task.dataset", ("synthetic", "ud_text", "text"))
    check_choice(cfg.unit, "task.unit", ("char", "word"))
    text.check_temperature(cfg.temperature)
    if cfg.ngram_order < 0:
        raise ConfigError(f"task.ngram_order must be >= 0, got {cfg.ngram_order}", "set task.ngram_order=0 (tuned)")
    common = dict(
        ngram_order=int(cfg.ngram_order),
        chunk_length=int(cfg.chunk_length),
        temperature=float(cfg.temperature),
        sample_length=int(cfg.sample_length),
        prompt=str(cfg.prompt),
    )
    if cfg.dataset == "synthetic":
        sc = cfg.synthetic
        pseed = seed if sc.seed is None else int(sc.seed)
        process = text.make_process(sc.n_states, sc.n_symbols, sc.stickiness, pseed)
        rng = np.random.default_rng([pseed, 1])  # sentences from a second stream: the process is fixed by pseed
        train, states = process.sample(sc.n_train, sc.doc_length, rng)
        dev, _ = process.sample(sc.n_dev, sc.doc_length, rng)
        test, _ = process.sample(sc.n_test, sc.doc_length, rng)
        return LMData(
            train, dev, test, process.symbols, "char", "synthetic", process=process, train_states=states, **common
        )
    if cfg.dataset == "ud_text":
        from harness.data.readers import find_split

        if cfg.path:
            folder = Path(cfg.path)
        else:
            from harness.data.registry import ensure_dataset

            folder = ensure_dataset("ud_english_ewt")
        docs = [text.read_ud_text(find_split(folder, s)) for s in ("train", "dev", "test")]
        source = f"ud_text:{folder}"
    else:
        if not cfg.path:
            raise ConfigError(
                "task.dataset=text needs a file", "set task.path=<a UTF-8 text file, one document per line>"
            )
        docs = text.split_documents(text.read_text_lines(cfg.path), cfg.dev_fraction, cfg.test_fraction)
        source = f"text:{cfg.path}"
    vocab = text.build_vocab(docs[0], cfg.unit)
    train, dev, test = (text.encode(d, vocab, cfg.unit) for d in docs)
    text.check_known(dev, "dev")
    text.check_known(test, "test")
    return LMData(train, dev, test, vocab, cfg.unit, source, **common)
