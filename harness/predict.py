"""Use a finished run on new input: ``python -m harness.predict run=<run id> [input=<file>] [format=...] [horizon=H]``.

    POS          one sentence per line, tokens separated by spaces (or CoNLL-U, recognised by its
                 10 tab-separated columns) -> ``word/TAG`` per token (format=slash, the default for plain
                 text) or CoNLL-U with the run's tag column (UPOS or XPOS) filled (format=conllu, the
                 default for CoNLL-U input)
    time series  a CSV of recent values, oldest first (the last column; a header line is skipped)
                 -> ``horizon,forecast,lower,upper`` (a 95 % interval) for the next steps (horizon=H:
                 the regime HMM forecasts any 1..H; a recurrent forecaster up to its task.horizon)
    language     a prompt (the whole input; may be empty) -> the prompt continued by ``length=N``
                 symbols (default 300) at ``temperature=T`` (default 1), reproducible under ``seed=S``
    sentiment    one text per line (blank lines skipped) -> ``label<TAB>probability<TAB>text`` per text,
                 after a header line: the most probable class and its probability

Input is read from ``input=<file>`` or stdin. The model is the run's ``predictor.npz`` artifact
(harness.predictor), from ``tracking_uri=`` or $MLFLOW_TRACKING_URI or the project's mlflow.db.
Bad input (an unknown run, a run of another task, empty or binary input) ends with one line and
exit status 2.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import numpy as np

from harness.errors import ConfigError, DataError, HarnessError, TrackingError
from harness.predictor import FILE, TASKS, Predictor

KEYS = ("run", "input", "format", "horizon", "length", "temperature", "seed", "tracking_uri")
FORMATS = ("slash", "conllu")
USAGE = "usage: python -m harness.predict run=<run id> [input=<file>] [format=slash|conllu] [horizon=H] [length=N temperature=T seed=S]"


def parse_args(argv: list[str]) -> dict[str, str]:
    """``key=value`` arguments (the same shape as the harness's overrides), checked against ``KEYS``."""
    args: dict[str, str] = {}
    for arg in argv:
        key, eq, value = arg.partition("=")
        if not eq or key not in KEYS:
            raise ConfigError(f"unknown argument {arg!r}", f"{USAGE} [tracking_uri=<uri>]")
        args[key] = value
    if not args.get("run"):
        raise ConfigError("no run given", f"{USAGE}; copy the run id from the summary line or mlflow ui")
    if args.get("format", "slash") not in FORMATS:
        raise ConfigError(f"format={args['format']!r} is not a valid choice", f"use one of: {', '.join(FORMATS)}")
    if "horizon" in args and not (args["horizon"].isdigit() and int(args["horizon"]) > 0):
        raise ConfigError(f"horizon={args['horizon']!r} is not a positive integer", "set e.g. horizon=3")
    return args


def read_text(path: str | None) -> str:
    """The input as text (``path`` or stdin); DataError for binary, non-UTF-8 or empty input."""
    name = path or "stdin"
    if path is not None:
        if not Path(path).is_file():
            raise DataError(f"input file {path} does not exist", "check input=<file>")
        raw = Path(path).read_bytes()
    else:
        raw = sys.stdin.buffer.read()
    if b"\x00" in raw:
        raise DataError(f"{name} looks like a binary file (it holds NUL bytes)", "give UTF-8 text, one item a line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name} is not UTF-8 text (byte {exc.start})", "convert it to UTF-8") from None
    if not text.strip():
        raise DataError(f"{name} is empty", "give one sentence a line (POS) or recent values (time series)")
    return text


def load_run(uri: str, run_id: str) -> tuple[Predictor, dict[str, str]]:
    """The run's predictor and params; one-line errors for unknown, unfinished or unsuitable runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    try:
        run = client.get_run(run_id)
    except Exception:
        raise TrackingError(f"there is no MLflow run {run_id} in {uri}", "copy the run id from mlflow ui") from None
    task = run.data.tags.get("task") or run.data.params.get("task.name", "?")
    if task not in TASKS:
        raise DataError(
            f"run {run_id} is a run of task={task}; predict applies models of task {' or '.join(TASKS)}",
            "give the id of a POS or time-series run",
        )
    if run.info.status != "FINISHED":
        raise DataError(f"run {run_id} is {run.info.status}, not finished", "use a run that finished training")
    with tempfile.TemporaryDirectory() as d:
        try:
            path = client.download_artifacts(run_id, FILE, d)
        except Exception:
            raise DataError(
                f"run {run_id} has no {FILE} (it was trained by a harness that did not export models)",
                "train it again with this harness",
            ) from None
        return Predictor.load(path, f"run {run_id}"), run.data.params


def is_conllu(text: str) -> bool:
    first = next(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return len(first.split("\t")) == 10


def tag_text(predictor: Predictor, text: str, out: TextIO, fmt: str | None, column: str) -> None:
    """POS: tag plain or CoNLL-U ``text`` and write ``word/TAG`` lines or CoNLL-U to ``out``."""
    import conllu

    if is_conllu(text):
        try:
            sentences = conllu.parse(text)
        except Exception as exc:  # conllu raises several types; all mean malformed input
            raise DataError(f"the CoNLL-U input is malformed ({exc})", "fix it, or give one sentence a line") from None
        words = [[t for t in s if isinstance(t["id"], int)] for s in sentences]  # skip ranges and empty nodes
    else:
        lines = [line.split() for line in text.splitlines() if line.strip()]
        sentences = None
        words = [[{"id": i + 1, "form": w} for i, w in enumerate(ws)] for ws in lines]
    tags = predictor.tag([[t["form"] for t in ws] for ws in words])
    if (fmt or ("conllu" if sentences is not None else "slash")) == "slash":
        for ws, ts in zip(words, tags):
            out.write(" ".join(f"{t['form']}/{tag}" for t, tag in zip(ws, ts)) + "\n")
        return
    if sentences is None:  # plain text asked for as CoNLL-U: a minimal token list per line
        empty = dict.fromkeys(("lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc"))
        sentences = [conllu.TokenList([conllu.Token({**t, **empty}) for t in ws]) for ws in words]
        words = [[t for t in s] for s in sentences]
    for ws, ts in zip(words, tags):
        for t, tag in zip(ws, ts):
            t[column] = tag
    out.write("".join(s.serialize() for s in sentences))


def read_values(text: str) -> np.ndarray:
    """The last column of a CSV (or one value a line), oldest first; a non-numeric first line is a header."""
    lines = [line for line in text.splitlines() if line.strip()]
    values = []
    for i, line in enumerate(lines):
        field = line.split(",")[-1].strip()
        try:
            values.append(float(field))
        except ValueError:
            if i == 0:
                continue  # the header
            raise DataError(
                f"line {i + 1} of the input, {line!r}, has no number in its last column", "fix it"
            ) from None
    if not values:
        raise DataError("the input holds no values", "give recent values, one a line or as the last CSV column")
    return np.array(values)


def forecast_text(predictor: Predictor, text: str, out: TextIO, horizon: int | None) -> None:
    """Time series: forecasts after the values of ``text`` as CSV on ``out``."""
    table = predictor.forecast(read_values(text), horizon)
    columns = [c for c in ("horizon", "forecast", "lower", "upper") if c in table]
    out.write(",".join(columns) + "\n")
    for i in range(len(table["horizon"])):
        out.write(",".join(str(int(table[c][i])) if c == "horizon" else f"{table[c][i]:.6g}" for c in columns) + "\n")


def classify_text(predictor: Predictor, text: str, out: TextIO) -> None:
    """Sentiment: one text per non-blank line of ``text`` -> ``label\tprobability\ttext`` lines on ``out``."""
    texts = [line for line in text.splitlines() if line.strip()]
    if not texts:
        raise DataError("the input holds no text", "give one text per line")
    answer = predictor.classify(texts)
    out.write("label\tprobability\ttext\n")
    for label, p, t in zip(answer["label"], answer["probability"], texts):
        out.write(f"{label}\t{p:.4f}\t{t}\n")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        from harness.tracking import tracking_uri

        args = parse_args(argv)
        text = read_text(args.get("input"))
        predictor, params = load_run(tracking_uri(args.get("tracking_uri")), args["run"])
        if predictor.task == "pos":
            tag_text(predictor, text, sys.stdout, args.get("format"), params.get("task.tagset", "upos"))
        elif predictor.task == "lm":
            options = {"length": int(args.get("length", 300)), "seed": int(args.get("seed", 0))}
            print(
                predictor.continue_text(text.rstrip("\n"), temperature=float(args.get("temperature", 1.0)), **options)
            )
        elif predictor.task == "sentiment":
            classify_text(predictor, text, sys.stdout)
        else:
            forecast_text(predictor, text, sys.stdout, int(args["horizon"]) if "horizon" in args else None)
    except HarnessError as error:
        print(f"harness.predict: error: {error}", file=sys.stderr)
        sys.exit(error.exit_status)


if __name__ == "__main__":
    main()
