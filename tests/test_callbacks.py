"""The search's own callbacks: budgets, the failure limit, the journal, a resumed count."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from hpsearch.callbacks import (
    EpochBudget,
    FailureLimit,
    Journal,
    Resumed,
    TimeBudget,
    default_max_failures,
)
from hpsearch.errors import TooManyFailures
from hpsearch.trials import (
    FAILED,
    FINISHED,
    PRUNED,
    CallbackList,
    SearchCallback,
    SearchInfo,
    TrialResult,
)


def result(tid: str, status: str = FINISHED, error: str | None = None) -> TrialResult:
    return TrialResult(
        tid, status, {"n": 1}, 0.5 if status == FINISHED else None, 2, 1.0, error=error
    )


def info() -> SearchInfo:
    return SearchInfo("e", "random", "keras-tuner", 4, "val_accuracy", "max", 1)


def test_the_failure_limit_counts_earlier_failures_and_names_the_last_error() -> None:
    limit = FailureLimit(3, already=1)
    limit.on_trial_end(result("0"))
    limit.on_trial_end(result("1", FAILED, "ValueError: a"))
    with pytest.raises(
        TooManyFailures, match=r"3 trials failed \(--max-failures 3\); last error: ValueError: b"
    ):
        limit.on_trial_end(result("2", FAILED, "ValueError: b"))
    assert [default_max_failures(n) for n in (1, 6, 7, 20)] == [3, 3, 4, 10]


def test_pruned_trials_are_no_failures_for_the_limit() -> None:
    limit = FailureLimit(2)
    for tid in "0123":
        limit.on_trial_end(result(tid, PRUNED))
    assert limit.failed == 0
    limit.on_trial_end(result("4", FAILED, "ValueError: a"))
    with pytest.raises(TooManyFailures, match="2 trials failed"):
        limit.on_trial_end(result("5", FAILED, "ValueError: b"))


def test_a_callback_list_prunes_when_any_callback_says_so() -> None:
    class Verdict(SearchCallback):
        def __init__(self, tid: str) -> None:
            self.tid = tid

        def prune(self, trial_id: str) -> bool:
            return trial_id == self.tid

    both = CallbackList([SearchCallback(), Verdict("0001")])
    assert (both.prune("0001"), both.prune("0002"), SearchCallback().prune("0001")) == (
        True,
        False,
        False,
    )


def test_the_epoch_budget_stops_at_its_limit_counting_a_resumed_searchs_epochs() -> None:
    budget = EpochBudget(5, already=3)
    budget.on_epoch_end("0", 1, {})
    assert budget.stop_reason() is None
    budget.on_epoch_end("0", 2, {})
    assert budget.stop_reason() == "epoch budget spent (5 of 5 epochs)"


def test_the_time_budget_runs_from_the_search_begin(monkeypatch: pytest.MonkeyPatch) -> None:
    budget = TimeBudget(10)
    assert budget.stop_reason() is None  # not begun
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    budget.on_search_begin(info())
    now[0] = 109.0
    assert budget.stop_reason() is None
    now[0] = 110.4
    assert budget.stop_reason() == "time budget spent (10 of 10 s)"


def test_the_journal_keeps_the_last_record_of_each_trial_and_skips_a_torn_line(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "trials.jsonl")
    assert journal.load() == []
    journal.on_trial_end(result("0001", FAILED, "interrupted"))
    journal.on_trial_end(result("0000"))
    journal.on_trial_end(result("0001"))  # the rerun of an interrupted trial
    with journal.path.open("a") as out:
        out.write(json.dumps(dataclasses.asdict(result("0002")))[:40])  # died mid-write
    loaded = journal.load()
    assert [(r.trial_id, r.status) for r in loaded] == [("0000", FINISHED), ("0001", FINISHED)]
    assert loaded[0] == result("0000")


def test_a_resumed_search_tells_callbacks_what_ran_before() -> None:
    seen: list[SearchInfo] = []

    class Spy(SearchCallback):
        def on_search_begin(self, info: SearchInfo) -> None:
            seen.append(info)

    before = [result("0000"), result("0001", FAILED)]
    Resumed([Spy()], before).on_search_begin(info())
    assert seen[0].previous == tuple(before) and seen[0].experiment == "e"
