"""How a sweep ended, for its exit status: each failed job leaves a line in ``<sweep dir>/failed_jobs.jsonl``
and ``SweepOutcome`` (a Hydra callback in the launching process) collects them when the sweep ends.

Jobs may run in other processes (``hydra/launcher=joblib``, submitit), so they report through the
sweep folder, not through memory. ``harness.cli.main`` then exits 1 naming the failed jobs, after the
report of the rest has been written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

FAILED_FILE = "failed_jobs.jsonl"

# the failed jobs of the sweep that ended last in this process: [{"overrides": ..., "reason": ...}]
LAST_SWEEP_FAILURES: list[dict[str, str]] = []
LAST_SWEEP_JOBS: list[int] = []  # how many jobs ran ([n], or [] before any sweep ended)


def record_failure(sweep_dir: str | Path, overrides: list[str], reason: str) -> None:
    """Append the failed job's overrides and reason to the sweep's failure file (one JSON line)."""
    path = Path(sweep_dir) / FAILED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"overrides": " ".join(overrides), "reason": reason.strip().splitlines()[-1][:300]})
    with path.open("a", encoding="utf-8") as f:  # one short write per job: whole lines even from parallel jobs
        f.write(line + "\n")


def read_failures(sweep_dir: str | Path) -> list[dict[str, str]]:
    path = Path(sweep_dir) / FAILED_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def failure_message(failures: list[dict[str, str]], n_jobs: int | None) -> str:
    """``2 of 3 sweep jobs failed: [model=rnn seed=0] (reason); ...; the report holds the others``."""
    of = f" of {n_jobs}" if n_jobs else ""
    jobs = "; ".join(f"[{f['overrides']}] ({f['reason']})" for f in failures)
    rest = "the report and MLflow hold the others" if n_jobs and len(failures) < n_jobs else "none finished"
    return f"{len(failures)}{of} sweep jobs failed: {jobs}; {rest}"


class SweepOutcome(Callback):
    """Configured under ``hydra.callbacks.outcome`` in conf/config.yaml."""

    def __init__(self) -> None:
        self.sweep_dir: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        (self.sweep_dir / FAILED_FILE).unlink(missing_ok=True)  # a re-used sweep folder starts clean
        LAST_SWEEP_FAILURES.clear()
        LAST_SWEEP_JOBS.clear()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.sweep_dir is None:
            return
        LAST_SWEEP_FAILURES[:] = read_failures(self.sweep_dir)
        n_jobs = sum(1 for p in self.sweep_dir.iterdir() if p.is_dir() and p.name.isdigit())
        LAST_SWEEP_JOBS[:] = [n_jobs]
