"""MLflow tracking: store location, runs, flattened params, metrics, artifacts, tags.

The only module that imports MLflow besides the report reader. Models never see it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import DataError, RunFailed, TrackingError, TrackingLost
from harness.interrupts import shielded
from harness.paths import project_root
from harness.runs import HEARTBEAT, liveness_tags
from harness.store import prepare_store


def tracking_uri(configured: str | None = None) -> str:
    """config tracking_uri > $MLFLOW_TRACKING_URI > sqlite:///<project root>/mlflow.db (absolute)."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{(project_root() / 'mlflow.db').resolve()}"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5
        )
        commit = out.stdout.strip()
        if out.returncode == 0 and commit:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def artifact_location(uri: str) -> str | None:
    """For a local sqlite store, a fresh artifact folder beside the database file (``<db dir>/mlruns/<id>``);
    MLflow's default would be ``./mlruns`` under whatever directory the job happens to run in. None = the
    server's or store's default."""
    if not uri.startswith("sqlite:///"):
        return None
    import uuid

    db = Path(uri[len("sqlite:///") :].split("?", 1)[0])
    if not db.is_absolute():
        db = Path.cwd() / db
    return (db.parent / "mlruns" / uuid.uuid4().hex).resolve().as_uri()


def _check_reachable(uri: str) -> None:
    """The store's location or server checked before any data is loaded (see harness.store.check_store)."""
    from harness.store import check_store

    check_store(uri)


def run_params(uri: str, run_id: str) -> dict[str, str]:
    """The params of ``run_id``, refusing a run whose process is still running (two processes would train it)
    and a FINISHED one (nothing is left to resume)."""
    from mlflow.tracking import MlflowClient

    from harness.runs import HOST, PID, gone_reason

    prepare_store(uri)
    try:
        run = MlflowClient(tracking_uri=uri).get_run(run_id)
    except Exception:
        raise TrackingError(f"there is no MLflow run {run_id} in {uri}", "copy the run id from mlflow ui") from None
    tags = run.data.tags
    if run.info.status == "FINISHED":
        raise TrackingError(
            f"run {run_id} already FINISHED; there is nothing to resume (resuming would log its results twice)",
            "drop resume= to start a new run",
        )
    if run.info.status == "RUNNING" and tags.get(PID) and gone_reason(tags) is None:
        raise TrackingError(
            f"run {run_id} is still running (process {tags.get(PID)} on {tags.get(HOST)})",
            "wait for it to end, or stop it (Ctrl-C or kill <pid>) and resume then",
        )
    return run.data.params


def load_checkpoint(uri: str, run_id: str) -> dict:
    """The ``checkpoint/checkpoint.npz`` artifact of ``run_id`` as arrays (loaded without pickle)."""
    import numpy as np
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # the error stays one line
    prepare_store(uri)
    with tempfile.TemporaryDirectory() as d:
        try:
            path = MlflowClient(tracking_uri=uri).download_artifacts(run_id, "checkpoint/checkpoint.npz", d)
        except Exception:
            raise TrackingError(
                f"run {run_id} has no checkpoint to resume from",
                "resume a run of a recurrent model that started training",
            ) from None
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise DataError(
                f"the checkpoint of run {run_id} is corrupt or truncated ({type(exc).__name__}: {exc})",
                "start the run again without resume=",
            ) from None


def param_value(value: Any) -> str:
    """A param as MLflow stores it (text, at most 6000 characters): also what a resume compares."""
    return str(value)[:6000]


def _unanswered(exc: BaseException) -> bool:
    """A request to a tracking server that got no answer (refused, reset, timed out after MLflow's retries),
    as opposed to an error the server answered with."""
    import requests

    text = str(exc)
    return isinstance(exc, (requests.exceptions.RequestException, ConnectionError, TimeoutError)) or (
        "API request to" in text and "failed with exception" in text
    )


def _write(method):
    """A Tracker method that writes to a local SQLite store runs shielded from SIGINT/SIGTERM (see
    harness.interrupts); against a server a request can be cut short safely, so Ctrl-C acts at once.
    A server that stops answering becomes the harness's own TrackingLost (one line, the run id and how to
    resume) instead of MLflow's tracebacks."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            with shielded() if self.uri.startswith("sqlite:") else contextlib.nullcontext():
                return method(self, *args, **kwargs)
        except Exception as exc:
            if not (self.uri.startswith(("http:", "https:")) and _unanswered(exc)):
                raise
            raise TrackingLost(self.uri, self.run_id, exc) from None

    return wrapper


class Tracker:
    """One MLflow run: ``with Tracker(...) as t: t.log_params(...); t.log_metrics(...)``."""

    def __init__(
        self,
        uri: str,
        experiment: str,
        run_name: str,
        tags: dict[str, str] | None = None,
        parent_run_id: str | None = None,
        resume_run_id: str | None = None,
    ):
        prepare_store(uri)  # created and migrated by one process at a time, shielded from signals
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        from mlflow.tracking import MlflowClient

        self.uri, self.experiment, self.run_name = uri, experiment, run_name
        self.client = MlflowClient(tracking_uri=uri)
        self.run_id: str | None = None
        if not resume_run_id:  # outside the shielded write: git may take seconds, Ctrl-C stays immediate
            tags = {"harness.version": __version__, "git.commit": git_commit(), **(tags or {})}
        try:
            self._open(experiment, run_name, tags, parent_run_id, resume_run_id)
        except KeyboardInterrupt:  # a signal held back until the run existed: no `with` will end it
            if self.run_id:
                self.end("KILLED")
            raise

    @_write
    def _open(
        self,
        experiment: str,
        run_name: str,
        tags: dict[str, str] | None,
        parent_run_id: str | None,
        resume_run_id: str | None,
    ) -> None:
        if resume_run_id:  # continue the same run: its params, history and artifacts stay
            self.run = self.client.get_run(resume_run_id)
            self.run_id, self.experiment_id = resume_run_id, self.run.info.experiment_id
            self.client.update_run(resume_run_id, status="RUNNING")
            for stale in ("failure", "killed"):  # how it ended last time no longer holds
                if stale in self.run.data.tags:
                    self.client.delete_tag(resume_run_id, stale)
            self.client.set_tag(resume_run_id, "resumed", "true")
            for k, v in liveness_tags().items():
                self.client.set_tag(resume_run_id, k, v)
            return
        exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id = exp.experiment_id if exp else self._create_experiment(experiment)
        all_tags = {**(tags or {}), **liveness_tags()}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        self.run = self.client.create_run(self.experiment_id, run_name=run_name, tags=all_tags)
        self.run_id = self.run.info.run_id

    def _create_experiment(self, name: str) -> str:
        try:
            return self.client.create_experiment(name, artifact_location=artifact_location(self.uri))
        except Exception:  # another process created it first
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id

    def __enter__(self) -> Tracker:
        return self

    @_write
    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and issubclass(exc_type, TrackingLost):
            return  # the server does not answer: the run stays RUNNING there (resume= or harness.runs stale)
        if exc_type is None:
            self.end("FINISHED")
        elif issubclass(exc_type, KeyboardInterrupt):
            try:
                self.set_tags({"killed": "interrupted (SIGINT/SIGTERM); continue with resume=" + self.run_id})
                self.end("KILLED")
            except Exception as error:  # the interrupt must go on (a sweep stops): the store error is a line
                print(
                    f"harness: could not mark run {self.run_id} KILLED ({type(error).__name__}); "
                    "python -m harness.runs stale --end will",
                    file=sys.stderr,
                    flush=True,
                )
        else:
            self.set_tags({"failure": f"{exc_type.__name__}: {exc}"[:5000]})
            self.end("FAILED")

    @_write
    def end(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)

    @_write
    def log_params(self, params: dict[str, Any]) -> None:
        """All params at once (MlflowClient.log_batch splits them into MLflow's batches of 100)."""
        from mlflow.entities import Param

        items = [Param(k, param_value(v)) for k, v in sorted(params.items())]
        self.client.log_batch(self.run_id, params=items)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._log_points([(k, v, step or 0) for k, v in metrics.items() if v is not None])

    def log_metrics_history(self, key: str, values) -> None:
        """One metric as a series, step = position (e.g. a curve over distance)."""
        self._log_points([(key, v, k) for k, v in enumerate(values)])

    @_write
    def _log_points(self, points: list[tuple[str, float, int]]) -> None:
        """(key, value, step) triples (MlflowClient.log_batch splits them into batches of 1000)."""
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v, step in points]
        self.client.log_batch(self.run_id, metrics=items, tags=[RunTag(HEARTBEAT, f"{now / 1000:.0f}")])

    @_write
    def set_tags(self, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self.client.set_tag(self.run_id, k, str(v))

    @_write
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        try:
            self.client.log_artifact(self.run_id, str(path), artifact_path)
        except OSError as exc:  # a local artifact store on a full or read-only disk
            where = exc.filename or "the artifact store"
            raise RunFailed(
                f"run {self.run_id} could not store artifact {Path(path).name} in {where} ({exc.strerror or exc}); "
                "it ended FAILED",
                f"free space there, then continue with the same overrides plus resume={self.run_id}",
            ) from None

    def log_checkpoint(self, state: dict, folder: Path) -> None:
        """Write ``checkpoint.npz`` atomically in ``folder`` (a temporary file of its own + rename) and log it
        as artifact ``checkpoint/checkpoint.npz``, replacing the previous epoch's. A folder that cannot be
        written (disk full, read-only) ends the run FAILED with one line; the previous checkpoint stays."""
        import numpy as np

        tmp = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="checkpoint.", suffix=".tmp.npz", dir=folder)
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **state)
            os.replace(tmp, folder / "checkpoint.npz")
            tmp = None
        except OSError as exc:
            raise RunFailed(
                f"run {self.run_id} could not write its checkpoint in {folder} ({exc.strerror or exc}); "
                "it ended FAILED, its previous checkpoint kept",
                f"free space there, then continue with the same overrides plus resume={self.run_id}",
            ) from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self.log_artifact(folder / "checkpoint.npz", "checkpoint")

    @_write
    def log_text(self, text: str, name: str) -> None:
        """``text`` as the artifact ``name`` (a run-relative path)."""
        self.client.log_text(self.run_id, text, name)
