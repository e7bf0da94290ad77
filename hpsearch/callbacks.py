"""The search's own callbacks: the budgets that stop it, the failure limit that ends it,
and the journal that lets ``--resume`` continue it. Engine-free: every engine reports the
same SearchCallback events (see trials.py), so these work the same on both."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from hpsearch.errors import TooManyFailures
from hpsearch.trials import CallbackList, SearchCallback, SearchInfo, TrialResult


def default_max_failures(max_trials: int) -> int:
    """Half the budget, at least 3: a search where half the trials fail is broken."""
    return max(3, (max_trials + 1) // 2)


class FailureLimit(SearchCallback):
    """Counts failed trials and stops the search at the limit (a pruned trial is no
    failure: it trained, and lost to the median)."""

    def __init__(self, limit: int, already: int = 0) -> None:
        self.limit, self.failed = limit, already

    def on_trial_end(self, result: TrialResult) -> None:
        if result.failed:
            self.failed += 1
            if self.failed >= self.limit:
                raise TooManyFailures(
                    f"{self.failed} trials failed (--max-failures {self.limit}); "
                    f"last error: {result.error}"
                )


class EpochBudget(SearchCallback):
    """Stops the search once ``limit`` epochs have been trained, across all trials.

    The fair unit for comparing strategies: Hyperband spends epochs, not trials. The search
    stops the moment the budget is spent: the trial running then ends after that epoch and
    keeps what it trained (as early stopping would), and no other trial starts. Concurrent
    trials may each add the epoch they were in: the overshoot is under one epoch per
    concurrent trial."""

    def __init__(self, limit: int, already: int = 0) -> None:
        self.limit, self.spent = limit, already

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        self.spent += 1

    def stop_reason(self) -> str | None:
        if self.spent >= self.limit:
            return f"epoch budget spent ({self.spent} of {self.limit} epochs)"
        return None


class TimeBudget(SearchCallback):
    """Stops the search once ``seconds`` of wall-clock time have passed since it began,
    as EpochBudget does (the running trial ends after its current epoch)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: float | None = None

    def on_search_begin(self, info: SearchInfo) -> None:
        self.started = time.monotonic()

    def stop_reason(self) -> str | None:
        if self.started is None:
            return None
        elapsed = time.monotonic() - self.started
        if elapsed >= self.seconds:
            return f"time budget spent ({elapsed:.0f} of {self.seconds:g} s)"
        return None


class Journal(SearchCallback):
    """Every ended trial, appended to ``trials.jsonl`` and flushed to disk at once: what
    ``--resume`` starts from, and what survives a tracking server that goes away."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_trial_end(self, result: TrialResult) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(dataclasses.asdict(result), default=str) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def load(self) -> list[TrialResult]:
        """Trials ended so far, the last record of each trial id winning; a torn last
        line (the process died mid-write) is skipped."""
        if not self.path.exists():
            return []
        by_id: dict[str, TrialResult] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                result = TrialResult(**json.loads(line))
            except (ValueError, TypeError):
                continue
            by_id[result.trial_id] = result
        return [by_id[k] for k in sorted(by_id)]


class Resumed(CallbackList):
    """Hands callbacks the trials a resumed search finished before (a display counts on
    from them)."""

    def __init__(self, callbacks: Iterable[SearchCallback], previous: list[TrialResult]) -> None:
        super().__init__(callbacks)
        self.previous = tuple(previous)

    def on_search_begin(self, info: SearchInfo) -> None:
        super().on_search_begin(dataclasses.replace(info, previous=self.previous))
