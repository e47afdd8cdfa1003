"""End to end: the CLI trains, evaluates, prints the summary line and records a complete MLflow run."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
from conftest import only_run
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parent.parent
TINY_POS = [
    "task.synthetic.n_train=150",
    "task.synthetic.n_dev=40",
    "task.synthetic.n_test=40",
    "task.synthetic.vocab_size=400",
    "model.hidden_size=16",
    "model.embedding_size=16",
    "model.epochs=3",
]


def store_env(store: Path) -> dict[str, str]:
    return {"MLFLOW_TRACKING_URI": f"sqlite:///{store}"}


def test_rnn_pos_run_is_recorded_completely(tmp_path, run_cli):
    store = tmp_path / "mlflow.db"
    out = run_cli(["model=rnn", "task=pos", "seed=3", *TINY_POS], tmp_path, store_env(store), timeout=180)
    assert out.returncode == 0, out.stderr
    summary = [line for line in out.stdout.splitlines() if line.startswith("harness: rnn on pos")]
    assert len(summary) == 1 and "test_accuracy=" in summary[0] and "oov_accuracy=" in summary[0]

    client, run = only_run(f"sqlite:///{store}", "pos")
    assert (
        run.info.status == "FINISHED" and run.info.run_name == "rnn-h16-ep3-emb16-pos-seed3"
    )  # what differs (harness.naming)
    m = run.data.metrics
    for key in (
        "test_accuracy",
        "test_oov_accuracy",
        "test_sentence_accuracy",
        "baseline_test_accuracy",
        "train_seconds",
        "n_params",
        "bayes_optimal_accuracy",
        "best_dev_accuracy",
    ):
        assert key in m, key
    assert 0 < m["test_accuracy"] <= 1 and m["bayes_optimal_accuracy"] >= m["test_accuracy"] - 0.05
    assert [x.step for x in client.get_metric_history(run.info.run_id, "dev_accuracy")] == [1, 2, 3]
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 3
    p = run.data.params
    assert p["model.hidden_size"] == "16" and p["task.synthetic.n_train"] == "150" and p["seed"] == "3"
    assert run.data.tags["harness.version"] and run.data.tags["git.commit"]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "model.npz", "test_predictions.tsv"} <= names
    local = Path(client.download_artifacts(run.info.run_id, "model.npz", str(tmp_path)))
    with np.load(local, allow_pickle=False) as weights:
        assert weights["rnn.weight_hh_l0"].shape == (16, 16) and "embed.word" in weights


def test_hmm_pos_run_beats_the_majority_baseline(tmp_path, run_cli):
    store = tmp_path / "mlflow.db"
    out = run_cli(
        ["model=hmm", "task=pos", "task.synthetic.n_train=400", "task.synthetic.vocab_size=600"],
        tmp_path,
        store_env(store),
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    _, run = only_run(f"sqlite:///{store}", "pos")
    assert run.data.metrics["test_accuracy"] > run.data.metrics["baseline_test_accuracy"]


def test_config_errors_are_one_line_with_exit_status_2(tmp_path, run_cli):
    store = tmp_path / "mlflow.db"
    out = run_cli(["model=transformer"], tmp_path, store_env(store), timeout=60)
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == "harness: error: unknown model 'transformer'; choose one of: bigru, gru, hmm, hmm_unsupervised, lstm, lstm_long, rnn"
    )
    assert not store.exists()


def test_pyproject_lists_every_package():
    """conf/ installs as harness.conf through package-dir, so packages are listed by hand: keep them complete."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    inits = [*(ROOT / "harness").rglob("__init__.py"), *(ROOT / "hydra_plugins").rglob("__init__.py")]
    found = {".".join(p.relative_to(ROOT).parent.parts) for p in inits}
    assert found | {"harness.conf"} == listed


def test_hmm_forecaster_logs_bic_and_regimes_and_recurrent_runs_log_the_gradient_diagnostic(tmp_path):
    from harness.config import Config, HMMForecasterConfig, TimeSeriesTaskConfig, model_schema
    from harness.experiment import run

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    task = TimeSeriesTaskConfig(
        dataset="synthetic_regime", n_points=300, window=12, horizon=3, yardsticks=["naive", "auto_arima"]
    )
    run(Config(model=HMMForecasterConfig(n_states=3), task=task, tracking_uri=uri, progress=False))
    run(
        Config(
            model=model_schema("gru", "timeseries")(hidden_size=8, max_steps=20),
            task=task,
            tracking_uri=uri,
            progress=False,
        )
    )
    client = MlflowClient(uri)
    runs = {
        r.data.tags["model"]: r for r in client.search_runs([client.get_experiment_by_name("timeseries").experiment_id])
    }
    hmm, gru = runs["hmm"], runs["gru"]
    assert np.isfinite(hmm.data.metrics["bic"]) and "baseline_auto_arima_test_rmse" in hmm.data.metrics
    for r in (hmm, gru):  # scored as a distribution at every horizon, beside the yardsticks
        m = r.data.metrics
        assert {"test_crps", "test_coverage80", "test_rmse_h3", "baseline_auto_arima_test_crps"} <= set(m)
        assert 0 <= m["test_coverage95"] <= 1 and m["test_crps"] > 0
        assert r.data.tags["transform"] in ("none", "diff") and r.data.tags["yardstick_auto_arima"].startswith("ARIMA")
    assert {"regimes.csv", "regimes.png", "regimes_summary.csv", "test_forecasts.csv", "test_intervals.csv"} <= {
        a.path for a in client.list_artifacts(hmm.info.run_id)
    }
    curve = sorted(client.get_metric_history(gru.info.run_id, "grad_norm_steps_back"), key=lambda m: m.step)
    assert [m.step for m in curve] == list(range(12)) and all(m.value >= 0 for m in curve)
    names = {a.path for a in client.list_artifacts(gru.info.run_id, "diagnostics")}
    assert names == {"diagnostics/gradient_norms.csv", "diagnostics/gradient_norms.png"}
