"""MLflow runs -> tidy pandas tables: one row per run (params, final metrics, status, failure), the
per-epoch metric history in long form, and run artifacts fetched on demand.

Runs are selected by parent run (a sweep), by experiment name, or by tags. A run's *variant* is its
model plus the values of any parameter that varies across the runs of that model other than the
seed (a swept hidden size, train size, distance...); seeds are the repetitions of a variant.
"""

from __future__ import annotations

import ast
import os
import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# parameters that never define a variant: repetitions, bookkeeping, where results go
NOT_AXES = {"seed", "run_name", "experiment_name", "tracking_uri", "progress", "task.synthetic.seed", "resume"}
# settings that change which rows sit beside a model, or how fast it runs, but not the model's own result
NOT_AXES |= {"task.yardsticks", "task.n_jobs", "threads"}
# parameters never put in a reproduce command
NOT_IN_COMMAND = {"run_name", "tracking_uri", "progress", "resume"}


@dataclass
class Selection:
    """Which runs a report covers (one of the three, or tags alone)."""

    parent_run_id: str | None = None
    experiment: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        parts = []
        if self.parent_run_id:
            parts.append(f"children of sweep run `{self.parent_run_id}`")
        if self.experiment:
            parts.append(f"experiment `{self.experiment}`")
        parts += [f"tag `{k}={v}`" for k, v in self.tags.items()]
        return ", ".join(parts) or "all runs"


class RunStore:
    """Read access to one MLflow tracking store."""

    def __init__(self, tracking_uri: str):
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        from mlflow.tracking import MlflowClient

        self.uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self._artifact_dir = Path(tempfile.mkdtemp(prefix="harness-report-"))

    def parent(self, run_id: str):
        return self.client.get_run(run_id)

    def search(self, sel: Selection) -> list:
        from mlflow.entities import ViewType

        if sel.experiment:
            exp = self.client.get_experiment_by_name(sel.experiment)
            if exp is None:
                from harness.errors import ConfigError

                names = [e.name for e in self.client.search_experiments()]
                raise ConfigError(
                    f"no MLflow experiment named {sel.experiment!r} in {self.uri}",
                    f"choose one of: {', '.join(names) or '(none)'}",
                )
            ids = [exp.experiment_id]
        else:
            ids = [e.experiment_id for e in self.client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
        clauses = [f"tags.`{k}` = '{v}'" for k, v in sel.tags.items()]
        if sel.parent_run_id:
            clauses.append(f"tags.mlflow.parentRunId = '{sel.parent_run_id}'")
        runs = []
        token = None
        while True:
            page = self.client.search_runs(
                ids, " and ".join(clauses), max_results=1000, page_token=token, order_by=["attributes.start_time ASC"]
            )
            runs += [r for r in page if r.data.tags.get("harness.sweep") != "true"]
            token = page.token
            if not token:
                return runs

    def history(self, run_id: str, metric: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self.client.get_metric_history(run_id, metric)]

    def artifact(self, run_id: str, name: str) -> Path | None:
        """Local copy of a run's artifact, or None if the run has none by that name."""
        import mlflow

        folder = name.rpartition("/")[0] or None  # list the artifact's own folder (e.g. diagnostics/)
        if name not in {f.path for f in self.client.list_artifacts(run_id, folder)}:
            return None
        dst = self._artifact_dir / run_id
        dst.mkdir(parents=True, exist_ok=True)
        return Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=name, dst_path=str(dst), tracking_uri=self.uri
            )
        )


def runs_table(runs: list) -> pd.DataFrame:
    """One row per run: identity, status, failure, params (``param.<key>``) and final metrics (``metric.<name>``)."""
    rows = []
    for r in runs:
        t = r.data.tags
        row = {
            "run_id": r.info.run_id,
            "experiment_id": r.info.experiment_id,
            "run_name": r.info.run_name,
            "status": r.info.status,
            "model": t.get("model") or r.data.params.get("model.name", "?"),
            "task": t.get("task") or r.data.params.get("task.name", "?"),
            "dataset": t.get("dataset") or r.data.params.get("task.dataset", ""),
            "seed": _int(t.get("seed", r.data.params.get("seed"))),
            "failure": t.get("failure", ""),
            "commit": t.get("git.commit", ""),
            "version": t.get("harness.version", ""),
            "start_time": pd.to_datetime(r.info.start_time, unit="ms"),
            "seconds_wall": ((r.info.end_time or r.info.start_time) - r.info.start_time) / 1000.0,
        }
        if r.info.status == "RUNNING":  # never counted; the report says why it was left out
            from harness.runs import gone_reason

            gone = gone_reason(t)
            row["failure"] = f"left out: {gone}" if gone else "left out: still running"
        row.update({f"param.{k}": v for k, v in r.data.params.items()})
        row.update({f"metric.{k}": v for k, v in r.data.metrics.items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["variant"] = variants(df)
    return df


def _int(v) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def sweep_axes(df: pd.DataFrame) -> list[str]:
    """Parameters (without ``param.``) that take more than one value among the runs of some model."""
    axes = []
    params = [c for c in df.columns if c.startswith("param.") and c[6:] not in NOT_AXES]
    for c in params:
        for _, g in df.groupby(["task", "model"]):
            if g[c].dropna().nunique() > 1:
                axes.append(c[6:])
                break
    return axes


def variants(df: pd.DataFrame) -> pd.Series:
    """``rnn``, or ``rnn hidden_size=64`` when a parameter is swept."""
    axes = sweep_axes(df)

    def label(row) -> str:
        parts = [row["model"]]
        for a in axes:
            v = row.get(f"param.{a}")
            if isinstance(v, str):
                v = v[:-2] if v.endswith(".0") and v[:-2].lstrip("-").isdigit() else v  # 300.0 -> 300
                parts.append(f"{a.split('.')[-1]}={v}")
        return " ".join(parts)

    return df.apply(label, axis=1)


def history_table(store: RunStore, df: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Long table (run_id, variant, seed, metric, step, value) of the per-step metrics of finished runs."""
    rows = []
    for _, r in df[df.status == "FINISHED"].iterrows():
        for m in metrics:
            if f"metric.{m}" not in df.columns or pd.isna(r.get(f"metric.{m}")):
                continue
            for step, value in store.history(r.run_id, m):
                rows.append(
                    {
                        "run_id": r.run_id,
                        "task": r.task,
                        "variant": r.variant,
                        "seed": r.seed,
                        "metric": m,
                        "step": step,
                        "value": value,
                    }
                )
    return pd.DataFrame(rows, columns=["run_id", "task", "variant", "seed", "metric", "step", "value"])


# ----------------------------------------------------------------------------------------------
# reproduce commands


def _default_params(model: str, task: str) -> dict[str, str] | None:
    """The flattened default config of ``model=<model> task=<task>``, values as MLflow stores them."""
    from omegaconf import OmegaConf

    from harness.config import compose_config, flatten
    from harness.tracking import param_value

    try:
        cfg = compose_config([f"model={model}", f"task={task}"])
        return {k: param_value(v) for k, v in flatten(OmegaConf.to_container(cfg, resolve=True)).items()}
    except Exception:  # a model or task this version no longer has
        return None


def _override_value(text: str) -> str:
    if text == "None":
        return "null"
    if text.startswith("[") and text.endswith("]"):
        try:
            return "[" + ",".join(str(v) for v in ast.literal_eval(text)) + "]"
        except (ValueError, SyntaxError):
            return text
    return text


def job_overrides(row: pd.Series, defaults_cache: dict) -> list[str]:
    """The overrides that reproduce one run: its params that differ from today's defaults."""
    key = (row["model"], row["task"])
    if key not in defaults_cache:
        defaults_cache[key] = _default_params(*key)
    defaults = defaults_cache[key]
    out = [f"model={row['model']}", f"task={row['task']}"]
    params = {c[6:]: v for c, v in row.items() if c.startswith("param.") and isinstance(v, str)}
    for k, v in sorted(params.items()):
        if k in NOT_IN_COMMAND or k in ("model.name", "task.name", "seed"):
            continue
        if defaults is not None and defaults.get(k) == v:
            continue
        if defaults is not None and k not in defaults:
            continue  # a key this version no longer has
        out.append(f"{k}={_override_value(v)}")
    return out


def command(overrides: list[str], seeds: list[int] | None = None) -> str:
    args = list(overrides)
    multirun = seeds is not None and len(seeds) > 1
    if seeds:
        args.append(f"seed={','.join(str(s) for s in sorted(seeds))}")
    return "python -m harness " + ("-m " if multirun else "") + " ".join(shlex.quote(a) for a in args)
