"""The stage contracts (issue 20): a task and a model family are added by registering them, and the
experiment, the config layer and the CLI carry them end to end without a line changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import all_runs

# A whole new task (guess a biased coin) and a whole new model family (predict the training majority),
# registered in a few lines: CONTRIBUTING.md's walk-through, run here exactly as written there.
CONTRIBUTING = Path(__file__).resolve().parent.parent / "CONTRIBUTING.md"
TOY = CONTRIBUTING.read_text(encoding="utf-8").split("<!-- walkthrough -->\n```python\n")[1].split("```\n")[0]


def run_with_toy(args: list[str], cwd) -> subprocess.CompletedProcess:
    code = TOY + f"\nimport sys\nsys.argv = ['harness', *{args!r}]\nfrom harness.cli import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=cwd)


def test_a_registered_toy_task_and_model_family_run_end_to_end_through_the_cli(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    done = run_with_toy(["model=majority", "task=coin", "task.p_heads=0.9", f"tracking_uri={uri}"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "harness: majority on coin (synthetic) seed=0: test_accuracy=0.9" in done.stdout
    _, runs = all_runs(uri)
    (run,) = runs
    assert run.info.status == "FINISHED" and run.data.tags["family"] == "constant"
    m = run.data.metrics
    assert 0.85 < m["test_accuracy"] < 0.95 and m["baseline_test_accuracy"] == 0.5 and m["n_params"] == 1
    assert {"best_dev_accuracy", "predict_flips_per_second", "train_seconds"} <= set(m)

    # its schema is strict like every other: a setting it does not have stops the run before any work
    bad = run_with_toy(["model=majority", "task=coin", "model.hidden_size=8", f"tracking_uri={uri}"], tmp_path)
    assert bad.returncode == 2 and "model.hidden_size does not apply to model=majority on task=coin" in bad.stderr
    # and a model family without an adapter for the task is refused by name
    other = run_with_toy(["model=rnn", "task=coin", f"tracking_uri={uri}"], tmp_path)
    assert other.returncode == 2 and "model=rnn has no estimator for task=coin" in other.stderr
    assert len(all_runs(uri)[1]) == 1
