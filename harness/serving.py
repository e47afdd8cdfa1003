"""The MLflow side of a finished run's outputs: the run's dataset record, its MLflow model, the experiment kind.

- ``record_dataset``: ``log_inputs`` of the task's ``dataset_info()`` (name, source, content digest,
  split sizes as the profile), so the UI's Datasets panel shows what the run read and two versions
  of a file differ by digest; and the experiment's ``mlflow.experimentKind`` tag, set to
  ``custom_model_development`` (MLflow 3's UI shows model-training experiments by that kind) when unset.
- ``log_model``: ``predictor.npz`` (harness.predictor) as an MLflow ``pyfunc`` model named ``model``,
  with an input/output signature and the harness package as its code, so
  ``mlflow models serve -m runs:/<run id>/model`` answers tagging, forecasting, generation and classification requests.
  The model's code is ``harness/pyfunc_model.py`` (MLflow "models from code": nothing is pickled).

Requests and answers (``dataframe_records``):
    POS          {"sentence": "I eat apples ."}  ->  {"tags": "PRON VERB NOUN PUNCT"}
    time series  one record {"value": x} per recent value, oldest first; params {"horizon": H}
                 ->  one record per horizon {"horizon", "forecast", "lower", "upper"} (NaN without intervals)
    language     {"prompt": "The "}; params {"length", "temperature", "seed"}  ->  {"text": the continuation}
    sentiment    {"text": "很好用"}  ->  {"label": "pos", "probability": 0.93}
"""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from harness import predictor

EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
MODEL_NAME = "model"  # runs:/<run id>/model


def _store_write(tracker: Any):
    """A write to a local SQLite store is shielded from SIGINT/SIGTERM, as the Tracker's own writes are: a signal
    in the middle of its transaction would leave the store locked, and the KILLED status written on the way
    out would then fail with "database is locked" (and the sweep go on as if the job had failed)."""
    from harness.interrupts import shielded

    return shielded() if tracker.uri.startswith("sqlite:") else contextlib.nullcontext()


def record_dataset(tracker: Any, data: Any) -> None:
    """The run's dataset as an MLflow input (context ``training``), and the experiment's kind if unset. A task
    without ``dataset_info`` (one registered before it joined the contract) records no dataset."""
    with _store_write(tracker):
        _record_dataset(tracker, data)


def _record_dataset(tracker: Any, data: Any) -> None:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    client = tracker.client
    key, kind = EXPERIMENT_KIND
    if key not in client.get_experiment(tracker.experiment_id).tags:
        client.set_experiment_tag(tracker.experiment_id, key, kind)
    if not hasattr(data, "dataset_info"):
        return
    info = data.dataset_info()
    dataset = Dataset(
        name=info.name,
        digest=info.digest,
        source_type="local" if not info.source.startswith(("http://", "https://")) else "http",
        source=json.dumps({"uri": info.source}),
        profile=json.dumps({"splits": info.splits, "items": data.items}),
    )
    client.log_inputs(tracker.run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])])


@contextlib.contextmanager
def _fluent_target(uri: str, experiment_id: str):
    """MLflow's fluent API (which ``Model.log`` uses) pointed at the run's store and experiment for the block,
    without its artifact progress bars. Through environment variables, restored afterwards, so no process-wide
    tracking URI is left pinned (the harness never calls mlflow.set_tracking_uri, which would take precedence)."""
    import os

    env = {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_EXPERIMENT_ID": experiment_id,
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _signature(task: str):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    if task == "pos":
        return ModelSignature(Schema([ColSpec("string", "sentence")]), Schema([ColSpec("string", "tags")]))
    if task == "lm":
        params = ParamSchema(
            [ParamSpec("length", "long", 300), ParamSpec("temperature", "double", 1.0), ParamSpec("seed", "long", 0)]
        )
        return ModelSignature(Schema([ColSpec("string", "prompt")]), Schema([ColSpec("string", "text")]), params)
    if task == "sentiment":
        return ModelSignature(
            Schema([ColSpec("string", "text")]), Schema([ColSpec("string", "label"), ColSpec("double", "probability")])
        )
    outputs = Schema([ColSpec("long", "horizon")] + [ColSpec("double", c) for c in ("forecast", "lower", "upper")])
    params = ParamSchema([ParamSpec("horizon", "long", 0)])  # 0 = the horizon the model was trained for
    return ModelSignature(Schema([ColSpec("double", "value")]), outputs, params)


def _requirements() -> list[str]:
    """The harness's own dependencies at the installed versions (no slow inference of requirements)."""
    from importlib import metadata

    names = [r.split(";")[0].split("[")[0] for r in metadata.requires("harness") or [] if "extra ==" not in r]
    names = [n.strip().split(">")[0].split("<")[0].split("=")[0].split("~")[0].strip() for n in names]
    return [f"{n}=={metadata.version(n)}" for n in names if n]


def log_model(tracker: Any, config: Any, estimator: Any, data: Any, folder: Path) -> bool:
    """Write ``predictor.npz`` into ``folder``, log it as a run artifact and as the run's MLflow model; False
    when the model takes no new input (nothing logged)."""
    arrays = predictor.bundle(config, estimator, data)
    if arrays is None:
        return False
    path = folder / predictor.FILE
    np.savez_compressed(path, **arrays)
    tracker.log_artifact(path)  # also a plain run artifact: harness.predict reads it from there
    import mlflow.pyfunc
    from mlflow.models import Model

    package = Path(__file__).resolve().parent
    with _store_write(tracker), _fluent_target(tracker.uri, tracker.experiment_id), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*An input example was not provided")  # the signature says it
        Model.log(
            None,
            name=MODEL_NAME,
            flavor=mlflow.pyfunc,
            run_id=tracker.run_id,
            python_model=str(package / "pyfunc_model.py"),
            artifacts={"predictor": str(path)},
            code_paths=[str(package)],
            signature=_signature(config.task.name),
            pip_requirements=_requirements(),
        )
    return True


class HarnessModel:
    """The pyfunc model: ``predictor.npz`` loaded once, requests answered as the module docstring says."""

    def load_context(self, context) -> None:
        self.predictor = predictor.Predictor.load(context.artifacts["predictor"])

    def predict(self, context, model_input, params: dict | None = None):
        import pandas as pd

        p = self.predictor
        if p.task == "pos":
            sentences = [str(s).split() for s in model_input["sentence"]]
            return pd.DataFrame({"tags": [" ".join(tags) for tags in p.tag(sentences)]})
        if p.task == "lm":
            o = params or {}
            options = {"length": int(o.get("length", 300)), "temperature": float(o.get("temperature", 1.0))}
            seed = int(o.get("seed", 0))
            return pd.DataFrame(
                {"text": [p.continue_text(str(t), seed=seed, **options) for t in model_input["prompt"]]}
            )
        if p.task == "sentiment":
            answer = p.classify([str(t) for t in model_input["text"]])
            return pd.DataFrame({"label": answer["label"], "probability": answer["probability"]})
        horizon = int((params or {}).get("horizon") or 0) or None
        out = p.forecast(np.asarray(model_input["value"], dtype=np.float64), horizon)
        nan = np.full(len(out["horizon"]), np.nan)
        return pd.DataFrame(
            {
                "horizon": out["horizon"].astype(np.int64),
                "forecast": out["forecast"],
                "lower": out.get("lower", nan),
                "upper": out.get("upper", nan),
            }
        )
