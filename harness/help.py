"""``python -m harness --help``: what the tool does, its config groups and options, the common commands
and where results go. The choices are read from the installed config (conf/ = harness.conf) and the
schemas, so the page lists exactly what composes; the internal ``schema`` group is not a choice."""

from __future__ import annotations

from importlib.resources import files

from harness import __version__
from harness.config import CONFIG_MODULE, MODEL_SCHEMAS, TASK_SCHEMAS

GROUPS = ("model", "task", "experiment")  # the user's choices (conf/<group>/<option>.yaml)


def choices(group: str) -> list[str]:
    """The options of a config group: the YAML files under conf/<group>/."""
    folder = files(CONFIG_MODULE) / group
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def help_text() -> str:
    models = choices("model")
    tasks = [t for t in choices("task") if t in TASK_SCHEMAS]
    per_task = "\n".join(
        f"    task={t}: {', '.join(m for m in models if t in MODEL_SCHEMAS.get(m.removesuffix('_long'), {}))}"
        for t in tasks
    )
    return f"""harness {__version__}: recurrent networks (NumPy RNN/LSTM/GRU, exact BPTT) against hidden Markov
models (hmmlearn) on sequence tasks, with the same data, metrics and MLflow tracking.

usage: python -m harness [-m] [key=value ...]      (the `harness` command is the same)

Config groups (choose one option each, e.g. model=lstm task=timeseries):
  model       {", ".join(models)}
  task        {", ".join(tasks)}
  experiment  sweep presets, run with -m +experiment=NAME:
              {", ".join(choices("experiment"))}
  Models per task:
{per_task}

Options (key=value; the model's and task's own keys are model.* and task.*):
  seed=0  experiment_name=<task>  run_name=<model>-<what differs>-<task>-seed<seed>
  tracking_uri=<$MLFLOW_TRACKING_URI or sqlite:///<project>/mlflow.db>  progress=true  threads=1
  resume=<mlflow run id>   continue an interrupted run from its last checkpoint (same overrides)
  A setting that does not apply to the chosen model and task stops the run before any work.

Common commands:
  python -m harness model=rnn task=pos                      train and evaluate one model (exit 0)
  python -m harness model=lstm model.hidden_size=64 --cfg job   print the composed config, run nothing
  python -m harness -m model=rnn,lstm,hmm seed=0,1,2        sweep: one job per combination, then a report
  python -m harness -m +experiment=rnn_vs_hmm_pos           a preset sweep
  python -m harness.report --experiment pos                 rebuild a report from MLflow runs
  python -m harness.datasets download ud_english_ewt        fetch a download-only data set

Where results go:
  MLflow runs: $MLFLOW_TRACKING_URI, else mlflow.db at the project root; browse them with
    mlflow ui --backend-store-uri sqlite:///mlflow.db   (one experiment per task; see README, "Looking at runs")
  Hydra's job folders: outputs/<date>/<time>/ (sweeps: multirun/<date>/<time>/<job>/)
  Sweep reports: reports/<preset or experiment>-<time>/report.md and report.html

Exit status: 0 done; 2 bad input (one line naming the fix); 1 a run failed, or any job of a sweep failed.
Flags: -m/--multirun, --cfg job, --version, --hydra-help (Hydra's own flags)."""
