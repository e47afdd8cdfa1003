"""Optuna studies (harness.tuning and the harness_optuna sweeper): the search space read from Hydra's
override syntax, pruning on the per-epoch dev score, and a real study with 2 parallel workers that is
interrupted with Ctrl-C and resumed: the trial count adds up, no trial is recorded twice, and every
trial is an MLflow child run tagged with its number and state."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from harness import tuning
from harness.errors import ConfigError
from tests.conftest import all_runs

TINY_POS = [
    "task=pos",
    "task.synthetic.n_train=40",
    "task.synthetic.n_dev=10",
    "task.synthetic.n_test=10",
    "task.synthetic.vocab_size=200",
    "progress=false",
]


def test_search_space_reads_hydra_override_syntax():
    plain, space = tuning.search_space(
        [
            "model=lstm",
            "model.lr=tag(log,interval(1e-4,1e-2))",
            "model.hidden_size=choice(64,128,256)",
            "model.dropout=interval(0,0.5)",
            "model.num_layers=range(1,4)",
            "model.batch_size=tag(int,interval(8,64))",
            "model.optimizer=adam,sgd",
            "model.epochs=choice(5,10)",
            "model.epochs=3",  # a later plain value replaces the earlier search dimension
        ]
    )
    assert plain == ["model=lstm", "model.epochs=3"]
    assert space == {
        "model.lr": FloatDistribution(1e-4, 1e-2, log=True),
        "model.hidden_size": CategoricalDistribution([64, 128, 256]),
        "model.dropout": FloatDistribution(0.0, 0.5),
        "model.num_layers": IntDistribution(1, 3),  # Hydra's range excludes its end
        "model.batch_size": IntDistribution(8, 64),
        "model.optimizer": CategoricalDistribution(["adam", "sgd"]),
    }
    assert tuning.as_override("model.lr", 0.001) == "model.lr=0.001"
    assert tuning.as_override("model.bidirectional", True) == "model.bidirectional=true"


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.lr=interval(0.1,0.01)", r"model.lr: interval\(0.1,0.01\) is empty"),
        ("model.lr=tag(log,interval(0,1))", r"model.lr: a log scale needs a positive lower bound"),
        ("model.num_layers=range(3,3)", r"model.num_layers: range\(3,3,1\) is empty"),
        ("model.lr=interval(1,", r"cannot parse the search space"),
    ],
)
def test_search_space_refuses_what_optuna_cannot_sample(override, message):
    with pytest.raises(ConfigError, match=message):
        tuning.search_space([override])


class _Run:
    """Stands in for the job's Tracker: records the tags set on the run."""

    run_id, uri = "run-x", "sqlite://"

    def __init__(self):
        self.tags = {}

    def set_tags(self, tags):
        self.tags |= tags


def test_median_pruner_stops_a_trial_worse_than_the_others(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(
        study_name="s",
        storage=url,
        direction="maximize",
    )
    for _ in range(3):  # three finished trials whose dev accuracy climbs 0.5, 0.6, 0.7, 0.8
        trial = study.ask()
        for epoch in range(1, 5):
            trial.report(0.4 + 0.1 * epoch, epoch)
        study.tell(trial, 0.8)
    good, bad = study.ask(), study.ask()
    jobs = []
    for trial in (good, bad):
        job = tuning.JobTrial(url, "s", trial.number, prune=True, startup=2, warmup=1)
        job.tracker, job.dev_metric = _Run(), "dev_accuracy"
        jobs.append(job)
    logged = []
    reporting = jobs[1].wrap(lambda epoch, values: logged.append(epoch))
    reporting(1, {"dev_accuracy": 0.1})  # warm-up epoch: never pruned
    with pytest.raises(tuning.Pruned, match=f"trial {bad.number} pruned at epoch 2"):
        reporting(2, {"dev_accuracy": 0.1})  # below the median 0.6 of the others at epoch 2
    assert logged == [1, 2]  # the epoch is logged before the trial is stopped
    assert jobs[1].tracker.tags == {"optuna.state": "PRUNED", "optuna.pruned_at_epoch": "2"}
    for epoch in range(1, 5):  # the good trial stays above the median and is never pruned
        jobs[0].on_epoch(epoch, 0.45 + 0.1 * epoch)
    attrs = study._storage.get_trial(bad._trial_id).user_attrs
    assert attrs[tuning.PRUNED_AT] == 2 and tuning.PRUNED_AT not in study._storage.get_trial(good._trial_id).user_attrs


def _study_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "-m",
        "+tune=rnn",
        "model.epochs=3",
        "model.hidden_size=choice(8,16)",
        "model.embedding_size=8",
        *TINY_POS,
        "hydra.sweeper.n_trials=4",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "hydra.callbacks.sweep.report=false",
        *extra,
    ]


def _finished_trials(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("select count(*) from trials where state in ('COMPLETE','PRUNED')").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet, or locked for a moment
        return 0


@pytest.mark.slow
def test_study_with_two_workers_resumes_after_ctrl_c(tmp_path, tracking_store, run_cli):
    db = tmp_path / "optuna.db"  # beside the test's MLflow store
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(
        [sys.executable, "-m", "harness", *_study_args(tmp_path, "hydra.launcher.n_jobs=2")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches
    )
    deadline = time.monotonic() + 90
    while _finished_trials(db) < 2 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGINT)  # Ctrl-C while the second batch of 2 runs
    out, _ = first.communicate(timeout=60)
    assert first.returncode != 0, out
    (summary,) = optuna.get_all_study_summaries(f"sqlite:///{db}")
    before = optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{db}").get_trials()
    assert all(t.state != TrialState.RUNNING for t in before), "an interrupted trial was left RUNNING"
    assert len([t for t in before if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]) < 4

    # the same command resumes the study (here one trial at a time, in-process: hydra/launcher=basic)
    again = run_cli(_study_args(tmp_path, "hydra/launcher=basic", "hydra.sweeper.n_jobs=1"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"study '{summary.study_name}'" in again.stderr  # the same study, not a new one

    trials = optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{db}").get_trials()
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))  # each trial recorded once
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == 4  # the trial count adds up to n_trials across the two sweeps
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL) for t in trials)

    _, runs = all_runs(tracking_store)
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("harness.sweep") == "true"}
    assert len(parents) == 2 and all(p.data.tags["optuna.study"] == summary.study_name for p in parents.values())
    trial_runs = [r for r in runs if "optuna.trial" in r.data.tags]
    assert all(r.data.tags["mlflow.parentRunId"] in parents for r in trial_runs)  # every trial a child run
    by_number = {}
    for r in trial_runs:
        assert r.data.tags["optuna.trial"] not in by_number, "two runs for one trial"
        by_number[r.data.tags["optuna.trial"]] = r
    for t in trials:  # each trial that got as far as its run: one run, tagged with its number and its state
        run = by_number.get(str(t.number))
        assert run is not None or t.state == TrialState.FAIL, f"trial {t.number} ({t.state.name}) has no run"
        if run is not None:
            assert run.data.tags["optuna.state"] == t.state.name, (t.number, run.data.tags)
    for t in done:
        run = by_number[str(t.number)]
        assert run.info.status == "FINISHED", (t.state, run.data.tags.get("failure"), run.data.tags.get("optuna.state"))
        if t.state == TrialState.COMPLETE:  # the study's objective is the run's dev score, not test
            assert t.value == pytest.approx(run.data.metrics["best_dev_accuracy"])


def _study(direction: str, outcomes: list[float | None]):
    """An in-memory study: one trial per outcome, a dev score or None (pruned)."""
    study = optuna.create_study(direction=direction)
    for value in outcomes:
        trial = study.ask({"model.lr": FloatDistribution(0.0, 1.0), "model.noise": FloatDistribution(0.0, 1.0)})
        study.tell(trial, value, state=TrialState.PRUNED if value is None else TrialState.COMPLETE)
    return study


def test_search_history_is_the_best_dev_score_so_far(tmp_path):
    from harness.report.search import best_so_far, search_section

    up = _study("maximize", [0.5, None, 0.7, 0.6])
    assert [r[2] for r in best_so_far(up)] == [0.5, 0.5, 0.7, 0.7]
    assert math.isnan(best_so_far(up)[1][1])  # the pruned trial has no score
    down = _study("minimize", [3.0, 2.0, 4.0])
    assert [r[2] for r in best_so_far(down)] == [3.0, 2.0, 2.0]
    text = search_section({"rnn": up, "hmm": down}, tmp_path, "4 trials")
    assert "| rnn | 3 | 1 | 0 |" in text and "| 0.7000 |" in text and "| hmm | 3 | 0 | 0 |" in text
    assert (tmp_path / "search_history.png").stat().st_size > 0


def test_importances_single_out_the_parameter_that_matters():
    from harness.report.search import importances

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("lr", 0, 1) - 0.3) ** 2 + 1e-3 * t.suggest_float("noise", 0, 1), 30)
    ranked = importances(study)
    assert ranked["lr"] > 0.9 and ranked["noise"] < 0.1
    assert importances(optuna.create_study()) == {}  # no complete trial: nothing to rank


def test_tuned_comparison_sizes_a_search_space_without_sweeping_it_in_the_reruns(tmp_path, monkeypatch):
    """``<preset>:key=choice(...)`` replaces the key's space in that preset's study only, and the reruns of
    the defaults and the best trial take the plain overrides alone (a choice there would sweep a grid)."""
    import types

    import harness.report
    import harness.report.search
    from harness import tuned

    calls = []
    monkeypatch.setattr(tuned, "harness", lambda args: calls.append(args))
    best = types.SimpleNamespace(best_trial=types.SimpleNamespace(params={"model.lr": 0.01, "model.epochs": 5}))
    monkeypatch.setattr(optuna, "load_study", lambda **kw: best)
    report = tmp_path / "report.md"
    monkeypatch.setattr(harness.report, "build_report", lambda *a, **kw: report)
    monkeypatch.setattr(harness.report.search, "search_section", lambda *a: "## Search\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/m.db")
    status = tuned.main(
        ["--presets", "hmm,lstm", "--trials", "3", "--seeds", "0,1", "task.train_size=50"]
        + ["lstm:model.epochs=choice(5,10)", "lstm:model.patience=2"]
    )
    assert status == 0
    searches = [c for c in calls if any(a.startswith("+tune=") for a in c)]
    reruns = [c for c in calls if c not in searches]
    assert [next(a for a in c if a.startswith("+tune=")) for c in searches] == ["+tune=hmm", "+tune=lstm"]
    assert "model.epochs=choice(5,10)" in searches[1] and "model.epochs=choice(5,10)" not in searches[0]
    assert "task.train_size=50" in searches[0] and "hydra.sweeper.n_trials=3" in searches[1]
    assert len(reruns) == 4  # defaults and best trial of each preset
    for c in reruns:
        assert not any("choice(" in a for a in c)
        assert "task.train_size=50" in c and "seed=0,1" in c
    lstm_default, lstm_tuned = reruns[2], reruns[3]
    assert "model.patience=2" in lstm_default and "model.name=lstm" in lstm_default
    assert "model.epochs=5" in lstm_tuned and "model.lr=0.01" in lstm_tuned and "model.name=lstm_tuned" in lstm_tuned
    assert report.read_text() == "\n## Search\n"  # the search section follows the comparison


def test_tuned_comparison_refuses_a_search_space_optuna_cannot_sample(monkeypatch, capsys):
    from harness import tuned

    monkeypatch.setattr(tuned, "harness", lambda args: pytest.fail("no run may start"))
    assert tuned.main(["--presets", "lstm", "lstm:model.lr=interval(0.1,0.01)"]) == 2
    assert "interval(0.1,0.01) is empty" in capsys.readouterr().err
