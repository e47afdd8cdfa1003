"""The task contract: what every task's data offers the experiment, and the registry of tasks.

A task module (``harness/tasks/<name>.py``) has a ``load(cfg, seed)`` that returns an object with
the shape of ``TaskData`` below: named splits, a way to score a prediction of a split, the
yardsticks every run logs beside the model, and the fields of the one-line summary. What a
"prediction" is belongs to the task (tag lists, forecasts in scaled units, class ids, per-symbol
log-probabilities); estimators (harness.estimators) produce it and the task alone reads it.

Tasks never import models.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import numpy as np


@dataclass
class DatasetInfo:
    """What a run's data was, for the tracking store's dataset records (MLflow ``log_input``).

    ``digest`` is a content digest of the loaded splits (not of the file name), so two runs on two
    versions of one file are told apart and a regenerated synthetic corpus matches its twin."""

    name: str  # e.g. "synthetic", "ud_english_ewt", "sunspots"
    source: str  # a path, a URL, or "harness:<generator>" for data made in process
    digest: str  # hex sha256 of the splits' content, shortened to 16 characters
    splits: dict[str, int] = field(default_factory=dict)  # split -> size in the task's items


def content_digest(parts: Iterable[Any]) -> str:
    """sha256 over arrays and strings, in order: the digest of ``DatasetInfo``."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(str(part).encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:16]


class TaskData(Protocol):
    """The data of one task for one config and seed."""

    source: str  # what the data is, for the summary line and the run's tags (e.g. "synthetic", "conllu:/path")
    main_metric: str  # the figure a run is judged by, e.g. "test_accuracy"
    higher_is_better: bool
    dev_metric: str  # the per-epoch dev figure of gradient-trained models, e.g. "dev_accuracy"
    dev_prefix: str  # prefix of the final dev scores, e.g. "best_dev_" (best epoch restored) or "dev_"
    predictions_file: str  # the artifact ``write_predictions`` fills, e.g. "test_predictions.tsv"
    items: str  # what the task counts for throughput figures: "tokens", "windows", "sequences"

    def n_items(self, split: str) -> int:
        """How many ``items`` ``split`` holds (training and prediction rates are items per second)."""
        ...

    def score(self, split: str, prediction: Any) -> dict[str, float]:
        """Metrics of ``prediction`` for ``split``, unprefixed (``{"accuracy": ...}``)."""
        ...

    def baselines(self) -> dict[str, float]:
        """The yardsticks on the test split, as logged metrics (``baseline_<name>_test_<metric>``)."""
        ...

    def reference_metrics(self, test_scores: dict[str, float]) -> dict[str, float]:
        """Known optima and the gap to them (synthetic data); ``{}`` when there are none."""
        ...

    def write_predictions(self, path: Path, prediction: Any) -> None:
        """The test prediction, item by item, as a file for the run's artifacts."""
        ...

    def summary(self, metrics: dict[str, float]) -> list[str]:
        """The fields of the run's one-line summary, e.g. ``["test_accuracy=0.9631", ...]``."""
        ...

    def dataset_info(self) -> DatasetInfo:
        """Name, source, content digest and split sizes of the data, for the run's dataset record."""
        ...

    # optional: ``run_tags() -> dict[str, str]``, what the task decided from the data (a forecasting task's
    # transform, season and chosen yardstick models), set as the run's tags after evaluation


# task name -> "module:function" (imported when used) or the loader itself
TASK_LOADERS: dict[str, str | Callable[[Any, int], TaskData]] = {
    "pos": "harness.tasks.pos:load_pos",
    "timeseries": "harness.tasks.timeseries:load_timeseries",
    "longrange": "harness.tasks.longrange:load_longrange",
    "lm": "harness.tasks.lm:load",
    "sentiment": "harness.tasks.sentiment:load_sentiment",
}


def register_task(name: str, loader: str | Callable[[Any, int], TaskData]) -> None:
    """Add a task: ``loader(task_cfg, seed)`` returns its ``TaskData``. Its schema is registered with
    ``harness.config.register_task_schema`` and its config file is ``conf/task/<name>.yaml``."""
    TASK_LOADERS[name] = loader


def resolve(target: str | Callable) -> Callable:
    """A registry entry: the object itself, or ``"module:attribute"`` imported now."""
    if callable(target):
        return target
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def load_task(cfg: Any, seed: int) -> TaskData:
    """The data of task ``cfg.name`` for ``cfg`` and ``seed``."""
    return resolve(TASK_LOADERS[cfg.name])(cfg, seed)
