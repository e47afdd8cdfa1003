"""Run names that say what differs from the defaults: ``rnn-bi-pos-seed0``, ``lstm-h64-pos-seed1``,
``gru-l2-do0.3-timeseries-nile-seed2``.

The rule: ``<model>[-<setting>...]-<task>[-<data set>]-seed<seed>``, where each ``<setting>`` is a
model setting whose value differs from the model's defaults (its schema, after the preset file
conf/model/<model>.yaml, so ``lstm_long`` is not ``lstm_long-ep100-pat10``), in the schema's field
order: a short prefix and the value (``h64``, ``l2``, ``lr0.01``), the value alone where it names
itself (``sgd``, ``relu``), a flag's short name when switched on (``bi``) and ``no<name>`` when
switched off, else ``<key>=<value>``. The data set is named when it is not the task's default;
``task.train_size`` adds ``n<size>``. ``run_name=...`` overrides the whole name.
"""

from __future__ import annotations

import dataclasses
from importlib.resources import files
from typing import Any

from omegaconf import OmegaConf

from harness.config import CONFIG_MODULE

PREFIX = {
    "hidden_size": "h",
    "num_layers": "l",
    "embedding_size": "emb",
    "feature_size": "feat",
    "dropout": "do",
    "word_dropout": "wdo",
    "bptt_steps": "bptt",
    "lr": "lr",
    "momentum": "mom",
    "weight_decay": "wd",
    "clip_norm": "clip",
    "epochs": "ep",
    "batch_size": "b",
    "patience": "pat",
    "init_scale": "init",
    "order": "o",
    "n_states": "s",
    "lexicalize": "lex",
    "n_iter": "it",
}
SELF_NAMING = {"optimizer", "nonlinearity", "unknown", "init"}  # the value says it: sgd, relu
FLAGS = {"bidirectional": "bi", "capitalization": "cap"}


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return str(v)


def setting_token(key: str, value: Any) -> str:
    """One setting as it appears in a run name (see the module docstring)."""
    if isinstance(value, bool):
        short = FLAGS.get(key, key)
        return short if value else f"no{short}"
    if key in SELF_NAMING:
        return _value(value)
    if key in PREFIX:
        return f"{PREFIX[key]}{_value(value)}"
    return f"{key}={_value(value)}"


def model_defaults(model: Any) -> dict[str, Any]:
    """The model's default settings: its schema's, with its preset file's values on top."""
    defaults = {f.name: getattr(type(model)(), f.name) for f in dataclasses.fields(model)}
    preset = files(CONFIG_MODULE) / "model" / f"{model.name}.yaml"
    if preset.is_file():
        values = OmegaConf.to_container(OmegaConf.create(preset.read_text(encoding="utf-8")))
        defaults |= {k: v for k, v in (values or {}).items() if k != "defaults"}
    return defaults


def run_name(config: Any) -> str:
    """The default MLflow run name of ``config`` (a harness.config.Config)."""
    model, task = config.model, config.task
    defaults = model_defaults(model)
    parts = [model.name]
    for f in dataclasses.fields(model):
        value = getattr(model, f.name)
        if f.name != "name" and f.name in defaults and _value(value) != _value(defaults[f.name]):
            parts.append(setting_token(f.name, value))
    parts.append(task.name)
    if task.dataset != type(task)().dataset:
        parts.append(task.dataset)
    if getattr(task, "train_size", None) is not None:
        parts.append(f"n{_value(task.train_size)}")
    return "-".join(parts) + f"-seed{config.seed}"
