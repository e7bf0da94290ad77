"""Live epoch metrics: a trial's epochs reach its MLflow run while it trains, and none is
lost when it ends, fails or is stopped by SIGTERM (hpsearch/tracking/live.py)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from hpsearch.api import prepare, run_search
from hpsearch.cli import stops
from hpsearch.space import parse_space
from hpsearch.tracking import MlflowTracker, live
from hpsearch.trials import FAILED, SearchCallback, SearchInfo, TrialResult
from tests import shared_ray
from tests.spaces import tiny_space_text

#: Wide layers and small batches: an epoch of real training takes about a second here.
SLOW_EPOCHS: dict[str, Any] = {"n_hidden": 3, "n_neurons": 1500, "batch_size": 8}


def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


# -- the flusher ----------------------------------------------------------------------------


def test_the_flusher_sends_queued_metrics_from_its_thread_in_order() -> None:
    sent: list[tuple[str, list[int]]] = []
    flusher = live.MetricFlusher(lambda r, m: sent.append((r, list(m))), threading.RLock(), 0.05)
    flusher.add("a", [1, 2])
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent == [("a", [1, 2])]  # sent by the thread: nobody called flush
    assert flusher.take("a") == []  # sent, so no longer queued
    flusher.add("a", [3])
    flusher.add("b", [9])
    assert flusher.take("b") == [9]  # a trial's end takes its rest for its own batch
    flusher.close()
    assert sent[-1] == ("a", [3]) and len(sent) == 2
    assert flusher._thread is not None and not flusher._thread.is_alive()


def test_the_flusher_never_sends_while_another_holds_the_io_lock() -> None:
    io = threading.RLock()
    sent: list[list[int]] = []
    flusher = live.MetricFlusher(lambda r, m: sent.append(m), io, 0.01)
    with io:  # the tracker closing a trial's run
        flusher.add("a", [1])
        time.sleep(0.2)
        assert sent == []
    flusher.close()
    assert sent == [[1]]


# -- the tracker, on a real store -------------------------------------------------------------


def _tracker(tmp_path: Path, interval: float) -> tuple[MlflowTracker, str]:
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    space = parse_space(tiny_space_text(), source=tmp_path / "s.yaml")
    tracker = MlflowTracker(space, tracking_uri=uri, live_interval=interval)
    tracker.start()
    tracker.on_search_begin(
        SearchInfo("tiny", "random", "keras-tuner", 2, "val_accuracy", "max", 1)
    )
    return tracker, uri


def test_epochs_show_on_the_running_trial_within_the_interval(tmp_path: Path) -> None:
    tracker, uri = _tracker(tmp_path, 0.2)
    tracker.on_trial_begin("0000", {"n_neurons": 16})
    tracker.on_epoch_end("0000", 1, {"loss": 1.0, "val_accuracy": 0.5})
    tracker.on_epoch_end("0000", 2, {"loss": 0.8, "val_accuracy": 0.6})
    run_id = tracker._children["0000"]
    reader = MlflowClient(uri)
    deadline = time.monotonic() + 10
    while _steps(reader, run_id, "loss") != [1, 2] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _steps(reader, run_id, "loss") == [1, 2]
    assert reader.get_run(run_id).info.status == "RUNNING"
    tracker.on_epoch_end("0000", 3, {"loss": 0.7, "val_accuracy": 0.7})
    tracker.on_trial_end(
        TrialResult("0000", "FINISHED", {"n_neurons": 16}, 0.7, 3, 1.0, strategy="random")
    )
    assert _steps(reader, run_id, "loss") == [1, 2, 3]  # each epoch once, the last too
    assert reader.get_run(run_id).info.status == "FINISHED"
    tracker._live.close()


def test_a_failed_trial_keeps_the_epochs_it_finished(tmp_path: Path) -> None:
    tracker, uri = _tracker(tmp_path, 3600)  # nothing leaves by the clock
    tracker.on_trial_begin("0000", {"n_neurons": 16})
    for epoch in (1, 2):
        tracker.on_epoch_end("0000", epoch, {"loss": 1.0 / epoch})
    failed = TrialResult("0000", FAILED, {"n_neurons": 16}, None, 2, 1.0, error="E: boom")
    tracker.on_trial_end(failed)
    run = MlflowClient(uri).get_run(tracker._children["0000"])
    assert run.info.status == FAILED and run.data.tags["hpsearch.error"] == "E: boom"
    assert _steps(MlflowClient(uri), run.info.run_id, "loss") == [1, 2]
    tracker._live.close()


def test_a_stop_in_the_trials_last_send_loses_no_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM raised inside the trial's last batch: fail() sends its epochs and closes it."""
    tracker, uri = _tracker(tmp_path, 3600)
    tracker.on_trial_begin("0000", {"n_neurons": 16})
    for epoch in (1, 2, 3):
        tracker.on_epoch_end("0000", epoch, {"loss": 1.0 / epoch})
    real = tracker.client.log_batch
    calls = []

    def stopped_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise stops.Terminated()
        return real(*args, **kwargs)

    monkeypatch.setattr(tracker.client, "log_batch", stopped_once)
    with pytest.raises(stops.Terminated):
        tracker.on_trial_end(TrialResult("0000", "FINISHED", {}, 0.3, 3, 1.0))
    tracker.fail("interrupted", killed=True)
    client = MlflowClient(uri)
    run = client.get_run(tracker._children["0000"])
    assert run.info.status == FAILED and run.data.tags["hpsearch.status"] == FAILED
    assert _steps(client, run.info.run_id, "loss") == [1, 2, 3]
    assert client.get_run(tracker.parent_run_id).info.status == "KILLED"


def test_a_stop_after_the_last_batch_sends_no_epoch_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM raised in set_terminated, after the last batch was sent: fail() marks the run
    and sends nothing again (a file store would keep each epoch twice)."""
    tracker, _ = _tracker(tmp_path, 3600)
    tracker.on_trial_begin("0000", {"n_neurons": 16})
    tracker.on_epoch_end("0000", 1, {"loss": 1.0})
    sent: list[int] = []
    real_batch, real_end = tracker.client.log_batch, tracker.client.set_terminated

    def batch(run_id: str, metrics: Any = (), **kwargs: Any) -> Any:
        sent.extend(m.step for m in metrics if m.key == "loss")
        return real_batch(run_id, metrics=metrics, **kwargs)

    def end_stopped(run_id: str, *args: Any, **kwargs: Any) -> Any:
        if run_id == tracker._children["0000"] and not getattr(end_stopped, "done", False):
            end_stopped.done = True  # type: ignore[attr-defined]
            raise stops.Terminated()
        return real_end(run_id, *args, **kwargs)

    monkeypatch.setattr(tracker.client, "log_batch", batch)
    monkeypatch.setattr(tracker.client, "set_terminated", end_stopped)
    with pytest.raises(stops.Terminated):
        tracker.on_trial_end(TrialResult("0000", "FINISHED", {}, 0.3, 1, 1.0))
    tracker.fail("interrupted", killed=True)
    assert sent == [1]
    assert tracker.client.get_run(tracker._children["0000"]).info.status == FAILED


def test_queueing_an_epoch_never_waits_for_a_send(tmp_path: Path) -> None:
    tracker, _ = _tracker(tmp_path, 3600)
    tracker.on_trial_begin("0000", {"n_neurons": 16})
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with tracker._io:  # the flusher in a slow send
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    started = time.monotonic()
    tracker.on_epoch_end("0000", 1, {"loss": 1.0})
    waited = time.monotonic() - started
    release.set()
    holder.join()
    assert waited < 1.0
    tracker._live.close()


def test_a_hung_send_does_not_hold_up_a_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that stopped answering mid-send: the stop goes offline after the wait."""
    monkeypatch.setattr(live, "CLOSE_WAIT_S", 0.3)
    tracker, _ = _tracker(tmp_path, 0.05)
    tracker.on_trial_begin("0000", {"n_neurons": 16})
    release = threading.Event()
    monkeypatch.setattr(tracker.client, "log_batch", lambda *a, **k: release.wait(30))
    tracker.on_epoch_end("0000", 1, {"loss": 1.0})
    time.sleep(0.3)  # the thread is in its send now
    started = time.monotonic()
    tracker.fail("interrupted", killed=True)
    assert time.monotonic() - started < 3
    assert tracker.offline and "no answer within 0.3 s" in tracker.offline
    release.set()


# -- real searches ----------------------------------------------------------------------------


class _StopAtEpoch(SearchCallback):
    """Sends this process SIGTERM at one epoch of the first trial, as `kill` would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        if epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.slow
def test_sigterm_leaves_every_finished_epoch_on_the_interrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the clock's sends off, only the stop's own flush can put the epochs there."""
    monkeypatch.setattr(live, "DEFAULT_INTERVAL", 3600.0)
    text = tiny_space_text(training={"epochs": 6, "patience": 0}, search={"max_trials": 1})
    space = prepare(parse_space(text, source=tmp_path / "s.yaml"))
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    previous = signal.signal(signal.SIGTERM, stops.terminate)
    try:
        with pytest.raises(stops.Terminated):
            run_search(space, tracking_uri=uri, output=tmp_path / "o", callbacks=[_StopAtEpoch(3)])
    finally:
        signal.signal(signal.SIGTERM, previous)
        stops.reset()
    client = MlflowClient(uri)
    (child,) = client.search_runs(
        [client.get_experiment_by_name("tiny").experiment_id],
        "tags.`hpsearch.role` = 'trial'",
    )
    assert child.info.status == FAILED and child.data.tags["hpsearch.status"] == FAILED
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert _steps(client, child.info.run_id, key) == [1, 2, 3], key


@pytest.mark.slow
def test_a_search_that_fails_after_its_trials_closes_its_run_and_its_sender(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error after the trials (here writing preprocessing.json) fails the parent run and
    stops the epoch sender: a long-lived process (sweeps, an API loop) keeps no thread."""
    import hpsearch.data

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(hpsearch.data, "dump_preprocessing", broken)
    space = prepare(parse_space(tiny_space_text(), source=tmp_path / "s.yaml"))
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    with pytest.raises(OSError, match="disk full"):
        run_search(space, tracking_uri=uri, output=tmp_path / "o")
    alive = [t for t in threading.enumerate() if t.name == "hpsearch-mlflow-metrics"]
    assert alive == []
    client = MlflowClient(uri)
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("tiny").experiment_id],
        "tags.`hpsearch.role` = 'search'",
    )
    assert parent.info.status == FAILED
    assert parent.data.tags["hpsearch.error"] == "OSError: disk full"


class _Watcher(SearchCallback):
    """Reads the store the way the MLflow UI does, from its own client and thread, and ends
    the search (a stop reason) once it has seen a RUNNING trial run with two epochs."""

    def __init__(self, uri: str, experiment: str) -> None:
        self.uri, self.experiment = uri, experiment
        self.seen: dict[str, Any] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def on_search_begin(self, info: SearchInfo) -> None:
        self._thread.start()

    def _watch(self) -> None:
        client = MlflowClient(self.uri)
        exp = client.get_experiment_by_name(self.experiment)
        while not self._done.wait(0.2):
            for run in client.search_runs([exp.experiment_id], "tags.`hpsearch.role` = 'trial'"):
                steps = _steps(client, run.info.run_id, "val_loss")
                if run.info.status == "RUNNING" and len(steps) >= 2:
                    self.seen = {"run_id": run.info.run_id, "steps": steps}
                    self._done.set()

    def stop_reason(self) -> str | None:
        return "seen live" if self._done.is_set() else None

    def close(self) -> None:
        self._done.set()
        self._thread.join()


def _live_search(tmp_path: Path, backend: str) -> None:
    text = tiny_space_text(
        hyperparameters=SLOW_EPOCHS,
        training={"epochs": 30, "patience": 0},
        search={"max_trials": 1},
    )
    space = prepare(parse_space(text, source=tmp_path / "s.yaml"), backend=backend)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    watcher = _Watcher(uri, "tiny")
    try:
        summary = run_search(space, tracking_uri=uri, output=tmp_path / "o", callbacks=[watcher])
    finally:
        watcher.close()
    assert watcher.seen, "no RUNNING trial run showed two epochs"
    assert watcher.seen["steps"][:2] == [1, 2]
    (row,) = summary.frame.itertuples()
    assert row.status == "FINISHED" and 2 <= row.epochs < 30  # ended by the watcher's stop
    client = MlflowClient(uri)
    run = client.get_run(watcher.seen["run_id"])
    assert run.info.status == "FINISHED"
    assert _steps(client, run.info.run_id, "val_loss") == list(range(1, row.epochs + 1))


@pytest.mark.slow
def test_keras_tuner_epochs_show_while_the_trial_runs(tmp_path: Path) -> None:
    _live_search(tmp_path, "keras-tuner")


@pytest.mark.slow
def test_ray_epochs_show_while_the_trial_runs(tmp_path: Path) -> None:
    from hpsearch.backends.ray_tune import algorithms, events

    shared_ray.start()
    _live_search(tmp_path, "ray")
    # nothing of the search stays registered in the process (it holds the tracker)
    assert not algorithms._STOP_CHECKS and not events._BRIDGES


def test_a_stop_inside_the_end_of_the_search_still_marks_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM raised while finish() logs the best model: the search is not closed yet, so
    the stop's fail() marks the parent KILLED instead of leaving it RUNNING."""
    tracker, uri = _tracker(tmp_path, 0.05)

    def stopped(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tracker, "_finish", stopped)
    with pytest.raises(KeyboardInterrupt):
        tracker.finish(None, tmp_path / "trials.csv")
    tracker.fail("interrupted", killed=True)
    parent = MlflowClient(uri).get_run(tracker.parent_run_id)
    assert parent.info.status == "KILLED"
    assert parent.data.tags["hpsearch.error"] == "interrupted"
