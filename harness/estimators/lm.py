"""Estimator adapters for the language-modelling task (``harness.tasks.lm``): the recurrent LM and the HMM LM.

Shape (issue #20): ``fit(data, hooks) -> train metrics``, ``predict(data, split) -> log2-probabilities
(T,)``, ``state_dict()``, ``n_params``, ``artifacts(data) -> {file name: writer(path)}`` (the fixed
sample: ``samples.txt``), ``diagnostic_batch(data)`` (None). ``run`` ties a task and an adapter
together without MLflow (used by scripts/bench_lm.py and the tests; the experiment does the same
with tracking).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness import training
from harness.data.text import END
from harness.errors import ConfigError, check_positive
from harness.models.hmm_lm import HMMLM
from harness.models.rnn_lm import RNNLM

SAMPLE_SEED_OFFSET = 7919  # the logged sample draws from its own stream: same seed, same sample


@dataclass
class Hooks:
    """What the experiment lends a fit: epoch callback, progress bar, checkpoint writer, state to resume."""

    on_epoch: Callable[[int, dict[str, float]], None] | None = None
    progress: bool = False
    checkpoint: Callable[[dict], None] | None = None
    resume: dict | None = None


def _end_id(data) -> int | None:
    return data.vocab.index(END[data.unit]) if END[data.unit] in data.vocab else None


class _LMEstimator:
    model: Any

    def __init__(self, cfg, seed: int):
        self.cfg, self.seed = cfg, int(seed)

    def predict(self, data, split: str) -> np.ndarray:
        s = data.split(split)
        return self.model.log2probs(s.ids, s.starts)

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.model.state_dict()

    @property
    def n_params(self) -> int:
        return self.model.n_params

    def diagnostic_batch(self, data):
        return None

    def sample_text(self, data, temperature: float | None = None, seed: int | None = None) -> str:
        rng = np.random.default_rng(self.seed + SAMPLE_SEED_OFFSET if seed is None else seed)
        prompt = data.encode_prompt(data.prompt)
        tau = data.temperature if temperature is None else temperature
        ids = self.model.sample(prompt, data.sample_length, tau, rng, _end_id(data))
        return data.prompt + ("" if data.unit == "char" or not data.prompt else " ") + data.decode(ids)

    def artifacts(self, data) -> dict[str, Callable[[Path], None]]:
        def write(path):
            Path(path).write_text(self.sample_text(data), encoding="utf-8")

        return {"samples.txt": write}


class RNNLMEstimator(_LMEstimator):
    """RNN/LSTM/GRU language model trained by truncated BPTT through ``harness.training.fit``."""

    def fit(self, data, hooks: Hooks | None = None) -> dict[str, float]:
        hooks = hooks or Hooks()
        cfg = self.cfg
        if cfg.bidirectional:
            raise ConfigError(
                "a language model cannot be bidirectional: the reverse direction would read the symbol it predicts",
                "drop model.bidirectional=true",
            )
        rng = np.random.default_rng(self.seed)
        self.model = RNNLM(data.vocab_size, cfg, rng)
        k = int(cfg.bptt_steps or data.chunk_length)
        check_positive(k, "model.bptt_steps")
        train = data.train
        t0 = time.perf_counter()
        history = training.fit(
            self.model,
            cfg,
            train_batches=lambda r: self.model.train_batches(train.ids, train.starts, cfg.batch_size, k, r),
            batch_size_of=lambda b: b.y.size,
            dev_score=lambda: data.score("dev", self.predict(data, "dev"))[data.per],
            rng=rng,
            higher_is_better=False,
            on_epoch=hooks.on_epoch,
            progress=hooks.progress,
            checkpoint=hooks.checkpoint,
            resume=hooks.resume,
        )
        return {
            "train_seconds": time.perf_counter() - t0,
            "best_epoch": float(history.best_epoch),
            "epochs_run": float(len(history.dev_score)),
            "train_chars_per_second": history.n_train_items / max(history.seconds, 1e-9),
        }


class HMMLMEstimator(_LMEstimator):
    """hmmlearn CategoricalHMM by Baum-Welch (``model.training=unsupervised``), or counted from the
    true states of synthetic data (``model.training=supervised``, the exact supervised view)."""

    def fit(self, data, hooks: Hooks | None = None) -> dict[str, float]:
        cfg = self.cfg
        t0 = time.perf_counter()
        if cfg.training == "supervised":
            if data.train_states is None:
                raise ConfigError(
                    "model.training=supervised needs known hidden states, which only task.dataset=synthetic has",
                    "set model.training=unsupervised (Baum-Welch)",
                )
            K = len(data.process.startprob)
            self.model = HMMLM(K).fit_supervised(data.train.ids, data.train_states, data.train.starts, data.vocab_size)
            iters = 0
        else:
            K = int(cfg.n_states or 32)
            check_positive(K, "model.n_states")
            self.model = HMMLM(K, cfg.n_iter, cfg.tol, self.seed).fit(
                data.train.ids, data.train.starts, data.vocab_size
            )
            iters = self.model.n_iter_
        seconds = time.perf_counter() - t0
        return {
            "train_seconds": seconds,
            "best_epoch": float(iters),
            "epochs_run": float(iters),
            "train_chars_per_second": len(data.train) * max(iters, 1) / max(seconds, 1e-9),
        }


def make_estimator(model_cfg, seed: int) -> _LMEstimator:
    return HMMLMEstimator(model_cfg, seed) if hasattr(model_cfg, "n_states") else RNNLMEstimator(model_cfg, seed)


def run(data, estimator: _LMEstimator, hooks: Hooks | None = None) -> dict[str, float]:
    """Fit, score dev and test, add yardsticks and the reference: every metric of one run (no tracking)."""
    metrics = dict(estimator.fit(data, hooks))
    for split, prefix in (("dev", "best_dev_"), ("test", "test_")):  # dev_<metric> is the per-epoch history
        metrics |= {f"{prefix}{k}": v for k, v in data.score(split, estimator.predict(data, split)).items()}
    metrics |= data.baselines() | data.reference_metrics()
    if "entropy_rate" in metrics:
        metrics["gap_to_entropy_rate"] = metrics[data.main_metric] - metrics["entropy_rate"]
    metrics["n_params"] = float(estimator.n_params)
    return metrics
