"""The Backend protocol, and what a backend hands back (no heavy imports)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hpsearch.errors import SearchStalled  # noqa: F401
from hpsearch.space import Space
from hpsearch.trials import SearchCallback, TrialResult, best_of

if TYPE_CHECKING:
    from hpsearch.data import Dataset


@dataclass
class SearchOutcome:
    """What a backend hands back: every trial, and a way to get the best trained model."""

    results: list[TrialResult]
    direction: str
    load_best_model: Callable[[], Any] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def best(self) -> TrialResult | None:
        return best_of(self.results, self.direction)


#: Earlier (params, objective) pairs a warm-started search begins from.
WarmTrials = Sequence[tuple[dict[str, Any], float]]


class Backend(Protocol):
    """Runs a search over a space on loaded data and reports through callbacks.

    Every engine takes every argument, so the caller passes them all the same way:
    ``resume`` continues the engine's state in ``workdir``; ``warm`` seeds a model-based
    strategy; ``done`` names the trials the journal already holds (an engine whose restored
    state may lag the journal skips reporting them again). Any callback may end the search
    (``stop_reason``): an engine asks at every epoch, except Ray under Ray Client, whose
    Tuner runs on the cluster (plan.py refuses budgets and pruners there)."""

    name: str

    def run(
        self,
        space: Space,
        data: Dataset,
        workdir: Path,
        callbacks: SearchCallback,
        *,
        resume: bool = False,
        warm: WarmTrials = (),
        done: frozenset[str] = frozenset(),
    ) -> SearchOutcome: ...
