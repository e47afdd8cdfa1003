"""``run(config)``: the one place where task data, model, trainer and tracker meet.

Data is loaded and the model built before the MLflow run starts, so a bad data file or config
never leaves a run behind that looks like a result.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from omegaconf import DictConfig, OmegaConf

from harness import training
from harness.config import Config, flatten, hmm_forecaster_params, hmm_tagger_params, model_family
from harness.errors import ConfigError, RunFailed
from harness.interrupts import signals_as_interrupt
from harness.tracking import Tracker, tracking_uri


@dataclass
class Outcome:
    """What a run produced: final metrics, per-epoch metrics already sent, files to attach."""

    metrics: dict[str, float]
    main_metric: str
    artifacts: dict[str, Callable[[Path], None]] = field(default_factory=dict)  # file name -> writer
    model_state: dict[str, np.ndarray] = field(default_factory=dict)
    diagnostic_batch: Any = None  # recurrent models: a dev batch for the vanishing-gradient diagnostic


@dataclass
class Hooks:
    """What the run gives the training loop: metric logging, checkpointing, a state to resume from."""

    log: Callable[[int, dict[str, float]], None]
    checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None
    resume: dict[str, np.ndarray] | None = None
    progress: bool = True

    def fit_kwargs(self, dev_metric: str) -> dict[str, Any]:
        """Keyword arguments for ``training.fit``; the dev score is logged as ``dev_metric``."""

        def on_epoch(epoch: int, values: dict[str, float]) -> None:
            self.log(
                epoch,
                {"train_loss": values["train_loss"], dev_metric: values["dev_score"], "grad_norm": values["grad_norm"]},
            )

        return {"on_epoch": on_epoch, "checkpoint": self.checkpoint, "resume": self.resume, "progress": self.progress}


def _summary(config: Config, source: str, metrics: dict[str, float], run_id: str) -> str:
    m = config.model.name
    if config.task.name == "pos":
        parts = [
            f"test_accuracy={metrics['test_accuracy']:.4f}",
            f"oov_accuracy={metrics['test_oov_accuracy']:.4f}",
            f"baseline={metrics['baseline_test_accuracy']:.4f}",
        ]
    elif config.task.name == "longrange":
        parts = [
            f"distance={config.task.distance}",
            f"test_accuracy={metrics['test_accuracy']:.4f}",
            f"chance={metrics['chance_accuracy']:.4f}",
        ]
    else:
        parts = [
            f"test_rmse={metrics['test_rmse']:.4g}",
            f"naive={metrics.get('baseline_naive_test_rmse', float('nan')):.4g}",
            f"arima={metrics.get('baseline_arima_test_rmse', float('nan')):.4g}",
        ]
    return (
        f"harness: {m} on {config.task.name} ({source}) seed={config.seed}: {' '.join(parts)} "
        f"in {metrics['train_seconds']:.1f}s [mlflow run {run_id}]"
    )


# ----------------------------------------------------------------------------------------------
# part-of-speech tagging


def _tag_corpus(model, enc, itos: list[str], batch_size: int = 256) -> list[list[str]]:
    from harness.tasks.pos import batches

    out: list[list[str]] = [[] for _ in range(len(enc.lengths))]
    for b in batches(enc, batch_size):
        pred = model.predict(b.inputs, b.mask)  # (T, N)
        for j, i in enumerate(b.index):
            out[i] = [itos[k] for k in pred[: enc.lengths[i], j]]
    return out


def _pos_predictions_writer(corpus, predicted) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("w", encoding="utf-8") as f:
            f.write("sentence\tposition\tword\tgold\tpredicted\n")
            for s, (ws, gs, ps) in enumerate(zip(corpus.words, corpus.tags, predicted)):
                for i, (w, g, p) in enumerate(zip(ws, gs, ps)):
                    f.write(f"{s}\t{i}\t{w}\t{g}\t{p}\n")

    return write


def _hmm_tagger(config: Config):
    from harness.models.hmm import HMMTagger

    return HMMTagger(**hmm_tagger_params(config.model), random_state=config.seed)


def prepare_pos(config: Config, rng: np.random.Generator):
    from harness.tasks.pos import load_pos

    data = load_pos(config.task, config.seed)
    m = config.model
    if model_family(m) == "hmm":
        return data, _hmm_tagger(config), None
    from harness.models.rnn import RNNTagger

    vocabs = data.vocabularies(m.features)
    model = RNNTagger({f: len(v) for f, v in vocabs.items()}, data.n_tags, m, rng, word_counts=vocabs["word"].counts)
    return data, model, vocabs


def train_pos(config: Config, data, model, vocabs, rng, hooks: Hooks) -> Outcome:
    from harness.tasks.pos import batches

    m = config.model
    metrics: dict[str, float] = {}
    diagnostic = None
    start = time.perf_counter()
    if vocabs is None:  # HMM: counted (or Baum-Welch) in one go
        model.fit(data.train.words, data.train.tags)
        metrics["train_seconds"] = time.perf_counter() - start
        predict = model.predict
        dev_pred = predict(data.dev.words)
        metrics["best_dev_accuracy"] = data.score(data.dev, dev_pred)["accuracy"]
        t0 = time.perf_counter()
        test_pred = predict(data.test.words)
        metrics["predict_tokens_per_second"] = data.test.n_tokens / max(time.perf_counter() - t0, 1e-9)
    else:
        itos = data.tags.itos
        train_enc, dev_enc, test_enc = (data.encode(c, vocabs) for c in (data.train, data.dev, data.test))

        def dev_score() -> float:
            return data.score(data.dev, _tag_corpus(model, dev_enc, itos))["accuracy"]

        history = training.fit(
            model,
            m,
            lambda r: batches(train_enc, m.batch_size, r),
            lambda b: b.n_tokens,
            dev_score,
            rng,
            **hooks.fit_kwargs("dev_accuracy"),
        )
        metrics.update(
            train_seconds=history.seconds,
            best_epoch=history.best_epoch,
            epochs_run=len(history.dev_score),
            best_dev_accuracy=history.dev_score[history.best_epoch - 1],
            train_tokens_per_second=history.n_train_items / max(history.seconds, 1e-9),
        )
        t0 = time.perf_counter()
        test_pred = _tag_corpus(model, test_enc, itos)
        metrics["predict_tokens_per_second"] = data.test.n_tokens / max(time.perf_counter() - t0, 1e-9)
        diagnostic = next(batches(dev_enc, 64))  # the longest dev sentences, for the gradient diagnostic
    scores = data.score(data.test, test_pred)
    baseline = data.score(data.test, data.majority_baseline()(data.test.words))
    metrics.update({f"test_{k}": v for k, v in scores.items()})
    metrics["baseline_test_accuracy"] = baseline["accuracy"]
    metrics["baseline_test_oov_accuracy"] = baseline["oov_accuracy"]
    if data.oracle:  # synthetic data: bayes_optimal_* (see harness.data.synthetic)
        metrics.update(data.oracle)
        metrics["gap_to_bayes_optimal"] = data.oracle["bayes_optimal_accuracy"] - metrics["test_accuracy"]
    metrics["n_params"] = model.n_params
    return Outcome(
        metrics,
        "test_accuracy",
        {"test_predictions.tsv": _pos_predictions_writer(data.test, test_pred)},
        model.state_dict(),
        diagnostic,
    )


# ----------------------------------------------------------------------------------------------
# time-series forecasting


def prepare_timeseries(config: Config, rng: np.random.Generator):
    from harness.tasks.timeseries import load_timeseries

    data = load_timeseries(config.task, config.seed)
    m = config.model
    if model_family(m) == "hmm":
        from harness.models.hmm import GaussianHMMForecaster

        model = GaussianHMMForecaster(**hmm_forecaster_params(m), random_state=config.seed)
        return data, model, None
    from harness.models.rnn import RNNForecaster

    return data, RNNForecaster(data.train.X.shape[-1], m, rng), True


def train_timeseries(config: Config, data, model, gradient, rng, hooks: Hooks) -> Outcome:
    m = config.model
    metrics: dict[str, float] = {}
    start = time.perf_counter()
    if gradient is None:
        model.fit(data.train_series)
        metrics["train_seconds"] = time.perf_counter() - start

        def predict(w):
            if data.cumulative_target:  # differenced target: the change over h steps = sum of the next h values
                return sum(model.predict(w.X[..., 0], k) for k in range(1, data.horizon + 1))
            return model.predict(w.X[..., 0], data.horizon)

        metrics["bic"] = float(model.bic(data.train_series))
    else:
        tr = data.train

        def train_batches(r: np.random.Generator):
            order = r.permutation(len(tr))
            for s in range(0, len(order), m.batch_size):
                idx = order[s : s + m.batch_size]
                yield tr.X[idx], tr.y[idx]

        def predict(w):
            return model.predict(w.X)

        history = training.fit(
            model,
            m,
            train_batches,
            lambda b: len(b[1]),
            lambda: data.score("dev", predict(data.dev))["rmse"],
            rng,
            higher_is_better=False,
            **hooks.fit_kwargs("dev_rmse"),
        )
        metrics.update(
            train_seconds=history.seconds,
            best_epoch=history.best_epoch,
            epochs_run=len(history.dev_score),
            train_windows_per_second=history.n_train_items / max(history.seconds, 1e-9),
        )
    metrics.update({f"dev_{k}": v for k, v in data.score("dev", predict(data.dev)).items()})
    test_pred = predict(data.test)
    metrics.update({f"test_{k}": v for k, v in data.score("test", test_pred).items()})
    metrics.update(data.baselines())
    metrics["n_params"] = model.n_params

    def write_forecasts(path: Path) -> None:
        from harness.diagnostics import write_csv

        truth = data.to_original("test", data.test.y)
        pred = data.to_original("test", test_pred)
        cols = {"target_index": data.test.target_index, "truth": truth, "model": pred} | data.baseline_predictions()
        write_csv(path, cols)

    diagnostic = (data.dev.X[:64], data.dev.y[:64]) if gradient is not None else None
    artifacts = {"test_forecasts.csv": write_forecasts}
    if gradient is None:  # the HMM's regimes on the training part: Viterbi path, state means, filtered probabilities

        def write_regimes(path: Path) -> None:
            from harness.diagnostics import write_regime_artifacts

            write_regime_artifacts(
                model.regime_table(data.train_series), path.parent, f"Gaussian HMM regimes, {data.name}"
            )

        artifacts["regimes.csv"] = write_regimes
    return Outcome(metrics, "test_rmse", artifacts, model.state_dict(), diagnostic)


# ----------------------------------------------------------------------------------------------
# long-range recall (harness.tasks.longrange)


def prepare_longrange(config: Config, rng: np.random.Generator):
    from harness.tasks.longrange import load_longrange

    data = load_longrange(config.task, config.seed)
    m = config.model
    if model_family(m) == "hmm":
        return data, _hmm_tagger(config), None
    from harness.models.rnn import RNNClassifier

    return data, RNNClassifier(data.n_symbols, data.n_classes, m, rng), True


def train_longrange(config: Config, data, model, gradient, rng, hooks: Hooks) -> Outcome:
    m = config.model
    metrics: dict[str, float] = {}
    if gradient is None:  # HMM tagger on the locally tagged view; the answer is the query's tag
        start = time.perf_counter()
        model.fit(*data.tagged("train"))
        metrics["train_seconds"] = time.perf_counter() - start

        def predict(split: str) -> np.ndarray:
            return data.labels_from_tags(model.predict(data.tagged(split)[0]))
    else:

        def predict(split: str) -> np.ndarray:
            return np.concatenate([model.predict(X) for X, _ in data.batches(split, 1024)])

        history = training.fit(
            model,
            m,
            lambda r: data.batches("train", m.batch_size, r),
            lambda b: len(b[1]),
            lambda: data.accuracy("dev", predict("dev")),
            rng,
            **hooks.fit_kwargs("dev_accuracy"),
        )
        metrics.update(train_seconds=history.seconds, best_epoch=history.best_epoch, epochs_run=len(history.dev_score))
    metrics["best_dev_accuracy"] = data.accuracy("dev", predict("dev"))
    test_pred = predict("test")
    metrics["test_accuracy"] = data.accuracy("test", test_pred)
    metrics["chance_accuracy"] = data.chance_accuracy
    metrics["baseline_test_accuracy"] = data.majority_baseline("test")
    metrics["n_params"] = model.n_params

    def write_predictions(path: Path) -> None:
        with path.open("w", encoding="utf-8") as f:
            f.write("sequence\tlabel\tpredicted\n")
            for i, (y, p) in enumerate(zip(data.test.labels.tolist(), test_pred.tolist())):
                f.write(f"{i}\t{y}\t{p}\n")

    diagnostic = next(data.batches("dev", 64)) if gradient is not None else None
    return Outcome(
        metrics, "test_accuracy", {"test_predictions.tsv": write_predictions}, model.state_dict(), diagnostic
    )


# ----------------------------------------------------------------------------------------------

TASKS = {
    "pos": (prepare_pos, train_pos),
    "timeseries": (prepare_timeseries, train_timeseries),
    "longrange": (prepare_longrange, train_longrange),
}


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


def run(config: Config, cfg: DictConfig | None = None, parent_run_id: str | None = None) -> float:
    """Train and evaluate one model on one task, record it in MLflow, print a summary line."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=config.threads):
        return _run(config, cfg, parent_run_id)


def _run(config: Config, cfg: DictConfig | None, parent_run_id: str | None) -> float:
    resolved = OmegaConf.to_container(cfg, resolve=True) if cfg is not None else _as_dict(config)
    params = flatten(resolved)
    uri = tracking_uri(config.tracking_uri)
    # a wrong run id or changed overrides are refused before the data is loaded
    resume_state = _check_resumable(uri, config.resume, params) if config.resume else None

    rng = np.random.default_rng(config.seed)  # one stream: init, then shuffling and dropout
    prepare, train = TASKS[config.task.name]
    data, model, extra = prepare(config, rng)
    run_name = config.run_name or f"{config.model.name}-{config.task.name}-seed{config.seed}"
    experiment = config.experiment_name or config.task.name
    tags = {
        "model": config.model.name,
        "task": config.task.name,
        "family": model_family(config.model),
        "dataset": config.task.dataset,
        "seed": str(config.seed),
    }
    run_id = config.resume
    try:
        with (
            contextlib.ExitStack() as stack,
            signals_as_interrupt(),
            Tracker(uri, experiment, run_name, tags, parent_run_id, config.resume) as tracker,
        ):
            run_id = tracker.run_id
            if resume_state is None:
                tracker.log_params(params)
                tracker.log_text(OmegaConf.to_yaml(OmegaConf.create(resolved)), "config.yaml")
            folder = _checkpoint_folder(stack, tracker.run_id)
            hooks = Hooks(
                log=lambda epoch, values: tracker.log_metrics(values, step=epoch),
                checkpoint=lambda state: tracker.log_checkpoint(state, folder),
                resume=resume_state,
                progress=config.progress,
            )
            outcome = train(config, data, model, extra, rng, hooks)
            tracker.log_metrics(outcome.metrics)
            with tempfile.TemporaryDirectory() as tmp:
                for name, write in outcome.artifacts.items():
                    write(Path(tmp) / name)
                for path in sorted(Path(tmp).iterdir()):  # a writer may add companions (a plot beside its CSV)
                    tracker.log_artifact(path)
                np.savez(Path(tmp) / "model.npz", **outcome.model_state)
                tracker.log_artifact(Path(tmp) / "model.npz")
                if outcome.diagnostic_batch is not None:
                    _log_gradient_diagnostic(tracker, model, outcome.diagnostic_batch, config, Path(tmp))
            source = getattr(data, "source", None) or config.task.dataset
            print(_summary(config, source, outcome.metrics, tracker.run_id), flush=True)
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
    return float(outcome.metrics[outcome.main_metric])


def _as_dict(config: Config) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(config), resolve=True)
