"""The Python route: ``harness.run(["model=lstm", "task=pos", "seed=1"])`` does what
``python -m harness model=lstm task=pos seed=1`` does and returns a ``RunResult``
(``run_id``, ``metrics``, ``main_metric``, ``.main``).

The overrides are the command line's, checked the same way (a bad one raises
``harness.errors.ConfigError`` with the same sentence); keyword arguments are shorthand for root
settings (``harness.run(["model=hmm"], seed=2, tracking_uri="sqlite:///x.db")``). No Hydra app runs,
so no output folder is made; recurrent checkpoints go to a temporary folder (and to MLflow).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["run"]


def run(overrides: list[str] | tuple[str, ...] = (), **settings: Any) -> Any:
    """Train and evaluate one model on one task, recorded in MLflow; returns its ``RunResult``."""
    from harness.cli import compose_checked
    from harness.config import to_config
    from harness.experiment import run_result
    from harness.tracking import _check_reachable, tracking_uri

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    args = [*overrides, *(f"{k}={_literal(v)}" for k, v in settings.items())]
    cfg = compose_checked(args)
    config = to_config(cfg)
    _check_reachable(tracking_uri(config.tracking_uri))
    return run_result(config, cfg)


def _literal(value: Any) -> str:
    """A Python value as an override's value: None -> null, True -> true."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)
