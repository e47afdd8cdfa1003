"""The Tracker against a real sqlite store: writes larger than one MLflow batch arrive whole."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest
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


@pytest.mark.parametrize(
    "signum, installed",
    [(signal.SIGTERM, True), (signal.SIGINT, False)],
    ids=["under-signals_as_interrupt", "no-handler-set"],
)
def test_a_signal_while_the_run_is_created_ends_it_killed_not_running(tracking_store, monkeypatch, signum, installed):
    """The signal is held until create_run's write is complete, then raised inside Tracker(): no `with`
    block exists yet to end the run, so the constructor must. Without signals_as_interrupt() (a script
    using Tracker alone) the write shields itself: SIGINT, under Python's own handler, is held as well."""
    from mlflow.tracking import MlflowClient as Client

    from harness.interrupts import signals_as_interrupt

    real_create = Client.create_run

    def create_then_signal(self, *args, **kwargs):
        run = real_create(self, *args, **kwargs)
        os.kill(os.getpid(), signum)  # arrives inside the shielded write
        return run

    monkeypatch.setattr(Client, "create_run", create_then_signal)
    with signals_as_interrupt() if installed else contextlib.nullcontext(), pytest.raises(KeyboardInterrupt):
        Tracker(tracking_store, "exp", "r")
    (run,) = Client(tracking_store).search_runs([Client(tracking_store).get_experiment_by_name("exp").experiment_id])
    assert run.info.status == "KILLED"
