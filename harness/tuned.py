"""The tuned comparison: every model family gets the same search budget on dev, then its best
configuration and its defaults are rerun over the same seeds and compared on test in one report.

    python -m harness.tuned --name tuned_pos --presets hmm,rnn,lstm,gru,bilstm --trials 20 --seeds 0,1,2 \\
        task.dataset=ud_english_ewt

Steps, each an ordinary command whose runs land in MLflow:
1. per preset (conf/tune/<preset>.yaml): ``python -m harness -m +tune=<preset>`` with the same budget,
   ``--trials N`` (complete + pruned trials) or ``--budget-seconds S`` (the trials' CPU seconds), in
   the experiment ``<name>-search``, study ``<name>-<preset>`` (rerunning resumes a study, so an
   interrupted comparison continues where it stopped);
2. per preset: its defaults (``model.name=<preset>``) and its best trial (``model.name=<preset>_tuned``)
   over ``--seeds``, in the experiment ``<name>``;
3. the report of experiment ``<name>`` (default and tuned side by side, with the tests over test
   items), followed by a *Search* section (harness.report.search): best dev score against trial and
   the parameter importances of each study.

Overrides: ``key=value`` for every run, ``<preset>:key=value`` for one preset's runs. A sweep override
(``choice``, ``interval``, ``range``; e.g. ``lstm:model.epochs=choice(5,10)``) replaces that key's search
space in the study and is left out of the reruns, so a search space can be sized to the data set
without a new preset.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

from harness import tuning
from harness.errors import ConfigError, HarnessError


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m harness.tuned", description=__doc__.split("\n\n")[0])
    p.add_argument("--name", default="tuned", help="experiment and report name (default: tuned)")
    p.add_argument("--presets", default="hmm,rnn,lstm,gru,bilstm", help="conf/tune/<preset>.yaml, comma-separated")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--trials", type=int, default=20, help="complete + pruned trials per study (default 20)")
    budget.add_argument("--budget-seconds", type=float, help="CPU seconds per study, instead of a trial count")
    p.add_argument("--seeds", default="0,1,2", help="seeds of the final default and tuned runs (default 0,1,2)")
    p.add_argument("--jobs", type=int, default=2, help="parallel workers (joblib) for the searches and reruns")
    p.add_argument(
        "overrides",
        nargs="*",
        help="overrides for every run, e.g. task.dataset=ud_english_ewt; <preset>:key=value for one preset's runs",
    )
    return p.parse_args(argv)


def preset_model(preset: str) -> list[str]:
    """The model overrides a tune preset sets (``model=lstm model.bidirectional=true`` for bilstm)."""
    from harness.paths import project_root

    path = project_root() / "conf" / "tune" / f"{preset}.yaml"
    if not path.is_file():
        import harness.conf

        path = Path(harness.conf.__file__).parent / "tune" / f"{preset}.yaml"
    if not path.is_file():
        raise ConfigError(f"no tune preset {preset!r}", "choose from conf/tune/*.yaml, e.g. --presets hmm,lstm")
    cfg = OmegaConf.to_container(OmegaConf.load(path))
    model = next(d["override /model"] for d in cfg["defaults"] if isinstance(d, dict) and "override /model" in d)
    extra = [f"model.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in (cfg.get("model") or {}).items()]
    return [f"model={model}", *[o for o in extra if not o.startswith("model.name=")]]


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes and theirs (the jobs' workers)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def harness(args: list[str]) -> None:
    """``python -m harness *args``; a failure stops the comparison with its exit status."""
    print("+ python -m harness " + " ".join(args), file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, "-m", "harness", *args])
    if done.returncode != 0:
        raise SystemExit(done.returncode)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    from harness.config import compose_config
    from harness.tracking import tracking_uri

    presets = [p for p in a.presets.split(",") if p]
    try:
        models = {p: preset_model(p) for p in presets}
        uri = tracking_uri(compose_config([o for o in a.overrides if ":" not in o.split("=", 1)[0]]).tracking_uri)
    except HarnessError as error:
        print(f"harness: error: {error}", file=sys.stderr)
        return error.exit_status
    url = tuning.storage_url(None, uri)
    budget = [f"hydra.sweeper.budget_seconds={a.budget_seconds}", "hydra.sweeper.n_trials=100000"]
    if a.budget_seconds is None:
        budget = [f"hydra.sweeper.n_trials={a.trials}"]
    launcher = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={a.jobs}", f"hydra.sweeper.n_jobs={a.jobs}"]
    start = _children_cpu(), time.perf_counter()
    shared = [o for o in a.overrides if ":" not in o.split("=", 1)[0]]
    own = {p: [o.split(":", 1)[1] for o in a.overrides if o.startswith(f"{p}:")] for p in presets}
    try:  # the reruns take the plain overrides; sweep overrides only shape the searches
        plain = {p: tuning.search_space(shared + own[p])[0] for p in presets}
    except HarnessError as error:
        print(f"harness: error: {error}", file=sys.stderr)
        return error.exit_status
    for preset in presets:  # 1. the same budget for every family
        harness(
            ["-m", f"+tune={preset}", *shared, *own[preset], *budget, *launcher, f"experiment_name={a.name}-search"]
            + [f"hydra.sweeper.study_name={a.name}-{preset}", "hydra.callbacks.sweep.report=false", "progress=false"]
        )
    import optuna

    studies = {p: optuna.load_study(study_name=f"{a.name}-{p}", storage=url) for p in presets}
    for preset in presets:  # 2. defaults and the best trial, over the same seeds
        best = [tuning.as_override(k, v) for k, v in studies[preset].best_trial.params.items()]
        for label, params in ((preset, []), (f"{preset}_tuned", best)):
            harness(
                ["-m", *models[preset], *plain[preset], *params, f"model.name={label}", f"seed={a.seeds}"]
                + ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={a.jobs}", f"experiment_name={a.name}"]
                + ["hydra.callbacks.sweep.report=false", "progress=false"]
            )
    from harness.report import build_report
    from harness.report.search import search_section

    path = build_report(uri, experiment=a.name, name=a.name, log_to_parent=False)
    cpu, wall = _children_cpu() - start[0], time.perf_counter() - start[1]
    budget_text = f"{a.budget_seconds:g} CPU seconds" if a.budget_seconds is not None else f"{a.trials} trials"
    section = search_section(studies, path.parent, budget_text)
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n" + section)
    print(f"harness: tuned comparison written to {path} ({cpu:.0f} CPU seconds, {wall:.0f} s wall)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
