"""Ctrl+C and SIGTERM: a stopped command unwinds cleanly and says how to continue."""

from __future__ import annotations

import shlex
import signal
import sys
from typing import Any

from hpsearch.trials import SearchCallback

TERMINATED = "terminated (SIGTERM)"
#: How the command that was stopped picks up again; set by the commands that can.
resume_hint: list[str] = []


def stopped(by_sigterm: bool) -> str:
    """The line printed when Ctrl+C or SIGTERM stops a command: what happened, and how to
    continue."""
    head = TERMINATED if by_sigterm else "interrupted"
    return f"{head}: {resume_hint[0]}" if resume_hint else head


def hint_resume(command: str) -> None:
    """From here on, a stop says: the search is KILLED, the trials it was running (several
    with ``--workers`` or Ray's ``--max-concurrent``) FAILED, and ``command --resume``
    continues it."""
    argv = [a for a in sys.argv[1:] if a != "--resume"]
    again = shlex.join(["hpsearch", *argv, "--resume"])
    resume_hint[:] = [
        f"the search is marked KILLED and the trials it was running FAILED; continue it with: "
        f"{again}"
        if command == "run"
        else f"run the same command again to continue: {shlex.join(['hpsearch', *argv])}"
    ]


def hint_finished(parent_run_id: str) -> None:
    """The search is FINISHED: ``--resume`` would start another one, so a stop from here on
    says what is left to make."""
    resume_hint[:] = [
        f"the search had finished (parent run {parent_run_id}); "
        f"hpsearch refit {parent_run_id} / hpsearch report --run-id "
        f"{parent_run_id} make what was left"
    ]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the search is: it unwinds like Ctrl+C, so the parent run is
    marked KILLED, its running trials FAILED, and ``--resume`` picks the search up."""


class Interrupted(KeyboardInterrupt):
    """Ctrl+C (SIGINT), raised where the search is, as Python's own handler does, but
    remembered, so that a raise swallowed on the way is raised again (see below)."""


terminated: list[int] = []
interrupted: list[int] = []


def reset() -> None:
    """Forget the last command's stop and hint (tests call ``main()`` many times)."""
    resume_hint.clear()
    terminated.clear()
    interrupted.clear()


def catch_signals(command: str) -> None:
    """From here on, SIGTERM and Ctrl+C stop ``command`` cleanly, and say how to go on."""
    signal.signal(signal.SIGTERM, terminate)  # cron, Kubernetes: stop cleanly, resumable
    signal.signal(signal.SIGINT, interrupt)  # Ctrl+C: the same, and never lost
    hint_resume(command)
    sys.unraisablehook = quiet_unraisable


def terminate(signum: int, frame: Any) -> None:
    terminated.append(signum)
    raise Terminated()


def interrupt(signum: int, frame: Any) -> None:
    interrupted.append(signum)
    raise Interrupted()


def quiet_unraisable(info: Any) -> None:
    """Drop the "Exception ignored in ..." report of a swallowed stop (see below)."""
    if not isinstance(info.exc_value, (Terminated, Interrupted)):
        sys.__unraisablehook__(info)


class TerminationCheck(SearchCallback):
    """Raises the stop again at the next epoch if the signal handler's own raise was
    swallowed: a handler runs wherever the main thread is, a weakref callback or a
    ``__del__`` included, where Python only prints what it raises (a Ctrl+C lost so let a
    search run to its end)."""

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        self._check()

    def on_trial_end(self, result: Any) -> None:
        self._check()

    @staticmethod
    def _check() -> None:
        if terminated:
            raise Terminated()
        if interrupted:
            raise Interrupted()
