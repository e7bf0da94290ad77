"""Ray Tune backend: the only package that imports ray.

``worker`` runs in Ray's workers (the trainable); ``events`` turns Tune's trial events into
hpsearch's; ``algorithms`` holds the strategy table's searchers and schedulers; ``stall``
notices a search that stopped; ``lifecycle`` starts, joins and stops Ray; ``backend`` puts
them together. Every submodule imports ray lazily.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from hpsearch.backends.base import Backend
from hpsearch.backends.ray_tune.algorithms import (
    _STOP_CHECKS,
    _budget_stopper,
    _oracle_searcher,
    _tpe_searcher,
    _variant_generator,
    _watched_limit,
    tune_domain,
)
from hpsearch.backends.ray_tune.backend import RayTuneBackend
from hpsearch.backends.ray_tune.events import _Bridge, _Relay, _tune_callback
from hpsearch.backends.ray_tune.lifecycle import _connect, _is_client, check_cluster, held_ray
from hpsearch.backends.ray_tune.stall import _WATCHES, StallWatch, _check_stall
from hpsearch.backends.ray_tune.worker import train_trial

BACKEND_CLASS: type[Backend] = RayTuneBackend  # mypy checks it keeps the protocol


def session(verbose: bool = False, **options: Any) -> AbstractContextManager[None]:
    """The registry's ``session("ray", ...)``: ``held_ray``, looked up here at each call so
    a test that patches ``hpsearch.backends.ray_tune.held_ray`` sees its stand-in used."""
    return held_ray(verbose=verbose, **options)


__all__ = [
    "BACKEND_CLASS",
    "_STOP_CHECKS",
    "_WATCHES",
    "RayTuneBackend",
    "StallWatch",
    "_Bridge",
    "_Relay",
    "_budget_stopper",
    "_check_stall",
    "_connect",
    "_is_client",
    "_oracle_searcher",
    "_tpe_searcher",
    "_tune_callback",
    "_variant_generator",
    "_watched_limit",
    "check_cluster",
    "held_ray",
    "session",
    "train_trial",
    "tune_domain",
]
