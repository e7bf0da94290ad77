"""events._Bridge: Tune's trial hooks become SearchCallback events and TrialResults (no Ray)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hpsearch.api import prepare
from hpsearch.backends.ray_tune.events import _Bridge, _ray_trial_index
from hpsearch.space import Space, parse_space
from hpsearch.trials import FAILED, FINISHED, NAN_ERROR, SearchCallback, TrialResult
from tests.spaces import tiny_space_text

SPACE = tiny_space_text(
    name="bridge",
    objective="val_accuracy",
    hyperparameters={"learning_rate": {"float": [1e-3, 1e-2], "log": True}, "batch_size": 64},
    training={"epochs": 3, "patience": 0},
    search={"max_trials": 3, "seed": 2},
)


class Recorder(SearchCallback):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.results: list[TrialResult] = []

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        self.events.append(("begin", trial_id, params))

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        self.events.append(("epoch", trial_id, epoch, logs))

    def on_trial_end(self, result: TrialResult) -> None:
        self.results.append(result)


def _bridge(tmp_path: Path, done: frozenset[str] = frozenset()) -> tuple[_Bridge, Recorder]:
    space: Space = prepare(parse_space(SPACE, source=tmp_path / "s.yaml"), backend="ray")
    events = Recorder()
    return _Bridge(events, space, {"batch_size": 64}, ["accuracy", "val_accuracy"], done), events


def test_ray_ids_become_counters_or_creation_order(tmp_path: Path) -> None:
    assert _ray_trial_index("ab12c_00007") == "0007"
    assert _ray_trial_index("4f2a9c1e") is None
    bridge, _ = _bridge(tmp_path)
    bridge.start("ab12c_00003", {})
    bridge.start("4f2a9c1e", {}, index=5)
    assert bridge.tid("ab12c_00003") == "0003" and bridge.tid("4f2a9c1e") == "0005"


def test_a_trial_begins_at_its_first_epoch_and_ends_with_its_history(tmp_path: Path) -> None:
    bridge, events = _bridge(tmp_path)
    config = {"learning_rate": 0.002}
    bridge.start("t_00000", config)
    assert events.events == []  # an actor start is not a trial begin
    for epoch, value in ((1, 0.5), (2, 0.7)):
        bridge.result(
            "t_00000",
            config,
            {"epoch": epoch, "val_accuracy": value, "loss": 1.0, "node_id": "n1", "pid": 9},
        )
    bridge.end("t_00000", config, None)
    assert events.events[0] == ("begin", "0000", {"learning_rate": 0.002, "batch_size": 64})
    assert events.events[2] == ("epoch", "0000", 2, {"val_accuracy": 0.7})
    (result,) = events.results
    assert result.status == FINISHED and result.objective == 0.7 and result.epochs == 2
    assert result.backend == "ray" and result.worker == "n1" and result.first_epoch == 0
    bridge.end("t_00000", config, None)  # Tune's second word on it changes nothing
    assert len(events.results) == 1


def test_failures_nan_and_restored_trials(tmp_path: Path) -> None:
    bridge, events = _bridge(tmp_path, done=frozenset({"0001"}))
    bridge.end("t_00000", {}, "Traceback (most recent call last):\nValueError: boom")
    bridge.result("t_00001", {}, {"epoch": 1, "val_accuracy": 0.9})  # ended before: dropped
    bridge.end("t_00001", {}, None)
    bridge.result("t_00002", {}, {"epoch": 1, "val_accuracy": math.nan})
    bridge.end("t_00002", {}, None)
    failed, nan = events.results
    assert failed.status == FAILED and failed.error == "ValueError: boom"
    assert failed.traceback and failed.objective is None
    assert nan.status == FAILED and nan.error == NAN_ERROR
    assert "0001" not in bridge.results
