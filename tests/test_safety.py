"""Issue 7, item 7: saved weights load without pickle; a run writes only into its working directory
(Hydra's output folder), the tracking store and the store's artifact folder — never into the source
checkout, the home directory or stray temporary files; the README's MLflow UI binds to localhost."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
from conftest import only_run

REPO = Path(__file__).resolve().parent.parent
RUN_NAME = "safety-probe-run"  # unique, to tell this test's traces from other people's runs in the checkout


def snapshot(root: Path) -> dict[str, float]:
    """Files (path -> mtime) that a run could leave in the checkout: the default store and Hydra/MLflow folders."""
    found = {}
    for name in ("mlflow.db", "mlruns", "mlartifacts", "outputs", "multirun"):
        p = root / name
        if p.is_file():
            found[name] = p.stat().st_mtime
        elif p.is_dir():
            for f in p.rglob("*"):
                if f.is_file():
                    found[str(f.relative_to(root))] = f.stat().st_mtime
    return found


def ours(root: Path, path: str) -> bool:
    """Whether a new or changed checkout file came from this test's run (others may be running jobs too)."""
    p = root / path
    if p.name == "mlflow.db":
        with sqlite3.connect(f"file:{p}?mode=ro", uri=True) as db:
            try:
                return bool(db.execute("SELECT 1 FROM runs WHERE name = ?", (RUN_NAME,)).fetchall())
            except sqlite3.OperationalError:  # no runs table yet
                return False
    try:
        return RUN_NAME in p.read_text(errors="ignore")
    except OSError:
        return False


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_run_writes_only_where_it_should_and_weights_load_without_pickle(tmp_path, tracking_store, run_cli):
    job, home, tmp = tmp_path / "job", tmp_path / "home", tmp_path / "tmp"
    for d in (job, home, tmp):
        d.mkdir()
    before = snapshot(REPO)
    started = time.time()
    result = run_cli(
        [
            "model=rnn",
            "model.hidden_size=8",
            "model.embedding_size=8",
            "model.epochs=2",
            "task.synthetic.n_train=60",
            "task.synthetic.n_dev=20",
            "task.synthetic.n_test=20",
            "task.synthetic.vocab_size=200",
            f"run_name={RUN_NAME}",
            "progress=false",
        ],
        cwd=job,
        env={"HOME": str(home), "TMPDIR": str(tmp)},
    )
    assert result.returncode == 0, result.stderr

    # the checkout gained nothing from this run
    after = snapshot(REPO)
    changed = [p for p, mtime in after.items() if before.get(p) != mtime and mtime >= started - 1]
    assert not [p for p in changed if ours(REPO, p)], f"the run wrote into the source checkout: {changed}"
    # the job's directory holds only Hydra's output folder; home and temp are left clean
    assert {p.split("/")[0] for p in files_under(job)} == {"outputs"}, files_under(job)
    outside_cache = {p for p in files_under(home) if not p.startswith(".cache/")}  # e.g. matplotlib's font cache
    assert not outside_cache, f"the run wrote into $HOME: {outside_cache}"
    assert not files_under(tmp), f"the run left temporary files: {files_under(tmp)}"
    # the store's artifacts sit beside the database, not in the job's directory
    store = tmp_path / "mlflow.db"
    assert any(p.startswith("mlruns/") and p.endswith("model.npz") for p in files_under(tmp_path))

    # every .npz the run recorded (weights, checkpoints) loads with allow_pickle=False
    client, run = only_run(f"sqlite:///{store}", "pos")
    assert run.info.run_name == RUN_NAME and run.info.status == "FINISHED"
    local = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "download")))
    npz_files = sorted(local.rglob("*.npz"))
    assert "model.npz" in {p.name for p in npz_files}
    for path in npz_files:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        assert arrays, f"{path.name} is empty"
        assert all(a.dtype != object for a in arrays.values())
        assert all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind == "f")


def test_readme_mlflow_ui_binds_to_localhost():
    commands = [
        line.strip() for line in (REPO / "README.md").read_text().splitlines() if line.strip().startswith("mlflow ui")
    ]
    assert commands, "the README shows no mlflow ui command"
    for command in commands:
        assert "--host 127.0.0.1" in command, command


def test_in_process_run_leaves_no_temporary_files(tmp_path, tracking_store, monkeypatch):
    from harness.cli import compose_checked
    from harness.config import to_config
    from harness.experiment import run

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    cfg = compose_checked(
        [
            "model=rnn",
            "model.hidden_size=4",
            "model.embedding_size=4",
            "model.epochs=1",
            "task.synthetic.n_train=20",
            "task.synthetic.n_dev=5",
            "task.synthetic.n_test=5",
            "task.synthetic.vocab_size=50",
            "progress=false",
        ]
    )
    run(to_config(cfg), cfg)
    assert not list(tmp.iterdir()), f"left behind: {[p.name for p in tmp.iterdir()]}"
