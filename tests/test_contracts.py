"""The stage contracts (issue 20): a task and a model family are added by registering them, and the
experiment, the config layer and the CLI carry them end to end without a line changed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import all_runs

# A whole new task (guess a biased coin) and a whole new model family (predict the training majority),
# registered in a few lines, as CONTRIBUTING.md's walk-through does it.
TOY = textwrap.dedent(
    """
    from dataclasses import dataclass
    from typing import ClassVar

    import numpy as np
    from hydra.core.config_store import ConfigStore

    from harness.config import register_model_schema, register_task_schema
    from harness.errors import check_positive
    from harness.estimators import register_estimator
    from harness.estimators.base import Estimator, timed
    from harness.tasks.base import register_task


    @dataclass
    class CoinTask:  # the task's schema: task=coin
        name: str = "coin"
        dataset: str = "synthetic"
        n: int = 200
        p_heads: float = 0.8

        def check(self):
            check_positive(self.n, "task.n")


    @dataclass
    class CoinData:  # the task contract (harness.tasks.base.TaskData)
        flips: dict
        source: str = "synthetic"
        main_metric = "test_accuracy"
        higher_is_better = True
        dev_metric = "dev_accuracy"
        dev_prefix = "best_dev_"
        predictions_file = "test_predictions.tsv"
        items = "flips"

        def n_items(self, split):
            return len(self.flips[split])

        def score(self, split, prediction):
            return {"accuracy": float(np.mean(prediction == self.flips[split]))}

        def baselines(self):
            return {"baseline_test_accuracy": 0.5}

        def reference_metrics(self, test_scores):
            return {}

        def write_predictions(self, path, prediction):
            path.write_text("".join(f"{p}\\n" for p in prediction))

        def summary(self, metrics):
            return [f"test_accuracy={metrics['test_accuracy']:.4f}"]


    def load_coin(cfg, seed):
        rng = np.random.default_rng(seed)
        return CoinData({s: (rng.random(cfg.n) < cfg.p_heads).astype(int) for s in ("train", "dev", "test")})


    @dataclass
    class MajorityConfig:  # the model family's schema: model=majority
        family: ClassVar[str] = "constant"
        name: str = "majority"

        def check(self):
            pass


    class Majority(Estimator):  # the adapter of the family on the task
        def __init__(self, cfg, data, rng, seed):
            super().__init__(cfg, data, rng, seed)
            self.model, self.guess = self, None

        def fit(self, data, hooks):
            return timed(lambda: setattr(self, "guess", int(np.mean(data.flips["train"]) > 0.5)))

        def predict(self, data, split):
            return np.full(data.n_items(split), self.guess)

        def state_dict(self):
            return {"guess": np.array(self.guess)}

        n_params = 1


    register_task("coin", load_coin)
    register_task_schema("coin", CoinTask)
    register_model_schema("majority", "coin", MajorityConfig)
    register_estimator("coin", "constant", Majority)
    ConfigStore.instance().store(group="task", name="coin", node={"defaults": [{"/schema@_here_": "task_coin"}, "_self_"]})
    ConfigStore.instance().store(group="model", name="majority", node={"defaults": [{"/schema@_here_": "majority_${task}"}, "_self_"]})
    """
)


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
