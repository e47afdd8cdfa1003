"""Hyper-parameter search with Optuna: the search space, the study, and what a job does as a trial.

The sweeper (``hydra_plugins/harness_optuna_sweeper``, chosen with ``hydra/sweeper=harness_optuna``
or a ``+tune=<preset>``) asks Optuna for trials and launches each as an ordinary job; this module is
the part both sides share:

- ``search_space``: Hydra override syntax -> Optuna distributions. ``choice(a,b)`` and ``a,b`` are
  categorical, ``range(lo,hi[,step])`` an integer (or stepped float) range with ``hi`` excluded, as
  in Hydra, ``interval(lo,hi)`` a float range; ``tag(log, ...)`` samples on a log scale and
  ``tag(int, interval(...))`` draws integers. Optuna's TPE does the sampling.
- ``JobTrial``: inside a job, the trial it is (from ``hydra.sweeper.trial``): it tags the MLflow run
  with the study and trial number, reports each epoch's dev score to the trial (the median pruner
  reads it) and raises ``Pruned`` when Optuna says stop; at the end it records the dev score the
  sweeper tells the study (the objective is always the dev figure, never test).

The study lives in an SQLite file beside the MLflow store (or any SQLAlchemy URL given as
``hydra.sweeper.storage``), so it survives Ctrl-C or a crash and several sweepers may share it.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Callable

from harness.errors import ConfigError

# trial user attributes written by the job and read by the sweeper
OBJECTIVE = "dev_score"
PRUNED_AT = "pruned_at_epoch"
CPU_SECONDS = "cpu_seconds"
RUN_ID = "mlflow_run_id"


class Pruned(Exception):
    """Optuna's median pruner stopped this trial; the run ends FINISHED, tagged ``optuna.state=PRUNED``."""


def register_sweeper() -> None:
    """Make ``hydra/sweeper=harness_optuna`` known in this process. Hydra finds plugins by listing the
    ``hydra_plugins`` folders on sys.path, which misses an editable install (``pip install -e .``)."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.harness_optuna_sweeper.optuna_sweeper import HarnessOptunaSweeper

    Plugins.instance().register(HarnessOptunaSweeper)


def search_space(overrides: list[str]) -> tuple[list[str], dict[str, Any]]:
    """(plain overrides, {key: optuna distribution}) of ``overrides``; a later override of a key wins."""
    import optuna.distributions as od
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as exc:
        raise ConfigError(
            f"cannot parse the search space ({str(exc).splitlines()[0]})",
            "write e.g. model.lr='tag(log,interval(1e-4,1e-2))' model.hidden_size='choice(64,128)'",
        ) from None
    plain: dict[str, str] = {}
    space: dict[str, Any] = {}
    for text, o in zip(overrides, parsed):
        key = o.get_key_element()
        plain.pop(key, None)
        space.pop(key, None)
        if not o.is_sweep_override():
            plain[key] = text
            continue
        value = o.value()
        tags = set(getattr(value, "tags", set()) or set())
        if isinstance(value, ChoiceSweep):
            choices = [v if isinstance(v, (bool, int, float, str)) or v is None else str(v) for v in value.list]
            space[key] = od.CategoricalDistribution(choices)
        elif isinstance(value, RangeSweep):
            start, stop, step = value.start, value.stop, value.step
            if all(isinstance(v, int) for v in (start, stop, step)):
                values = list(range(start, stop, step))
                if not values:
                    raise ConfigError(f"{key}: range({start},{stop},{step}) is empty", "give range(lo,hi) with lo < hi")
                space[key] = od.IntDistribution(values[0], values[-1], log="log" in tags, step=step)
            else:
                n = int((stop - start) / step - 1e-9)  # values start + i * step < stop
                space[key] = od.FloatDistribution(start, start + n * step, step=step)
        elif isinstance(value, IntervalSweep):
            low, high = value.start, value.end
            if not low < high:
                raise ConfigError(f"{key}: interval({low},{high}) is empty", "give interval(lo,hi) with lo < hi")
            if "log" in tags and low <= 0:
                raise ConfigError(f"{key}: a log scale needs a positive lower bound, not {low}", "raise the bound")
            if "int" in tags:
                space[key] = od.IntDistribution(int(low), int(high), log="log" in tags)
            else:
                space[key] = od.FloatDistribution(low, high, log="log" in tags)
        else:  # glob(...) and the like
            raise ConfigError(f"{key}: {text!r} is not a search space", "use choice(...), range(...) or interval(...)")
    return list(plain.values()), space


def as_override(key: str, value: Any) -> str:
    """``key=value`` in Hydra's override syntax for a sampled value."""
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    if value is None:
        return f"{key}=null"
    return f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}"


def default_study_name(plain: list[str], space: dict[str, Any]) -> str:
    """A name fixed by the command: the same plain overrides and search space resume the same study."""
    text = "\n".join(sorted(plain)) + "\n" + "\n".join(f"{k}={space[k]!r}" for k in sorted(space))
    words = [o.split("=", 1)[1] for o in plain if o.lstrip("+~").split("=", 1)[0] in ("model", "task", "tune")]
    return "-".join(["study", *words, hashlib.sha1(text.encode()).hexdigest()[:8]])


def storage_url(storage: str | None, tracking_uri: str) -> str:
    """The study's database: ``storage`` if given, else ``optuna.db`` beside an SQLite MLflow store, else
    ``<project root>/optuna.db``."""
    if storage:
        return storage
    if tracking_uri.startswith("sqlite:///"):
        path = tracking_uri[len("sqlite:///") :]
        folder = path.rsplit("/", 1)[0] if "/" in path else "."
        return f"sqlite:///{folder}/optuna.db"
    from harness.paths import project_root

    return f"sqlite:///{project_root() / 'optuna.db'}"


def open_storage(url: str, heartbeat_interval: int | None = None, grace_period: int | None = None):
    """An Optuna RDB storage for ``url`` (SQLite waits up to 60 s for a lock held by a parallel worker)."""
    import optuna

    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(
        url, engine_kwargs=kwargs, heartbeat_interval=heartbeat_interval, grace_period=grace_period
    )


def median_pruner(startup_trials: int, warmup_epochs: int):
    """Optuna's median pruner: a trial is stopped at an epoch when its dev score there is worse than the
    median of the finished trials' at the same epoch; never in the first ``warmup_epochs`` epochs (the
    step of a report is the 1-based epoch) nor before ``startup_trials`` trials have finished."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs + 1)


class JobTrial:
    """The Optuna trial a sweep job runs as (see the module docstring)."""

    def __init__(self, storage_url: str, study_name: str, number: int, prune: bool, startup: int, warmup: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # the pruner is not stored with the study: the job builds the sweeper's (hydra.sweeper.pruner_*)
        pruner = median_pruner(startup, warmup)
        self.study = optuna.load_study(study_name=study_name, storage=open_storage(storage_url), pruner=pruner)
        storage = self.study._storage
        trial_id = storage.get_trial_id_from_study_id_trial_number(self.study._study_id, number)
        self.trial = optuna.trial.Trial(self.study, trial_id)
        self.number, self.prune = number, prune
        self.cpu_start = time.process_time()

    @classmethod
    def current(cls, tracker, data) -> JobTrial | None:
        """The trial of this job if the sweep is a study (``hydra.sweeper.trial`` set), else None; tags the run."""
        try:
            from hydra.core.hydra_config import HydraConfig

            sweeper = HydraConfig.get().sweeper
        except Exception:  # not under Hydra (tests, notebooks)
            return None
        if sweeper.get("trial") is None:
            return None
        url = storage_url(sweeper.get("storage"), tracker.uri)
        job = cls(
            url,
            str(sweeper.study_name),
            int(sweeper.trial),
            bool(sweeper.prune),
            int(sweeper.pruner_startup_trials),
            int(sweeper.pruner_warmup_epochs),
        )
        maximize = job.study.direction.name == "MAXIMIZE"
        if maximize != data.higher_is_better:
            want = "maximize" if data.higher_is_better else "minimize"
            raise ConfigError(
                f"the study {job.study.study_name!r} is set to {job.study.direction.name.lower()} but "
                f"{data.dev_metric} is better {'higher' if data.higher_is_better else 'lower'}",
                f"set hydra.sweeper.direction={want} (and a new study name)",
            )
        job.trial.set_user_attr(RUN_ID, tracker.run_id)
        tracker.set_tags({"optuna.study": job.study.study_name, "optuna.trial": str(job.number)})
        job.tracker, job.dev_metric = tracker, data.dev_metric
        return job

    def wrap(self, log: Callable[[int, dict[str, float]], None]) -> Callable[[int, dict[str, float]], None]:
        """``log`` that also reports each epoch's dev score to the trial and raises ``Pruned`` when told."""

        def log_and_report(epoch: int, values: dict[str, float]) -> None:
            log(epoch, values)
            self.on_epoch(epoch, values[self.dev_metric])

        return log_and_report

    def on_epoch(self, epoch: int, dev_score: float) -> None:
        self.trial.report(float(dev_score), step=epoch)
        if self.prune and self.trial.should_prune():
            self.trial.set_user_attr(PRUNED_AT, epoch)
            self.trial.set_user_attr(CPU_SECONDS, time.process_time() - self.cpu_start)
            self.tracker.set_tags({"optuna.state": "PRUNED", "optuna.pruned_at_epoch": str(epoch)})
            raise Pruned(f"trial {self.number} pruned at epoch {epoch} ({self.dev_metric}={dev_score:.4f})")

    def finish(self, metrics: dict[str, float], data) -> None:
        """Record the dev score (the study's objective) and the trial's CPU seconds."""
        dev = metrics[data.dev_prefix + data.main_metric.removeprefix("test_")]
        self.trial.set_user_attr(OBJECTIVE, float(dev))
        self.trial.set_user_attr(CPU_SECONDS, time.process_time() - self.cpu_start)


def precheck_study(argv: list[str], compose_checked: Callable[[list[str]], Any]) -> Any:
    """If ``argv`` runs an Optuna study: its config at both ends of the search space, composed and
    checked with ``compose_checked`` before anything starts (returns it); else None."""
    from harness.config import compose_config

    register_sweeper()

    words = [a for a in argv if not a.startswith("-")]
    hydra_args = [a for a in words if a.lstrip("+~").startswith("hydra")]
    plain, space = search_space([a for a in words if a not in hydra_args])
    try:
        cfg = compose_config(plain + hydra_args, return_hydra_config=True)
    except Exception:  # plain overrides that need a swept choice (task.window with task=timeseries,pos)
        try:  # the sweeper is chosen by hydra/sweeper=... or a +preset
            cfg = compose_config([o for o in plain if o.startswith("+")] + hydra_args, return_hydra_config=True)
        except Exception:
            return None  # not composable without the sweep: the basic sweep's precheck names the problem
    if not str(cfg.hydra.sweeper.get("_target_", "")).endswith("HarnessOptunaSweeper"):
        return None
    params = [f"{k}={v}" for k, v in (cfg.hydra.sweeper.get("params") or {}).items()]
    plain, space = search_space(params + [a for a in words if a not in hydra_args])
    if not space:
        raise ConfigError(
            "hydra/sweeper=harness_optuna has no search space",
            "add one, e.g. model.lr='tag(log,interval(1e-4,1e-2))', or use a preset: +tune=<model>",
        )
    ends = []
    for pick in (0, -1):  # the low end, then the high end, of every dimension
        point = []
        for key, dist in space.items():
            values = getattr(dist, "choices", None) or (dist.low, dist.high)
            point.append(as_override(key, values[pick]))
        ends.append(compose_checked(plain + point))
    return ends[0]
