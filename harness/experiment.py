"""``run(config)``: task data -> estimator -> fit -> score -> tracker, the same for every task and model.

Data is loaded and the model built before the MLflow run starts, so a bad data file or config
never leaves a run behind that looks like a result. What a task is lives in harness.tasks, what a
model is in harness.models, and where the two meet in harness.estimators: nothing here branches
on either.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from harness import estimators, naming, serving, training, tuning
from harness.config import Config, flatten, model_family
from harness.errors import ConfigError, RunFailed
from harness.interrupts import raise_if_swallowed, signals_as_interrupt
from harness.tasks.base import load_task
from harness.tracking import Tracker, tracking_uri


def evaluate(estimator: estimators.Estimator, data) -> tuple[dict[str, float], Any]:
    """The run's figures after ``fit``: dev and test scores, yardsticks, known optima, the model's own
    figures and size, and the test prediction (for the predictions artifact). ``evaluate_seconds`` is the
    model's own evaluation (its dev and test predictions and their scores), the yardsticks' not included."""
    begin = time.perf_counter()
    metrics = {f"{data.dev_prefix}{k}": v for k, v in data.score("dev", estimator.predict(data, "dev")).items()}
    start = time.perf_counter()
    test_prediction = estimator.predict(data, "test")
    seconds = time.perf_counter() - start
    test = data.score("test", test_prediction)
    metrics["evaluate_seconds"] = time.perf_counter() - begin
    metrics |= {f"test_{k}": v for k, v in test.items()}
    metrics[f"predict_{data.items}_per_second"] = data.n_items("test") / max(seconds, 1e-9)
    metrics |= data.baselines() | data.reference_metrics(test) | estimator.metrics(data)
    metrics["n_params"] = estimator.n_params
    return metrics, test_prediction


def _log_gradient_diagnostic(tracker: Tracker, model, batch, config: Config, folder: Path) -> None:
    """||dL_T/dx_{T-k}|| by k, as the metric history ``grad_norm_steps_back`` (step = k) and CSV + PNG."""
    from harness.diagnostics import gradient_by_steps_back, write_gradient_artifacts

    norms = gradient_by_steps_back(model, batch, np.random.default_rng(config.seed))
    tracker.log_metrics_history("grad_norm_steps_back", norms)
    title = f"{config.model.name} on {config.task.name}: gradient reaching k steps back"
    for path in write_gradient_artifacts(norms, folder, title):
        tracker.log_artifact(path, "diagnostics")


def _checkpoint_folder(stack: contextlib.ExitStack, run_id: str) -> Path:
    """``<Hydra's output folder>/<run id>`` for this job (Hydra names its folder to the second, so runs
    started together share it), or outside Hydra (tests, notebooks) a temporary folder that ``stack``
    removes when the run ends (the checkpoint is in MLflow either way)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir) / run_id
    except Exception:
        return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="harness-")))


def _check_resumable(uri: str, run_id: str, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """The checkpoint of ``run_id``, after checking the run was made with the same config."""
    from harness.tracking import load_checkpoint, param_value, run_params

    before = run_params(uri, run_id)
    for key, value in sorted(params.items()):
        if key != "resume" and key in before and before[key] != param_value(value):
            raise ConfigError(
                f"resume={run_id}: {key} was {before[key]} in that run, now {value}",
                "repeat that run's overrides, adding only resume=<run id>",
            )
    return load_checkpoint(uri, run_id)


@dataclass(frozen=True)
class RunResult:
    """What a finished run recorded: its MLflow run id, every final metric, and which one is the main one."""

    run_id: str
    metrics: dict[str, float]
    main_metric: str  # e.g. "test_accuracy"

    @property
    def main(self) -> float:
        """The main metric; NaN for a run that recorded none (an Optuna trial pruned before its test)."""
        return float(self.metrics.get(self.main_metric, float("nan")))


def run(config: Config, cfg: DictConfig | None = None, parent_run_id: str | None = None) -> float:
    """Train and evaluate one model on one task, record it in MLflow, print a summary line; returns the
    main metric (what a Hydra sweeper optimises). ``run_result`` returns the whole record."""
    return run_result(config, cfg, parent_run_id).main


def run_result(config: Config, cfg: DictConfig | None = None, parent_run_id: str | None = None) -> RunResult:
    """``run``, returning the run id and all final metrics."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=config.threads):
        return _run(config, cfg, parent_run_id)


def _run(config: Config, cfg: DictConfig | None, parent_run_id: str | None) -> RunResult:
    resolved = OmegaConf.to_container(cfg, resolve=True) if cfg is not None else _as_dict(config)
    params = flatten(resolved)
    uri = tracking_uri(config.tracking_uri)
    # a wrong run id or changed overrides are refused before the data is loaded
    resume_state = _check_resumable(uri, config.resume, params) if config.resume else None

    estimators.check_available(config)
    rng = np.random.default_rng(config.seed)  # one stream: init, then shuffling and dropout
    data = load_task(config.task, config.seed)
    estimator = estimators.build(config, data, rng)
    run_name = config.run_name or naming.run_name(config)
    experiment = config.experiment_name or config.task.name
    tags = {
        "model": config.model.name,
        "task": config.task.name,
        "family": model_family(config.model),
        "dataset": config.task.dataset,
        "seed": str(config.seed),
        "main_metric": data.main_metric,
    }
    run_id = config.resume
    try:
        with (
            contextlib.ExitStack() as stack,
            signals_as_interrupt(),
            Tracker(uri, experiment, run_name, tags, parent_run_id, config.resume) as tracker,
        ):
            run_id = tracker.run_id
            if config.progress:  # the id is known at once, even if the process is later killed without warning
                how = "resumed" if config.resume else "started"
                print(f"harness: MLflow run {run_id} {how} ({run_name})", file=sys.stderr, flush=True)
            if resume_state is None:
                tracker.log_params(params)
                tracker.log_text(OmegaConf.to_yaml(OmegaConf.create(resolved)), "config.yaml")
                serving.record_dataset(tracker, data)  # the Datasets panel: name, source, digest, split sizes
            folder = _checkpoint_folder(stack, tracker.run_id)
            log = lambda epoch, values: tracker.log_metrics(values, step=epoch)  # noqa: E731
            trial = tuning.JobTrial.current(tracker, data)  # the Optuna trial this job is, in a study
            hooks = estimators.Hooks(
                log=trial.wrap(log) if trial else log,
                checkpoint=lambda state: tracker.log_checkpoint(state, folder),
                resume=resume_state,
                progress=config.progress,
            )
            try:
                metrics = estimator.fit(data, hooks)
            except tuning.Pruned as pruned:  # a finished run with its epochs so far, tagged PRUNED
                print(f"harness: {pruned}", file=sys.stderr, flush=True)
                return RunResult(tracker.run_id, {}, data.main_metric)
            scores, test_prediction = evaluate(estimator, data)
            raise_if_swallowed()  # not FINISHED after a Ctrl-C that Python ignored (harness.interrupts)
            metrics |= scores
            if trial:
                trial.finish(metrics, data)
            tracker.log_metrics(metrics)
            tracker.set_tags(getattr(data, "run_tags", dict)())  # what the task decided from the data, if anything
            with tempfile.TemporaryDirectory() as tmp:
                writers = {data.predictions_file: lambda path: data.write_predictions(path, test_prediction)}
                for name, write in (writers | estimator.artifacts(data)).items():
                    write(Path(tmp) / name)
                for path in sorted(Path(tmp).iterdir()):  # a writer may add companions (a plot beside its CSV)
                    tracker.log_artifact(path)
                np.savez_compressed(Path(tmp) / "model.npz", **estimator.state_dict())
                tracker.log_artifact(Path(tmp) / "model.npz")
                serving.log_model(tracker, config, estimator, data, Path(tmp))  # runs:/<id>/model (pyfunc)
                batch = estimator.diagnostic_batch(data)
                if batch is not None:
                    _log_gradient_diagnostic(tracker, estimator.model, batch, config, Path(tmp))
            fields = " ".join(data.summary(metrics))
            print(
                f"harness: {config.model.name} on {config.task.name} ({data.source}) seed={config.seed}: {fields} "
                f"in {metrics['train_seconds']:.1f}s [mlflow run {tracker.run_id}]",
                flush=True,
            )
    except KeyboardInterrupt:
        if run_id:
            print(
                f"harness: interrupted; MLflow run {run_id} ended KILLED with its last epoch's checkpoint: "
                f"continue with the same overrides plus resume={run_id}",
                file=sys.stderr,
                flush=True,
            )
        raise
    except training.DivergenceError as error:
        raise RunFailed(
            f"run {run_id} diverged ({error}); it ended FAILED",
            "lower model.lr, or clip gradients harder with model.clip_norm",
        ) from None
    return RunResult(run_id, {k: float(v) for k, v in metrics.items()}, data.main_metric)


def _as_dict(config: Config) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(config), resolve=True)
