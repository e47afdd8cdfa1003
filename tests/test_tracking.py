"""The Tracker against a real sqlite store: writes larger than one MLflow batch arrive whole."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

from harness.tracking import Tracker


def test_params_and_metrics_beyond_mlflows_batch_limits_and_a_text_artifact_are_all_stored(tracking_store, tmp_path):
    with Tracker(tracking_store, "exp", "r") as t:
        t.log_params({f"p{i:03d}": i for i in range(250)})  # MLflow takes at most 100 params per batch
        t.log_metrics_history("curve", [i / 2 for i in range(2500)])  # and at most 1000 metrics
        t.log_text("model:\n  name: rnn\n", "config.yaml")
    client = MlflowClient(tracking_store)
    params = client.get_run(t.run_id).data.params
    assert params == {f"p{i:03d}": str(i) for i in range(250)}
    curve = sorted((m.step, m.value) for m in client.get_metric_history(t.run_id, "curve"))
    assert curve == [(i, i / 2) for i in range(2500)]
    path = client.download_artifacts(t.run_id, "config.yaml", str(tmp_path))
    assert Path(path).read_text(encoding="utf-8") == "model:\n  name: rnn\n"
