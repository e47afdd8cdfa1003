"""Shared fixtures: a throw-away MLflow store per test and a runner for the real command line."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parent.parent


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
            return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=full_env,
                                  capture_output=True, text=True, timeout=timeout)  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(f"python -m harness {' '.join(args)} did not finish within {timeout} s")

    return run
