"""Sweeps: expand ``-m`` overrides into jobs and check each one before Hydra launches any; the parent
MLflow run that a sweep's jobs attach to; failed jobs recorded instead of ending the sweep.

A sweep's jobs are the cartesian product of the comma lists among ``hydra.sweeper.params`` (set by
an ``+experiment=NAME`` preset) and the command-line overrides, exactly as Hydra's basic sweeper
builds them: a command-line override replaces a preset's sweep of the same key.

Before Hydra starts, ``harness.cli.precheck`` composes and validates every combination this way
(once per combination for all seeds), so a typo in a preset or override stops the sweep before any
job. With another sweeper (``hydra/sweeper=optuna``) the search space is that sweeper's: only the
plain overrides are prechecked, each job validates itself, and a job that fails is recorded.

The parent run is created once, in the launching process, by ``harness.callbacks.SweepCallback``,
which writes ``<sweep dir>/mlflow_parent.json``; each job reads it with ``read_parent``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from harness.errors import ConfigError

PARENT_FILE = "mlflow_parent.json"
PARENT_ENV = "HARNESS_SWEEP_PARENT"  # path of the parent file, for jobs whose sweep dir differs


def _parse(overrides: list[str]):
    try:
        return OverridesParser.create().parse_overrides(overrides)
    except Exception as exc:
        raise ConfigError(f"cannot parse the sweep overrides ({str(exc).splitlines()[0]})", "write key=a,b,c") from None


def sweep_combinations(overrides: list[str], params: dict[str, str] | None = None) -> list[list[str]]:
    """Every job's override list, as Hydra's basic sweeper builds it: ``params`` (hydra.sweeper.params)
    first, then ``overrides``; the last value given for a key wins; cartesian product of the comma lists."""
    parsed = _parse([f"{k}={v}" for k, v in (params or {}).items()] + list(overrides))
    for o in parsed:
        if o.is_sweep_override() and not o.is_discrete_sweep():
            key = o.get_key_element()
            raise ConfigError(f"{key}: only comma lists can be swept here", f"write {key}=a,b,c")
    (jobs,) = BasicSweeper.split_arguments(parsed, max_batch_size=None)  # one batch: every job
    return jobs


def split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(plain overrides, sweep overrides) of a command line."""
    plain, sweep = [], []
    for text, o in zip(overrides, _parse(overrides)):
        (sweep if o.is_sweep_override() else plain).append(text)
    return plain, sweep


def expand_sweep(
    overrides: list[str], check: Callable[[list[str]], object], params: dict[str, str] | None = None
) -> list[list[str]]:
    """Every combination, each checked before the sweep starts: the first that fails ``check`` stops it."""
    combos = sweep_combinations(overrides, params)
    # A seed interacts with no other value, so each combination is composed once for all seeds
    # (plus once per new seed value): a 60-job preset with 3 seeds costs ~22 compositions, not 60.
    checked: set[tuple[str, ...]] = set()
    seen_seeds: set[str] = set()
    for combo in combos:
        rest = tuple(o for o in combo if o.split("=", 1)[0] != "seed")
        seed = next((o for o in combo if o.split("=", 1)[0] == "seed"), "")
        if rest not in checked or seed not in seen_seeds:
            check(combo)
            checked.add(rest)
            seen_seeds.add(seed)
    return combos


# ----------------------------------------------------------------------------------------------
# the parent run


@dataclass
class Parent:
    """Where a sweep's jobs record their runs."""

    run_id: str
    tracking_uri: str
    experiment_name: str
    experiment_id: str

    def write(self, sweep_dir: Path) -> Path:
        """``<sweep dir>/mlflow_parent-<run id>.json``, which this sweep's jobs find through $HARNESS_SWEEP_PARENT
        (Hydra names the sweep folder to the second: two sweeps started together share it), and a copy as
        ``mlflow_parent.json`` for people and for jobs started without the variable. Returns the first."""
        sweep_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(asdict(self), indent=2) + "\n"
        own = sweep_dir / f"mlflow_parent-{self.run_id}.json"
        for path in (own, sweep_dir / PARENT_FILE):
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        return own


def read_parent(sweep_dir: str | Path | None) -> Parent | None:
    """The sweep's parent run: from $HARNESS_SWEEP_PARENT (set by the sweep's own launcher), else from
    ``<sweep_dir>/mlflow_parent.json``."""
    candidates = [Path(os.environ[PARENT_ENV])] if os.environ.get(PARENT_ENV) else []
    if sweep_dir:
        candidates.append(Path(sweep_dir) / PARENT_FILE)
    for path in candidates:
        if path.is_file():
            return Parent(**json.loads(path.read_text(encoding="utf-8")))
    return None


def sweep_experiment_name(cfg: Any, combos: list[list[str]]) -> str:
    """The MLflow experiment of a sweep: ``experiment_name`` if set, else the task when all jobs share
    one, else "sweeps" (children then go to the parent's experiment, so MLflow nests them)."""
    if cfg.get("experiment_name"):
        return str(cfg.experiment_name)
    tasks = set()
    for combo in combos:
        chosen = [o.split("=", 1)[1] for o in combo if o.lstrip("+~").split("=", 1)[0] == "task"]
        tasks.add(chosen[-1] if chosen else str(cfg.task.name))
    return tasks.pop() if len(tasks) == 1 else "sweeps"


def record_failed_job(parent: Parent, cfg: Any, overrides: list[str], error: BaseException) -> str:
    """A FAILED child run for a job that stopped before its own run started (bad combination, bad data),
    so the report lists it as a failure. Returns the run id."""
    from omegaconf import OmegaConf

    from harness.config import flatten
    from harness.tracking import Tracker

    model = str(OmegaConf.select(cfg, "model.name", default="?"))
    task = str(OmegaConf.select(cfg, "task.name", default="?"))
    seed = str(OmegaConf.select(cfg, "seed", default="?"))
    tags = {
        "model": model,
        "task": task,
        "seed": seed,
        "dataset": str(OmegaConf.select(cfg, "task.dataset", default="")),
        "failure": f"{type(error).__name__}: {error}"[:5000],
        "harness.job_overrides": " ".join(overrides),
    }
    name = f"{model}-{task}-seed{seed}"
    tracker = Tracker(parent.tracking_uri, parent.experiment_name, name, tags, parent.run_id)
    tracker.log_params(flatten(OmegaConf.to_container(cfg, resolve=False)))
    tracker.end("FAILED")
    return tracker.run_id
