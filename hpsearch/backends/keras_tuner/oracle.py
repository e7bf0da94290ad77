"""Keras Tuner's oracles outside a tuner: warm-start seeding, the Bayesian oracle lent to Ray
(``OracleSuggester``), and the clamp of its edge proposals back into the space."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpsearch.backends.keras_tuner.hypermodel import hp_value
from hpsearch.backends.keras_tuner.state import atomic_state_files
from hpsearch.model import quiet_tensorflow
from hpsearch.space import IntRange, Space
from hpsearch.trials import plain

#: hpsearch ends runaway searches itself (issue: --max-failures); Keras Tuner must not stop
#: after its default of 3 consecutive failures.
NEVER = 1_000_000


def clamp_to_space(space: Space, values: dict[str, Any]) -> dict[str, Any]:
    """Int values put back inside their declared range, in place.

    keras-tuner 1.4.8's ``Int.prob_to_value`` maps a probability in [0, 1) onto
    ``[min, max + 1)``, but its Bayesian oracle optimises over [0, 1] inclusive, so a
    proposal at the edge becomes max + 1 (``n_neurons=257`` from ``[16, 256]``)."""
    for name, param in space.searched().items():
        value = values.get(name)
        if isinstance(param, IntRange) and isinstance(value, int) and value > param.max:
            values[name] = param.max
    return values


def seed_oracle(kt: Any, oracle: Any, warm: Sequence[tuple[dict[str, Any], float]]) -> int:
    """Add earlier trials to an oracle as COMPLETED ones with their scores (warm start).

    Keras Tuner's Bayesian oracle fits its GP on completed trials and counts them toward
    ``num_initial_points``, so the first new trial is already a model-guided one. The cap
    on trials is raised by as many, so the new search still runs its own max_trials."""
    hp_template = oracle.get_space()
    added = 0
    for i, (params, score) in enumerate(warm):
        hp = hp_template.copy()
        for name, value in params.items():
            if name in hp.values:
                hp.values[name] = value
        trial = kt.engine.trial.Trial(hp, trial_id=f"warm{i:04d}", status="COMPLETED")
        trial.metrics.register(oracle.objective.name, direction=oracle.objective.direction)
        trial.metrics.update(oracle.objective.name, float(score), step=0)
        trial.score, trial.best_step = float(score), 0
        oracle.trials[trial.trial_id] = trial
        added += 1
    if oracle.max_trials:
        oracle.max_trials += added
    return added


class OracleSuggester:
    """Keras Tuner's Bayesian oracle (GP + UCB) as a plain suggest/observe object.

    Ray's ``bayesian`` strategy drives it through a Tune Searcher, so "bayesian" means the
    same algorithm, with the same seed and settings, on both backends.
    """

    def __init__(
        self,
        space: Space,
        directory: Path,
        max_trials: int,
        warm: Sequence[tuple[dict[str, Any], float]] = (),
    ) -> None:
        quiet_tensorflow()
        import keras_tuner as kt

        atomic_state_files()  # Ray's driver writes this oracle's state
        hp = kt.HyperParameters()
        for name, param in space.searched().items():  # as SpaceHyperModel.build declares
            hp_value(hp, name, param)
        b, objective = space.search.bayesian, space.objective
        self._kt = kt
        self.oracle = kt.oracles.BayesianOptimizationOracle(
            objective=kt.Objective(objective.metric, direction=objective.direction),
            max_trials=max_trials,
            num_initial_points=b.initial_points,
            alpha=b.alpha,
            beta=b.beta,
            seed=space.search.seed,
            hyperparameters=hp,
            max_consecutive_failed_trials=NEVER,
        )
        self.oracle._set_project_dir(str(directory), "oracle")
        self.oracle.verbose = 0  # no per-trial tables on the terminal
        seed_oracle(kt, self.oracle, warm)
        self.metric = objective.metric
        self.space = space
        self._trials: dict[str, Any] = {}

    def suggest(self, key: str) -> dict[str, Any] | None:
        """Params for a new trial, or None once the oracle has spent its max_trials."""
        trial = self.oracle.create_trial(key)
        if str(trial.status) != "RUNNING":
            return None
        self._trials[key] = trial
        values = clamp_to_space(self.space, trial.hyperparameters.values)
        return {k: plain(v) for k, v in values.items()}

    def observe(self, key: str, value: float | None) -> None:
        """Report a trial's objective (None or non-finite: the trial failed)."""
        trial = self._trials.pop(key, None)
        if trial is None:
            return
        status = self._kt.engine.trial.TrialStatus
        if value is not None and math.isfinite(value):
            self.oracle.update_trial(trial.trial_id, {self.metric: float(value)})
            trial.status = status.COMPLETED
        else:
            trial.status = status.FAILED
        self.oracle.end_trial(trial)
