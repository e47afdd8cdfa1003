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
from harness.estimators.base import Estimator, GradientEstimator, Hooks, exported_state, timed

SAMPLE_SEED_OFFSET = 7919  # the logged sample draws from its own stream: same seed, same sample


class _LanguageModel(Estimator):
    """What both language models share: scoring a split, and continuing a prompt with the training
    vocabulary (``vocab``, ``unit``), which is all a trained model needs to generate (``export``)."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        super().__init__(cfg, data, rng, seed)
        self.seed = int(seed)
        if data is not None:
            self.vocab, self.unit = list(data.vocab), data.unit

    def predict(self, data: Any, split: str) -> np.ndarray:
        s = data.split(split)
        return self.model.log2probs(s.ids, s.starts)  # (T,)

    def continue_text(self, prompt: str, length: int, temperature: float, seed: int) -> str:
        """``prompt`` continued by ``length`` symbols drawn at ``temperature``; unknown prompt symbols read as <unk>."""
        from harness.data.text import check_temperature

        check_temperature(temperature)
        index = {s: i for i, s in enumerate(self.vocab)}
        ids = np.array([index.get(t, 0) for t in (list(prompt) if self.unit == "char" else prompt.split())], np.int64)
        out = self.model.sample(ids, length, temperature, np.random.default_rng(seed), index.get(END[self.unit]))
        sep = "" if self.unit == "char" else " "
        return prompt + ("" if self.unit == "char" or not prompt else " ") + sep.join(self.vocab[i] for i in out)

    def sample_text(self, data: Any, temperature: float | None = None, seed: int | None = None) -> str:
        """``task.prompt`` continued for ``task.sample_length`` symbols: the run's fixed sample."""
        tau = data.temperature if temperature is None else temperature
        return self.continue_text(
            data.prompt, data.sample_length, tau, self.seed + SAMPLE_SEED_OFFSET if seed is None else seed
        )

    # -- using the trained model on new input (harness.predict) -------------------------------------
    def export(self, data: Any) -> dict[str, np.ndarray]:
        state = {f"state.{k}": v for k, v in self.model.state_dict().items()}
        return {"vocab": np.array(self.vocab), "unit": np.array(self.unit), **state}

    @classmethod
    def from_export(cls, cfg: Any, arrays: dict[str, np.ndarray]) -> _LanguageModel:
        self = cls.__new__(cls)
        Estimator.__init__(self, cfg, None, np.random.default_rng(0), 0)
        self.seed, self.vocab, self.unit = 0, arrays["vocab"].tolist(), str(arrays["unit"])
        self.model = self._empty_model(cfg, len(self.vocab))
        self.model.load_state_dict(exported_state(arrays))
        return self

    def predict_new(self, prompt: str, length: int = 300, temperature: float = 1.0, seed: int = 0, **options) -> str:
        """The continuation of ``prompt`` (``length`` symbols at ``temperature``, reproducible under ``seed``)."""
        return self.continue_text(prompt, length, temperature, seed)

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

    @staticmethod
    def _empty_model(cfg: Any, vocab_size: int):
        from harness.models.rnn_lm import RNNLM

        return RNNLM(vocab_size, cfg, np.random.default_rng(0))

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

    @staticmethod
    def _empty_model(cfg: Any, vocab_size: int):
        from harness.models.hmm.lm import HMMLM

        return HMMLM(getattr(cfg, "n_states", 1))

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
