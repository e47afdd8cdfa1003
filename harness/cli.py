"""Command line: ``python -m harness model=rnn task=pos`` (Hydra overrides; ``-m`` for sweeps).

The overrides are composed and checked once before Hydra starts any job, so a typo, a wrong type,
an unknown model or task, or values that do not fit together end with one line on stderr and exit
status 2.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys

import hydra
from omegaconf import DictConfig

from harness import __version__
from harness import config as config_module
from harness.config import compose_config, register_configs, to_config
from harness.errors import ConfigError, HarnessError, RunFailed
from harness.help import help_text
from harness.tuning import register_sweeper

register_configs()
register_sweeper()  # hydra/sweeper=harness_optuna (Optuna studies), also from an editable install


def fail(error: HarnessError) -> NoReturn:  # noqa: F821
    """One line on stderr; exit 2 for bad input, 1 for a run that started and failed."""
    print(f"harness: error: {error}", file=sys.stderr)
    sys.exit(error.exit_status)


def explain_hydra_error(exc: Exception) -> str:
    """Hydra/OmegaConf's multi-line messages, reduced to one sentence naming the problem and the fix."""
    text = f"{exc}\n{exc.__cause__ or ''}"
    missing = re.search(r"Could not find '(\w+)/([^']+)'", text)
    if missing:
        group, value = missing.groups()
        if group == config_module.SCHEMA_GROUP:  # a model with no estimator for the task
            return _no_schema_message(value)
        options = re.findall(r"^\t(\S+)$", text, flags=re.M)
        return f"unknown {group} {value!r}; choose one of: {', '.join(sorted(options))}"
    key = re.search(r"Key '([^']+)' (?:is )?not in '?(\w+)'?", text)
    full_key = re.search(r"full_key: (\S+)", text)
    if key:
        name = full_key.group(1) if full_key else key.group(1)
        schema = _schema_named(key.group(2))
        if name in MOVED:
            return f"{name} is no longer a setting; {MOVED[name]}"
        if schema is None:
            return f"unknown config key {name!r}; check the spelling (python -m harness --cfg job lists every key)"
        valid = ", ".join(f.name for f in dataclasses.fields(schema))
        where = _schema_users(schema)
        if name.startswith("model.") and where and _is_model_setting(key.group(1)):
            return f"{name} does not apply to {where}; its settings: {valid}"
        return f"unknown config key {name!r}; valid keys here: {valid}"
    conversion = re.search(
        r"Value '([^']*)' (?:of type '(\w+)' )?(?:could not be converted to|is not a valid) (\w+)", text
    )
    if conversion and full_key:
        value, _, target = conversion.groups()
        return f"{full_key.group(1)}={value!r} is not a valid {target.lower()}; give a value of that type"
    not_list = re.search(r"Invalid value assigned: (\w+) is not a ListConfig", text)
    if not_list and full_key:
        return f"{full_key.group(1)} must be a list, not {not_list.group(1)}; write it as {full_key.group(1)}=[a,b]"
    ambiguous = re.search(r"Ambiguous value for argument '([^']+)'", text)
    if ambiguous:  # Hydra's hint, kept: a comma list outside a sweep
        key = ambiguous.group(1).split("=", 1)[0]
        return (
            f"ambiguous value in {ambiguous.group(1)!r}; to sweep over it add -m (--multirun), "
            f"for a list write {key}=[a,b], for a string quote it: {key}=\\'a,b\\'"
        )
    parse = re.search(r"Error parsing override '([^']+)'", text)
    if parse:
        return f"cannot parse override {parse.group(1)!r}; write overrides as key=value (quote lists: 'key=[a,b]')"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return first


# settings that became choices: what to write instead
MOVED = {
    "model.cell": "the cell is the model choice: model=rnn, model=lstm or model=gru",
    "model.training": "Baum-Welch training is its own model: model=hmm_unsupervised",
    "task.arima_order": "the ARIMA, ETS and Theta yardsticks choose their orders on each history; "
    "pick yardsticks with task.yardsticks",
    "model.covariance_type": "the HMM forecaster is univariate now (a regime model with AR means): "
    "set model.n_states, model.max_states or model.autoregressive",
}


def _schema_named(name: str) -> type | None:
    """The schema class called ``name`` (model, task or nested), if it is one of ours."""
    classes = [s for by_task in config_module.MODEL_SCHEMAS.values() for s in by_task.values()]
    classes += [*config_module.TASK_SCHEMAS.values(), config_module.SyntheticPosConfig, config_module.Config]
    return next((c for c in classes if c.__name__ == name), None)


def _schema_users(schema: type) -> str:
    """'model=lstm on task=pos' for the (model, task) pairs composed onto ``schema``."""
    pairs = [(m, t) for m, by_task in config_module.MODEL_SCHEMAS.items() for t, s in by_task.items() if s is schema]
    return ", ".join(f"model={m} on task={t}" for m, t in pairs)


def _is_model_setting(key: str) -> bool:
    """Whether ``key`` is a setting of some model on some task (else it is a misspelling)."""
    schemas = {s for by_task in config_module.MODEL_SCHEMAS.values() for s in by_task.values()}
    return any(key in {f.name for f in dataclasses.fields(s)} for s in schemas)


def _no_schema_message(name: str) -> str:
    """The message for schema/<model>_<task> not found: that model has no estimator for that task."""
    for task in config_module.TASK_SCHEMAS:
        if name.endswith(f"_{task}"):
            model = name[: -len(task) - 1]
            able = [m for m, by_task in config_module.MODEL_SCHEMAS.items() if task in by_task]
            return f"model={model} has no estimator for task={task}; models for {task}: {', '.join(able)}"
    return f"no schema {name!r}"


def compose_checked(overrides: list[str]) -> DictConfig:
    """Compose the config for ``overrides`` the way Hydra will, raising ConfigError on any problem."""
    try:
        cfg = compose_config(overrides)
    except HarnessError:
        raise
    except Exception as exc:  # Hydra/OmegaConf raise many types; all mean a bad override
        raise ConfigError(explain_hydra_error(exc)) from None
    to_config(cfg)
    return cfg


def _job_overrides(argv: list[str]) -> tuple[list[str], bool]:
    """The config overrides in ``argv`` (flags and hydra.* settings left to Hydra) and whether it is a sweep."""
    multirun = any(a in ("-m", "--multirun") for a in argv)
    overrides = [a for a in argv if not a.startswith("-") and not a.lstrip("+~").startswith("hydra")]
    return overrides, multirun


def sweeper_params(overrides: list[str]) -> dict[str, str]:
    """``hydra.sweeper.params`` after the sweep's plain overrides (e.g. an ``+experiment=NAME`` preset)."""
    from harness.sweep import split_overrides

    plain, _ = split_overrides(overrides)
    try:
        cfg = compose_config(plain, return_hydra_config=True)
    except Exception as exc:
        raise ConfigError(explain_hydra_error(exc)) from None
    return {str(k): str(v) for k, v in (cfg.hydra.sweeper.get("params") or {}).items()}


def precheck(argv: list[str]) -> None:
    """Check a single run's overrides, or every combination of a sweep's (including the sweep params of
    an ``+experiment=NAME`` preset), before Hydra starts."""
    from harness.tracking import _check_reachable, tracking_uri

    overrides, multirun = _job_overrides(argv)
    if not multirun:
        _check_reachable(
            tracking_uri(compose_checked(overrides).tracking_uri)
        )  # a dead server: fail before loading data
        return
    from harness.sweep import expand_sweep, split_overrides
    from harness.tuning import precheck_study

    study = precheck_study(argv, compose_checked)  # an Optuna study: both ends of its search space
    if study is not None:
        _check_reachable(tracking_uri(study.tracking_uri))
        return
    if any(a.startswith("hydra/sweeper=") and a != "hydra/sweeper=basic" for a in argv):
        plain = compose_checked(split_overrides(overrides)[0])  # another sweeper's search space: jobs check themselves
        _check_reachable(tracking_uri(plain.tracking_uri))
        return
    params = sweeper_params(overrides)
    params.update(
        {
            a.split("=", 1)[0][len("hydra.sweeper.params.") :]: a.split("=", 1)[1]
            for a in argv
            if a.startswith("hydra.sweeper.params.") and "=" in a
        }
    )
    uris: set[str] = set()
    downloads: set[str] = set()

    def check(combo: list[str]) -> DictConfig:
        cfg = compose_checked(combo)
        uris.add(tracking_uri(cfg.tracking_uri))
        downloads.update(_datasets_to_fetch(cfg))
        return cfg

    expand_sweep(overrides, check, params)
    for uri in sorted(uris):
        _check_reachable(uri)
    for name in sorted(downloads):  # as a single run does before its work: in the cache, or downloaded now
        from harness.data.registry import ensure_dataset

        ensure_dataset(name)


def _datasets_to_fetch(cfg: DictConfig) -> set[str]:
    """The download-only data set a job reads (task.dataset in the registry, no task.path), if any."""
    from harness.data.registry import REGISTRY

    dataset = cfg.task.get("dataset")
    return {dataset} if dataset in REGISTRY and not cfg.task.get("path") else set()


@hydra.main(version_base="1.3", config_path="pkg://harness.conf", config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from harness.experiment import run

    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        try:
            return run(to_config(cfg), cfg)
        except HarnessError as error:
            fail(error)
    return sweep_job(cfg, list(hc.overrides.task), hc.sweep.dir, run)


def sweep_job(cfg: DictConfig, overrides: list[str], sweep_dir: str, run) -> float | None:
    """One job of a sweep, as a child of the sweep's parent run. A job that fails is reported on stderr
    and recorded (FAILED, with the reason) and the sweep goes on; Ctrl-C still stops everything."""
    from harness.sweep import read_parent, record_failed_job
    from harness.sweep_outcome import record_failure

    parent = read_parent(sweep_dir)
    label = " ".join(overrides)
    try:
        config = to_config(cfg)
        if parent is not None:  # children share the parent's store and experiment, so MLflow nests them
            config.tracking_uri = config.tracking_uri or parent.tracking_uri
            config.experiment_name = config.experiment_name or parent.experiment_name
        return run(config, cfg, parent_run_id=parent.run_id if parent else None)
    except HarnessError as error:
        print(f"harness: job failed [{label}]: {error}", file=sys.stderr, flush=True)
        record_failure(sweep_dir, overrides, str(error))
        if parent is not None and not isinstance(error, RunFailed):  # it stopped before its own run: record it
            try:
                record_failed_job(parent, cfg, overrides, error)
            except Exception as exc:  # e.g. the tracking server went away: the stderr line stays
                print(f"harness: could not record the failed job in MLflow: {exc}", file=sys.stderr)
    except Exception:  # a bug or a diverged run: its MLflow run (if started) already ended FAILED
        import traceback

        print(f"harness: job failed [{label}]:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        record_failure(sweep_dir, overrides, traceback.format_exc())
    return None


def main() -> None:
    argv = sys.argv[1:]
    if "--version" in argv or "-V" in argv:
        print(f"harness {__version__}")
        return
    if "--help" in argv or "-h" in argv:
        print(help_text())
        return
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no download bar on resume
    if not any(a in ("--help", "-h", "--hydra-help", "--info", "--cfg", "-c", "--shell-completion") for a in argv):
        try:
            precheck(argv)
        except HarnessError as error:
            fail(error)
    try:
        hydra_main()
    except KeyboardInterrupt:  # the run already said how to resume it
        sys.exit(130)
    from harness import sweep_outcome

    if sweep_outcome.LAST_SWEEP_FAILURES:  # the report of the others is written; the exit status tells
        jobs = sweep_outcome.LAST_SWEEP_JOBS[0] if sweep_outcome.LAST_SWEEP_JOBS else None
        print(
            f"harness: error: {sweep_outcome.failure_message(sweep_outcome.LAST_SWEEP_FAILURES, jobs)}", file=sys.stderr
        )
        sys.exit(1)
