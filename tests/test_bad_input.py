"""Issue 7, item 1: every kind of bad input ends with exactly one line on stderr naming the problem and
the fix, exit status 2, no traceback, and no run in the MLflow store.

Most rows call ``harness.cli.main`` in-process (the same code path as ``python -m harness``, without
paying the interpreter start-up per row); a few run the real command in a subprocess to prove the
exit status and the absence of tracebacks end to end.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest
from conftest import all_runs, write_treebank

from harness import cli

# (id, overrides with {d} = the bad-data folder, fragments the error line must contain)
ROWS = [
    (
        "unknown-model",
        ["model=foo"],
        ["unknown model 'foo'", "choose one of: bigru, gru, hmm, hmm_unsupervised, lstm, lstm_long, rnn"],
    ),
    ("unknown-task", ["task=bar"], ["unknown task 'bar'", "choose one of: ", "pos", "timeseries"]),
    ("unknown-pos-dataset", ["task.dataset=nope"], ["task.dataset='nope' is not a valid choice", "conllu"]),
    (
        "unknown-series-dataset",
        ["task=timeseries", "task.dataset=nope"],
        ["task.dataset='nope' is not a valid choice", "sunspots"],
    ),
    ("misspelt-model-key", ["model.hiden_size=8"], ["unknown config key 'model.hiden_size'", "hidden_size"]),
    ("misspelt-root-key", ["sed=1"], ["unknown config key 'sed'", "seed"]),
    ("wrong-type-int", ["model.hidden_size=abc"], ["model.hidden_size='abc' is not a valid int"]),
    ("wrong-type-float", ["model.lr=fast"], ["model.lr='fast' is not a valid float"]),
    ("wrong-type-bool", ["model.bidirectional=maybe"], ["model.bidirectional='maybe' is not a valid bool"]),
    (
        "wrong-type-list",
        ["task=timeseries", "task.yardsticks=2"],
        ["task.yardsticks must be a list, not int", "task.yardsticks=[a,b]"],
    ),
    (
        "incompatible-hmm-order-timeseries",
        ["model=hmm", "task=timeseries", "model.order=2"],
        ["model.order does not apply to model=hmm on task=timeseries", "its settings: name, n_states"],
    ),
    (
        "incompatible-features-timeseries",
        ["task=timeseries", "model.features=[word,shape]"],
        ["model.features does not apply to model=rnn on task=timeseries", "its settings: "],
    ),
    ("path-not-given", ["task.dataset=conllu"], ["task.dataset=conllu needs task.path", "set task.path="]),
    (
        "missing-folder",
        ["task.dataset=conllu", "task.path={d}/nothere"],
        ["data folder {d}/nothere does not exist", "set task.path="],
    ),
    (
        "missing-csv",
        ["task=timeseries", "task.dataset=csv", "task.path={d}/nothere.csv", "task.value_column=v"],
        ["CSV file {d}/nothere.csv does not exist", "check task.path"],
    ),
    (
        "empty-conllu",
        ["task.dataset=conllu", "task.path={d}/empty_conllu"],
        ["data file {d}/empty_conllu/x-ud-train.conllu is empty", "non-empty file"],
    ),
    (
        "empty-csv",
        ["task=timeseries", "task.dataset=csv", "task.path={d}/empty.csv", "task.value_column=v"],
        ["CSV file {d}/empty.csv is empty", "with a header and rows"],
    ),
    (
        "conllu-column-count",
        ["task.dataset=conllu", "task.path={d}/bad_conllu"],
        [
            "{d}/bad_conllu/x-ud-train.conllu:6: expected 10 tab-separated CoNLL-U columns, got 4",
            "fix or remove that line",
        ],
    ),
    (
        "unknown-tag-column",
        ["task.dataset=conllu", "task.path={d}/no_xpos", "task.tagset=feats"],
        ["task.tagset='feats' is not a valid choice", "upos, xpos"],
    ),
    (
        "tag-column-empty",
        ["task.dataset=conllu", "task.path={d}/no_xpos", "task.tagset=xpos"],
        ["{d}/no_xpos/x-ud-train.conllu:1: word 'The' has no XPOS tag", "choose another task.tagset"],
    ),
    (
        "word-tag-token-without-tag",
        ["task.dataset=word_tag", "task.path={d}/slash.txt"],
        ["{d}/slash.txt:2: token '苹果' is not word/TAG", "write every token as word/TAG"],
    ),
    (
        "word-tag-binary",
        ["task.dataset=word_tag", "task.path={d}/binary.txt"],
        ["{d}/binary.txt is not UTF-8 text", "convert it to UTF-8"],
    ),
    (
        "word-tag-too-few-documents",
        ["task.dataset=word_tag", "task.path={d}/two_lines.txt"],
        ["cannot split 2 document(s) into train, dev and test", "give more sentences"],
    ),
    (
        "csv-without-column",
        ["task=timeseries", "task.dataset=csv", "task.path={d}/other_columns.csv", "task.value_column=v"],
        ["{d}/other_columns.csv has no column 'v' (available: a, b)", "set task.value_column to one of those"],
    ),
    (
        "series-too-short",
        ["task=timeseries", "task.dataset=csv", "task.path={d}/short.csv", "task.value_column=v", "task.window=24"],
        ["series short has 5 points: a training part of 3", "needs at least 12 training", "use a longer series"],
    ),
    (
        "horizon-longer-than-test",
        ["task=timeseries", "task.dataset=csv", "task.path={d}/forty.csv", "task.value_column=v", "task.horizon=10"],
        ["series forty has a test part of 6 points, shorter than task.horizon=10", "use a smaller task.horizon"],
    ),
    (
        "irregular-times",
        ["task=timeseries", "task.dataset=csv", "task.path={d}/gap.csv", "task.value_column=v", "task.time_column=t"],
        ["{d}/gap.csv:5: time 2020-05 is not one calendar month after the previous time 2020-03", "fill the gap"],
    ),
    (
        "hmm-states-beyond-the-series",
        ["model=hmm", "task=timeseries", "model.n_states=200"],
        ["model.n_states=200 needs at least 1000 training points", "set model.n_states to at most 43"],
    ),
    (
        "log-of-non-positive",
        ["task=timeseries", "task.dataset=csv", "task.path={d}/forty.csv", "task.value_column=v", "task.transform=log"],
        ["task.transform=log needs positive values, but forty has 0 at position 0", "use task.transform=none"],
    ),
    (
        "non-numeric",
        ["task=timeseries", "task.dataset=csv", "task.path={d}/text.csv", "task.value_column=v"],
        ["{d}/text.csv:3: value 'abc' in column 'v' is not a number", "fix that value"],
    ),
    (
        "all-nan",
        ["task=timeseries", "task.dataset=csv", "task.path={d}/all_nan.csv", "task.value_column=v"],
        ["has no numeric values (all 4 are missing)", "check the file or task.value_column"],
    ),
    (
        "hidden-size-zero",
        ["model.hidden_size=0"],
        ["model.hidden_size must be positive, got 0", "set model.hidden_size="],
    ),
    ("hidden-size-negative", ["model=lstm", "model.hidden_size=-3"], ["model.hidden_size must be positive, got -3"]),
    ("batch-size-zero", ["model.batch_size=0"], ["model.batch_size must be positive, got 0"]),
    ("epochs-zero", ["model=gru", "task=timeseries", "model.epochs=0"], ["model.epochs must be positive, got 0"]),
    ("epochs-negative", ["model.epochs=-1"], ["model.epochs must be positive, got -1"]),
    ("window-zero", ["task=timeseries", "task.window=0"], ["task.window must be positive, got 0"]),
    ("hmm-states-zero", ["model=hmm_unsupervised", "model.n_states=0"], ["model.n_states must be positive, got 0"]),
    (
        "hmm-forecaster-states-zero",
        ["model=hmm", "task=timeseries", "model.n_states=0"],
        ["model.n_states must be positive"],
    ),
    (
        "hmm-unknown-word-model",
        ["model=hmm", "model.unknown=crf"],
        ["model.unknown='crf' is not a valid choice", "use one of: logistic, suffix"],
    ),
    (
        "hmm-unsupervised-second-order",
        ["model=hmm_unsupervised", "model.order=2"],
        ["model.order does not apply to model=hmm_unsupervised on task=pos", "its settings: name, n_states"],
    ),
    (
        "hmm-rare-threshold-negative",
        ["model=hmm", "model.rare_threshold=-1"],
        ["model.rare_threshold must be >= 0, got -1"],
    ),
    ("hmm-unknown-c-zero", ["model=hmm", "model.unknown_c=0"], ["model.unknown_c must be > 0, got 0"]),
    ("sweep-unknown-model", ["-m", "model=rnn,foo"], ["unknown model 'foo'"]),
    # settings that cannot affect the chosen model on the chosen task: refused by its schema (harness.config)
    (
        "inapplicable-lstm-nonlinearity",
        ["model=lstm", "model.nonlinearity=relu"],
        ["model.nonlinearity does not apply to model=lstm on task=pos"],
    ),
    (
        "inapplicable-hmm-states",
        ["model=hmm", "task=pos", "model.n_states=5"],
        ["model.n_states does not apply to model=hmm on task=pos"],
    ),
    (
        "inapplicable-hmm-forecaster-tagger-knobs",
        ["model=hmm", "task=timeseries", "model.lexicalize=5", "model.capitalization=true", "model.unknown=suffix"],
        ["model.lexicalize does not apply to model=hmm on task=timeseries", "its settings: name, n_states"],
    ),
    (
        "inapplicable-word-dropout-longrange",
        ["model=rnn", "task=longrange", "model.word_dropout=0.9"],
        ["model.word_dropout does not apply to model=rnn on task=longrange"],
    ),
    ("inapplicable-cell", ["model=lstm", "model.cell=gru"], ["model.cell is no longer a setting", "model=gru"]),
    (
        "moved-arima-order",
        ["task=timeseries", "task.arima_order=[1,0,0]"],
        ["task.arima_order is no longer a setting", "task.yardsticks"],
    ),
    (
        "inapplicable-features-timeseries",
        ["model=gru", "task=timeseries", "model.features=[word]"],
        ["model.features does not apply to model=gru on task=timeseries"],
    ),
    (
        "inapplicable-momentum-adam",
        ["model=rnn", "model.momentum=0.9"],
        ["model.momentum applies to model.optimizer=sgd, not adam"],
    ),
    (
        "no-estimator",
        ["model=hmm_unsupervised", "task=timeseries"],
        ["model=hmm_unsupervised has no estimator for task=timeseries", "models for timeseries: rnn, lstm, gru, hmm"],
    ),
    (
        "inapplicable-in-sweep",
        ["-m", "model=rnn,lstm", "model.nonlinearity=relu"],
        ["model.nonlinearity does not apply to model=lstm on task=pos"],
    ),
    ("sweep-bad-value", ["-m", "model.hidden_size=8,0"], ["model.hidden_size must be positive, got 0"]),
    (
        "inapplicable-separator",
        ["task.dataset=conllu", "task.path={d}/no_xpos", "task.separator=_"],
        ["task.separator does nothing with task.dataset=conllu", "set task.dataset=word_tag"],
    ),
    (
        "inapplicable-tagset-word-tag",
        ["task.dataset=word_tag", "task.path={d}/two_lines.txt", "task.tagset=xpos"],
        ["task.tagset does nothing with task.dataset=word_tag", "drop task.tagset"],
    ),
    (
        "inapplicable-path-peoples-daily",
        ["task.dataset=peoples_daily", "task.path={d}/two_lines.txt"],
        ["task.path does nothing with task.dataset=peoples_daily", "task.dataset=word_tag"],
    ),
]

CONLLU_OK = "1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n2\tdog\tdog\tNOUN\tNN\t_\t0\troot\t_\t_\n\n"


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory) -> Path:
    """A folder of broken inputs, one per data row."""
    d = tmp_path_factory.mktemp("bad-data")

    def treebank(folder: str, train: str) -> None:
        write_treebank(d / folder, train, dev=CONLLU_OK, test=CONLLU_OK, name="x")

    treebank("empty_conllu", "")
    # line 6 (second sentence, second token) has 4 columns
    treebank(
        "bad_conllu", "# text = The dog\n" + CONLLU_OK + "1\tA\ta\tDET\tDT\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\n\n"
    )
    treebank("no_xpos", CONLLU_OK.replace("\tDT\t", "\t_\t"))
    (d / "slash.txt").write_text("我/r 吃/v 苹果/n\n我/r 吃/v 苹果\n", encoding="utf-8")
    (d / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    (d / "two_lines.txt").write_text("我/r 吃/v\n你/r 喝/v\n", encoding="utf-8")
    (d / "empty.csv").write_text("")
    (d / "other_columns.csv").write_text("a,b\n1,2\n3,4\n")
    (d / "short.csv").write_text("t,v\n" + "".join(f"{i},{i % 3}\n" for i in range(5)))
    (d / "forty.csv").write_text("v\n" + "".join(f"{i % 7}\n" for i in range(40)))
    (d / "gap.csv").write_text("t,v\n" + "".join(f"2020-{m:02d},{m}\n" for m in (1, 2, 3, 5, 6)))
    (d / "text.csv").write_text("t,v\n1,1.5\n2,abc\n3,2.5\n")
    (d / "all_nan.csv").write_text("t,v\n1,\n2,NaN\n3,NA\n4,null\n")
    return d


def assert_no_run(db: Path) -> None:
    """Nothing recorded in the sqlite store at ``db``: the file was never created, or it holds no run."""
    if not db.exists():
        return
    _, runs = all_runs(f"sqlite:///{db}")
    assert not runs, f"bad input left {len(runs)} run(s) in MLflow: {[(r.info.run_name, r.info.status) for r in runs]}"


def assert_one_error_line(code, out: str, err: str, fragments: list[str]) -> str:
    assert code == 2, f"exit status {code}, stderr:\n{err}"
    assert "Traceback" not in out + err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    line = lines[0]
    assert line.startswith("harness: error: "), line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    assert "; " in line, f"no fix after the problem: {line!r}"
    return line


def run_main(args: list[str], monkeypatch, capsys) -> tuple[object, str, str]:
    """``python -m harness *args`` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["harness", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    out, err = capsys.readouterr()
    return exited.value.code, out, err


@pytest.fixture
def job_dir(tmp_path, monkeypatch) -> Path:
    """cwd for an in-process run (Hydra's outputs/ lands here) with a not-yet-created store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


@pytest.mark.parametrize("args, fragments", [pytest.param(a, f, id=i) for i, a, f in ROWS])
def test_bad_input_row(args, fragments, bad_data, job_dir, monkeypatch, capsys):
    d = str(bad_data)
    code, out, err = run_main([a.replace("{d}", d) for a in args], monkeypatch, capsys)
    assert_one_error_line(code, out, err, [f.replace("{d}", d) for f in fragments])
    assert_no_run(job_dir / "mlflow.db")
    assert not (job_dir / "mlruns").exists() and not (job_dir / "multirun").exists()


TINY_POS = [
    "model.epochs=1",
    "model.hidden_size=4",
    "model.embedding_size=4",
    "task.synthetic.n_train=20",
    "task.synthetic.n_dev=5",
    "task.synthetic.n_test=5",
    "task.synthetic.vocab_size=50",
]


@pytest.mark.parametrize("sweep", [[], ["-m", "seed=0,1"]], ids=["run", "sweep"])
def test_unreachable_tracking_server_fails_fast(sweep, job_dir, monkeypatch, capsys, free_port):
    uri = f"http://127.0.0.1:{free_port}"
    start = time.monotonic()
    code, out, err = run_main([*sweep, f"tracking_uri={uri}", *TINY_POS], monkeypatch, capsys)
    assert time.monotonic() - start < 30
    assert_one_error_line(code, out, err, [f"MLflow tracking server {uri} cannot be reached", "start it"])
    assert "harness: rnn on pos" not in out  # no summary line: nothing ran to completion
    assert not (job_dir / "mlflow.db").exists() and not (job_dir / "mlruns").exists()
    assert not (job_dir / "outputs").exists() and not (job_dir / "multirun").exists()  # stopped before Hydra


def test_silent_tracking_server_times_out(job_dir, monkeypatch, capsys):
    """A server that accepts connections but never answers (a hung host) must not hang the job."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connections queue in the backlog and are never answered
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
        start = time.monotonic()
        code, out, err = run_main([f"tracking_uri={uri}", *TINY_POS], monkeypatch, capsys)
        elapsed = time.monotonic() - start
    assert elapsed < 30
    assert_one_error_line(code, out, err, [f"MLflow tracking server {uri} cannot be reached", "timed out"])


# ----------------------------------------------------------------------------------------------
# the real command line: exit status and stderr of the process itself


@pytest.mark.parametrize(
    "args, fragments",
    [
        pytest.param(["model=foo"], ["unknown model 'foo'"], id="config-error"),
        pytest.param(
            ["task.dataset=conllu", "task.path={d}/bad_conllu"], ["x-ud-train.conllu:6: expected 10"], id="data-error"
        ),
    ],
)
def test_cli_process_bad_input(args, fragments, bad_data, tmp_path, run_cli):
    d = str(bad_data)
    result = run_cli(
        [a.replace("{d}", d) for a in args],
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )
    assert_one_error_line(result.returncode, result.stdout, result.stderr, fragments)
    assert_no_run(tmp_path / "mlflow.db")


def test_cli_process_unreachable_tracking_uri(tmp_path, run_cli, free_port):
    uri = f"http://127.0.0.1:{free_port}"
    start = time.monotonic()
    result = run_cli(
        ["model=hmm", "task.synthetic.n_train=20", "task.synthetic.n_dev=5", "task.synthetic.n_test=5"],
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
        timeout=60,
    )
    assert time.monotonic() - start < 30
    assert_one_error_line(result.returncode, result.stdout, result.stderr, [f"{uri} cannot be reached"])
