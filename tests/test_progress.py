"""hpsearch.progress: the status lines a running search prints (plain off a TTY, Rich on one)."""

from __future__ import annotations

import io
import re
import sys
from typing import Any

import pytest

from hpsearch import progress
from hpsearch.progress import ProgressDisplay
from hpsearch.trials import FAILED, FINISHED, PRUNED, SearchInfo, TrialResult

STAMP = "2024-05-06 07:08:09"


class _Clock:
    """Stands in for the ``time`` module of hpsearch.progress: a fixed stamp and a
    perf_counter the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now

    def strftime(self, fmt: str) -> str:
        assert fmt == "%Y-%m-%d %H:%M:%S"
        return STAMP


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(progress, "time", fake)
    return fake


def _info(previous: tuple[TrialResult, ...] = (), **kw: Any) -> SearchInfo:
    base: dict[str, Any] = {
        "experiment": "e",
        "strategy": "random",
        "backend": "keras-tuner",
        "max_trials": 5,
        "objective": "val_loss",
        "direction": "min",
        "seed": 42,
    }
    return SearchInfo(**(base | kw), previous=previous)


def _trial(
    trial_id: str,
    objective: float | None,
    status: str = FINISHED,
    *,
    epochs: int = 3,
    seconds: float = 1.25,
    error: str | None = None,
) -> TrialResult:
    return TrialResult(trial_id, status, {}, objective, epochs, seconds, error=error)


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_off_a_tty_it_prints_stamped_lines_for_the_header_and_each_trial(clock: _Clock) -> None:
    out = io.StringIO()
    display = ProgressDisplay(out)
    assert display.rich is False
    display.on_search_begin(_info())
    clock.now += 4.0
    display.on_trial_end(_trial("t1", 0.5))
    clock.now += 3.0
    display.on_trial_end(_trial("t2", 0.75, epochs=2, seconds=0.04))
    clock.now += 2.6
    display.on_trial_end(_trial("t3", 0.123456))
    assert _lines(out) == [
        f"[{STAMP}] random search on keras-tuner: up to 5 trials, minimising val_loss (seed 42)",
        f"[{STAMP}] trial t1 1/5 FINISHED val_loss=0.5000 best val_loss=0.5000 epochs=3 "
        "(1.2s, elapsed 4s)",
        f"[{STAMP}] trial t2 2/5 FINISHED val_loss=0.7500 best val_loss=0.5000 epochs=2 "
        "(0.0s, elapsed 7s)",
        f"[{STAMP}] trial t3 3/5 FINISHED val_loss=0.1235 best val_loss=0.1235 epochs=3 "
        "(1.2s, elapsed 10s)",
    ]
    assert (display.done, display.failed, display.best) == (3, 0, 0.123456)


def test_maximising_keeps_the_highest_as_best(clock: _Clock) -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, rich=False)
    info = _info(strategy="tpe", backend="ray", objective="val_accuracy", direction="max", seed=7)
    display.on_search_begin(info)
    display.on_trial_end(_trial("a", 0.8))
    display.on_trial_end(_trial("b", 0.6))
    assert _lines(out) == [
        f"[{STAMP}] tpe search on ray: up to 5 trials, maximising val_accuracy (seed 7)",
        f"[{STAMP}] trial a 1/5 FINISHED val_accuracy=0.8000 best val_accuracy=0.8000 "
        "epochs=3 (1.2s, elapsed 0s)",
        f"[{STAMP}] trial b 2/5 FINISHED val_accuracy=0.6000 best val_accuracy=0.8000 "
        "epochs=3 (1.2s, elapsed 0s)",
    ]


def test_a_failed_trial_shows_its_error_and_leaves_the_best_alone(clock: _Clock) -> None:
    out = io.StringIO()
    display = ProgressDisplay(out)
    display.on_search_begin(_info())
    display.on_trial_end(_trial("t1", None, FAILED, epochs=1, error="objective is NaN or inf"))
    display.on_trial_end(_trial("t2", 0.3))
    display.on_trial_end(_trial("t3", None, FAILED, epochs=0, seconds=0.0, error="OOM"))
    assert _lines(out)[1:] == [
        # no best yet: its slot stays empty
        f"[{STAMP}] trial t1 1/5 FAILED val_loss=-  epochs=1 (1.2s, elapsed 0s) "
        "error: objective is NaN or inf",
        f"[{STAMP}] trial t2 2/5 FINISHED val_loss=0.3000 best val_loss=0.3000 epochs=3 "
        "(1.2s, elapsed 0s)",
        f"[{STAMP}] trial t3 3/5 FAILED val_loss=- best val_loss=0.3000 epochs=0 "
        "(0.0s, elapsed 0s) error: OOM",
    ]
    assert (display.done, display.failed, display.best) == (3, 2, 0.3)


def test_pruned_trials_are_counted_apart_never_best_never_failed(clock: _Clock) -> None:
    out = io.StringIO()
    display = ProgressDisplay(out)
    display.on_search_begin(_info())
    display.on_trial_end(_trial("t1", 0.3))
    display.on_trial_end(_trial("t2", 0.1, PRUNED, epochs=1))  # its value beats t1's: no best
    display.on_trial_end(_trial("t3", 0.2))
    assert _lines(out)[2:] == [
        f"[{STAMP}] trial t2 2/5 (1 pruned) PRUNED val_loss=0.1000 best val_loss=0.3000 "
        "epochs=1 (1.2s, elapsed 0s)",
        f"[{STAMP}] trial t3 3/5 (1 pruned) FINISHED val_loss=0.2000 best val_loss=0.2000 "
        "epochs=3 (1.2s, elapsed 0s)",
    ]
    assert (display.done, display.failed, display.pruned, display.best) == (3, 0, 1, 0.2)


def test_a_finished_trial_without_an_objective_counts_as_failed(clock: _Clock) -> None:
    display = ProgressDisplay(io.StringIO())
    display.on_search_begin(_info())
    display.on_trial_end(_trial("t1", None))
    assert (display.done, display.failed, display.best) == (1, 1, None)


def test_an_epoch_budget_counts_epochs_instead_of_trials(clock: _Clock) -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, budget_epochs=20)
    display.on_search_begin(_info(strategy="hyperband"))
    for epoch in (1, 2, 3):
        display.on_epoch_end("t1", epoch, {"val_loss": 0.5})
    display.on_trial_end(_trial("t1", 0.5))
    display.on_epoch_end("t2", 1, {"val_loss": 0.9})
    display.on_trial_end(_trial("t2", 0.9, epochs=1))
    assert _lines(out) == [
        f"[{STAMP}] hyperband search on keras-tuner: until 20 epochs are spent, "
        "minimising val_loss (seed 42)",
        f"[{STAMP}] trial t1 1 (epochs 3/20) FINISHED val_loss=0.5000 best val_loss=0.5000 "
        "epochs=3 (1.2s, elapsed 0s)",
        f"[{STAMP}] trial t2 2 (epochs 4/20) FINISHED val_loss=0.9000 best val_loss=0.5000 "
        "epochs=1 (1.2s, elapsed 0s)",
    ]


def test_a_resumed_search_counts_on_from_the_trials_before(clock: _Clock) -> None:
    out = io.StringIO()
    display = ProgressDisplay(out)
    before = (_trial("t1", 0.4), _trial("t2", None, FAILED), _trial("t3", 0.3))
    display.on_search_begin(_info(previous=before))
    display.on_trial_end(_trial("t4", 0.35))
    assert _lines(out) == [
        f"[{STAMP}] random search on keras-tuner: up to 5 trials, minimising val_loss (seed 42)",
        f"[{STAMP}] resumed: 3 trial(s) done before, best val_loss=0.3000",
        f"[{STAMP}] trial t4 4/5 FINISHED val_loss=0.3500 best val_loss=0.3000 epochs=3 "
        "(1.2s, elapsed 0s)",
    ]
    assert display.failed == 1


def test_a_resumed_search_without_a_best_says_only_the_count(clock: _Clock) -> None:
    out = io.StringIO()
    display = ProgressDisplay(out)
    display.on_search_begin(_info(previous=(_trial("t1", None, FAILED),)))
    assert _lines(out)[1] == f"[{STAMP}] resumed: 1 trial(s) done before"


def test_a_resumed_budget_search_counts_the_epochs_spent_before(clock: _Clock) -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, budget_epochs=10)
    before = (_trial("t1", 0.4, epochs=3), _trial("t2", 0.6, epochs=2))
    display.on_search_begin(_info(previous=before))
    display.on_epoch_end("t3", 1, {})
    display.on_trial_end(_trial("t3", 0.5, epochs=1))
    assert _lines(out)[1:] == [
        f"[{STAMP}] resumed: 2 trial(s) done before, best val_loss=0.4000",
        f"[{STAMP}] trial t3 3 (epochs 6/10) FINISHED val_loss=0.5000 best val_loss=0.4000 "
        "epochs=1 (1.2s, elapsed 0s)",
    ]


def test_a_new_search_starts_the_counts_and_the_clock_again(clock: _Clock) -> None:
    """compare drives one display through several searches."""
    out = io.StringIO()
    display = ProgressDisplay(out, budget_epochs=8)
    display.on_search_begin(_info())
    display.on_epoch_end("t1", 1, {})
    display.on_trial_end(_trial("t1", 0.1, FINISHED, epochs=1))
    clock.now += 30.0
    display.on_search_begin(_info(backend="ray"))
    clock.now += 2.0
    display.on_epoch_end("0", 1, {})
    display.on_trial_end(_trial("0", 0.9, epochs=1))
    assert _lines(out)[2:] == [
        f"[{STAMP}] random search on ray: until 8 epochs are spent, minimising val_loss (seed 42)",
        f"[{STAMP}] trial 0 1 (epochs 1/8) FINISHED val_loss=0.9000 best val_loss=0.9000 "
        "epochs=1 (1.2s, elapsed 2s)",
    ]


def test_the_default_stream_is_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    display = ProgressDisplay()
    assert display.stream is sys.stderr
    assert display.rich is sys.stderr.isatty()


def test_rich_false_prints_plain_lines_even_on_a_tty(clock: _Clock) -> None:
    out = _TTY()
    display = ProgressDisplay(out, rich=False)
    display.on_search_begin(_info())
    display.on_trial_end(_trial("t1", 0.5))
    assert display._progress is None
    assert len(_lines(out)) == 2 and _lines(out)[1].startswith(f"[{STAMP}] trial t1 1/5 ")


# --- on a TTY: a Rich progress bar ------------------------------------------------------------


def _screen(stream: io.StringIO) -> str:
    """What a Rich stream shows, as one line: colour codes gone, wrapped lines joined."""
    return " ".join(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue()).split())


def _task(display: ProgressDisplay) -> Any:
    return display._progress.tasks[0]


def test_on_a_tty_it_shows_a_rich_bar_of_trials(clock: _Clock) -> None:
    out = _TTY()
    display = ProgressDisplay(out)
    assert display.rich is True
    display.on_search_begin(_info())
    try:
        task = _task(display)
        assert (task.total, task.completed, task.fields["best"]) == (5, 0, "")
        display.on_trial_end(_trial("t1", 0.5))
        display.on_trial_end(_trial("t2", None, FAILED, error="boom"))
        assert (task.completed, task.fields["best"]) == (2, "best val_loss=0.5000")
    finally:
        display.close()
    assert display._progress is None
    text = _screen(out)
    assert "random search on keras-tuner: up to 5 trials, minimising val_loss (seed 42)" in text
    assert STAMP not in text  # no plain lines: the trials show in the bar
    assert "trial t1" not in text and "error: boom" not in text


def test_on_a_tty_an_epoch_budget_fills_the_bar_by_epochs(clock: _Clock) -> None:
    out = _TTY()
    display = ProgressDisplay(out, budget_epochs=4)
    before = (_trial("t1", 0.4, epochs=2),)
    display.on_search_begin(_info(previous=before))
    try:
        task = _task(display)
        assert (task.total, task.completed) == (4, 2)
        assert task.fields["best"] == "best val_loss=0.4000"
        for epoch in (1, 2, 3):
            display.on_epoch_end("t2", epoch, {})
        assert task.completed == 4  # capped at the budget: trials running finish past it
        display.on_trial_end(_trial("t2", 0.2, epochs=3))
        assert (task.completed, task.fields["best"]) == (4, "best val_loss=0.2000")
        assert display.epochs == 5
    finally:
        display.close()
    text = _screen(out)
    assert "until 4 epochs are spent" in text
    assert "resumed: 1 trial(s) done before, best val_loss=0.4000" in text


def test_close_is_safe_twice_and_before_any_search() -> None:
    display = ProgressDisplay(_TTY())
    display.close()
    display.on_search_begin(_info())
    display.close()
    display.close()
    assert display._progress is None


def test_a_second_search_on_a_tty_stops_the_first_bar(clock: _Clock) -> None:
    display = ProgressDisplay(_TTY())
    display.on_search_begin(_info())
    first = display._progress
    display.on_search_begin(_info(backend="ray", max_trials=2))
    try:
        assert display._progress is not first
        assert not first.live.is_started
        assert _task(display).total == 2
    finally:
        display.close()
