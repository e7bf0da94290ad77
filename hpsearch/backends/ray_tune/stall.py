"""The stall watch: a Ray search that stops making progress fails instead of hanging.

A watch is registered by key (``_WATCHES``) so the searchers, which Tune pickles with its
state, can ask it by name from inside Tune's polls.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from hpsearch.backends.base import SearchStalled


class StallWatch:
    """Notices a Ray search that stopped making progress, so it fails instead of hanging.

    Tune's controller can wedge (P3's Hyperband hang: a failed actor reset lost a trial and
    the --max-concurrent generator waited for it forever; train_trial now prevents that
    cause), and a trial can hang in user code. Both look the same from the driver: no
    trial event. The limit adapts to the search: ``FACTOR`` times
    the longest wait between events so far, at least ``FLOOR_S``; before the first result
    (actor start, imports, a first epoch of unknown length) it is ``FIRST_S``.
    ``$HPSEARCH_STALL_S`` fixes the limit (0: never)."""

    FIRST_S, FLOOR_S, FACTOR = 1800.0, 120.0, 10.0

    def __init__(
        self, fixed: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        env = os.environ.get("HPSEARCH_STALL_S")
        self.fixed = fixed if fixed is not None else (float(env) if env else None)
        self.clock = clock
        self.last = clock()
        self.slowest = 0.0
        self.results = False
        self.tripped: str | None = None

    def beat(self, result: bool = False) -> None:
        """A trial event: an actor started, an epoch reported, a trial ended."""
        now = self.clock()
        if self.results:
            self.slowest = max(self.slowest, now - self.last)
        self.last, self.results = now, self.results or result

    def limit(self) -> float | None:
        if self.fixed is not None:
            return self.fixed or None
        if not self.results:
            return self.FIRST_S
        return max(self.FLOOR_S, self.FACTOR * self.slowest)

    def check(self) -> None:
        """Raise SearchStalled once the wait since the last event passes the limit."""
        limit, idle = self.limit(), self.clock() - self.last
        if limit is None or idle <= limit:
            return
        why = (
            "set by $HPSEARCH_STALL_S"
            if self.fixed
            else f"{self.FACTOR:g}x the longest wait before, at least {self.FLOOR_S:g} s; "
            "$HPSEARCH_STALL_S sets it"
        )
        self.tripped = (
            f"ray: no trial reported for {idle:.0f} s (the limit was {limit:.0f} s, {why}): "
            "a trial hung or Ray Tune stalled. The trials that ended are kept: run the same "
            "command with --resume to go on"
        )
        raise SearchStalled(self.tripped)


#: Stall watches by key: searchers are pickled with the Tuner's state, watches must not be
#: (a restored searcher finds none: its key is another process's).
_WATCHES: dict[str, StallWatch] = {}


def _check_stall(key: str | None) -> None:
    """Ask the search's StallWatch from inside the searcher: Tune polls it every second
    even while its controller blocks waiting for a trial, when no callback runs."""
    watch = _WATCHES.get(key) if key else None
    if watch is not None:
        watch.check()
