"""Where a model meets a task: one estimator adapter per (task, model family), and their registry.

``build(config, data, rng)`` returns the estimator of ``config.model`` on ``config.task``. A new
model family or task adds its adapter module here and one ``ESTIMATORS`` entry (or calls
``register_estimator``); nothing else in the experiment changes. See harness.estimators.base for
the contract.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.estimators.base import Estimator, GradientEstimator, Hooks
from harness.tasks.base import resolve

__all__ = ["ESTIMATORS", "Estimator", "GradientEstimator", "Hooks", "build", "check_available", "register_estimator"]

# (task, model family) -> "module:class" (imported when used) or the class itself
ESTIMATORS: dict[tuple[str, str], Any] = {
    ("pos", "recurrent"): "harness.estimators.pos:RecurrentTagger",
    ("pos", "hmm"): "harness.estimators.pos:HMMTagger",
    ("timeseries", "recurrent"): "harness.estimators.timeseries:RecurrentForecaster",
    ("timeseries", "hmm"): "harness.estimators.timeseries:HMMForecaster",
    # a panel (data.estimator_task): local fits of the adapters above in parallel, or one global network
    ("timeseries_panel", "recurrent"): "harness.estimators.panel:panel_forecaster",
    ("timeseries_panel", "hmm"): "harness.estimators.panel:panel_forecaster",
    ("longrange", "recurrent"): "harness.estimators.longrange:RecurrentClassifier",
    ("longrange", "hmm"): "harness.estimators.longrange:HMMTaggerClassifier",
    ("lm", "recurrent"): "harness.estimators.lm:RecurrentLM",
    ("lm", "hmm"): "harness.estimators.lm:HMMLanguageModel",
    ("sentiment", "recurrent"): "harness.estimators.sentiment:RecurrentTextClassifier",
    ("sentiment", "hmm"): "harness.estimators.sentiment:ClassConditionalHMMClassifier",
}


def register_estimator(task: str, family: str, estimator: Any) -> None:
    """Add the adapter of model family ``family`` on ``task`` (a class, or ``"module:class"``)."""
    ESTIMATORS[(task, family)] = estimator


def check_available(config: Any) -> None:
    """Raise a ConfigError unless an estimator adapter exists for ``config.model`` on ``config.task``."""
    family, task = type(config.model).family, config.task.name
    if (task, family) not in ESTIMATORS:
        able = sorted({f for t, f in ESTIMATORS if t == task})
        raise ConfigError(
            f"no {family} estimator is registered for task={task}",
            f"register one with harness.estimators.register_estimator, or use a family that has one: {', '.join(able)}",
        )


def build(config: Any, data: Any, rng: np.random.Generator) -> Estimator:
    """The estimator of ``config.model`` on ``config.task``, its parameters drawn from ``rng``. Task data may
    name another registry key than its task (``estimator_task``: a panel of series is ``timeseries_panel``)."""
    check_available(config)
    task = getattr(data, "estimator_task", config.task.name)
    return resolve(ESTIMATORS[(task, type(config.model).family)])(config.model, data, rng, config.seed)
