"""Pruning of running trials (``search.pruner``): the median stopping rule, written once.

Both engines feed the pruner the same SearchCallback events and ask its verdict with
``prune(trial_id)`` after each epoch, so the rule and its numbers are the same on Keras
Tuner and on Ray. Standard library only: the rule needs every trial's curve, which only the
process that runs the callbacks (the driver) sees.
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING, Any

from hpsearch.trials import SearchCallback, SearchInfo, TrialResult

if TYPE_CHECKING:
    from hpsearch.space import Space


class MedianPruner(SearchCallback):
    """The median stopping rule (Golovin et al., 2017, as in Vizier, Optuna and Tune).

    After ``warmup_epochs``, a trial stops when its best objective so far is worse than the
    median of the other trials' best-so-far at the same epoch, once ``min_trials`` other
    trials reached that epoch. Best-so-far on both sides, so one noisy epoch neither
    prunes a trial nor lowers the bar. Every other trial counts: running, finished, pruned,
    and those a resumed search ran before. NaN and infinite values are ignored (the NaN
    rule fails such a trial anyway); a tie with the median does not prune. Nor does the
    last epoch (``max_epochs``): stopping a trial there saves nothing, and it finished.
    """

    def __init__(
        self,
        metric: str,
        direction: str,
        *,
        warmup_epochs: int = 2,
        min_trials: int = 3,
        max_epochs: int | None = None,
    ) -> None:
        self.metric, self.direction = metric, direction
        self.warmup_epochs, self.min_trials = warmup_epochs, min_trials
        self.max_epochs = max_epochs
        #: per trial, its best-so-far at each epoch it reported (epochs count from 1)
        self.curves: dict[str, dict[int, float]] = {}
        self._best: dict[str, float] = {}
        self._pruned: set[str] = set()

    @classmethod
    def for_space(cls, space: Space) -> MedianPruner | None:
        """The pruner ``search.pruner`` asks for, or None without one."""
        spec = space.search.pruner
        if spec is None:
            return None
        hyperband = space.search.hyperband.max_epochs if space.search.strategy == "bohb" else None
        return cls(
            space.objective.metric,
            space.objective.direction,
            warmup_epochs=spec.warmup_epochs,
            min_trials=spec.min_trials,
            max_epochs=hyperband or space.training.epochs,
        )

    def on_search_begin(self, info: SearchInfo) -> None:
        """A resumed search's earlier trials are others' curves from the first epoch on."""
        for result in info.previous:
            values = result.history.get(self.metric, [])
            self.curves.pop(result.trial_id, None)
            self._best.pop(result.trial_id, None)
            for i, value in enumerate(values):
                self._record(result.trial_id, result.first_epoch + i + 1, value)

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        """A trial run again under its id (an interrupted one) starts a new curve."""
        self.curves.pop(trial_id, None)
        self._best.pop(trial_id, None)
        self._pruned.discard(trial_id)

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.metric)
        self._record(trial_id, epoch, math.nan if value is None else value)
        if trial_id not in self._pruned and self.should_prune(trial_id, epoch):
            self._pruned.add(trial_id)

    def prune(self, trial_id: str) -> bool:
        return trial_id in self._pruned

    def on_trial_end(self, result: TrialResult) -> None:
        self._pruned.discard(result.trial_id)  # its curve stays: it is others' bar

    def should_prune(self, trial_id: str, epoch: int) -> bool:
        """The rule itself, for ``trial_id`` at ``epoch`` (its curve recorded up to it)."""
        if epoch <= self.warmup_epochs or (self.max_epochs and epoch >= self.max_epochs):
            return False
        mine = self.curves.get(trial_id, {}).get(epoch)
        if mine is None:
            return False
        others = [c[epoch] for t, c in self.curves.items() if t != trial_id and epoch in c]
        if len(others) < self.min_trials:
            return False
        median = statistics.median(others)
        return mine < median if self.direction == "max" else mine > median

    def _record(self, trial_id: str, epoch: int, value: float) -> None:
        """Move the trial's best-so-far by ``value`` and note it at ``epoch`` (a trial with
        no finite value yet has no point there)."""
        best = self._best.get(trial_id)
        if math.isfinite(value) and (
            best is None or (value > best if self.direction == "max" else value < best)
        ):
            best = self._best[trial_id] = float(value)
        if best is not None:
            self.curves.setdefault(trial_id, {})[epoch] = best
