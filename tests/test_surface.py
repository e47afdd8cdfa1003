"""The user's surface (issue 19): a sweep with failed jobs exits non-zero naming them, a download-only
data set missing offline stops a sweep before any job, settings another setting makes idle are
refused, a real --help and --version, Hydra's -m hint kept, a line per epoch off a terminal, run
names that carry what differs, and the Python route returning the run's id and metrics."""

from __future__ import annotations

import importlib.metadata
import json

import pytest
from conftest import all_runs

import harness
from harness.cli import compose_checked
from harness.errors import ConfigError

TINY_POS = [
    "task=pos",
    "task.synthetic.n_train=40",
    "task.synthetic.n_dev=10",
    "task.synthetic.n_test=10",
    "task.synthetic.vocab_size=200",
]


def _sweep(tmp_path, *args: str) -> list[str]:
    return ["-m", *args, f"hydra.sweep.dir={tmp_path / 'sweep'}", f"hydra.callbacks.sweep.report_dir={tmp_path / 'r'}"]


def test_a_partly_failed_sweep_exits_1_naming_the_failed_job_and_keeps_the_report(tmp_path, run_cli, tracking_store):
    # one sweep, two jobs: the same model on a readable CSV and on a missing one
    paths = f"task.path={tmp_path / 'missing.csv'},{tmp_path / 'ok.csv'}"
    args = ["model=hmm", "task=timeseries", "task.dataset=csv", paths, "task.value_column=v"]
    (tmp_path / "ok.csv").write_text("v\n" + "".join(f"{(i * 7) % 11 + i * 0.1}\n" for i in range(120)))
    done = run_cli(_sweep(tmp_path, *args, "task.window=4", "task.yardsticks=[naive]"), tmp_path, timeout=240)
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("harness: error: 1 of 2 sweep jobs failed: [")
    assert "missing.csv does not exist" in last and "the report and MLflow hold the others" in last
    assert "1 finished" in done.stderr and list((tmp_path / "r").glob("*/report.md"))
    failed = [json.loads(x) for x in (tmp_path / "sweep" / "failed_jobs.jsonl").read_text().splitlines()]
    assert len(failed) == 1 and "missing.csv" in failed[0]["overrides"]


def test_an_all_failed_sweep_exits_1(tmp_path, run_cli, tracking_store):
    args = ["model=hmm", "task=timeseries", "task.dataset=csv", f"task.path={tmp_path / 'gone.csv'}"]
    done = run_cli(_sweep(tmp_path, *args, "hydra.callbacks.sweep.report=false"), tmp_path, timeout=240)
    assert done.returncode == 1, done.stderr
    assert "harness: error: 1 of 1 sweep jobs failed" in done.stderr and "none finished" in done.stderr
    assert [r.info.status for r in all_runs(tracking_store)[1] if "mlflow.parentRunId" in r.data.tags] == ["FAILED"]


def test_a_sweep_over_a_download_only_data_set_missing_offline_stops_before_any_job(
    tmp_path, run_cli, tracking_store, free_port
):
    env = {"HARNESS_DATA_DIR": str(tmp_path / "cache"), "HARNESS_DATA_URL": f"http://127.0.0.1:{free_port}"}
    args = _sweep(tmp_path, "model=rnn,hmm", "task=pos", "task.dataset=ud_english_ewt", "seed=0")
    done = run_cli(args, tmp_path, env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("harness: error: could not download http://127.0.0.1:")
    assert "set task.path=DIR" in done.stderr and not (tmp_path / "sweep").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model=lstm", "model.nonlinearity=relu"], "model.nonlinearity does not apply to model=lstm on task=pos"),
        (["model=hmm", "task=pos", "model.n_states=5"], "model.n_states does not apply to model=hmm on task=pos"),
        (["model=gru", "task=timeseries", "model.word_dropout=0.1"], "model.word_dropout does not apply to model=gru"),
        (["model=hmm_unsupervised", "model.order=2"], "model.order does not apply to model=hmm_unsupervised"),
        (["model=rnn", "model.momentum=0.9"], "model.momentum applies to model.optimizer=sgd, not adam"),
        (["task.path=/data"], "task.path does nothing with task.dataset=synthetic (the synthetic corpus reads no"),
        (["task.tagset=xpos"], "task.tagset does nothing with task.dataset=synthetic"),
        (
            ["task.dataset=ud_english_ewt", "task.synthetic.n_train=5"],
            "task.synthetic.n_train does nothing with task.dataset=ud_english_ewt",
        ),
        (["task=timeseries", "task.value_column=v"], "task.value_column does nothing with task.dataset=sunspots"),
        (["task=timeseries", "task.n_points=50"], "task.n_points does nothing with task.dataset=sunspots"),
        (
            ["task=longrange", "task.min_distance=3", "task.vary_gap=true"],
            "task.vary_gap does nothing with task.min_distance=3",
        ),
        (["model=hmm", "model.max_suffix=4"], "model.max_suffix does nothing with model.unknown=logistic"),
        (
            ["model=hmm", "model.unknown=suffix", "model.unknown_c=1"],
            "model.unknown_c does nothing with model.unknown=suffix",
        ),
        (["model=recurrent_schema"], "unknown model 'recurrent_schema'; choose one of: bigru, gru, hmm,"),
    ],
)
def test_a_setting_that_cannot_affect_the_run_is_refused_with_one_line(overrides, message):
    with pytest.raises(ConfigError) as info:
        compose_checked(overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_settings_that_apply_are_accepted_and_a_written_out_default_is_harmless():
    compose_checked(["task.dataset=conllu", "task.path=/data", "task.tagset=xpos"])
    compose_checked(["task=timeseries", "task.dataset=synthetic_sine", "task.n_points=50"])
    compose_checked(["model=hmm", "model.unknown=suffix", "model.max_suffix=4"])
    compose_checked(["task.dataset=ud_english_ewt", "task.synthetic.n_train=3000"])  # the default: does nothing


def test_cfg_job_shows_only_the_models_own_settings(tmp_path, run_cli):
    done = run_cli(["model=lstm", "--cfg", "job"], tmp_path)
    assert done.returncode == 0 and "hidden_size: 128" in done.stdout and "nonlinearity" not in done.stdout


def test_help_describes_the_tool_and_lists_no_internal_group(tmp_path, run_cli):
    done = run_cli(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("harness ") and "recurrent networks" in out
    assert "model       bigru, gru, hmm, hmm_unsupervised, lstm, lstm_long, rnn" in out
    assert "task        lm, longrange, pos, sentiment, timeseries" in out and "rnn_vs_hmm_pos" in out
    assert "_schema" not in out and "schema/" not in out and "mlflow ui" in out and "reports/" in out


def test_version_is_the_packages(tmp_path, run_cli):
    done = run_cli(["--version"], tmp_path)
    assert done.stdout.strip() == f"harness {importlib.metadata.version('harness')}" == f"harness {harness.__version__}"


def test_a_comma_list_without_m_keeps_hydras_hint():
    with pytest.raises(ConfigError, match=r"ambiguous value in 'model=rnn,lstm'; to sweep over it add -m"):
        compose_checked(["model=rnn,lstm"])


def test_the_python_route_returns_id_and_metrics_names_the_run_and_prints_a_line_per_epoch(tracking_store, capsys):
    result = harness.run(
        [*TINY_POS, "model=rnn", "model.bidirectional=true", "model.hidden_size=8", "model.epochs=2"], seed=1
    )
    assert result.main_metric == "test_accuracy" and result.main == result.metrics["test_accuracy"]
    assert {"best_dev_accuracy", "baseline_test_accuracy", "n_params"} <= set(result.metrics)
    (run,) = all_runs(tracking_store)[1]
    assert run.info.run_id == result.run_id and run.data.metrics["test_accuracy"] == result.main
    assert run.info.run_name == "rnn-h8-bi-ep2-pos-seed1"
    # stderr is not a terminal here: no bar, but one line per epoch with the dev score
    err = capsys.readouterr().err
    assert "epoch 1/2: train_loss=" in err and " dev_accuracy=" in err and "epoch 2/2: " in err
    assert "batch/s" not in err
    # the run id comes first, before any epoch (a run killed without warning can still be found and resumed)
    assert err.index(f"harness: MLflow run {result.run_id} started (rnn-h8-bi-ep2-pos-seed1)") < err.index("epoch 1/2")


def test_run_names_carry_what_differs_from_the_defaults():
    from harness.config import to_config
    from harness.naming import run_name

    def name(*overrides):
        return run_name(to_config(compose_checked(list(overrides))))

    assert name("model=rnn") == "rnn-pos-seed0"
    assert name("model=rnn", "model.bidirectional=true") == "rnn-bi-pos-seed0"
    assert name("model=lstm", "model.hidden_size=64", "seed=1") == "lstm-h64-pos-seed1"
    assert name("model=lstm_long") == "lstm-ep100-pat10-pos-seed0"  # its runs are named lstm
    assert name("model=rnn", "model.nonlinearity=relu", "model.optimizer=sgd") == "rnn-relu-sgd-pos-seed0"
    assert name("model=gru", "task=timeseries", "task.dataset=nile") == "gru-timeseries-nile-seed0"
    assert name("model=hmm", "model.order=2", "task.train_size=100") == "hmm-o2-pos-n100-seed0"


def test_contributings_python_route_runs_as_written(tmp_path, tracking_store):
    import subprocess
    import sys
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "CONTRIBUTING.md").read_text(encoding="utf-8")
    (tmp_path / "coin.py").write_text(text.split("<!-- walkthrough -->\n```python\n")[1].split("```\n")[0])
    snippet = text.split("The same run from Python")[1].split("```python\n")[1].split("```\n")[0]
    done = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run_id, main_metric, main, baseline = done.stdout.strip().splitlines()[-1].split()
    (run,) = all_runs(tracking_store)[1]
    assert run.info.run_id == run_id and run.info.run_name == "majority-coin-seed1"
    assert main_metric == "test_accuracy" and float(main) == run.data.metrics["test_accuracy"] and baseline == "0.5"


def test_a_sweep_interrupted_while_writing_its_report_leaves_no_half_report_and_says_how_to_rebuild(
    tmp_path, tracking_store, monkeypatch, capsys
):
    """Issue 23, item 14: SIGTERM during the report left a PNG-only folder and no rebuild hint. The signal is
    injected after the first figure is written (deterministic); an earlier report of the same name survives."""
    import sys

    from harness import cli
    from harness.report import build

    earlier = tmp_path / "r" / "t"
    earlier.mkdir(parents=True)
    (earlier / "report.md").write_text("an earlier report\n")

    def figure_then_interrupt(store, g, out, defaults_cache):
        (out / "figure.png").write_bytes(b"png")
        raise KeyboardInterrupt("signal 15")

    monkeypatch.setattr(build, "_task_section", figure_then_interrupt)
    monkeypatch.chdir(tmp_path)
    args = _sweep(tmp_path, "model=hmm", "seed=0,1", *TINY_POS, "hydra.callbacks.sweep.report_name=t")
    monkeypatch.setattr(sys, "argv", ["harness", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    err = capsys.readouterr().err
    assert exited.value.code == 130 and "Traceback" not in err
    parent = next(r for r in all_runs(tracking_store)[1] if r.data.tags.get("harness.sweep") == "true")
    assert f"rebuild it with python -m harness.report --parent {parent.info.run_id} --name t" in err
    assert parent.info.status == "FINISHED"  # both jobs finished before the report
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["t"]  # no partial build left beside it
    assert (earlier / "report.md").read_text() == "an earlier report\n" and not (earlier / "figure.png").exists()
