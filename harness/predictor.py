"""A trained model as one file of arrays, and the object that applies it to new input.

``predictor.npz`` (an artifact of every finished POS, time-series, language-model and sentiment run, and the artifact inside
its MLflow model) holds the estimator's ``export`` (weights, vocabularies, tag list, scaling; see
harness.estimators.base) plus ``meta.*`` entries: the format version, the harness version, the
task, the model's schema and its config as JSON. It is read with ``allow_pickle=False``: nothing in
it is code.

``Predictor.load(path)`` rebuilds the estimator from that file alone (no task data, no tracking
store); ``tag``, ``forecast``, ``continue_text`` and ``classify`` answer in the task's terms. harness.predict (the command line)
and harness.serving (the MLflow pyfunc model) both go through it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from harness import __version__
from harness.errors import ConfigError, DataError

FORMAT = 1  # bump when the meta.* layout or an export's keys change incompatibly
FILE = "predictor.npz"
TASKS = (
    "pos",
    "timeseries",
    "lm",
    "sentiment",
)  # tasks whose models take new input (long-range recall is a probe, not a tool)


def bundle(config: Any, estimator: Any, data: Any) -> dict[str, np.ndarray] | None:
    """The arrays of ``predictor.npz`` for a fitted ``estimator``, or None when it takes no new input."""
    from harness.config import MODEL_SCHEMAS

    task = config.task.name
    exported = estimator.export(data) if task in TASKS else None
    if exported is None:
        return None
    schema = next(m for m, by_task in MODEL_SCHEMAS.items() if by_task.get(task) is type(config.model))
    meta = {
        "meta.format": np.array(FORMAT),
        "meta.harness_version": np.array(__version__),
        "meta.task": np.array(task),
        "meta.schema": np.array(schema),
        "meta.model_config": np.array(json.dumps(dataclasses.asdict(config.model))),
    }
    return meta | exported


class Predictor:
    """A fitted estimator rebuilt from ``predictor.npz``: ``tag(sentences)``, ``forecast(values)``,
    ``continue_text(prompt)`` or ``classify(texts)``."""

    def __init__(self, task: str, model_name: str, estimator: Any):
        self.task, self.model_name, self.estimator = task, model_name, estimator

    @classmethod
    def load(cls, path: str | Path, what: str | None = None) -> Predictor:
        """Read ``path``; ``what`` names it in errors (e.g. "run 1a2b..."). A file from an incompatible
        version, or not a predictor at all, is a DataError naming the fix."""
        from harness import estimators
        from harness.config import model_schema
        from harness.tasks.base import resolve

        what = what or str(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError) as exc:
            raise DataError(
                f"{what}: cannot read its {FILE} ({exc})", "train the run again with this harness"
            ) from None
        fmt = int(arrays["meta.format"]) if "meta.format" in arrays else None
        if fmt != FORMAT:
            made = str(arrays.get("meta.harness_version", "an unknown version"))
            raise DataError(
                f"{what}: its {FILE} has format {fmt} (harness {made}); this harness {__version__} reads format {FORMAT}",
                "train the run again with this harness, or install the version that trained it",
            )
        task, schema = str(arrays["meta.task"]), str(arrays["meta.schema"])
        settings = json.loads(str(arrays["meta.model_config"]))
        try:
            cfg = model_schema(schema, task)(**settings)
            family = type(cfg).family
            adapter = resolve(estimators.ESTIMATORS[(task, family)])
        except (ConfigError, KeyError, TypeError) as exc:
            raise DataError(
                f"{what}: its model ({schema} on {task}) is not one this harness {__version__} knows ({exc})",
                "install the harness version that trained it",
            ) from None
        return cls(task, settings.get("name", schema), adapter.from_export(cfg, arrays))

    def tag(self, sentences: list[list[str]]) -> list[list[str]]:
        """One tag per token of each sentence (POS models)."""
        self._expect("pos")
        return self.estimator.predict_new(sentences)

    def forecast(self, values, horizon: int | None = None) -> dict[str, np.ndarray]:
        """``{"horizon", "forecast"[, "lower", "upper"]}`` after the last of ``values`` (time-series models)."""
        self._expect("timeseries")
        return self.estimator.predict_new(values, horizon=horizon)

    def continue_text(self, prompt: str, length: int = 300, temperature: float = 1.0, seed: int = 0) -> str:
        """``prompt`` continued by ``length`` symbols (language models)."""
        self._expect("lm")
        return self.estimator.predict_new(prompt, length=length, temperature=temperature, seed=seed)

    def classify(self, texts: list[str]) -> dict[str, Any]:
        """``{"label", "probability", "probabilities" (N, C), "classes"}`` for each text (sentiment models)."""
        self._expect("sentiment")
        return self.estimator.predict_new(texts)

    def _expect(self, task: str) -> None:
        if self.task != task:
            raise DataError(f"this is a {self.task} model, not a {task} one", f"use a run of task={task}")
