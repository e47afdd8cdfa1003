"""The tracking store, checked and made ready once per process, before any data is loaded.

``prepare_store(uri)`` is the one boundary between the harness and MLflow's store creation:

* a local sqlite store is created and migrated by one process at a time, under an exclusive
  ``fcntl`` lock on ``<db>.lock`` beside the database file, and shielded from SIGINT/SIGTERM (a signal
  waits for the end of the migration). MLflow migrates an empty database inside the store's
  constructor with alembic and takes no lock of its own; several processes doing it at once on a new
  file crash (``table _alembic_tmp_... already exists``), and a migration cut by Ctrl-C leaves a
  store no later run can open. Once the tables exist MLflow's own ``PRAGMA busy_timeout`` (20 s) lets
  concurrent writers wait for each other.
* locations that cannot work (a plain directory path, ``sqlite:///<a directory>``, a file that is not
  a database, a folder that cannot be written, an unknown scheme, an HTTP server that is not MLflow)
  give one line (``TrackingError``, exit 2) instead of MLflow's retries and traceback.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from harness.errors import TrackingError
from harness.interrupts import shielded

SQLITE_HEADER = b"SQLite format 3\x00"
SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
_ready: set[str] = set()  # stores this process has already checked and created


def _fix_local() -> str:
    return "use tracking_uri=sqlite:///<path to a .db file in a folder you can write>"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (absolute), or None for any other store."""
    if not uri.startswith("sqlite:"):
        return None
    rest = uri[len("sqlite:") :]
    if not rest.startswith("///"):
        raise TrackingError(f"tracking store {uri!r} is not a sqlite file URI", _fix_local())
    path = Path(rest[3:].split("?", 1)[0])
    if not str(path) or str(path) == ".":
        raise TrackingError(f"tracking store {uri!r} names no database file", _fix_local())
    return path if path.is_absolute() else Path.cwd() / path


def check_location(uri: str) -> Path | None:
    """Raise TrackingError for a store location that cannot work; the sqlite file (or None) otherwise."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme not in SCHEMES:
        what = (
            "a plain path (MLflow's file store is retired)"
            if not scheme or len(scheme) == 1
            else f"of unknown scheme {scheme!r}"
        )
        raise TrackingError(
            f"tracking store {uri!r} is {what}, which the harness cannot use",
            "use tracking_uri=sqlite:///<file>.db or http://<host>:<port> of an mlflow server",
        )
    db = sqlite_path(uri)
    if db is None:
        return None
    if db.is_dir():
        raise TrackingError(f"tracking store {db} is a directory, not a database file", _fix_local())
    if db.exists():
        try:
            with db.open("rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise TrackingError(f"tracking store {db} cannot be read ({exc.strerror})", _fix_local()) from None
        if head and head != SQLITE_HEADER:
            raise TrackingError(f"tracking store {db} is not an SQLite database", _fix_local())
        if not os.access(db, os.W_OK):
            raise TrackingError(f"tracking store {db} is read-only", "make it writable, or " + _fix_local())
    folder = db.parent
    while not folder.exists() and folder != folder.parent:  # MLflow creates missing parent folders
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise TrackingError(f"the folder of tracking store {db} cannot be written", _fix_local())
    return db


@contextlib.contextmanager
def store_lock(db: Path) -> Iterator[None]:
    """An exclusive lock on ``<db>.lock`` for this block (held by one process on this machine at a time)."""
    import fcntl

    db.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{db}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _create(client_class, uri: str) -> None:
    """Open the store with MLflow (which creates and migrates it): the step that must not run twice at once.
    MLflow's and alembic's progress lines are held back (an error stays one line on stderr)."""
    import logging

    loggers = [logging.getLogger(n) for n in ("mlflow.store.db.utils", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        client_class(tracking_uri=uri).search_experiments(max_results=1)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def check_store(uri: str) -> Path | None:
    """The cheap checks, made before any data is loaded: the location can work (sqlite) or the server answers
    as MLflow. Returns the sqlite file, or None."""
    db = check_location(uri)
    if db is None:
        check_server(uri)
    return db


def prepare_store(uri: str) -> None:
    """Check the store and make it ready (sqlite: created and migrated once, locked and shielded; a server:
    answering as MLflow). Called as a run opens; cheap after the first call in a process."""
    if uri in _ready:
        return
    db = check_store(uri)
    if db is not None:
        from mlflow.tracking import MlflowClient  # imported outside the lock: it takes seconds

        with shielded(), store_lock(db):
            try:
                _create(MlflowClient, uri)
            except Exception as exc:  # a migration cut short (SIGKILL, power loss): start it again if no run is lost
                _repair_cut_migration(db, exc)
                try:
                    _create(MlflowClient, uri)
                except Exception as again:
                    raise TrackingError(
                        f"MLflow could not create tracking store {db} ({_first_line(again)})",
                        "move that file aside and run again",
                    ) from None
    _ready.add(uri)


def _repair_cut_migration(db: Path, error: Exception) -> None:
    """After MLflow failed to open ``db``: if the database holds no run, its half-made tables (a migration
    cut short) are dropped so the migration starts again from nothing; else a TrackingError."""
    con = sqlite3.connect(str(db), timeout=20)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if "runs" in names and con.execute("SELECT count(*) FROM runs").fetchone()[0]:
            raise TrackingError(
                f"MLflow cannot open tracking store {db} ({_first_line(error)})",
                f"try mlflow db upgrade sqlite:///{db}, or move that file aside",
            )
        con.execute("PRAGMA foreign_keys = OFF")
        for name in names:
            if not name.startswith("sqlite_"):
                con.execute(f'DROP TABLE IF EXISTS "{name}"')
        con.commit()
    finally:
        con.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def check_server(uri: str, timeout: float = 10.0) -> None:
    """Fail fast (instead of MLflow's long retries) when an HTTP tracking server does not answer within
    ``timeout`` seconds (or $MLFLOW_HTTP_REQUEST_TIMEOUT if that is shorter), or answers but is not MLflow."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        timeout = min(timeout, float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", timeout)))
    except ValueError:
        pass
    fix = (
        "start it (mlflow server --host 127.0.0.1 --port <port>), or unset MLFLOW_TRACKING_URI and tracking_uri "
        "to use the local mlflow.db"
    )
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as answer:
            body = answer.read(64).strip()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return  # an MLflow server behind authentication: MLflow's own message will ask for credentials
        if exc.code < 500:
            raise TrackingError(
                f"{uri} answered /health with HTTP {exc.code}: it is not an MLflow tracking server", fix
            ) from None
        problem = f"HTTP {exc.code} {exc.reason}"  # a proxy or gateway in front of a server that is down
    except (urllib.error.URLError, OSError) as exc:
        problem = str(getattr(exc, "reason", exc))
    else:
        if body == b"OK":
            return
        raise TrackingError(f"{uri} answered /health with {body[:20]!r}, not MLflow's OK", fix)
    raise TrackingError(f"MLflow tracking server {uri} cannot be reached ({problem})", fix)
