"""hpsearch.cli.stops: what a stopped command says, and a swallowed stop raised again."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from hpsearch.cli import stops


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    stops.reset()
    yield
    stops.reset()


def test_a_stop_without_a_hint_says_what_happened() -> None:
    assert stops.stopped(by_sigterm=True) == "terminated (SIGTERM)"
    assert stops.stopped(by_sigterm=False) == "interrupted"


def test_a_stopped_run_says_how_to_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["hpsearch", "run", "my space.yaml", "--resume"])
    stops.hint_resume("run")
    assert stops.stopped(by_sigterm=False) == (
        "interrupted: the search is marked KILLED and the trials it was running FAILED; "
        "continue it with: hpsearch run 'my space.yaml' --resume"
    )


def test_a_stopped_sweep_runs_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["hpsearch", "sweep", "s.yaml"])
    stops.hint_resume("sweep")
    assert stops.stopped(by_sigterm=True) == (
        "terminated (SIGTERM): run the same command again to continue: hpsearch sweep s.yaml"
    )


def test_a_finished_search_says_what_is_left() -> None:
    stops.hint_finished("abc")
    assert stops.stopped(by_sigterm=False) == (
        "interrupted: the search had finished (parent run abc); hpsearch refit abc / "
        "hpsearch report --run-id abc make what was left"
    )


def test_reset_forgets_the_last_command() -> None:
    stops.hint_finished("abc")
    stops.terminated.append(15)
    stops.reset()
    assert (stops.resume_hint, stops.terminated, stops.interrupted) == ([], [], [])


def test_a_swallowed_stop_is_raised_again_at_the_next_epoch() -> None:
    check = stops.TerminationCheck()
    check.on_epoch_end("t0", 1, {})  # nothing pending: nothing raised
    stops.interrupted.append(2)
    with pytest.raises(stops.Interrupted):
        check.on_epoch_end("t0", 2, {})
    stops.terminated.append(15)
    with pytest.raises(stops.Terminated):
        check.on_trial_end(None)
