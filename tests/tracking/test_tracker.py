"""MlflowTracker built directly and driven by hand, read back from a real sqlite store.

The end-to-end searches exercise the tracker through a backend; these tests pin what it
writes (nesting, per-epoch history, failures, resume and replay) without training a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from hpsearch.space import Space, SpaceError, load_space
from hpsearch.tracking import INTERRUPTED, MlflowTracker, load_trials
from hpsearch.trials import FAILED, FINISHED, SearchInfo, TrialResult

#: The tiny space the tracker records: 3 random trials of 3 epochs.
TRACKED: dict[str, Any] = {
    "name": "tracked",
    "hyperparameters": {
        "n_hidden": 1,
        "n_neurons": {"int": [8, 32]},
        "learning_rate": {"float": [1e-3, 1e-2], "log": True},
    },
    "training": {"epochs": 3, "patience": 0},
    "search": {"strategy": "random", "max_trials": 3},
}


@pytest.fixture
def make_space(tiny_space: Callable[..., Path]) -> Callable[[int], Space]:
    """The tiny space above with ``seed``, loaded through load_space as the CLI does."""

    def make(seed: int = 7) -> Space:
        return load_space(tiny_space(TRACKED, search={"seed": seed}))

    return make


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/mlflow.db"


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _result(trial_id: str, accuracy: list[float], **kw: Any) -> TrialResult:
    """A trial whose val_accuracy went ``accuracy`` epoch by epoch (val_loss mirrors it)."""
    history = {"val_accuracy": accuracy, "val_loss": [1.0 - a for a in accuracy]}
    fields: dict[str, Any] = {
        "status": FINISHED,
        "params": {"n_hidden": 1, "n_neurons": 8 + int(trial_id), "learning_rate": 0.003},
        "objective": max(accuracy) if accuracy else None,
        "epochs": len(accuracy),
        "seconds": 1.5,
        "history": history,
        "strategy": "random",
        "backend": "keras_tuner",
    }
    return TrialResult(trial_id=trial_id, **(fields | kw))


def _drive(tracker: MlflowTracker, results: Iterable[TrialResult], end: bool = True) -> None:
    """What a backend does per trial: begin, one on_epoch_end per epoch (1-based), end."""
    for r in results:
        tracker.on_trial_begin(r.trial_id, r.params)
        for i in range(max((len(v) for v in r.history.values()), default=0)):
            logs = {k: v[i] for k, v in r.history.items() if i < len(v)}
            tracker.on_epoch_end(r.trial_id, r.first_epoch + i + 1, logs)
        if end:
            tracker.on_trial_end(r)


def _info(max_trials: int = 3) -> SearchInfo:
    return SearchInfo("tracked", "random", "keras_tuner", max_trials, "val_accuracy", "max", 7)


def _children(client: Any, parent_run_id: str) -> dict[str, Any]:
    """The parent's child runs by trial id."""
    exp = client.get_experiment_by_name("tracked")
    runs = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
    return {r.data.tags["hpsearch.trial_id"]: r for r in runs}


def _csv(tmp_path: Path, statuses: list[str]) -> Path:
    path = tmp_path / "trials.csv"
    path.write_text("trial_id,status\n" + "".join(f"{i:04d},{s}\n" for i, s in enumerate(statuses)))
    return path


def test_a_search_is_a_parent_run_with_one_nested_child_per_trial(
    make_space: Callable[[int], Space], uri: str, tmp_path: Path
) -> None:
    space = make_space(7)
    tracker = MlflowTracker(space, tracking_uri=uri)
    pid = tracker.start(command="hpsearch run --tracking-uri https://me:tok@host", output=tmp_path)
    tracker.on_search_begin(_info(max_trials=2))
    results = [_result("0000", [0.5, 0.6, 0.7]), _result("0001", [0.4, 0.8, 0.75])]
    _drive(tracker, results)
    assert tracker.finish(results[1], _csv(tmp_path, [FINISHED, FINISHED])) is None
    assert tracker.offline is None

    client = _client(uri)
    parent = client.get_run(pid)
    tags, params = parent.data.tags, parent.data.params
    assert parent.info.status == FINISHED
    assert tags["hpsearch.role"] == "search" and tags["hpsearch.space_sha256"] == space.sha256
    assert tags["hpsearch.command"] == "hpsearch run --tracking-uri https://***@host"
    assert tags["hpsearch.output"] == str(tmp_path.resolve())
    assert tags["hpsearch.effective_max_trials"] == "2"
    assert (params["strategy"], params["seed"], params["max_trials"]) == ("random", "7", "3")
    assert (params["epochs"], params["objective"], params["direction"]) == (
        "3",
        "val_accuracy",
        "max",
    )
    assert parent.data.metrics["best_objective"] == pytest.approx(0.8)
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(0.75)
    assert params["best_n_neurons"] == "9" and tags["hpsearch.best_trial_id"] == "0001"
    assert "2 trials, 0 failed" in tags["mlflow.note.content"]
    assert {a.path for a in client.list_artifacts(pid)} >= {"trials.csv", "space"}
    space_file = client.download_artifacts(pid, "space/space.yaml", str(tmp_path / "dl"))
    assert Path(space_file).read_text(encoding="utf-8") == space.text

    children = _children(client, pid)
    assert sorted(children) == ["0000", "0001"]
    assert tags["hpsearch.best_trial_run_id"] == children["0001"].info.run_id
    for trial_id, child in children.items():
        assert child.info.status == FINISHED
        assert child.data.tags["mlflow.parentRunId"] == pid
        assert child.data.tags["hpsearch.role"] == "trial"
        assert child.data.tags["hpsearch.status"] == FINISHED
        n = 8 + int(trial_id)
        assert child.data.tags["mlflow.runName"] == f"trial-{trial_id} n_neurons={n} lr=3e-3"
        assert child.data.params == {"n_hidden": "1", "n_neurons": str(n), "learning_rate": "0.003"}
        assert child.data.metrics["epochs"] == 3 and child.data.metrics["seconds"] == 1.5
    history = client.get_metric_history(children["0001"].info.run_id, "val_accuracy")
    assert sorted((m.step, m.value) for m in history) == [(1, 0.4), (2, 0.8), (3, 0.75)]
    losses = client.get_metric_history(children["0000"].info.run_id, "val_loss")
    assert sorted(m.step for m in losses) == [1, 2, 3]


def test_load_trials_rebuilds_the_table_with_typed_values(
    make_space: Callable[[int], Space], uri: str, tmp_path: Path
) -> None:
    tracker = MlflowTracker(make_space(7), tracking_uri=uri)
    pid = tracker.start(output=tmp_path)
    results = [_result("0000", [0.5, 0.6]), _result("0001", [0.9])]
    _drive(tracker, results)
    tracker.finish(results[1], _csv(tmp_path, [FINISHED, FINISHED]))

    frame = load_trials("tracked", tracking_uri=uri)
    assert list(frame["trial_id"]) == ["0000", "0001"]
    assert list(frame["status"]) == [FINISHED, FINISHED]
    assert list(frame["objective"]) == pytest.approx([0.6, 0.9])
    assert list(frame["epochs"]) == [2, 1]
    assert list(frame["params.n_neurons"]) == [8, 9]
    assert list(frame["params.learning_rate"]) == [0.003, 0.003]
    assert list(frame["metrics.val_accuracy"]) == pytest.approx([0.6, 0.9])
    assert set(frame["parent_run_id"]) == {pid}
    assert set(frame["seed"]) == {7} and set(frame["strategy"]) == {"random"}


def test_a_failed_trial_keeps_its_status_error_and_traceback(
    make_space: Callable[[int], Space], uri: str, tmp_path: Path
) -> None:
    tracker = MlflowTracker(make_space(7), tracking_uri=uri)
    pid = tracker.start(output=tmp_path)
    ok = _result("0000", [0.5, 0.6])
    bad = _result(
        "0001",
        [0.3, float("nan")],
        status=FAILED,
        objective=None,
        error="ValueError: the loss went NaN",
        traceback="Traceback (most recent call last):\nValueError: the loss went NaN\n",
    )
    _drive(tracker, [ok, bad])
    tracker.finish(ok, _csv(tmp_path, [FINISHED, FAILED]))

    client = _client(uri)
    child = _children(client, pid)["0001"]
    assert child.info.status == FAILED
    assert child.data.tags["hpsearch.status"] == FAILED
    assert child.data.tags["hpsearch.error"] == "ValueError: the loss went NaN"
    assert child.data.tags["hpsearch.error_type"] == "ValueError"
    assert "objective" not in child.data.metrics
    history = client.get_metric_history(child.info.run_id, "val_accuracy")
    assert [(m.step, m.value) for m in history] == [(1, 0.3)]  # the NaN epoch is not logged
    trace = client.download_artifacts(child.info.run_id, "traceback.txt", str(tmp_path / "dl"))
    assert Path(trace).read_text(encoding="utf-8") == bad.traceback
    assert "2 trials, 1 failed" in client.get_run(pid).data.tags["mlflow.note.content"]

    frame = load_trials("tracked", tracking_uri=uri).set_index("trial_id")
    assert frame.loc["0001", "status"] == FAILED
    assert frame.loc["0001", "error"] == "ValueError: the loss went NaN"
    assert frame.loc["0000", "status"] == FINISHED


def test_fail_closes_the_parent_and_the_trial_in_flight(
    make_space: Callable[[int], Space], uri: str, tmp_path: Path
) -> None:
    tracker = MlflowTracker(make_space(7), tracking_uri=uri)
    pid = tracker.start(output=tmp_path)
    _drive(tracker, [_result("0000", [0.5])])
    _drive(tracker, [_result("0001", [0.4])], end=False)
    tracker.fail("RuntimeError: out of memory")

    client = _client(uri)
    parent = client.get_run(pid)
    assert parent.info.status == FAILED
    assert parent.data.tags["hpsearch.error"] == "RuntimeError: out of memory"
    children = _children(client, pid)
    assert (
        children["0000"].info.status == FINISHED
        and "hpsearch.error" not in children["0000"].data.tags
    )
    assert children["0001"].info.status == FAILED
    assert children["0001"].data.tags["hpsearch.error"] == "RuntimeError: out of memory"


@pytest.mark.parametrize("stop", ["killed", "died"])
def test_resume_reopens_the_parent_and_fails_the_interrupted_trial(
    make_space: Callable[[int], Space], uri: str, tmp_path: Path, stop: str
) -> None:
    """Ctrl+C (fail(killed=True)) and a process that died (runs left RUNNING) resume alike."""
    first = MlflowTracker(make_space(7), tracking_uri=uri)
    pid = first.start(output=tmp_path)
    _drive(first, [_result("0000", [0.5, 0.6])])
    _drive(first, [_result("0001", [0.4])], end=False)
    if stop == "killed":
        first.fail("KeyboardInterrupt", killed=True)
    client = _client(uri)
    assert client.get_run(pid).info.status == ("KILLED" if stop == "killed" else "RUNNING")

    again = MlflowTracker(make_space(7), tracking_uri=uri)
    assert again.find_resumable(tmp_path / "elsewhere") is None
    assert again.find_resumable(tmp_path) == pid
    again.check_resumable(pid)
    with pytest.raises(SpaceError, match="another version of the space"):
        MlflowTracker(make_space(8), tracking_uri=uri).check_resumable(pid)
    with pytest.raises(SpaceError, match="is not a search"):
        again.check_resumable(_children(client, pid)["0000"].info.run_id)
    assert again.resume(pid) == ["0001"]

    parent = client.get_run(pid)
    assert parent.info.status == "RUNNING" and "hpsearch.resumed" in parent.data.tags
    interrupted = _children(client, pid)["0001"]
    assert interrupted.info.status == FAILED
    assert interrupted.data.tags["hpsearch.status"] == FAILED
    assert interrupted.data.tags["hpsearch.error"] == INTERRUPTED

    rerun = _result("0001", [0.4, 0.9])
    _drive(again, [rerun])
    again.finish(rerun, _csv(tmp_path, [FINISHED, FINISHED]))
    assert client.get_run(pid).info.status == FINISHED
    assert again.find_resumable(tmp_path) is None
    frame = load_trials("tracked", tracking_uri=uri)  # the interrupted try is not a trial
    assert list(frame["trial_id"]) == ["0000", "0001"]
    assert list(frame["status"]) == [FINISHED, FINISHED]
    assert list(frame["objective"]) == pytest.approx([0.6, 0.9])


def test_replay_logs_the_journal_trials_mlflow_lacks_once(
    make_space: Callable[[int], Space], uri: str, tmp_path: Path
) -> None:
    journal = [
        _result("0000", [0.5, 0.6]),
        _result("0001", [0.7, 0.8]),
        _result("0002", [0.65, 0.85], first_epoch=2, bracket=1, round=1),
    ]
    first = MlflowTracker(make_space(7), tracking_uri=uri)
    pid = first.start(output=tmp_path)
    _drive(first, journal[:1])  # then the store went away: 0001 and 0002 are in the journal only

    again = MlflowTracker(make_space(7), tracking_uri=uri)
    assert again.resume(pid) == []
    assert again.replay(journal) == 2
    assert again.replay(journal) == 0

    client = _client(uri)
    children = _children(client, pid)
    assert sorted(children) == ["0000", "0001", "0002"]
    assert all(c.info.status == FINISHED for c in children.values())
    history = client.get_metric_history(children["0002"].info.run_id, "val_accuracy")
    assert sorted((m.step, m.value) for m in history) == [(3, 0.65), (4, 0.85)]
    assert children["0002"].data.tags["hpsearch.bracket"] == "1"
    frame = load_trials("tracked", tracking_uri=uri)
    assert list(frame["trial_id"]) == ["0000", "0001", "0002"]
    assert list(frame["objective"]) == pytest.approx([0.6, 0.8, 0.85])
    assert list(frame["bracket"].fillna(-1)) == [-1, -1, 1]


def test_a_store_that_stops_answering_sends_the_tracker_offline(
    make_space: Callable[[int], Space], uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = MlflowTracker(make_space(7), tracking_uri=uri)
    pid = tracker.start(output=tmp_path)

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the server went away\nmore detail")

    monkeypatch.setattr(tracker.client, "create_run", down)
    _drive(tracker, [_result("0000", [0.5])])  # no exception: the search carries on
    assert tracker.offline == "logging a trial's start: ConnectionError: the server went away"
    assert tracker.finish(_result("0000", [0.5]), _csv(tmp_path, [FINISHED])) is None
    monkeypatch.undo()
    assert _client(uri).get_run(pid).info.status == "RUNNING"  # --resume picks it up
    assert _children(_client(uri), pid) == {}
