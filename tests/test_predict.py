"""Using what was trained (issue 17): estimators exported and rebuilt without task data, harness.predict on
new input and its one-line refusals, the run's MLflow model served over HTTP, the dataset record."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_pos_task

from harness import estimators
from harness.config import Config, LongRangeTaskConfig, TimeSeriesTaskConfig, model_schema
from harness.predictor import Predictor, bundle
from harness.tasks.base import load_task

SENTENCE = "I eat apples ."


def fitted(model: str, task, **settings):
    """(config, data, estimator) of ``model`` fitted on ``task`` in process."""
    config = Config(model=model_schema(model, task.name)(**settings), task=task, progress=False)
    data = load_task(config.task, config.seed)
    estimator = estimators.build(config, data, np.random.default_rng(0))
    estimator.fit(data, estimators.Hooks(log=lambda epoch, values: None, progress=False))
    return config, data, estimator


def reloaded(tmp_path: Path, config, data, estimator) -> Predictor:
    """The estimator written as predictor.npz and read back (no pickle)."""
    path = tmp_path / "predictor.npz"
    np.savez(path, **bundle(config, estimator, data))
    return Predictor.load(path)


@pytest.mark.parametrize(
    "model,settings",
    [("gru", {"hidden_size": 8, "embedding_size": 8, "epochs": 1}), ("hmm", {}), ("hmm_unsupervised", {"n_iter": 3})],
)
def test_rebuilt_tagger_tags_new_input_like_the_trained_one(tmp_path, model, settings):
    config, data, estimator = fitted(model, synthetic_pos_task(), **settings)
    predictor = reloaded(tmp_path, config, data, estimator)
    assert predictor.task == "pos"
    assert predictor.tag(data.test.words) == estimator.predict(data, "test")
    (tags,) = predictor.tag([SENTENCE.split()])  # words the synthetic lexicon never saw
    assert len(tags) == 4 and set(tags) <= set(data.tags.itos[1:])


@pytest.mark.parametrize("model", ["gru", "hmm"])
@pytest.mark.parametrize("transform", ["none", "log_diff"])
def test_rebuilt_forecaster_reads_only_the_past_and_matches_the_test_forecasts(tmp_path, model, transform):
    task = TimeSeriesTaskConfig(dataset="nile", transform=transform, horizon=2, yardsticks=["naive"])
    config, data, estimator = fitted(model, task, **({"hidden_size": 8, "max_steps": 20} if model == "gru" else {}))
    predictor = reloaded(tmp_path, config, data, estimator)
    point, p = data.predictive(estimator.predict(data, "test"))  # (N, 2) original units, the distribution
    lower, upper = p.interval(95)
    for i in (0, 4, len(point) - 1):
        origin = data.test.origin[i]
        table = predictor.forecast(data.series[: origin + 1])  # values up to the origin, nothing after
        assert table["horizon"].tolist() == [1, 2]
        np.testing.assert_allclose(table["forecast"], point[i], rtol=1e-6)
        np.testing.assert_allclose(table["lower"], lower[i], rtol=1e-6)
        np.testing.assert_allclose(table["upper"], upper[i], rtol=1e-6)
    if model == "hmm":
        assert predictor.forecast(data.series, horizon=5)["horizon"].tolist() == [1, 2, 3, 4, 5]


def test_a_predictor_from_another_format_or_not_a_predictor_is_one_clear_error(tmp_path):
    from harness.errors import DataError

    config, data, estimator = fitted("hmm", synthetic_pos_task())
    arrays = bundle(config, estimator, data) | {"meta.format": np.array(99), "meta.harness_version": np.array("9.9")}
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(
        DataError, match=r"run x: its predictor.npz has format 99 \(harness 9.9\); this harness .* reads"
    ):
        Predictor.load(tmp_path / "future.npz", "run x")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="cannot read its predictor.npz"):
        Predictor.load(tmp_path / "junk.npz")


def test_dataset_digest_tells_two_versions_of_a_file_apart(tmp_path):
    values = np.linspace(1.0, 50.0, 80) + np.sin(np.arange(80))
    infos = []
    for version, v in enumerate((values, values, values + np.r_[np.zeros(79), 1.0])):
        path = tmp_path / f"v{version}.csv"
        path.write_text("value\n" + "\n".join(f"{x:.6f}" for x in v) + "\n")
        task = TimeSeriesTaskConfig(dataset="csv", path=str(path), value_column="value", yardsticks=["naive"])
        infos.append(load_task(task, 0).dataset_info())
    assert infos[0].digest == infos[1].digest != infos[2].digest
    assert infos[0].source == str((tmp_path / "v0.csv").resolve()) and infos[0].name == "csv"
    assert set(infos[0].splits) == {"train", "dev", "test"} and min(infos[0].splits.values()) > 0


# ---- end to end: runs in a tracking store -------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A sqlite store with three finished runs (tiny RNN tagger, regime-HMM forecaster, long-range HMM): uri,
    {task: run id}."""
    from mlflow.tracking import MlflowClient

    from harness.experiment import run

    folder = tmp_path_factory.mktemp("predict-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    pos = synthetic_pos_task()
    for model, task, settings in (
        ("rnn", pos, {"hidden_size": 16, "embedding_size": 16, "epochs": 2}),
        ("hmm", TimeSeriesTaskConfig(dataset="nile", horizon=1, yardsticks=["naive"]), {"n_states": 2}),
        ("hmm", LongRangeTaskConfig(n_train=50, n_dev=20, n_test=20), {}),
    ):
        config = Config(model=model_schema(model, task.name)(**settings), task=task, tracking_uri=uri, progress=False)
        run(config)
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return uri, {r.data.tags["task"]: r.info.run_id for r in runs}


def predict_main(monkeypatch, capsys, args: list[str], stdin: bytes = b""):
    """harness.predict.main in process: (exit status, stdout, stderr)."""
    from harness.predict import main

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    try:
        main(args)
        status = 0
    except SystemExit as exc:
        status = exc.code
    out = capsys.readouterr()
    return status, out.out, out.err


def test_a_run_records_its_dataset_logged_model_and_experiment_kind(store):
    from mlflow.tracking import MlflowClient

    uri, ids = store
    client = MlflowClient(tracking_uri=uri)
    for task in ("pos", "timeseries"):
        run = client.get_run(ids[task])
        (record,) = run.inputs.dataset_inputs
        profile = json.loads(record.dataset.profile)
        assert len(record.dataset.digest) == 16 and set(profile["splits"]) == {"train", "dev", "test"}
        assert [t.value for t in record.tags if t.key == "mlflow.data.context"] == ["training"]
        (output,) = run.outputs.model_outputs
        model = client.get_logged_model(output.model_id)
        assert model.name == "model" and model.source_run_id == ids[task] and str(model.status).endswith("READY")
        assert "predictor.npz" in {a.path for a in client.list_artifacts(ids[task])}
        kind = client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"]
        assert kind == "custom_model_development"
    assert not client.get_run(ids["longrange"]).outputs.model_outputs  # a probe, not a tool: no model


def test_predict_tags_a_sentence_and_fills_conllu(store, monkeypatch, capsys):
    uri, ids = store
    status, out, err = predict_main(
        monkeypatch, capsys, [f"run={ids['pos']}", f"tracking_uri={uri}"], b"I eat apples .\n"
    )
    assert status == 0, err
    assert [w.rsplit("/", 1)[0] for w in out.split()] == SENTENCE.split()
    conllu_in = "# text = the book\n1\tthe\t_\t_\t_\t_\t_\t_\t_\t_\n2\tbook\t_\t_\t_\t_\t_\t_\t_\t_\n\n"
    status, out, err = predict_main(
        monkeypatch, capsys, [f"run={ids['pos']}", f"tracking_uri={uri}"], conllu_in.encode()
    )
    assert status == 0, err
    rows = [line.split("\t") for line in out.splitlines() if line and not line.startswith("#")]
    assert [r[1] for r in rows] == ["the", "book"] and all(r[3] != "_" for r in rows)
    assert out.startswith("# text = the book")


def test_predict_forecasts_from_a_csv(store, monkeypatch, capsys, tmp_path):
    uri, ids = store
    csv = tmp_path / "recent.csv"
    csv.write_text("year,flow\n" + "\n".join(f"{1900 + i},{v}" for i, v in enumerate([1100, 900, 950, 1000] * 10)))
    status, out, err = predict_main(
        monkeypatch, capsys, [f"run={ids['timeseries']}", f"tracking_uri={uri}", f"input={csv}", "horizon=3"]
    )
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "horizon,forecast,lower,upper" and [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3"]
    rows = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])  # (3, 3)
    assert (400 < rows[:, 0]).all() and (rows[:, 0] < 1500).all()  # the Nile's range
    assert (rows[:, 1] < rows[:, 0]).all() and (rows[:, 0] < rows[:, 2]).all()  # inside its 95 % interval


@pytest.mark.parametrize(
    "case,problem",
    [
        ("unknown run", "there is no MLflow run"),
        ("other task", "is a run of task=longrange"),
        ("empty input", "stdin is empty"),
        ("binary file", "looks like a binary file"),
        ("unknown argument", "unknown argument 'modle=rnn'"),
    ],
)
def test_predict_refuses_bad_input_in_one_line(store, monkeypatch, capsys, tmp_path, case, problem):
    uri, ids = store
    args, stdin = [f"run={ids['pos']}", f"tracking_uri={uri}"], b"I eat apples .\n"
    if case == "unknown run":
        args[0] = "run=0123456789abcdef0123456789abcdef"
    elif case == "other task":
        args[0] = f"run={ids['longrange']}"
    elif case == "empty input":
        stdin = b" \n\n"
    elif case == "binary file":
        (tmp_path / "model.bin").write_bytes(np.arange(256, dtype=np.uint8).tobytes())
        args.append(f"input={tmp_path / 'model.bin'}")
    else:
        args.append("modle=rnn")
    status, out, err = predict_main(monkeypatch, capsys, args, stdin)
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and problem in err and err.startswith("harness.predict: error: ")


# ---- the MLflow model over HTTP -------------------------------------------------------------------


def serve(uri: str, run_id: str, port: int, tmp_path: Path) -> subprocess.Popen:
    """``mlflow models serve`` of runs:/<run_id>/model on 127.0.0.1:<port>, waited for (at most 90 s)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    log = open(tmp_path / f"serve-{port}.log", "w")
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"runs:/{run_id}/model"]
    server = subprocess.Popen(
        [*cmd, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited: {(tmp_path / f'serve-{port}.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    stop(server)
    pytest.fail("mlflow models serve did not answer /ping within 90 s")


def stop(server: subprocess.Popen) -> None:
    import signal

    os.killpg(server.pid, signal.SIGTERM)  # the server and its workers (its own session)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=15)


def invoke(port: int, body: dict) -> list:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())["predictions"]


@pytest.mark.slow
def test_served_tagger_answers_like_harness_predict(store, free_port, tmp_path):
    uri, ids = store
    cli = subprocess.run(
        [sys.executable, "-m", "harness.predict", f"run={ids['pos']}"],
        input=SENTENCE + "\nthe book\n",
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    expected = [" ".join(w.rsplit("/", 1)[1] for w in line.split()) for line in cli.stdout.splitlines()]
    server = serve(uri, ids["pos"], free_port, tmp_path)
    try:
        answer = invoke(free_port, {"dataframe_records": [{"sentence": SENTENCE}, {"sentence": "the book"}]})
    finally:
        stop(server)
    assert [row["tags"] for row in answer] == expected


@pytest.mark.slow
def test_served_forecaster_answers_like_the_run_model(store, free_port, tmp_path):
    from mlflow.tracking import MlflowClient

    uri, ids = store
    values = [1100.0, 900.0, 950.0, 1000.0] * 10
    path = MlflowClient(tracking_uri=uri).download_artifacts(ids["timeseries"], "predictor.npz", str(tmp_path))
    expected = Predictor.load(path).forecast(np.array(values), horizon=3)
    server = serve(uri, ids["timeseries"], free_port, tmp_path)
    try:
        body = {"dataframe_records": [{"value": v} for v in values], "params": {"horizon": 3}}
        answer = invoke(free_port, body)
    finally:
        stop(server)
    assert [row["horizon"] for row in answer] == [1, 2, 3]
    np.testing.assert_allclose([row["forecast"] for row in answer], expected["forecast"], rtol=1e-9)
