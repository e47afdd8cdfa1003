"""Estimators for part-of-speech tagging (harness.tasks.pos): the recurrent tagger and the HMM tagger.

A prediction is one list of tag strings per sentence of the split, in corpus order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.estimators.base import Estimator, GradientEstimator, Hooks, exported_state, timed
from harness.tasks.pos import Encoded, Vocab, batches, encode_words


class RecurrentTagger(GradientEstimator):
    """harness.models.rnn.RNNTagger on the word features of ``cfg.features`` (vocabularies from train)."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.rnn import RNNTagger

        super().__init__(cfg, data, rng, seed)
        self.vocabs = data.vocabularies(cfg.features)
        self.tag_names = list(data.tags.itos)  # tag id -> tag (id 0 is padding)
        sizes = {f: len(v) for f, v in self.vocabs.items()}
        self.model = RNNTagger(sizes, data.n_tags, cfg, rng, word_counts=self.vocabs["word"].counts)
        self.encoded = {split: data.encode(data.split(split), self.vocabs) for split in ("train", "dev", "test")}

    def train_batches(self, data: Any, rng: np.random.Generator):
        return batches(self.encoded["train"], self.cfg.batch_size, rng)

    def n_train_batches(self, data: Any) -> int:
        return -(-len(self.encoded["train"].lengths) // self.cfg.batch_size)

    def batch_size_of(self, batch) -> int:
        return batch.n_tokens

    def predict(self, data: Any, split: str) -> list[list[str]]:
        return self._tag(self.encoded[split])

    def _tag(self, enc: Encoded, batch_size: int = 256) -> list[list[str]]:
        itos = self.tag_names
        out: list[list[str]] = [[] for _ in range(len(enc.lengths))]
        for b in batches(enc, batch_size):
            pred = self.model.predict(b.inputs, b.mask)  # (T, N)
            for j, i in enumerate(b.index):
                out[i] = [itos[k] for k in pred[: enc.lengths[i], j]]
        return out

    def export(self, data: Any) -> dict[str, np.ndarray]:
        """Weights (``state.*``), one vocabulary per input feature (``vocab.<feature>``) and the tag list."""
        vocabs = {f"vocab.{f}": np.array(v.itos, dtype=np.str_) for f, v in self.vocabs.items()}
        state = {f"state.{k}": v for k, v in self.state_dict().items()}
        return state | vocabs | {"tags": np.array(self.tag_names, dtype=np.str_)}

    @classmethod
    def from_export(cls, cfg: Any, arrays: dict[str, np.ndarray]) -> RecurrentTagger:
        from harness.models.rnn import RNNTagger

        self = cls.__new__(cls)
        Estimator.__init__(self, cfg, None, np.random.default_rng(0), 0)
        self.vocabs = {f: Vocab(arrays[f"vocab.{f}"].tolist()) for f in cfg.features}
        self.tag_names = arrays["tags"].tolist()
        sizes = {f: len(v) for f, v in self.vocabs.items()}
        self.model = RNNTagger(sizes, len(self.tag_names), cfg, np.random.default_rng(0))
        self.model.load_state_dict(exported_state(arrays))
        return self

    def predict_new(self, sentences: list[list[str]], **options: Any) -> list[list[str]]:
        """One tag list per sentence (token list); an empty sentence gets []."""
        return self._tag(encode_words(sentences, self.vocabs)) if any(sentences) else [[] for _ in sentences]

    def diagnostic_batch(self, data: Any):
        return next(batches(self.encoded["dev"], 64))  # the longest dev sentences


class HMMTagger(Estimator):
    """harness.models.hmm.HMMTagger: counted (supervised) or Baum-Welch (unsupervised) in one go."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.hmm import HMMTagger as Model

        super().__init__(cfg, data, rng, seed)
        self.model = Model(**cfg.estimator_params(), random_state=seed)

    def fit(self, data: Any, hooks: Hooks) -> dict[str, float]:
        return timed(lambda: self.model.fit(data.train.words, data.train.tags))

    def predict(self, data: Any, split: str) -> list[list[str]]:
        return self.model.predict(data.split(split).words)

    def export(self, data: Any) -> dict[str, np.ndarray]:
        """The tagger's own state (it holds its vocabulary, tags and unknown-word model)."""
        return {f"state.{k}": v for k, v in self.state_dict().items()}

    @classmethod
    def from_export(cls, cfg: Any, arrays: dict[str, np.ndarray]) -> HMMTagger:
        from harness.models.hmm import HMMTagger as Model

        self = cls.__new__(cls)
        Estimator.__init__(self, cfg, None, np.random.default_rng(0), 0)
        self.model = Model.from_state_dict(exported_state(arrays))
        return self

    def predict_new(self, sentences: list[list[str]], **options: Any) -> list[list[str]]:
        return self.model.predict(sentences)
