"""A callback for the continuation tests on both engines: it counts epochs exactly as the
epoch budget does (an EpochBudget that never stops) and keeps each trial's epoch numbers
and result, so a test can check that no epoch of a continued trial is counted twice."""

from __future__ import annotations

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
