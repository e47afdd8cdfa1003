"""Issues 13 and 23: what a hostile but ordinary user or environment does. Many runs at once on one new
store, two sweeps in the same second, a Ctrl-C during store creation, bad store locations, NaN and inf
settings, absurd sizes, data beyond float32, files that are not UTF-8, a full disk while checkpointing, a
corrupt checkpoint, runs killed without warning. Each case asserts the exit status, the one stderr line
and the store's state."""

from __future__ import annotations

import http.server
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import all_runs, write_treebank
from test_bad_input import TINY_POS, assert_no_run, assert_one_error_line, run_main

TINY = ["model=rnn", "task=pos", *TINY_POS]


@pytest.fixture
def job_dir(tmp_path, monkeypatch) -> Path:
    """cwd for an in-process run (Hydra's outputs/ lands here) with a not-yet-created store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def _statuses(db: Path) -> list[str]:
    _, runs = all_runs(f"sqlite:///{db}")
    return sorted(r.info.status for r in runs)


# ----------------------------------------------------------------------------------------------
# many processes, one store


@pytest.mark.slow
def test_eight_runs_started_at_once_on_a_fresh_store_all_finish_with_their_own_checkpoints(tmp_path):
    db = tmp_path / "fresh.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "harness", *TINY, f"seed={i}"],
            cwd=tmp_path,  # Hydra's per-second outputs/<date>/<time> folder is shared by runs started together
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0] * 8, [err[-1500:] for _, err in results]
    assert not any("Traceback" in err for _, err in results)
    assert _statuses(db) == ["FINISHED"] * 8
    checkpoints = sorted(tmp_path.glob("outputs/*/*/*/checkpoint.npz"))  # outputs/<date>/<time>/<run id>/
    assert len(checkpoints) == 8 and len({c.parent.name for c in checkpoints}) == 8
    assert not list(tmp_path.glob("outputs/**/*.tmp.npz"))


@pytest.mark.slow
def test_two_sweeps_started_at_once_into_one_sweep_folder_keep_their_own_parents(tmp_path):
    db = tmp_path / "m.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}

    def sweep(name: str, seeds: str) -> subprocess.Popen:
        args = ["-m", *TINY, f"seed={seeds}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]  # the same folder
        args += [
            f"hydra.callbacks.sweep.report_dir={tmp_path / 'reports'}",
            f"hydra.callbacks.sweep.report_name={name}",
        ]
        return subprocess.Popen(
            [sys.executable, "-m", "harness", *args], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
        )

    a, b = sweep("a", "0,1"), sweep("b", "2,3")
    errs = [p.communicate(timeout=300)[1] for p in (a, b)]
    assert [a.returncode, b.returncode] == [0, 0], errs
    assert not any("Traceback" in e for e in errs)
    _, runs = all_runs(f"sqlite:///{db}")
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("harness.sweep") == "true"}
    assert len(parents) == 2 and {r.info.status for r in parents.values()} == {"FINISHED"}
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 4 and {c.info.status for c in children} == {"FINISHED"}
    by_parent: dict[str, set[str]] = {}
    for c in children:
        by_parent.setdefault(c.data.tags["mlflow.parentRunId"], set()).add(c.data.tags["seed"])
    assert sorted(map(sorted, by_parent.values())) == [["0", "1"], ["2", "3"]]
    assert (tmp_path / "reports" / "a" / "report.md").is_file() and (tmp_path / "reports" / "b" / "report.md").is_file()


# ----------------------------------------------------------------------------------------------
# store creation


def _statement_counter(at: int | None):
    """A SQLAlchemy hook counting the statements MLflow issues; at statement ``at`` it raises SIGINT."""
    count = [0]

    def before(conn, cursor, statement, parameters, context, executemany):
        count[0] += 1
        if count[0] == at:
            signal.raise_signal(signal.SIGINT)

    return count, before


def test_a_first_run_interrupted_at_any_step_of_store_creation_leaves_a_usable_store(tmp_path, monkeypatch):
    """SIGINT injected before the 30th (unshielded, that one left a store no process could open), the middle and the last statement of MLflow's migrations: the signal
    waits for the end of the creation, then interrupts; the next process uses each store."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from harness import store

    def create(db: Path, at: int | None) -> int:
        count, hook = _statement_counter(at)
        event.listen(Engine, "before_cursor_execute", hook)
        try:
            with pytest.raises(KeyboardInterrupt) if at else _nothing():
                store.prepare_store(f"sqlite:///{db}")
        finally:
            event.remove(Engine, "before_cursor_execute", hook)
        return count[0]

    dbs = [tmp_path / "cut-early.db"]
    total = create(dbs[0], 30)  # the hook goes on counting to the end: the signal waited
    assert total > 50  # alembic's many migration statements
    for at in (total // 2, total):
        monkeypatch.setattr(store, "_ready", set())
        dbs.append(tmp_path / f"cut{at}.db")
        create(dbs[-1], at)
    check = (
        "import sys\nfrom mlflow.tracking import MlflowClient\n"
        "for db in sys.argv[1:]:\n"
        "    c = MlflowClient(tracking_uri='sqlite:///' + db)\n"
        "    e = c.create_experiment('x')\n"
        "    c.set_terminated(c.create_run(e).info.run_id)\n"
    )
    out = subprocess.run([sys.executable, "-c", check, *map(str, dbs)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_migration_cut_by_sigkill_is_started_again_when_the_store_holds_no_run(tmp_path):
    db = tmp_path / "half.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE experiments (experiment_id INTEGER)")  # what a killed migration leaves
    con.execute("CREATE TABLE _alembic_tmp_params (x INTEGER)")
    con.commit()
    con.close()
    from harness.store import prepare_store

    prepare_store(f"sqlite:///{db}")
    assert _statuses(db) == []  # MLflow opens it


# ----------------------------------------------------------------------------------------------
# bad tracking stores: one line, before the data is loaded, no run


class _NotMlflow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("kind", ["plain-dir", "sqlite-dir", "not-a-db", "garbage-scheme", "http-not-mlflow"])
def test_a_bad_tracking_store_is_one_line_before_the_data(kind, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "junk.db").write_bytes(b"this is not a database at all")
    server = None
    uri, fragment = {
        "plain-dir": (str(tmp_path / "d"), "is a plain path"),
        "sqlite-dir": (f"sqlite:///{tmp_path / 'd'}", "is a directory"),
        "not-a-db": (f"sqlite:///{tmp_path / 'junk.db'}", "is not an SQLite database"),
        "garbage-scheme": ("garbage://x", "unknown scheme 'garbage'"),
        "http-not-mlflow": (None, "is not an MLflow tracking server"),
    }[kind]
    if uri is None:
        server = http.server.HTTPServer(("127.0.0.1", 0), _NotMlflow)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        uri = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    from harness import store

    monkeypatch.setattr(store, "_ready", set())
    loaded = []
    monkeypatch.setattr("harness.tasks.pos.load_pos", lambda *a: loaded.append(1))
    try:
        code, out, err = run_main(TINY, monkeypatch, capsys)
    finally:
        if server:
            server.shutdown()
    assert_one_error_line(code, out, err, [fragment])
    assert not loaded
    assert (tmp_path / "junk.db").read_bytes() == b"this is not a database at all"


# ----------------------------------------------------------------------------------------------
# settings: NaN, inf, negative seeds, absurd sizes — one line, no run


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["model.lr=nan"], "model.lr must be a finite number, got nan"),
        (["model.lr=inf"], "model.lr must be a finite number, got inf"),
        (["model.weight_decay=inf"], "model.weight_decay must be a finite number"),
        (["model.optimizer=sgd", "model.momentum=nan"], "model.momentum must be a finite number"),
        (["model.init_scale=nan"], "model.init_scale must be a finite number"),
        (["model.clip_norm=nan"], "model.clip_norm must be a finite number"),
        (["model.word_dropout=inf"], "model.word_dropout must be a finite number"),
        (["task.synthetic.zipf=nan"], "task.synthetic.zipf must be a finite number"),
        (["task.train_size=nan"], "task.train_size must be a finite number"),
        (["task.train_size=inf"], "task.train_size must be a finite number"),
        (["task.synthetic.seed=-1"], "task.synthetic.seed must be >= 0, got -1"),
        (["task=longrange", "task.seed=-5"], "task.seed must be >= 0, got -5"),
        (["-m", "model.lr=0.01,nan"], "model.lr must be a finite number, got nan"),
        (["task=timeseries", "task.window=1000000000000"], "too short for one window of task.window=1000000000000"),
        (
            ["task=timeseries", "task.dev_fraction=1e-12"],
            "a dev part of 0 with dev/test fractions 1e-12/0.15; forecasting needs at least 12 training points and one dev point; use a task.dev_fraction of at least 0.00324",
        ),
    ],
)
def test_non_finite_settings_negative_seeds_and_endless_searches_are_one_line(
    args, fragment, job_dir, monkeypatch, capsys
):
    code, out, err = run_main(["model=rnn", "model.epochs=1", *args], monkeypatch, capsys)
    assert_one_error_line(code, out, err, [fragment])
    assert_no_run(job_dir / "mlflow.db")


def test_errors_numeric_helpers_reject_nan_and_inf():
    from harness.errors import ConfigError, check_fraction, check_nonnegative, check_positive

    for check in (check_positive, check_nonnegative, check_fraction):
        for bad in (float("nan"), float("inf"), float("-inf")):
            with pytest.raises(ConfigError, match="k must be a finite number"):
                check(bad, "k")


# ----------------------------------------------------------------------------------------------
# data


@pytest.mark.parametrize(
    "scale,transform,fragments",
    [
        (1e300, "none", ["beyond what the float64 scores can square (±1e+150)", "rescale"]),
        (1e300, "log", ["beyond what the float64 scores can square (±1e+150)", "rescale"]),
        (1e100, "none", ["beyond what the models' float32 holds", "rescale", "or use task.transform=log"]),
    ],
)
def test_values_beyond_float32_are_a_data_error_before_any_run(
    scale, transform, fragments, job_dir, monkeypatch, capsys
):
    rng = np.random.default_rng(0)
    values = scale * (1.5 + np.sin(np.arange(120) / 5) + 0.1 * rng.random(120))
    (job_dir / "big.csv").write_text("value\n" + "\n".join(f"{v:.6g}" for v in values) + "\n", encoding="utf-8")
    for model in ("rnn", "hmm"):
        args = ["task=timeseries", "task.dataset=csv", f"task.path={job_dir / 'big.csv'}", "task.value_column=value"]
        args += [f"model={model}", f"task.transform={transform}", "task.window=8"]
        code, out, err = run_main(args, monkeypatch, capsys)
        assert_one_error_line(code, out, err, fragments)
    assert_no_run(job_dir / "mlflow.db")


def test_values_beyond_float32_forecast_under_a_log_transform(job_dir, monkeypatch, capsys):
    """The fix the float32 message names works: the models see logs, the scores stay finite."""
    rng = np.random.default_rng(0)
    values = 1e100 * (1.5 + np.sin(np.arange(120) / 5) + 0.1 * rng.random(120))
    (job_dir / "big.csv").write_text("value\n" + "\n".join(f"{v:.6g}" for v in values) + "\n", encoding="utf-8")
    args = ["task=timeseries", "task.dataset=csv", f"task.path={job_dir / 'big.csv'}", "task.value_column=value"]
    args += ["model=hmm", "task.transform=log", "task.yardsticks=[naive]"]
    monkeypatch.setattr(sys, "argv", ["harness", *args])
    from harness import cli

    cli.main()  # returns on success
    out = capsys.readouterr().out
    rmse = float(out.split("test_rmse=")[1].split()[0])
    assert 1e98 < rmse < 1e101  # finite, on the series' own scale


@pytest.mark.parametrize("content", [b"\xe9", b"\x00\xff\xfe\x80" * 50], ids=["latin1-byte", "binary"])
def test_a_conllu_file_that_is_not_utf8_is_one_line(content, job_dir, monkeypatch, capsys):
    ok = "1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n2\tdog\tdog\tNOUN\tNN\t_\t0\troot\t_\t_\n\n"
    folder = write_treebank(job_dir / "tb", ok, name="x")
    train = folder / "x-ud-train.conllu"
    train.write_bytes(ok.encode() + b"1\tcaf" + content + b"\tcafe\tNOUN\tNN\t_\t0\troot\t_\t_\n\n")
    args = ["model=hmm", "task=pos", "task.dataset=conllu", f"task.path={folder}"]
    code, out, err = run_main(args, monkeypatch, capsys)
    assert_one_error_line(code, out, err, [f"data file {train} is not UTF-8 text", "iconv"])
    assert_no_run(job_dir / "mlflow.db")


# ----------------------------------------------------------------------------------------------
# checkpoints: a full disk, a corrupt file


def test_a_full_disk_while_checkpointing_ends_the_run_failed_and_keeps_the_previous_checkpoint(
    tracking_store, tmp_path, monkeypatch
):
    from harness.errors import RunFailed
    from harness.tracking import Tracker

    folder = tmp_path / "ck"
    with pytest.raises(RunFailed) as failed:
        with Tracker(tracking_store, "e", "r") as t:
            t.log_checkpoint({"w": np.arange(3.0)}, folder)

            def full(file, **arrays):
                file.write(b"PK\x03\x04 half")  # a partial write, then the disk is full
                raise OSError(28, "No space left on device")

            monkeypatch.setattr(np, "savez", full)
            t.log_checkpoint({"w": np.arange(5.0)}, folder)
    message = str(failed.value)
    assert f"could not write its checkpoint in {folder} (No space left on device)" in message
    assert f"resume={t.run_id}" in message and "\n" not in message
    with np.load(folder / "checkpoint.npz") as f:
        assert f["w"].tolist() == [0.0, 1.0, 2.0]
    assert [p.name for p in folder.iterdir()] == ["checkpoint.npz"]  # no temporary file left
    _, runs = all_runs(tracking_store)
    assert runs[0].info.status == "FAILED" and "No space left" in runs[0].data.tags["failure"]


def test_a_corrupt_checkpoint_on_resume_is_one_line_and_the_run_is_untouched(tracking_store, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_store)
    exp = client.create_experiment("pos")
    run = client.create_run(exp, tags={"mlflow.runName": "r"})
    (tmp_path / "checkpoint.npz").write_bytes(b"PK\x03\x04 truncated")
    client.log_artifact(run.info.run_id, str(tmp_path / "checkpoint.npz"), "checkpoint")
    client.set_terminated(run.info.run_id, "KILLED")
    monkeypatch.chdir(tmp_path)
    from harness import cli

    monkeypatch.setattr(sys, "argv", ["harness", "model=rnn", f"resume={run.info.run_id}"])
    import io

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert_one_error_line(exited.value.code, "", err.getvalue(), ["checkpoint of run", "corrupt or truncated"])
    after = client.get_run(run.info.run_id)
    assert after.info.status == "KILLED" and "resumed" not in after.data.tags


# ----------------------------------------------------------------------------------------------
# liveness: runs killed without warning, resuming a live run


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_run_whose_process_is_gone_is_listed_ended_killed_and_left_out_of_reports(tracking_store, capsys):
    import socket

    from mlflow.tracking import MlflowClient

    from harness import runs as liveness
    from harness.report.collect import runs_table

    client = MlflowClient(tracking_uri=tracking_store)
    exp = client.create_experiment("pos")
    host = socket.gethostname()
    dead = client.create_run(
        exp, tags={"harness.host": host, "harness.pid": str(_dead_pid()), "harness.heartbeat": "1"}
    )
    live = client.create_run(exp, tags=liveness.liveness_tags())
    table = runs_table([client.get_run(dead.info.run_id), client.get_run(live.info.run_id)])
    assert table.failure.str.startswith("left out: its process").tolist() == [True, False]

    assert liveness.main(["stale", "--tracking-uri", tracking_store]) == 0
    out = capsys.readouterr().out
    assert dead.info.run_id in out and live.info.run_id not in out
    assert client.get_run(dead.info.run_id).info.status == "RUNNING"  # listing ends nothing

    assert liveness.main(["stale", "--end", "--tracking-uri", tracking_store]) == 0
    ended = client.get_run(dead.info.run_id)
    assert ended.info.status == "KILLED" and "is gone" in ended.data.tags["killed"]
    assert client.get_run(live.info.run_id).info.status == "RUNNING"


def test_resume_refuses_a_run_whose_process_is_alive(tracking_store, job_dir, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    from harness.runs import liveness_tags

    client = MlflowClient(tracking_uri=tracking_store)
    run = client.create_run(client.create_experiment("pos"), tags=liveness_tags())  # this very process
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_store)
    code, out, err = run_main(["model=rnn", f"resume={run.info.run_id}"], monkeypatch, capsys)
    assert_one_error_line(code, out, err, [f"run {run.info.run_id} is still running (process {os.getpid()}"])


def test_every_metric_batch_refreshes_the_heartbeat(tracking_store, monkeypatch):
    from types import SimpleNamespace

    from harness import tracking
    from harness.tracking import Tracker

    clock = iter([1000.0, 2000.0])
    monkeypatch.setattr(tracking, "time", SimpleNamespace(time=lambda: next(clock)))  # the tracker's clock only
    with Tracker(tracking_store, "e", "r") as t:
        t.log_metrics({"x": 1.0}, step=1)
        first = t.client.get_run(t.run_id).data.tags["harness.heartbeat"]
        t.log_metrics({"x": 2.0}, step=2)
        second = t.client.get_run(t.run_id).data.tags["harness.heartbeat"]
    assert (first, second) == ("1000", "2000")
    assert t.client.get_run(t.run_id).data.tags["harness.pid"] == str(os.getpid())


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["model.hidden_size=10000000000"], "model.hidden_size=10000000000 needs at least"),
        (["task=longrange", "task.distance=100000000"], "task.distance=100000000 needs at least"),
        (["model=hmm_unsupervised", "model.n_states=100000"], "model.n_states=100000 needs at least 224 GiB"),
        (["task=longrange", "task.n_train=1000000000"], "task.distance=10 with 1,000,001,500 sequences needs"),
        (["task=pos", "task.synthetic.n_train=1000000000"], "n_train + n_dev + n_test = 1,000,001,000 needs"),
        (["task=lm", "task.synthetic.n_train=1000000000"], "n_train + n_dev + n_test = 1,000,000,120 needs"),
        (["task=sentiment", "task.synthetic.n_train=1000000000"], "n_train + n_dev + n_test = 1,000,001,500 needs"),
    ],
)
def test_absurd_sizes_are_one_line_before_any_run(args, fragment, job_dir, monkeypatch, capsys):
    """Issue 23, item 14: these were MemoryError tracebacks (the last after recording a FAILED run)."""
    code, out, err = run_main(args, monkeypatch, capsys)
    line = assert_one_error_line(code, out, err, [fragment, "more than this machine's", "use a smaller"])
    assert "GiB" in line
    assert_no_run(job_dir / "mlflow.db")


def test_memory_lower_bounds_by_hand():
    from harness.checks import check_memory
    from harness.config import (
        Config,
        LongRangeTaskConfig,
        PosTaskConfig,
        SentimentTaskConfig,
        SyntheticPosConfig,
        SyntheticSentimentConfig,
        model_schema,
    )
    from harness.errors import ConfigError

    # LSTM, H = 100, E = 64: 4 gates x 100 x (100 + 100) weights, x 4 arrays x 4 bytes = 1,280,000 bytes
    lstm = Config(model=model_schema("lstm", "pos")(hidden_size=100, embedding_size=64), task=PosTaskConfig())
    check_memory(lstm, memory=1_280_000)
    with pytest.raises(ConfigError, match=r"model.hidden_size=100 needs at least 0.00119 GiB"):
        check_memory(lstm, memory=1_279_999)
    three_sentences = PosTaskConfig(synthetic=SyntheticPosConfig(n_train=1, n_dev=1, n_test=1))  # 3 x 128 bytes
    hmm = Config(model=model_schema("hmm_unsupervised", "pos")(n_states=10), task=three_sentences)
    check_memory(hmm, memory=2400)  # 3 x 8 x 10^2 bytes
    with pytest.raises(ConfigError, match="model.n_states=10"):
        check_memory(hmm, memory=2399)
    # synthetic texts: 10 texts x 50 letters x 8 bytes = 4000 bytes (one state per class: 24 bytes of tables)
    texts = SentimentTaskConfig(synthetic=SyntheticSentimentConfig(n_train=8, n_dev=1, n_test=1, max_length=50))
    classifier = Config(model=model_schema("hmm_unsupervised", "sentiment")(n_states=1), task=texts)
    check_memory(classifier, memory=4000)
    with pytest.raises(ConfigError, match=r"n_train \+ n_dev \+ n_test = 10 needs at least .* for the generated data"):
        check_memory(classifier, memory=3999)
    task = LongRangeTaskConfig(distance=98, n_train=10, n_dev=0, n_test=0)
    rnn = Config(model=model_schema("rnn", "longrange")(hidden_size=1, embedding_size=1, batch_size=1), task=task)
    with pytest.raises(ConfigError, match="task.distance=98 needs at least .* for its sequences"):
        check_memory(rnn, memory=7999)  # 10 sequences x 100 steps x 8 bytes = 8000


def test_a_csv_number_with_an_underscore_is_not_read_as_python_would(job_dir, monkeypatch, capsys):
    (job_dir / "u.csv").write_text("v\n" + "".join(f"{i}\n" for i in range(30)) + "1_000\n", encoding="utf-8")
    args = ["task=timeseries", "task.dataset=csv", f"task.path={job_dir / 'u.csv'}", "task.value_column=v"]
    code, out, err = run_main(args, monkeypatch, capsys)
    assert_one_error_line(code, out, err, ["u.csv:32: value '1_000' in column 'v' is not a number"])
    assert_no_run(job_dir / "mlflow.db")
