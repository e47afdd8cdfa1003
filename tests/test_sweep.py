"""Sweeps through the real command line: a parent MLflow run with one child per job, failed jobs
recorded while the sweep goes on, the report written at the end; parallel jobs (joblib, submitit)
against a fresh sqlite store; presets and sweep expansion checked against Hydra's own sweeper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import all_runs

from harness.cli import precheck, sweeper_params
from harness.errors import ConfigError
from harness.sweep import PARENT_FILE, expand_sweep, sweep_combinations

CONF = Path(__file__).resolve().parent.parent / "conf" / "experiment"
TINY_POS = [
    "task=pos",
    "task.synthetic.n_train=40",
    "task.synthetic.n_dev=10",
    "task.synthetic.n_test=10",
    "task.synthetic.vocab_size=200",
]


def _runs(uri: str):
    """(sweep parent runs, child runs) in the store."""
    _, runs = all_runs(uri)
    parents = [r for r in runs if r.data.tags.get("harness.sweep") == "true"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def _sweep_args(tmp_path: Path, *extra: str, report: bool = True) -> list[str]:
    return [
        "-m",
        *extra,
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"hydra.callbacks.sweep.report_dir={tmp_path / 'reports'}",
        "hydra.callbacks.sweep.report_name=t",
        f"hydra.callbacks.sweep.report={str(report).lower()}",
    ]


def test_sweep_combinations_are_the_basic_sweepers_jobs():
    params = {"seed": "5,6", "task.distance": "1,2"}
    args = ["model=rnn,hmm", "seed=0,1", "+experiment=long_range", "model.hidden_size=8"]
    # params first, then the command line; a key keeps its first position but its last value, so the
    # command line's seeds replace the preset's; the last axis varies fastest
    expected = [
        [f"seed={s}", f"task.distance={d}", f"model={m}", "+experiment=long_range", "model.hidden_size=8"]
        for s in (0, 1)
        for d in (1, 2)
        for m in ("rnn", "hmm")
    ]
    assert sweep_combinations(args, params) == expected
    assert sweep_combinations(["a=1"]) == [["a=1"]]


def test_sweep_rejects_range_sweeps():
    assert len(sweep_combinations(["seed=range(3)"])) == 3  # discrete, as in Hydra
    with pytest.raises(ConfigError, match=r"model.lr: only comma lists can be swept here; write model.lr=a,b,c"):
        sweep_combinations(["model.lr=interval(0.001,0.1)"])


@pytest.mark.parametrize(
    "preset, jobs",
    [
        ("rnn_vs_hmm_pos", 12),
        ("rnn_vs_hmm_timeseries", 12),
        ("rnn_vs_hmm_panel", 12),
        ("sample_efficiency", 24),
        ("long_range", 60),
        ("vanishing_gradients", 18),
        ("lm_synthetic", 15),
        ("rnn_vs_hmm_sentiment", 15),
        ("sentiment_reviews", 15),
    ],
)
def test_presets_expand_and_every_job_validates(preset, jobs):
    text = (CONF / f"{preset}.yaml").read_text(encoding="utf-8")
    assert text.startswith("# @package _global_\n") and f"python -m harness -m +experiment={preset}" in text
    params = sweeper_params([f"+experiment={preset}"])
    assert len(sweep_combinations([f"+experiment={preset}"], params)) == jobs
    precheck(["-m", f"+experiment={preset}"])  # composes and checks every job's config


def test_every_model_runs_on_every_task_so_a_sweep_checks_all_its_jobs():
    jobs = sweep_combinations(["model=rnn,lstm,gru,hmm", "task=pos,timeseries,longrange"])
    checked = []
    assert expand_sweep(["model=rnn,lstm,gru,hmm", "task=pos,timeseries,longrange"], checked.append) == jobs
    assert len(jobs) == 12 and checked == jobs  # no seed axis: each job is checked
    precheck(["-m", "model=rnn,lstm,gru,hmm", "task=pos,timeseries,longrange"])  # every pair validates


def test_expand_sweep_checks_each_combination_once_for_all_seeds_and_stops_at_a_bad_one():
    checked = []
    expand_sweep(["model=rnn,hmm", "seed=0,1,2"], checked.append)
    assert checked == [
        ["model=rnn", "seed=0"],
        ["model=rnn", "seed=1"],
        ["model=rnn", "seed=2"],
        ["model=hmm", "seed=0"],
    ]

    def check(combo):
        if "model=hmm" in combo:
            raise ConfigError("model.hidden_size is not an HMM key", "drop it")

    with pytest.raises(ConfigError, match="not an HMM key"):
        expand_sweep(["model=rnn,hmm"], check)


def test_precheck_of_a_preset_catches_a_bad_override():
    with pytest.raises(ConfigError, match="model.hidden_size"):
        precheck(["-m", "+experiment=rnn_vs_hmm_pos", "model.hidden_size=8"])  # hmm has no hidden size


def test_sweep_parent_children_failures_and_report(run_cli, tracking_store, tmp_path):
    """rnn,hmm x 2 seeds x 2 train sizes; train_size=500 exceeds the 40 sentences, so 4 jobs fail."""
    args = _sweep_args(tmp_path, "model=rnn,hmm", "seed=0,1", "task.train_size=20,500", *TINY_POS)
    out = run_cli(args, cwd=tmp_path, timeout=240)
    assert out.returncode == 1, out.stderr[-3000:]  # any failed job: exit 1, after the report (issue 19)
    assert out.stderr.strip().splitlines()[-1].startswith("harness: error: 4 of 8 sweep jobs failed: [")
    assert out.stderr.count("harness: job failed [") == 4 and "task.train_size=500 asks for 500 sentences" in out.stderr
    assert "Traceback" not in out.stderr

    parents, children = _runs(tracking_store)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0].info.run_id
    assert json.loads((tmp_path / "sweep" / PARENT_FILE).read_text())["run_id"] == parent
    assert len(children) == 8 and {c.data.tags["mlflow.parentRunId"] for c in children} == {parent}
    assert {c.info.experiment_id for c in children} == {parents[0].info.experiment_id}  # nested in one experiment
    status = sorted((c.data.tags["model"], c.data.params.get("task.train_size"), c.info.status) for c in children)
    assert status == sorted(
        [(m, s, st) for m in ("rnn", "hmm") for s, st in (("20.0", "FINISHED"), ("500.0", "FAILED"))] * 2
    )
    assert all("DataError" in c.data.tags["failure"] for c in children if c.info.status == "FAILED")

    md = (tmp_path / "reports" / "t" / "report.md").read_text(encoding="utf-8")
    for model in ("rnn", "hmm"):  # one row per model, n = number of seeds
        row = next(line for line in md.splitlines() if line.startswith(f"| {model} train_size=20 |"))
        assert row.split("|")[4].strip() == "2"
    assert md.count("| FAILED | DataError: task.train_size=500 asks") == 4
    assert (tmp_path / "reports" / "t" / "report.html").is_file()
    assert f"sweep done: 4 failed, 4 finished [parent run {parent}]" in out.stderr


@pytest.mark.slow
def test_joblib_sweep_of_8_jobs_on_2_workers_against_a_fresh_store(run_cli, tmp_path):
    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"  # does not exist yet: the launching process creates it
    (tmp_path / "fresh").mkdir()
    seeds = "seed=" + ",".join(str(s) for s in range(8))
    args = _sweep_args(
        tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model=hmm", seeds, *TINY_POS, report=False
    )
    out = run_cli(args, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri}, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "job failed" not in out.stderr
    parents, children = _runs(uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 8 and all(c.info.status == "FINISHED" for c in children)
    assert sorted(int(c.data.tags["seed"]) for c in children) == list(range(8))
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}


@pytest.mark.slow
def test_submitit_local_sweep(run_cli, tracking_store, tmp_path):
    args = _sweep_args(
        tmp_path,
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=5",
        "model=hmm",
        "seed=0,1",
        *TINY_POS,
        report=False,
    )
    out = run_cli(args, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    parents, children = _runs(tracking_store)
    assert len(parents) == 1 and len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    assert (tmp_path / "sweep" / ".submitit").is_dir()  # the jobs really went through submitit


@pytest.mark.slow
def test_sigterm_ends_the_sweep_and_its_parent_run_killed(tracking_store, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    args = _sweep_args(tmp_path, "model=rnn", "seed=0,1,2", report=False)  # default sizes: each job runs for a while
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "sweep of 3 jobs" not in proc.stderr.readline():
            pass
        while time.monotonic() < deadline and not _runs(tracking_store)[1]:  # the first job's run has started
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode != 0
    parents, children = _runs(tracking_store)
    assert [p.info.status for p in parents] == ["KILLED"], err[-2000:]
    assert children and all(c.info.status in ("FINISHED", "KILLED") for c in children)
    assert len(children) < 3  # the sweep stopped


@pytest.mark.slow
def test_a_diverging_job_fails_alone_and_is_reported_once(run_cli, tracking_store, tmp_path):
    args = _sweep_args(tmp_path, "model=rnn", "model.lr=0.003,1e30", "model.clip_norm=0", "model.epochs=3", *TINY_POS)
    out = run_cli(args, cwd=tmp_path, timeout=240)
    assert out.returncode == 1, out.stderr[-3000:]  # a failed job makes the sweep exit 1 (issue 19)
    assert "diverged (training loss became nan" in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("harness: error: 1 of 2 sweep jobs failed: [")
        and "model.lr=1e+30 " in last
        and "diverged" in last
    )
    _, children = _runs(tracking_store)
    status = {c.data.params["model.lr"]: c.info.status for c in children}
    assert status == {"0.003": "FINISHED", "1e+30": "FAILED"}  # one run each: the failure is not recorded twice
    md = (tmp_path / "reports" / "t" / "report.md").read_text(encoding="utf-8")
    assert "| rnn lr=1e+30 seed=0 | pos | FAILED |" in md and "| rnn lr=0.003 | " in md
