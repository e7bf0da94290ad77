"""hpsearch: declarative hyperparameter search for Keras MLPs, tracked in MLflow.

The public API is imported lazily so that ``import hpsearch`` (and the CLI's ``--help``)
stays free of tensorflow, keras_tuner, ray and mlflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpsearch.version import __version__

__all__ = [
    "SearchSpace",
    "__version__",
    "best",
    "load_space",
    "load_trials",
    "make_report",
    "run",
]

if TYPE_CHECKING:
    from hpsearch.api import best, load_trials, make_report, run
    from hpsearch.space import Space as SearchSpace
    from hpsearch.space import load_space


def __getattr__(name: str) -> Any:
    if name in ("run", "load_trials", "best", "make_report"):
        from hpsearch import api

        return getattr(api, name)
    if name in ("SearchSpace", "load_space"):
        from hpsearch import space

        return space.Space if name == "SearchSpace" else space.load_space
    raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")
