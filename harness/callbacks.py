"""Hydra callback for sweeps (``-m``): one parent MLflow run per sweep, and a report at the end.

``on_multirun_start`` runs once in the launching process, before any job: it creates the tracking
store (a fresh sqlite file must not be created by parallel jobs racing each other), the experiment
and the parent run, and writes ``<sweep dir>/mlflow_parent.json`` for the jobs. ``on_multirun_end``
ends the parent run and writes ``reports/<name>/report.{md,html}``, also logged to the parent run.
If the sweep dies before its end (Ctrl-C, SIGTERM, a launcher error), the parent run is ended KILLED
at exit.
"""

from __future__ import annotations

import atexit
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from harness.errors import ConfigError
from harness.interrupts import install
from harness.sweep import PARENT_ENV, Parent, split_overrides, sweep_combinations, sweep_experiment_name

ORPHAN_WAIT = 15.0  # seconds an interrupted sweep waits for its workers to go before naming the survivors


class SweepCallback(Callback):
    """Configured under ``hydra.callbacks.sweep`` in conf/config.yaml."""

    def __init__(self, report: bool = True, report_dir: str | None = None, report_name: str | None = None):
        self.report = report
        self.report_dir = report_dir  # None = <project root>/reports
        self.report_name = report_name  # None = <preset or experiment>-<sweep start time>
        self.parent: Parent | None = None
        self.tracker = None  # the parent run's Tracker (launching process)
        self.started = ""  # sweep start time, names the report
        self.label = ""  # preset or experiment name, names the report
        self._ended = False

    # -- launching process ----------------------------------------------------------------------
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from harness.tracking import Tracker, tracking_uri

        install()  # SIGTERM between jobs (a scheduler's kill) then unwinds like Ctrl-C, and the exit hook
        # ends the parent run (the tracker's writes shield themselves either way)

        hc = config.hydra
        task_overrides = list(hc.overrides.task)
        params = {str(k): str(v) for k, v in (hc.sweeper.get("params") or {}).items()}
        try:
            combos = sweep_combinations(task_overrides, params)
            n_jobs = str(len(combos))
        except ConfigError:  # another sweeper's search space (e.g. optuna's interval(...)): jobs not known yet
            combos, n_jobs = [task_overrides], "?"
        experiment = sweep_experiment_name(config, combos)
        preset = OmegaConf.select(config, "hydra.runtime.choices.experiment", default=None)
        self.started = time.strftime("%Y-%m-%d_%H-%M-%S")
        label = preset or experiment
        sweep_dir = Path(str(hc.sweep.dir)).resolve()
        command = "python -m harness -m " + " ".join(
            shlex.quote(a) for a in sys.argv[1:] if a not in ("-m", "--multirun")
        )
        tags = {
            "harness.sweep": "true",
            "harness.sweep_command": command[:5000],
            "harness.sweep_dir": str(sweep_dir),
            "harness.sweep_jobs": n_jobs,
            "harness.preset": str(preset or ""),
            "harness.launcher": str(OmegaConf.select(config, "hydra.runtime.choices.hydra/launcher", default="basic")),
        }
        uri = tracking_uri(OmegaConf.select(config, "tracking_uri", default=None))
        tracker = Tracker(uri, experiment, f"sweep-{label}-{self.started}", tags)
        plain, swept = split_overrides(task_overrides)
        tracker.log_params(
            {
                "overrides": " ".join(plain) or "-",
                "sweep": " ".join([f"{k}={v}" for k, v in params.items()] + swept) or "-",
            }
        )
        self.parent = Parent(tracker.run_id, uri, experiment, tracker.experiment_id)
        path = self.parent.write(sweep_dir)
        os.environ[PARENT_ENV] = str(path)
        self.label = label
        self.tracker = tracker
        atexit.register(self._end_if_unfinished)
        print(
            f"harness: sweep of {n_jobs} jobs; parent MLflow run {tracker.run_id} in experiment {experiment!r}",
            file=sys.stderr,
            flush=True,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent is None:
            return
        client = self.tracker.client
        children = client.search_runs(
            [self.parent.experiment_id], f"tags.mlflow.parentRunId = '{self.parent.run_id}'", max_results=10000
        )
        counts: dict[str, int] = {}
        for r in children:
            counts[r.info.status] = counts.get(r.info.status, 0) + 1
        self.tracker.set_tags({"harness.sweep_status": " ".join(f"{k}={v}" for k, v in sorted(counts.items()))})
        where = ""
        if self.report:
            from harness.report import build_report

            out = Path(self.report_dir) if self.report_dir else None
            name = self.report_name or f"{self.label}-{self.started}"
            try:
                path = build_report(self.parent.tracking_uri, parent_run_id=self.parent.run_id, name=name, out_dir=out)
                where = f"; report: {path}"
            except KeyboardInterrupt:  # the jobs are done: end the parent as they ended, say how to rebuild
                self.tracker.end("FINISHED" if counts.get("FINISHED") else "FAILED")
                self._ended = True
                print(
                    f"harness: interrupted while writing the report (none was left half-written); the sweep's runs "
                    f"are in MLflow: rebuild it with python -m harness.report --parent {self.parent.run_id} --name {name}",
                    file=sys.stderr,
                    flush=True,
                )
                raise
            except Exception as exc:  # the sweep's runs are safe in MLflow; the report can be rebuilt
                where = f"; report failed ({type(exc).__name__}: {exc}); rebuild with python -m harness.report --parent {self.parent.run_id}"
        self.tracker.end("FINISHED" if counts.get("FINISHED") else "FAILED")
        self._ended = True
        os.environ.pop(PARENT_ENV, None)
        summary = ", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items())) or "no runs"
        print(f"harness: sweep done: {summary} [parent run {self.parent.run_id}]{where}", file=sys.stderr, flush=True)

    def _end_if_unfinished(self) -> None:
        if self.parent is None or self._ended:
            return
        try:
            self.tracker.end("KILLED")
        except Exception:
            pass
        try:
            self._end_orphaned_jobs()
        except Exception as exc:  # e.g. the tracking server is gone too: harness.runs stale --end later
            print(f"harness: could not check the sweep's jobs ({type(exc).__name__})", file=sys.stderr, flush=True)

    def _end_orphaned_jobs(self, wait: float = ORPHAN_WAIT) -> None:
        """Jobs still RUNNING when the sweep dies: their workers (joblib's processes) are killed with the
        launcher and cannot end their own runs. Each whose process is gone is ended KILLED with the reason and
        its resume command (waiting up to ``wait`` seconds for the workers to go); one that is still alive is
        named and left to finish."""
        from harness.interrupts import shielded
        from harness.runs import gone_reason

        client = self.tracker.client
        query = f"tags.mlflow.parentRunId = '{self.parent.run_id}' and attributes.status = 'RUNNING'"
        deadline = time.monotonic() + wait
        ended: list[str] = []
        while True:
            running = client.search_runs([self.parent.experiment_id], query, max_results=10000)
            alive = []
            for r in running:
                reason = gone_reason(r.data.tags)
                if reason is None:
                    alive.append(r.info.run_id)
                    continue
                rid = r.info.run_id
                with shielded():
                    client.set_tag(rid, "killed", f"its sweep was interrupted and {reason}; continue with resume={rid}")
                    client.set_terminated(rid, status="KILLED")
                ended.append(rid)
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if ended:
            print(
                f"harness: {len(ended)} job(s) of the interrupted sweep ended KILLED (their processes are gone); "
                "continue each with its overrides plus resume=<id>: " + ", ".join(ended),
                file=sys.stderr,
                flush=True,
            )
        if alive:
            print(
                f"harness: {len(alive)} job(s) still running after the sweep ended: " + ", ".join(alive),
                file=sys.stderr,
                flush=True,
            )
