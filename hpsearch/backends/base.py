"""The Backend protocol and how a backend is chosen by name (lazily: no heavy imports)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hpsearch.space import Space
from hpsearch.trials import SearchCallback, TrialResult, best_of

if TYPE_CHECKING:
    from hpsearch.data import Dataset

#: backend name -> module under hpsearch.backends
_MODULES = {"keras-tuner": "keras_tuner", "ray": "ray_tune"}


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


class SearchStalled(RuntimeError):
    """No trial reported for far longer than any wait before: the search is stuck. Ends the
    search as a failed one (its ended trials kept, ``--resume`` goes on), not a hang."""


class Backend(Protocol):
    """Runs a search over a space on loaded data and reports through callbacks."""

    name: str

    def run(
        self,
        space: Space,
        data: Dataset,
        workdir: Path,
        callbacks: SearchCallback,
        *,
        resume: bool = False,
    ) -> SearchOutcome: ...


def get_backend(name: str, **options: Any) -> Backend:
    """Import the backend's adapter module only now, and build it with ``options``."""
    module = importlib.import_module(f"hpsearch.backends.{_MODULES[name]}")
    backend: Backend = module.BACKEND_CLASS(**options)
    return backend
