"""The engines, and what each can do, declared once: every caller asks here.

Standard library only, so the space schema, the CLI's ``--help`` and ``validate`` can ask
which strategies run where without importing an engine. An engine's own package (the only
importer of its library) is imported by ``load`` and ``session``, when a search starts, and
by ``preflight`` when there is a cluster to ask.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Every strategy, in the order help texts list them.
STRATEGIES: tuple[str, ...] = (
    "random",
    "grid",
    "hyperband",
    "bayesian",
    "asha",
    "tpe",
    "bohb",
    "i-epoch",
)
#: Strategies that train a trial in stages (rungs), stopping and continuing it from its
#: weights: they read the ``hyperband`` section, and a cross-validated objective (which
#: exists only once every fold trained) cannot drive them.
BRACKETED: tuple[str, ...] = ("hyperband", "asha", "bohb", "i-epoch")
#: The (strategy, engine) ``compare`` adds to every comparison as its baseline, unless told
#: not to (``--no-baseline``): the i-epoch method (Egele et al., 2023).
BASELINE: tuple[str, str] = ("i-epoch", "keras-tuner")
#: Strategies a pruner (``search.pruner``) may stop trials of: the others stop trials
#: themselves, by their rungs.
PRUNABLE: tuple[str, ...] = ("random", "grid", "bayesian", "tpe", "bohb")


@dataclass(frozen=True)
class Engine:
    """One search engine: its package, its strategies and the options (by CLI flag) it
    accepts besides ``verbose``."""

    name: str
    package: str
    strategies: tuple[str, ...]
    options: dict[str, str] = field(default_factory=dict)
    #: Strategies whose suggestion algorithm another engine supplies: strategy -> engine.
    borrows: dict[str, str] = field(default_factory=dict)
    #: A cluster address (flag or RAY_ADDRESS) puts GPUs in the cluster's hands.
    clustered: bool = False
    #: Its package has a ``session`` that keeps the engine up across searches.
    keeps_session: bool = False
    #: Its Hyperband runs a whole bracket schedule, which max_trials may cut (Keras
    #: Tuner's); Ray's HyperBand runs max_trials trials through its brackets.
    hyperband_schedule: bool = False


ENGINES: dict[str, Engine] = {
    "keras-tuner": Engine(
        name="keras-tuner",
        package="hpsearch.backends.keras_tuner",
        strategies=("random", "grid", "hyperband", "bayesian", "bohb", "i-epoch"),
        options={"workers": "--workers", "gpus": "--gpus", "retries": "--retries"},
        hyperband_schedule=True,
    ),
    "ray": Engine(
        name="ray",
        package="hpsearch.backends.ray_tune",
        strategies=tuple(s for s in STRATEGIES if s != "i-epoch"),  # a Keras Tuner oracle
        options={
            "address": "--address",
            "max_concurrent": "--max-concurrent",
            "cpus_per_trial": "--cpus-per-trial",
            "gpus_per_trial": "--gpus-per-trial",
            "time_budget_s": "--time-budget",
            "gpus": "--gpus",
            "retries": "--retries",
        },
        borrows={"bayesian": "keras-tuner"},  # Keras Tuner's Gaussian-process oracle
        clustered=True,
        keeps_session=True,
    ),
}

#: Engine names, in the order help texts list them.
BACKENDS: tuple[str, ...] = tuple(ENGINES)


def engine(name: str) -> Engine:
    return ENGINES[name]


def runs_on(strategy: str, backend: str) -> bool:
    """Whether ``backend`` offers ``strategy``."""
    return strategy in ENGINES[backend].strategies


def engines_for(strategy: str) -> list[str]:
    """The engines that offer ``strategy``."""
    return [name for name, e in ENGINES.items() if strategy in e.strategies]


def only_on_phrase(strategy: str) -> str:
    """Why a pair is skipped: "a Ray-only strategy" or "a Keras Tuner-only strategy"."""
    home = only_on(strategy)
    return f"a {'Ray' if home == 'ray' else 'Keras Tuner'}-only strategy"


def only_on(strategy: str) -> str | None:
    """The one engine that offers ``strategy``, when only one does (for messages)."""
    names = engines_for(strategy)
    return names[0] if len(names) == 1 else None


def option_owner(key: str) -> tuple[str, str]:
    """The (engine, flag) of a backend option, for a message naming the flag."""
    for name, e in ENGINES.items():
        if key in e.options:
            return name, e.options[key]
    raise KeyError(key)


def cluster_address(options: dict[str, Any]) -> str:
    """The cluster a search joins (the ``address`` option, else RAY_ADDRESS); '' for none."""
    return str(options.get("address") or os.environ.get("RAY_ADDRESS") or "")


def preflight(name: str, options: dict[str, Any]) -> None:
    """What an engine checks before anything is created: a cluster that refuses this client
    (Ray's token authentication) fails here, before the MLflow run and the output folder
    exist. The engine's package is imported only when there is a cluster to ask."""
    address = cluster_address(options)
    if ENGINES[name].clustered and address:
        importlib.import_module(ENGINES[name].package).check_cluster(address)


def load(name: str, **options: Any) -> Any:
    """Import the engine's package only now, and build its backend (a base.Backend) with
    ``options``. Typed Any: this module stays a leaf that imports no other hpsearch module."""
    module = importlib.import_module(ENGINES[name].package)
    return module.BACKEND_CLASS(**options)


def session(name: str, verbose: bool = False, **options: Any) -> contextlib.AbstractContextManager:
    """A context that keeps the engine up across several searches in this process (Ray's
    start and stop cost 5-9 s a search here); engines without one get a null context, and
    their package is not imported for it."""
    if not ENGINES[name].keeps_session:
        return contextlib.nullcontext()
    opener: Callable[..., contextlib.AbstractContextManager] = importlib.import_module(
        ENGINES[name].package
    ).session
    return opener(verbose=verbose, **options)


def borrowed(strategy: str, backend: str) -> Any:
    """The suggestion algorithm another engine supplies for ``backend``'s ``strategy``
    (its package's ``SUGGESTERS``): Ray's bayesian is Keras Tuner's GP oracle."""
    lender = ENGINES[backend].borrows[strategy]
    module = importlib.import_module(ENGINES[lender].package)
    return module.SUGGESTERS[strategy]
