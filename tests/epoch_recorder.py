"""A callback for the continuation tests on both engines: it counts epochs exactly as the
epoch budget does (an EpochBudget that never stops) and keeps each trial's epoch numbers
and result, so a test can check that no epoch of a continued trial is counted twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hpsearch.callbacks import EpochBudget
from hpsearch.trials import TrialResult


class Recorder(EpochBudget):
    """Counts epochs as the budget does, and keeps each trial's epoch numbers and result."""

    def __init__(self) -> None:
        super().__init__(10**9)
        self.epochs: dict[str, list[int]] = {}
        self.results: dict[str, TrialResult] = {}

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        super().on_epoch_end(trial_id, epoch, logs)
        self.epochs.setdefault(trial_id, []).append(epoch)

    def on_trial_end(self, result: TrialResult) -> None:
        self.results[result.trial_id] = result


def lineage(results: list[TrialResult]) -> Iterator[tuple[TrialResult, TrialResult, TrialResult]]:
    """Every promoted trial (Keras Tuner's Hyperband rounds) with its parent (the same params,
    the round before, in its bracket) and its root (round 0): the continuation tests' triples."""
    for child in (r for r in results if r.round):
        parent = next(
            r for r in results
            if (r.bracket, r.round, r.params) == (child.bracket, child.round - 1, child.params)
        )  # fmt: skip
        root = next(r for r in results if (r.round, r.params) == (0, child.params))
        yield child, parent, root


def assert_continues(child: TrialResult, parent: TrialResult, root: TrialResult) -> None:
    """``child`` trained on from ``parent``'s weights: it starts at the parent's epochs, and
    its first training loss carries on below its parent's last, which is at most a fresh
    model's first (a restart from scratch would repeat that loss exactly: same seed, same
    weights, same batches)."""
    assert parent.first_epoch + parent.epochs == child.first_epoch > 0
    fresh, last, first = (
        root.history["loss"][0],
        parent.history["loss"][-1],
        child.history["loss"][0],
    )
    assert first < 0.9 * last and last <= fresh, (fresh, last, first)
    if parent is not root:  # two epochs in: nearer the last than the fresh model's first
        assert abs(first - last) < abs(first - fresh) / 2, (fresh, last, first)


def ray_restores(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """hpsearch trial id -> the epochs at which Tune restored it from its checkpoint (a
    result with iterations_since_restore 1 past the first epoch), seen by the driver's Tune
    callback. Tune pickles that callback: the wrapper holds the bridge's key, not the bridge."""
    from hpsearch.backends.ray_tune import backend, events

    seen: dict[str, list[int]] = {}
    original = backend._tune_callback

    def recording(bridge: Any, watch: Any) -> Any:
        forward = original(bridge, watch)
        inner = forward.on_trial_result
        key = events._register(bridge)

        def on_trial_result(
            iteration: int, trials: Any, trial: Any, result: Any, **info: Any
        ) -> None:
            if result.get("iterations_since_restore") == 1 and result["training_iteration"] > 1:
                tid = events._bridge(key).tid(trial.trial_id)  # type: ignore[union-attr]
                seen.setdefault(tid, []).append(result["training_iteration"])
            inner(iteration, trials, trial, result, **info)

        forward.on_trial_result = on_trial_result
        return forward

    monkeypatch.setattr(backend, "_tune_callback", recording)
    return seen
