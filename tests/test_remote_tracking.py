"""Issue 7, item 6: a job records its run, metrics and artifacts in a real ``mlflow server`` over HTTP
(the team setup: one server, many jobs), with artifacts proxied by the server into its own folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import only_run

START_TIMEOUT = 90  # seconds; the server usually answers in 5-20 s on a loaded 2-core machine


@pytest.fixture(autouse=True)
def _temporary_files_in_tmp_path(tmp_path, monkeypatch):
    """Runs outside Hydra keep scratch files in a temporary folder: keep those inside this test's tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def mlflow_server(tmp_path_factory, _empty_store, free_port):
    """``mlflow server`` on 127.0.0.1 with a sqlite backend and proxied artifacts; yields (uri, artifact dir).
    Always stopped at the end (its whole process group, which only it and its workers are in)."""
    root = tmp_path_factory.mktemp("server")
    shutil.copyfile(_empty_store, root / "m.db")  # tables already created: saves seconds of start-up
    port = free_port
    log = (root / "server.log").open("w")
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'm.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no server-side job runner process
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        start = time.monotonic()
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"mlflow server exited with {proc.returncode}:\n{(root / 'server.log').read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(uri + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - start > START_TIMEOUT:
                pytest.fail(f"mlflow server did not answer /health within {START_TIMEOUT} s")
            time.sleep(0.25)
        print(f"mlflow server answered /health after {time.monotonic() - start:.1f} s")
        yield uri, root / "artifacts", proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        log.close()


def test_job_records_run_metrics_and_artifacts_on_a_server(mlflow_server, tmp_path, monkeypatch):
    from harness.cli import compose_checked
    from harness.config import to_config
    from harness.experiment import run

    uri, artifact_dir, _ = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    monkeypatch.chdir(tmp_path)
    cfg = compose_checked(
        [
            "model=rnn",
            "model.hidden_size=8",
            "model.embedding_size=8",
            "model.epochs=2",
            "task.synthetic.n_train=60",
            "task.synthetic.n_dev=20",
            "task.synthetic.n_test=20",
            "task.synthetic.vocab_size=200",
            "experiment_name=remote",
            "run_name=remote-rnn",
            "progress=false",
        ]
    )
    run(to_config(cfg), cfg)

    client, r = only_run(uri, "remote")
    assert r.info.run_name == "remote-rnn" and r.info.status == "FINISHED"
    for key in ("test_accuracy", "test_oov_accuracy", "baseline_test_accuracy", "train_seconds", "n_params"):
        assert key in r.data.metrics, key
    assert [m.step for m in client.get_metric_history(r.info.run_id, "dev_accuracy")] == [1, 2]
    assert r.data.params["model.hidden_size"] == "8"
    names = {a.path for a in client.list_artifacts(r.info.run_id)}
    assert {"config.yaml", "model.npz", "test_predictions.tsv"} <= names
    local = client.download_artifacts(r.info.run_id, "model.npz", str(tmp_path / "download"))
    with np.load(local, allow_pickle=False) as npz:
        assert npz.files and all(npz[k].dtype != object for k in npz.files)
    # the server stored the files (proxied upload), the job wrote none next to itself
    stored = {p.name for p in Path(artifact_dir).rglob("*") if p.is_file()}
    assert {"config.yaml", "model.npz", "test_predictions.tsv"} <= stored
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()


def test_a_server_that_dies_mid_run_is_one_line_naming_the_run_and_its_resume(
    mlflow_server, tmp_path, monkeypatch, capsys
):
    """Issue 23, item 4: the server is killed right after the run's first checkpoint (an injected fault, not a
    sleep); the run ends with the harness's one line, exit 1, instead of MLflow's tracebacks."""
    from harness import cli
    from harness.tracking import Tracker

    uri, _, proc = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    monkeypatch.chdir(tmp_path)
    real = Tracker.log_checkpoint

    def checkpoint_then_kill_the_server(self, state, folder):
        real(self, state, folder)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)

    monkeypatch.setattr(Tracker, "log_checkpoint", checkpoint_then_kill_the_server)
    args = ["model=rnn", "model.hidden_size=8", "model.embedding_size=8", "model.epochs=3", "progress=false"]
    args += ["task.synthetic.n_train=60", "task.synthetic.n_dev=20", "task.synthetic.n_test=20"]
    monkeypatch.setattr(sys, "argv", ["harness", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    out, err = capsys.readouterr()
    assert exited.value.code == 1 and "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"harness: error: the tracking server at {uri} stopped answering during run ")
    run_id = lines[0].split("during run ")[1].split(" ")[0]
    assert f"continue with the same overrides plus resume={run_id}" in lines[0]
