"""Shared fixtures: a throw-away MLflow store per test and a runner for the real command line; shared
helpers (``from conftest import ...``): readers of an MLflow store, a CoNLL-U treebank writer and a
small synthetic POS task."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _default_signal_dispositions():
    """SIGINT and SIGTERM as in a foreground terminal, whatever the tests were started under: a shell
    script's background and ``nohup`` start them with SIGINT ignored, which the signal tests (and every
    subprocess they start, which inherits an ignored signal) depend on not being the case."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for s, handler in previous.items():
        if handler is not None:
            signal.signal(s, handler)


@pytest.fixture
def free_port() -> int:
    """A local port nothing listens on (bound, then released): for servers to start, or to find closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def _empty_store(tmp_path_factory) -> Path:
    """An MLflow sqlite store with its tables created once per session (creating them takes seconds)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("store-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tracking_store(tmp_path, monkeypatch, _empty_store) -> str:
    """A fresh, empty sqlite store in ``tmp_path``; MLFLOW_TRACKING_URI points at it. Returns the URI."""
    path = tmp_path / "mlflow.db"
    shutil.copyfile(_empty_store, path)
    uri = f"sqlite:///{path}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``run_cli(args, cwd, env=None, timeout=120)``: ``python -m harness *args`` in a subprocess with the
    current environment (plus ``env``), text output captured; fails the test if it outlives ``timeout``."""

    def run(args: list[str], cwd: str | Path, env: dict[str, str] | None = None, timeout: float = 120):
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        try:
            return subprocess.run(
                [sys.executable, "-m", "harness", *args],
                cwd=cwd,
                env=full_env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"python -m harness {' '.join(args)} did not finish within {timeout} s")

    return run


def all_runs(uri: str):
    """(client, every run in the store at ``uri``), over all its experiments."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return client, client.search_runs(ids, "", max_results=1000) if ids else []


def only_run(uri: str, experiment: str):
    """(client, the one run of ``experiment``) in the store at ``uri``; fails unless there is exactly one."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} in {uri}"
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1, f"expected one run in {experiment!r}, found {len(runs)}"
    return client, runs[0]


def write_treebank(
    folder: Path, train: str, dev: str | None = None, test: str | None = None, name: str = "xx_tiny"
) -> Path:
    """A CoNLL-U folder named as UD names its files, ``<name>-ud-{train,dev,test}.conllu`` (dev and
    test default to the training text). Returns ``folder``."""
    folder.mkdir(exist_ok=True)
    for split, text in (("train", train), ("dev", dev), ("test", test)):
        (folder / f"{name}-ud-{split}.conllu").write_text(train if text is None else text, encoding="utf-8")
    return folder


def synthetic_pos_task(train_size: float | None = None):
    """A PosTaskConfig on a 200/20/20-sentence synthetic corpus (vocabulary 300) with ``train_size``."""
    from harness.config import PosTaskConfig, SyntheticPosConfig

    return PosTaskConfig(
        train_size=train_size, synthetic=SyntheticPosConfig(n_train=200, n_dev=20, n_test=20, vocab_size=300)
    )
