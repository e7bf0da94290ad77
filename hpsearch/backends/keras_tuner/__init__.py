"""The Keras Tuner engine: the only package that imports keras_tuner, and only lazily.

``tuner`` (the backend and its reporting tuners) builds on ``hypermodel`` (the space as
``hp.*`` calls), ``oracle`` (warm starts and the Bayesian oracle lent to Ray) and ``state``
(atomic state files); ``parallel`` supervises a distributed search whose chief and workers
run ``child`` (``python -m hpsearch.backends.keras_tuner``, see ``__main__``), reading the
``spec`` it wrote and talking back through ``events``.
"""

from __future__ import annotations

from hpsearch.backends.base import Backend
from hpsearch.backends.keras_tuner.events import (
    EventWriter,
    open_event_stream,
    wait_for_chief,
    watch_parent,
)
from hpsearch.backends.keras_tuner.hypermodel import fixed_params, hp_value
from hpsearch.backends.keras_tuner.oracle import OracleSuggester, clamp_to_space, seed_oracle
from hpsearch.backends.keras_tuner.parallel import (
    ParallelRun,
    Supervisor,
    describe_exit,
    run_parallel,
)
from hpsearch.backends.keras_tuner.spec import read_spec, write_spec
from hpsearch.backends.keras_tuner.state import atomic_state_files, write_atomically
from hpsearch.backends.keras_tuner.tuner import KerasTunerBackend, _tuner_class

BACKEND_CLASS: type[Backend] = KerasTunerBackend  # mypy checks it keeps the protocol

#: The suggestion algorithms this engine lends to others (backends.borrowed).
SUGGESTERS = {"bayesian": OracleSuggester}

__all__ = [
    "BACKEND_CLASS",
    "SUGGESTERS",
    "EventWriter",
    "KerasTunerBackend",
    "OracleSuggester",
    "ParallelRun",
    "Supervisor",
    "_tuner_class",
    "atomic_state_files",
    "clamp_to_space",
    "describe_exit",
    "fixed_params",
    "hp_value",
    "open_event_stream",
    "read_spec",
    "run_parallel",
    "seed_oracle",
    "wait_for_chief",
    "watch_parent",
    "write_atomically",
    "write_spec",
]
