"""A Hydra sweeper on a current Optuna: ``python -m harness -m hydra/sweeper=harness_optuna model.lr='tag(log,interval(1e-4,1e-2))'``.

Glue only: Optuna's TPE sampler (seeded) proposes, Optuna's median pruner prunes, an RDB storage
keeps the study. The loop asks ``n_jobs`` trials, launches them as one batch of ordinary jobs
through the configured launcher (joblib: parallel processes; submitit: a cluster), then tells the
study each trial's outcome, which the job left on the trial (harness.tuning.JobTrial): the dev
score (COMPLETE), the epoch it was pruned at (PRUNED), or nothing (FAIL). It stops when the study
holds ``n_trials`` complete or pruned trials, or when their CPU seconds reach ``budget_seconds``.

Resuming is running the same command again: the study (named from the command unless
``study_name`` is given) is loaded and only the missing trials are run. Trials of a batch that
Ctrl-C interrupted are told FAIL before the sweeper exits; trials left RUNNING by a crash are
failed by Optuna's heartbeat check once ``grace_period`` seconds have passed without a beat.
"""

# no ``from __future__ import annotations``: Hydra's plugin scanner executes this module before it is in
# sys.modules, where dataclasses look string annotations up (a crash of every compose from the repo root)

import sys
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


@dataclass
class HarnessOptunaSweeperConf:
    _target_: str = "hydra_plugins.harness_optuna_sweeper.optuna_sweeper.HarnessOptunaSweeper"
    direction: str = "maximize"  # maximize (accuracy) or minimize (rmse): the task's dev figure
    study_name: Optional[str] = None  # null = named from the command (the same command resumes it)
    storage: Optional[str] = None  # SQLAlchemy URL; null = optuna.db beside an SQLite MLflow store
    n_trials: int = 20  # complete + pruned trials the study should hold (a resumed study adds the rest)
    budget_seconds: Optional[float] = None  # or: stop once the trials' CPU seconds add up to this
    n_jobs: int = 1  # trials per batch, run in parallel by the launcher (hydra/launcher=joblib)
    seed: int = 0  # TPE sampler seed
    n_startup_trials: int = 5  # TPE: random trials before the model takes over
    prune: bool = True  # median pruner on the per-epoch dev score
    pruner_startup_trials: int = 3  # no pruning before this many trials have finished
    pruner_warmup_epochs: int = 2  # the first epochs of a trial, never pruned
    heartbeat_interval: int = 30  # seconds between a running trial's heartbeats
    grace_period: int = 300  # a RUNNING trial without a heartbeat this long is failed (a crashed sweeper)
    params: Dict[str, str] = field(default_factory=dict)  # the search space: key -> override value
    trial: Optional[int] = None  # set by the sweeper on each job: which trial it is


ConfigStore.instance().store(
    group="hydra/sweeper", name="harness_optuna", node=HarnessOptunaSweeperConf, provider="harness"
)


class HarnessOptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        settings.pop("trial", None)
        self.settings = HarnessOptunaSweeperConf(**{k: v for k, v in settings.items() if k != "_target_"})
        self.settings.params = {str(k): str(v) for k, v in (settings.get("params") or {}).items()}
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: List[str]) -> List[Any]:
        import optuna
        from optuna.trial import TrialState

        from harness import tuning
        from harness.interrupts import shielded
        from harness.tracking import tracking_uri

        s = self.settings
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # the heartbeat is "experimental" since Optuna 2.9 and meant for Study.optimize; we beat ourselves
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        plain, space = tuning.search_space([f"{k}={v}" for k, v in s.params.items()] + list(arguments))
        if not space:
            raise ValueError("hydra/sweeper=harness_optuna needs a search space, e.g. model.lr='interval(1e-4,1e-2)'")
        name = s.study_name or tuning.default_study_name(plain, space)
        uri = tracking_uri(OmegaConf.select(self.config, "tracking_uri", default=None))
        url = tuning.storage_url(s.storage, uri)
        storage = tuning.open_storage(url, s.heartbeat_interval, s.grace_period)
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            direction=s.direction,
            sampler=optuna.samplers.TPESampler(seed=s.seed, n_startup_trials=s.n_startup_trials),
            pruner=tuning.median_pruner(s.pruner_startup_trials, s.pruner_warmup_epochs),
            load_if_exists=True,
        )
        hydra_overrides = [f"hydra.sweeper.study_name='{name}'", f"hydra.sweeper.storage='{url}'"]
        print(f"harness: study {name!r} in {url}", file=sys.stderr, flush=True)
        _tag_run(_parent_run_id(), {"optuna.study": name, "optuna.storage": url})
        returns: List[Any] = []
        while True:
            optuna.storages.fail_stale_trials(study)  # RUNNING trials of a crashed sweeper
            finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            spent = sum(float(t.user_attrs.get(tuning.CPU_SECONDS, 0.0)) for t in finished)
            left = s.n_trials - len(finished)
            if left <= 0 or (s.budget_seconds is not None and spent >= s.budget_seconds):
                break
            trials: list = []
            told: set[int] = set()
            beat = None
            try:
                with shielded():  # Ctrl-C waits until the batch is asked, so no asked trial goes unrecorded
                    trials += [study.ask(space) for _ in range(min(s.n_jobs, left))]
                    beat = _Heartbeat(storage, [t._trial_id for t in trials], s.heartbeat_interval)
                batch = [
                    plain
                    + [tuning.as_override(k, v) for k, v in t.params.items()]
                    + hydra_overrides
                    + [f"hydra.sweeper.trial={t.number}"]
                    for t in trials
                ]
                results = self.launcher.launch(batch, initial_job_idx=self.job_idx)
                self.job_idx += len(batch)
                for t, result in zip(trials, results):
                    with shielded():  # the run's tag and the study's record of a trial go together
                        self._tell(study, t, result)
                        told.add(t.number)
                returns.extend(results)
            finally:
                with shielded():  # interrupted (Ctrl-C) or a launcher error: no trial is left RUNNING
                    if beat is not None:
                        beat.stop()
                    for t in trials:
                        if t.number not in told:
                            run_id = study._storage.get_trial(t._trial_id).user_attrs.get(tuning.RUN_ID)
                            _tag_run(run_id, {"optuna.state": TrialState.FAIL.name})
                            study.tell(t, state=TrialState.FAIL)
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if done:
            best = study.best_trial
            print(
                f"harness: study {name!r}: best trial {best.number}, dev score {best.value:.4f}, "
                + " ".join(tuning.as_override(k, v) for k, v in best.params.items()),
                file=sys.stderr,
                flush=True,
            )
        return returns

    @staticmethod
    def _tell(study, trial, result) -> None:
        """The outcome the job left on the trial: pruned, a dev score, or (neither) a failure."""
        from optuna.trial import TrialState

        from harness import tuning

        attrs = study._storage.get_trial(trial._trial_id).user_attrs
        if tuning.PRUNED_AT in attrs:
            state = TrialState.PRUNED
        elif tuning.OBJECTIVE in attrs:
            state = TrialState.COMPLETE
        else:
            state = TrialState.FAIL
        value = attrs.get(tuning.OBJECTIVE) if state == TrialState.COMPLETE else None
        _tag_run(attrs.get(tuning.RUN_ID), {"optuna.state": state.name})  # first: a told trial has its tag
        study.tell(trial, value, state=state)


def _parent_run_id() -> str | None:
    from harness.sweep import read_parent

    parent = read_parent(None)  # written by harness.callbacks.SweepCallback before the sweep starts
    return parent.run_id if parent else None


def _tag_run(run_id: str | None, tags: dict[str, str]) -> None:
    """Tags on a run of this sweep: the parent (study name) or a trial's run (its state; the job itself
    tagged it with the study and trial number)."""
    from harness.sweep import read_parent

    parent = read_parent(None)
    if not run_id or parent is None:
        return
    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=parent.tracking_uri)
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
    except Exception as exc:  # the study holds the state either way
        print(f"harness: could not tag MLflow run {run_id} ({exc})", file=sys.stderr)


class _Heartbeat:
    """Beats for a batch's trials while it runs, so a crashed sweeper's trials can be told from live ones."""

    def __init__(self, storage, trial_ids: list[int], interval: int):
        self.storage, self.trial_ids, self.interval = storage, trial_ids, interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            for trial_id in self.trial_ids:
                self.storage.record_heartbeat(trial_id)
            if self.stopped.wait(self.interval):
                return

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
