"""Estimators for language modelling (harness.tasks.lm): the recurrent LM and the HMM LM.

A prediction is the log2-probability each model gives every symbol of the split's stream, each
document scored from its start (so the task computes bits per symbol, perplexity and the
per-position curve without knowing the model). Every run also logs a fixed sample (``samples.txt``):
the model continues ``task.prompt`` for ``task.sample_length`` symbols at ``task.temperature``,
drawn from its own seeded stream, so the same run gives the same sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.data.text import END
from harness.errors import ConfigError
from harness.estimators.base import Estimator, GradientEstimator, Hooks, timed

SAMPLE_SEED_OFFSET = 7919  # the logged sample draws from its own stream: same seed, same sample


class _LanguageModel(Estimator):
    """What both language models share: scoring a split and sampling a continuation."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        super().__init__(cfg, data, rng, seed)
        self.seed = int(seed)

    def predict(self, data: Any, split: str) -> np.ndarray:
        s = data.split(split)
        return self.model.log2probs(s.ids, s.starts)  # (T,)

    def sample_text(self, data: Any, temperature: float | None = None, seed: int | None = None) -> str:
        """``data.prompt`` continued by the model for ``data.sample_length`` symbols."""
        rng = np.random.default_rng(self.seed + SAMPLE_SEED_OFFSET if seed is None else seed)
        end = data.vocab.index(END[data.unit]) if END[data.unit] in data.vocab else None
        tau = data.temperature if temperature is None else temperature
        ids = self.model.sample(data.encode_prompt(data.prompt), data.sample_length, tau, rng, end)
        return data.prompt + ("" if data.unit == "char" or not data.prompt else " ") + data.decode(ids)

    def artifacts(self, data: Any) -> dict[str, Callable[[Path], None]]:
        return {"samples.txt": lambda path: Path(path).write_text(self.sample_text(data), encoding="utf-8")}


class RecurrentLM(GradientEstimator, _LanguageModel):
    """harness.models.rnn_lm.RNNLM trained by truncated BPTT over parallel columns of the training stream,
    the state carried from one chunk to the next (``model.bptt_steps`` steps; 0 = ``task.chunk_length``)."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.rnn_lm import RNNLM

        super().__init__(cfg, data, rng, seed)
        self.model = RNNLM(data.vocab_size, cfg, rng)
        self.steps = int(cfg.bptt_steps or data.chunk_length)

    def train_batches(self, data: Any, rng: np.random.Generator):
        t = data.train
        return self.model.train_batches(t.ids, t.starts, self.cfg.batch_size, self.steps, rng)

    def batch_size_of(self, batch) -> int:
        return batch.y.size


class HMMLanguageModel(_LanguageModel):
    """harness.models.hmm.lm.HMMLM: Baum-Welch on the training stream (model=hmm_unsupervised), or counted
    from the true hidden states of synthetic text (model=hmm, the supervised view)."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.hmm.lm import HMMLM

        super().__init__(cfg, data, rng, seed)
        if cfg.training == "supervised":
            if data.train_states is None:
                raise ConfigError(
                    "model=hmm on task=lm is counted from the true hidden states, which only task.dataset=synthetic has",
                    "use model=hmm_unsupervised (Baum-Welch)",
                )
            self.model = HMMLM(len(data.process.startprob))
        else:
            self.model = HMMLM(cfg.n_states, cfg.n_iter, cfg.tol, self.seed)

    def fit(self, data: Any, hooks: Hooks) -> dict[str, float]:
        t = data.train
        if self.cfg.training == "supervised":
            fit = lambda: self.model.fit_supervised(t.ids, data.train_states, t.starts, data.vocab_size)  # noqa: E731
        else:
            fit = lambda: self.model.fit(t.ids, t.starts, data.vocab_size)  # noqa: E731
        metrics = timed(fit)
        iterations = getattr(self.model, "n_iter_", 0)
        if iterations:
            metrics["epochs_run"] = iterations
            metrics["seconds_per_iteration"] = metrics["train_seconds"] / iterations
        return metrics
