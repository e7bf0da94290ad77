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

from hpsearch.space import Space
from hpsearch.space.searchspace import hyperband_brackets


@functools.cache
def hyperband_tuner_class(kt: Any, bohb: bool = False) -> type:
    """``Hyperband`` (or, with ``bohb``, ``Bohb``): ``kt.Hyperband`` with the smallest-rung
    oracle (or the BOHB oracle); built once per process, as keras_tuner loads lazily."""
    oracle_class = bohb_oracle_class(kt) if bohb else rung_oracle_class(kt)

    class Hyperband(kt.Hyperband):  # type: ignore[misc, name-defined]
        """``kt.Hyperband`` (its run_trial and checkpoint loading) with ``oracle_class``.
        ``model_space`` is the space BOHB's model samples (bohb only)."""

        def __init__(
            self,
            hypermodel: Any = None,
            objective: Any = None,
            *,
            max_epochs: int,
            factor: int,
            hyperband_iterations: int,
            min_epochs: int = 1,
            model_space: Space | None = None,
            seed: int | None = None,
            max_retries_per_trial: int = 0,
            max_consecutive_failed_trials: int = 3,
            **kwargs: Any,
        ) -> None:
            own = {"model_space": model_space} if bohb else {}
            oracle = oracle_class(
                objective,
                max_epochs=max_epochs,
                factor=factor,
                hyperband_iterations=hyperband_iterations,
                min_epochs=min_epochs,
                seed=seed,
                max_retries_per_trial=max_retries_per_trial,
                max_consecutive_failed_trials=max_consecutive_failed_trials,
                **own,
            )
            # kt.Hyperband.__init__ only builds its own oracle: skip it, keep its methods
            kt.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)

    Hyperband.__name__ = Hyperband.__qualname__ = "Bohb" if bohb else "Hyperband"
    Hyperband.Oracle = oracle_class  # type: ignore[attr-defined]  # for tests
    return Hyperband


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
