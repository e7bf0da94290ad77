"""Keras Tuner's Hyperband with a smallest rung (``hyperband.min_epochs``), and BOHB on it.

``kt.Hyperband`` builds its own ``HyperbandOracle``, whose first bracket trains its
configurations ``ceil(max_epochs / factor**b)`` epochs, one epoch or so: too few to rank
configurations on many tasks. The oracle here drops the brackets whose first rung trains
fewer than ``min_epochs`` (its ``_get_num_brackets``, by ``hyperband_brackets``, the
arithmetic the schedule's trial count uses too); the rest of the schedule is Keras Tuner's.

The tuner classes keep ``kt.Hyperband``'s trial running: a promoted trial carries
``tuner/trial_id`` and loads that trial's checkpoint (its best epoch's weights), then
trains epochs ``tuner/initial_epoch`` to ``tuner/epochs`` only.
"""

from __future__ import annotations

import functools
from typing import Any

from hpsearch.space.searchspace import hyperband_brackets

#: What a Keras Tuner tuner's constructor gets that its oracle takes, besides the oracle's
#: own settings: hpsearch's build_tuner passes these to every tuner.
ORACLE_COMMON = ("seed", "max_retries_per_trial", "max_consecutive_failed_trials")


def hyperband_runner(kt: Any, oracle_class: type, name: str, settings: tuple[str, ...]) -> type:
    """``kt.Hyperband``'s trial running (a promoted trial loads ``tuner/trial_id``'s
    checkpoint and trains ``tuner/initial_epoch`` to ``tuner/epochs``) with another oracle:
    the keyword arguments named in ``settings`` (and ORACLE_COMMON) build ``oracle_class``,
    the rest go to ``kt.Tuner``, as ``kt.Hyperband.__init__`` does for its own oracle."""

    class Runner(kt.Hyperband):  # type: ignore[misc, name-defined]
        def __init__(self, hypermodel: Any = None, objective: Any = None, **kwargs: Any) -> None:
            own = {k: kwargs.pop(k) for k in (*settings, *ORACLE_COMMON) if k in kwargs}
            oracle = oracle_class(objective, **own)
            # kt.Hyperband.__init__ only builds its own oracle: skip it, keep its methods
            kt.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)

    Runner.__name__ = Runner.__qualname__ = name
    Runner.Oracle = oracle_class  # type: ignore[attr-defined]  # for tests
    return Runner


@functools.cache
def hyperband_tuner_class(kt: Any, bohb: bool = False) -> type:
    """``Hyperband`` (or, with ``bohb``, ``Bohb``): ``kt.Hyperband`` with the smallest-rung
    oracle (or the BOHB oracle); built once per process, as keras_tuner loads lazily."""
    oracle_class = bohb_oracle_class(kt) if bohb else rung_oracle_class(kt)
    settings = ("max_epochs", "factor", "hyperband_iterations", "min_epochs")
    if bohb:
        return hyperband_runner(kt, oracle_class, "Bohb", (*settings, "model_space"))
    return hyperband_runner(kt, oracle_class, "Hyperband", settings)


@functools.cache
def rung_oracle_class(kt: Any) -> type:
    """Keras Tuner's ``HyperbandOracle`` whose first rung trains at least ``min_epochs``."""

    class RungHyperbandOracle(kt.oracles.HyperbandOracle):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, min_epochs: int = 1, **kwargs: Any) -> None:
            # set first: HyperbandOracle.__init__ counts its brackets
            self.min_rung = min_epochs
            super().__init__(*args, **kwargs)

        def _get_num_brackets(self) -> int:
            return hyperband_brackets(int(self.max_epochs), int(self.factor), self.min_rung)

    return RungHyperbandOracle


@functools.cache
def bohb_oracle_class(kt: Any) -> type:
    """The BOHB oracle; see hpsearch.backends.keras_tuner.bohb."""
    from hpsearch.backends.keras_tuner.bohb import bohb_oracle

    return bohb_oracle(kt, rung_oracle_class(kt))
