"""Config schema of the language-modelling task (``task=lm``); the lead moves it into the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class SyntheticTextConfig:
    """The known HMM process of ``harness.data.text`` (its entropy rate is computed exactly)."""

    n_states: int = 16  # hidden states of the true process
    n_symbols: int = 20  # letters emitted (a..)
    stickiness: float = 0.8  # probability a state repeats: higher = longer memory
    doc_length: int = 250  # symbols per document (documents are independent)
    n_train: int = 400  # documents
    n_dev: int = 40
    n_test: int = 80
    seed: Optional[int] = None  # None = the run's seed


@dataclass
class LMTaskConfig:
    """Next-symbol prediction over a stream of documents (harness.tasks.lm)."""

    name: str = "lm"
    dataset: str = "synthetic"  # synthetic | ud_text (task.path folder or EWT download) | text (task.path file)
    path: Optional[str] = None
    unit: str = "char"  # char | word
    dev_fraction: float = 0.1  # of the documents (text), in contiguous blocks: train | dev | test
    test_fraction: float = 0.1
    chunk_length: int = 64  # truncated-BPTT chunk when model.bptt_steps = 0
    ngram_order: int = 0  # the Kneser-Ney yardstick; 0 = the order in 2..6 best on dev
    temperature: float = 1.0  # sampling: logits / temperature (HMM: rows ** (1 / temperature))
    sample_length: int = 300  # symbols in the logged sample
    prompt: str = ""  # the sample continues this text
    synthetic: SyntheticTextConfig = field(default_factory=SyntheticTextConfig)
