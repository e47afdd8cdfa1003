"""Interrupted and diverging runs: KILLED with a checkpoint, exact resume, FAILED with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import all_runs
from mlflow.tracking import MlflowClient

from harness.config import Config, PosTaskConfig, SyntheticPosConfig, TimeSeriesTaskConfig, model_schema
from harness.errors import RunFailed
from harness.experiment import run
from harness.interrupts import shielded, signals_as_interrupt
from harness.tracking import Tracker, load_checkpoint

SMALL = SyntheticPosConfig(n_train=120, n_dev=30, n_test=30, vocab_size=300)


def pos_config(uri: str, **model) -> Config:
    m = model_schema("gru", "pos")(
        **{"hidden_size": 12, "embedding_size": 8, "epochs": 4, "patience": 0, "dropout": 0.2, **model}
    )
    return Config(model=m, task=PosTaskConfig(synthetic=SMALL), tracking_uri=uri, progress=False)


def test_interrupted_run_ends_killed_and_resumes_to_identical_metrics(tmp_path, monkeypatch):
    uri_a = f"sqlite:///{tmp_path / 'a.db'}"
    reference = run(pos_config(uri_a))
    _, (done,) = all_runs(uri_a)

    uri_b = f"sqlite:///{tmp_path / 'b.db'}"
    original = Tracker.log_metrics

    def interrupt_at_epoch_3(self, metrics, step=None):
        if step == 3:
            raise KeyboardInterrupt("simulated Ctrl-C")
        return original(self, metrics, step)

    monkeypatch.setattr(Tracker, "log_metrics", interrupt_at_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        run(pos_config(uri_b))
    monkeypatch.setattr(Tracker, "log_metrics", original)
    client, (killed,) = all_runs(uri_b)
    assert killed.info.status == "KILLED" and "resume=" in killed.data.tags["killed"]
    state = load_checkpoint(uri_b, killed.info.run_id)
    assert int(state["epoch"]) == 2 and "optim.m.rnn.weight_hh_l0" in state and "rng" in state

    config = pos_config(uri_b)
    config.resume = killed.info.run_id
    resumed = run(config)
    _, (finished,) = all_runs(uri_b)
    assert finished.info.run_id == killed.info.run_id and finished.info.status == "FINISHED"
    assert resumed == reference
    for key in ("test_accuracy", "test_oov_accuracy", "best_dev_accuracy", "best_epoch"):
        assert finished.data.metrics[key] == done.data.metrics[key], key
    history = [m.value for m in client.get_metric_history(finished.info.run_id, "dev_accuracy")]
    reference_history = [m.value for m in MlflowClient(uri_a).get_metric_history(done.info.run_id, "dev_accuracy")]
    assert history == reference_history  # epochs 1-2 before the interruption, 3-4 after


def test_resume_refuses_a_different_config(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    run(pos_config(uri, epochs=1))
    client, (first,) = all_runs(uri)
    client.set_terminated(first.info.run_id, status="KILLED")  # as if interrupted (a FINISHED one is refused)
    config = pos_config(uri, epochs=1, hidden_size=13)
    config.resume = first.info.run_id
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="model.hidden_size was 12 in that run, now 13"):
        run(config)


def test_diverging_run_ends_failed_with_the_reason_as_a_tag(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    m = model_schema("rnn", "timeseries")(
        hidden_size=8, optimizer="sgd", lr=1e12, clip_norm=0, epochs=3, nonlinearity="relu"
    )
    config = Config(
        model=m,
        task=TimeSeriesTaskConfig(dataset="synthetic_sine", n_points=200, window=8),
        tracking_uri=uri,
        progress=False,
    )
    with pytest.raises(RunFailed, match="diverged"):
        run(config)
    _, (failed,) = all_runs(uri)
    assert failed.info.status == "FAILED"
    assert "DivergenceError" in failed.data.tags["failure"] and "nan" in failed.data.tags["failure"].lower()
    assert "test_rmse" not in failed.data.metrics


def test_sigterm_from_outside_ends_the_run_killed_with_exit_130(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    MlflowClient(uri).search_experiments()  # create the store before the job starts
    args = [
        "model=lstm",
        "task=pos",
        "model.epochs=200",
        "model.patience=0",
        "model.hidden_size=16",
        "task.synthetic.n_train=100",
        "task.synthetic.n_dev=20",
        "task.synthetic.n_test=20",
        "task.synthetic.vocab_size=300",
        "progress=false",
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        client = MlflowClient(uri)
        while time.time() < deadline:  # wait until the first epoch's checkpoint exists
            found = [r for r in all_runs(uri)[1] if client.get_metric_history(r.info.run_id, "dev_accuracy")]
            if found:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the run logged no epoch within 120 s")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err and f"resume={found[0].info.run_id}" in err
    (killed,) = all_runs(uri)[1]
    assert killed.info.status == "KILLED"
    assert int(load_checkpoint(uri, killed.info.run_id)["epoch"]) >= 1


def test_a_signal_during_a_tracking_write_waits_for_the_write_then_ends_the_run_killed(tmp_path):
    # A signal raised inside an SQLite transaction left the store locked, so writing KILLED failed
    # ("database is locked") and the job exited 1 with its run still RUNNING.
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    with signals_as_interrupt(), pytest.raises(KeyboardInterrupt):
        with Tracker(uri, "exp", "r") as tracker:
            write = tracker.client.log_batch

            def log_batch_hit_by_sigterm(*args, **kwargs):
                os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, in the middle of the write
                return write(*args, **kwargs)

            tracker.client.log_batch = log_batch_hit_by_sigterm
            tracker.log_metrics({"dev_accuracy": 0.5}, step=1)
            pytest.fail("the interrupt did not arrive at the end of the write")
    _, (r,) = all_runs(uri)
    assert r.info.status == "KILLED" and r.data.metrics["dev_accuracy"] == 0.5


def test_signals_outside_shielded_blocks_interrupt_at_once_and_handlers_are_restored():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    reached = []
    with signals_as_interrupt():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)  # SIGTERM: Python's own SIGINT handler would pass without ours
            for _ in range(1000):  # the handler runs between bytecodes of the main thread
                time.sleep(0.001)
            reached.append("after the signal")
        with pytest.raises(KeyboardInterrupt):
            with shielded():
                with shielded():
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(0.01)
                    reached.append("inner block")
                reached.append("outer block")
    assert reached == ["inner block", "outer block"]
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_shielded_block_defers_sigint_without_the_handler_installed_first():
    # shielded() used to defer only under signals_as_interrupt()/install(); alone, Python's own SIGINT
    # handler raised inside the block, in the middle of the write.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with shielded():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the handler runs between bytecodes of the main thread
            reached.append("write complete")
    assert reached == ["write complete"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


SIGTERM_IN_A_SHIELDED_BLOCK = """
import os, signal, time
from harness.interrupts import shielded
try:
    with shielded():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        print("write complete", flush=True)
    print("no interrupt")
except KeyboardInterrupt as e:
    print("KeyboardInterrupt:", e)
print("SIGTERM handler after:", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
"""


def test_a_shielded_block_defers_sigterm_without_any_handler_then_raises_keyboardinterrupt():
    # In a subprocess: SIGTERM's default action ends the process, and did so in the middle of the block.
    out = subprocess.run(
        [sys.executable, "-c", SIGTERM_IN_A_SHIELDED_BLOCK], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "write complete",
        f"KeyboardInterrupt: signal {int(signal.SIGTERM)}",
        "SIGTERM handler after: True",
    ]


def test_a_signal_deferred_over_another_handler_reaches_that_handler_after_the_block():
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        with shielded():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
            received.append("write complete")
        time.sleep(0.01)
        assert received == ["write complete", signal.SIGTERM]
        ignored = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with shielded():  # an ignored signal stays ignored
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        signal.signal(signal.SIGTERM, ignored)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_checkpoint_files_hold_no_pickles(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    run(pos_config(uri, epochs=1))
    _, (r,) = all_runs(uri)
    state = load_checkpoint(uri, r.info.run_id)  # np.load(..., allow_pickle=False) inside
    assert all(v.dtype != object for v in state.values())
    assert np.array_equal(state["model.out.bias"], state["best.out.bias"])  # one epoch: the best is the last


def test_resuming_a_run_that_had_already_stopped_early_trains_no_further():
    from harness import training

    rng = np.random.default_rng(0)
    cfg = model_schema("rnn", "pos")(hidden_size=4, embedding_size=3, epochs=10, patience=2)
    from harness.models.rnn import RNNTagger

    model = RNNTagger({"word": 5}, 3, cfg, rng)
    states = []
    scores = iter([0.5, 0.4, 0.3] + [0.9] * 10)  # best at epoch 1, then two worse: stops after epoch 3
    history = training.fit(
        model, cfg, lambda r: [], lambda b: 0, lambda: next(scores), rng, checkpoint=states.append, progress=False
    )
    assert len(history.dev_score) == 3 and int(states[-1]["epoch"]) == 3
    resumed = training.fit(
        model,
        cfg,
        lambda r: [],
        lambda b: 0,
        lambda: next(scores),
        np.random.default_rng(1),
        resume=states[-1],
        progress=False,
    )
    assert len(resumed.dev_score) == 3 and resumed.best_epoch == 1  # no fourth epoch


def test_packed_training_state_unpacks_to_the_same_position():
    from harness.models.nn.optim import make_optimizer
    from harness.training import History, pack_state, unpack_state

    class Weights:  # the part of a GradientModel a checkpoint touches
        def __init__(self, w):
            self.params = {"w": w}

        def state_dict(self):
            return {k: v.copy() for k, v in self.params.items()}

        def load_state_dict(self, d):
            for k, v in d.items():
                self.params[k][...] = v

    rng = np.random.default_rng(3)
    model = Weights(rng.normal(size=(2, 3)))
    optimizer = make_optimizer("adam", model.params, 0.01)
    optimizer.step({"w": rng.normal(size=(2, 3))})
    history = History([0.9, 0.7], [0.5, 0.6], [1.5, 1.2], best_epoch=2, seconds=3.25, n_train_items=40)
    best = {"w": np.full((2, 3), 7.0)}
    packed = pack_state(model, optimizer, rng, 2, best, 0.6, 1, history)

    fresh = Weights(np.zeros((2, 3)))
    fresh_optimizer, fresh_rng = make_optimizer("adam", fresh.params, 0.01), np.random.default_rng(0)
    epoch, best_state, best_score, bad_epochs, restored = unpack_state(packed, fresh, fresh_optimizer, fresh_rng)
    assert (epoch, best_score, bad_epochs, restored) == (2, 0.6, 1, history)
    np.testing.assert_array_equal(best_state["w"], best["w"])
    np.testing.assert_array_equal(fresh.params["w"], model.params["w"])
    for k, v in optimizer.state_dict().items():
        np.testing.assert_array_equal(fresh_optimizer.state_dict()[k], v, err_msg=k)
    assert fresh_rng.random() == rng.random()  # the same stream continues


@pytest.mark.parametrize("how", ["sigterm-to-the-launcher", "ctrl-c-to-the-process-group"])
def test_an_interrupted_joblib_sweep_leaves_no_job_running(how, tmp_path):
    """Issue 23, item 11: both jobs are training in joblib's worker processes when the sweep is killed; every
    child run ends KILLED with its resume command (a worker killed with its launcher cannot end its own run:
    the launcher ends it once the process is gone), and the parent too."""
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    MlflowClient(uri).search_experiments()  # create the store before the sweep starts
    args = ["-m", "model=lstm", "seed=0,1", "task=pos", "model.epochs=200", "model.patience=0", "model.hidden_size=16"]
    args += ["task.synthetic.n_train=100", "task.synthetic.n_dev=20", "task.synthetic.n_test=20", "progress=false"]
    args += ["task.synthetic.vocab_size=300", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    args += ["hydra.callbacks.sweep.report=false", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so the group signal reaches nothing else
    )
    try:
        client, deadline = MlflowClient(uri), time.time() + 120
        while time.time() < deadline:  # both children have logged an epoch: both workers are mid-training
            children = [r for r in all_runs(uri)[1] if "mlflow.parentRunId" in r.data.tags]
            if len(children) == 2 and all(client.get_metric_history(r.info.run_id, "dev_accuracy") for r in children):
                break
            time.sleep(0.5)
        else:
            pytest.fail("the two jobs did not both log an epoch within 120 s")
        if how == "sigterm-to-the-launcher":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    runs = all_runs(uri)[1]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 2 and [r.info.status for r in runs].count("KILLED") == 3, err[-2000:]
    for r in children:
        assert f"resume={r.info.run_id}" in r.data.tags["killed"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the ignored exception, on purpose
@pytest.mark.parametrize("at_step", [1, 4], ids=["during-training", "after-the-last-epoch"])
def test_a_signal_that_python_ignored_still_ends_the_run_killed(at_step, tmp_path, monkeypatch):
    """Issue 23, item 12: a signal whose KeyboardInterrupt is raised inside ``__del__`` (as in SQLAlchemy's
    weakref callbacks) is dropped by Python with "Exception ignored in"; the run still ends KILLED, from
    the next batch, or before it would be recorded FINISHED."""
    from harness import interrupts

    class RaisesInDel:
        def __del__(self):
            interrupts._interrupt(signal.SIGINT, None)

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    original = Tracker.log_metrics
    fired = []

    def log_then_swallow_a_signal(self, metrics, step=None):
        original(self, metrics, step)
        if step == at_step and not fired:  # epoch 4 of 4: no batch follows, only the evaluation
            fired.append(step)
            obj = RaisesInDel()
            del obj  # KeyboardInterrupt raised in __del__: Python prints "Exception ignored" and goes on

    monkeypatch.setattr(Tracker, "log_metrics", log_then_swallow_a_signal)
    with pytest.raises(KeyboardInterrupt):
        run(pos_config(uri))
    _, (killed,) = all_runs(uri)
    assert fired and killed.info.status == "KILLED" and "resume=" in killed.data.tags["killed"]


def test_resuming_a_finished_run_is_refused_and_logs_nothing(tmp_path):
    """Issue 23, item 14: resuming a FINISHED run was accepted and logged its final metrics a second time."""
    from harness.errors import TrackingError

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    config = pos_config(uri, epochs=1)
    run(config)
    client, (done,) = all_runs(uri)
    before = client.get_metric_history(done.info.run_id, "test_accuracy")
    config.resume = done.info.run_id
    with pytest.raises(TrackingError, match=f"run {done.info.run_id} already FINISHED; there is nothing to resume"):
        run(config)
    assert client.get_metric_history(done.info.run_id, "test_accuracy") == before
    assert client.get_run(done.info.run_id).info.status == "FINISHED"


def test_a_signal_between_an_epochs_figures_and_its_checkpoint_logs_no_epoch_twice(tmp_path, monkeypatch):
    """Issue 23, item 14: a signal after epoch 2's figures were logged but before its checkpoint made the
    resume run epoch 2 again and log it twice; the two are now one step for signals."""
    from harness import interrupts

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    original = Tracker.log_metrics

    def log_then_signal_at_epoch_2(self, metrics, step=None):
        original(self, metrics, step)
        if step == 2:
            interrupts._interrupt(signal.SIGINT, None)  # what the handler does when Ctrl-C arrives here

    monkeypatch.setattr(Tracker, "log_metrics", log_then_signal_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run(pos_config(uri))
    monkeypatch.setattr(Tracker, "log_metrics", original)
    client, (killed,) = all_runs(uri)
    assert killed.info.status == "KILLED" and int(load_checkpoint(uri, killed.info.run_id)["epoch"]) == 2
    config = pos_config(uri)
    config.resume = killed.info.run_id
    run(config)
    steps = [m.step for m in client.get_metric_history(killed.info.run_id, "dev_accuracy")]
    assert sorted(steps) == [1, 2, 3, 4]


def test_the_runs_dataset_and_model_writes_wait_for_their_end_before_a_signal(tmp_path, monkeypatch):
    """A signal inside record_dataset's write (the first writes of a run, where a sweep's SIGTERM often lands) is
    held until the write is complete, as the Tracker's own writes are: it used to cut the transaction, leave the
    store locked, and the KILLED status then failed with "database is locked" (a CI run of
    test_sigterm_ends_the_sweep_and_its_parent_run_killed saw the sweep go on)."""
    from mlflow.tracking import MlflowClient as Client

    from harness import interrupts, serving

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    real = Client.log_inputs
    done = []

    def signal_inside_the_write(self, *args, **kwargs):
        interrupts._interrupt(signal.SIGTERM, None)  # what the handler does when the signal arrives here
        real(self, *args, **kwargs)
        done.append(True)

    monkeypatch.setattr(Client, "log_inputs", signal_inside_the_write)
    data = type("D", (), {"items": "tokens", "dataset_info": lambda self: _Info()})()
    with signals_as_interrupt(), pytest.raises(KeyboardInterrupt):
        with Tracker(uri, "e", "r") as tracker:
            serving.record_dataset(tracker, data)
    client, (killed,) = all_runs(uri)
    assert done and killed.info.status == "KILLED" and len(killed.inputs.dataset_inputs) == 1


class _Info:
    name, digest, source, splits = "toy", "abc", "/tmp/toy", {"train": 1}


def test_a_store_error_while_marking_a_run_killed_does_not_swallow_the_interrupt(tmp_path, monkeypatch, capsys):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    with pytest.raises(KeyboardInterrupt):
        with Tracker(uri, "e", "r") as tracker:
            from mlflow.exceptions import MlflowException

            def locked(*args, **kwargs):
                raise MlflowException("(sqlite3.OperationalError) database is locked")

            monkeypatch.setattr(tracker.client, "set_tag", locked)
            raise KeyboardInterrupt("signal 15")
    assert f"could not mark run {tracker.run_id} KILLED (MlflowException)" in capsys.readouterr().err
