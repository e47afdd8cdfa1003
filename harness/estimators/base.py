"""The estimator contract: a model on a task, as the experiment sees it.

An estimator wraps one model (harness.models) for one task (harness.tasks): it is built from the
model's config, the task's data and the run's generator, ``fit`` trains it on the training split
(reporting each epoch through ``Hooks``), and ``predict`` returns a split's prediction in the form
the task scores. It is the only place where a model meets a task, so models never learn what a
task is and tasks never learn what a model is.

Using a fitted estimator on NEW input (harness.predict, the MLflow model of harness.serving) is a
second, small contract: ``export(data)`` returns everything prediction needs beyond the model's
config, as a flat dict of arrays (weights, and what the task data taught: vocabularies and the tag
list, a forecaster's transform and scale; text as ``np.str_`` arrays), saved with ``np.savez`` and
read back with ``allow_pickle=False``; ``from_export(cfg, arrays)`` rebuilds the estimator from it
without any task data; ``predict_new(inputs, **options)`` answers in the task's own terms (POS:
token lists -> tag lists; time series: recent values in original units -> a table of forecasts).
An estimator whose ``export`` returns None cannot be used on new input (e.g. long-range recall).

``GradientEstimator`` is the shared shape of every gradient-trained (recurrent) estimator: the
training loop of harness.training over the task's batches with dev early stopping; a subclass
says how batches are made, how big each is, and how a split is predicted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from harness import training


@dataclass
class Hooks:
    """What the run gives an estimator's training: metric logging, checkpointing, a state to resume from."""

    log: Callable[[int, dict[str, float]], None]  # (epoch, {metric: value})
    checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None
    resume: dict[str, np.ndarray] | None = None
    progress: bool = True


class Estimator:
    """A model on a task. Subclasses set ``self.model`` in ``__init__`` and implement ``fit``/``predict``."""

    model: Any

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        self.cfg = cfg  # the model's schema (harness.config.MODEL_SCHEMAS)

    def fit(self, data: Any, hooks: Hooks) -> dict[str, float]:
        """Train on ``data``'s training split; return the training figures (``train_seconds``, ...)."""
        raise NotImplementedError

    def predict(self, data: Any, split: str) -> Any:
        """The prediction of ``split`` in the form ``data.score`` reads."""
        raise NotImplementedError

    def metrics(self, data: Any) -> dict[str, float]:
        """Figures of the fitted model itself (e.g. an HMM's BIC), logged with the run's metrics."""
        return {}

    def artifacts(self, data: Any) -> dict[str, Callable[[Path], None]]:
        """Extra files for the run's artifacts: file name -> writer(path) (a writer may add companions)."""
        return {}

    def diagnostic_batch(self, data: Any) -> Any:
        """A dev batch for the vanishing-gradient diagnostic (recurrent models), or None."""
        return None

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.model.state_dict()

    def export(self, data: Any) -> dict[str, np.ndarray] | None:
        """Weights and what ``data`` taught, as arrays for ``from_export`` (None: no use on new input)."""
        return None

    @classmethod
    def from_export(cls, cfg: Any, arrays: dict[str, np.ndarray]) -> Estimator:
        """The fitted estimator rebuilt from ``export``'s arrays and the model's config (no task data)."""
        raise NotImplementedError

    def predict_new(self, inputs: Any, **options: Any) -> Any:
        """The prediction for new input, in the task's terms (see the module docstring)."""
        raise NotImplementedError

    @property
    def n_params(self) -> int:
        return self.model.n_params


def exported_state(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's state_dict inside an ``export`` (its keys are ``state.<name>``)."""
    return {k.removeprefix("state."): v for k, v in arrays.items() if k.startswith("state.")}


def timed(fit: Callable[[], Any]) -> dict[str, float]:
    """Run ``fit`` and return ``{"train_seconds": ...}``: the training figure of models fitted in one go."""
    start = time.perf_counter()
    fit()
    return {"train_seconds": time.perf_counter() - start}


class GradientEstimator(Estimator):
    """A recurrent network trained by harness.training: epochs of shuffled batches, dev early stopping."""

    def train_batches(self, data: Any, rng: np.random.Generator) -> Iterable:
        raise NotImplementedError

    def batch_size_of(self, batch: Any) -> int:
        """How many of the task's items (``data.items``: tokens, windows, ...) ``batch`` holds."""
        raise NotImplementedError

    def n_train_batches(self, data: Any) -> int | None:
        """How many batches ``train_batches`` yields per epoch (the progress bar's total), if known."""
        return None

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        super().__init__(cfg, data, rng, seed)
        self.rng = rng  # one stream: init (already drawn), then shuffling and dropout

    def fit(self, data: Any, hooks: Hooks) -> dict[str, float]:
        main = data.main_metric.removeprefix("test_")

        def on_epoch(epoch: int, values: dict[str, float]) -> None:
            logged = {"train_loss": values["train_loss"], data.dev_metric: values["dev_score"]}
            hooks.log(epoch, logged | {"grad_norm": values["grad_norm"]})

        history = training.fit(
            self.model,
            self.cfg,
            lambda r: self.train_batches(data, r),
            self.batch_size_of,
            lambda: data.score("dev", self.predict(data, "dev"))[main],
            self.rng,
            higher_is_better=data.higher_is_better,
            on_epoch=on_epoch,
            progress=hooks.progress,
            checkpoint=hooks.checkpoint,
            resume=hooks.resume,
            n_batches=self.n_train_batches(data),
            dev_name=data.dev_metric,
        )
        return {
            "train_seconds": history.seconds,
            "best_epoch": history.best_epoch,
            "epochs_run": len(history.dev_score),
            f"train_{data.items}_per_second": history.n_train_items / max(history.seconds, 1e-9),
        }
