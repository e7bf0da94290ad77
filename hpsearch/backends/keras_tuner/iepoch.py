"""The i-epoch baseline (Egele et al., 2023, "Is One Epoch All You Need for Multi-Fidelity
HPO?") as a Keras Tuner oracle: N configurations sampled at random train ``i`` epochs each,
then the best k = ceil(keep * N) continue from their weights to the full epochs.

It is Hyperband with one bracket of two rounds, so the oracle subclasses Keras Tuner's
``HyperbandOracle`` and ``kt.Hyperband``'s own trial running does the rest: a promoted
trial carries ``tuner/trial_id`` (the parent whose best checkpoint it loads) and
``tuner/initial_epoch`` = i, as Hyperband's promotions do. Only the sizes, the epochs and the
promotion rule are its own: round 1 starts once every round-0 trial has ended and takes the
best k of those that finished (Hyperband's rule, "more finished than will be thrown out",
would never promote if a round-0 trial failed).
"""

from __future__ import annotations

import functools
from typing import Any

#: Trial statuses after which a round-0 trial will not run again (INVALID may be retried).
_ENDED = ("COMPLETED", "FAILED")


def promote(oracle: Any, trial_id: str) -> dict[str, Any]:
    """Round 1's next trial once every round-0 trial has ended: the best of those that
    finished, among the top ``kept``, not yet continued; else wait (IDLE) or stop."""
    first, second = oracle._brackets[0]["rounds"]
    trials = [oracle.trials[info["id"]] for info in first]
    if any(t.status not in _ENDED for t in trials):
        return {"status": "IDLE"}  # a parallel worker waits for round 0 to end
    promoted = {info["past_id"] for info in second}
    finished = [t for t in trials if t.status == "COMPLETED"]
    ranked = sorted(finished, key=lambda t: t.score, reverse=oracle.objective.direction == "max")
    todo = [t for t in ranked[: oracle.kept] if t.trial_id not in promoted]
    if not todo:
        return {"status": "IDLE" if oracle.ongoing_trials else "STOPPED"}
    best = todo[0]
    values = best.hyperparameters.values.copy()
    values |= {
        "tuner/trial_id": best.trial_id,
        "tuner/epochs": oracle._get_epochs(0, 1),
        "tuner/initial_epoch": oracle._get_epochs(0, 0),
        "tuner/bracket": 0,
        "tuner/round": 1,
    }
    second.append({"past_id": best.trial_id, "id": trial_id})
    return {"status": "RUNNING", "values": values}


@functools.cache
def iepoch_oracle_class(kt: Any) -> type:
    """``IEpochOracle``, a ``HyperbandOracle`` (built once per process, as keras_tuner is
    imported lazily)."""

    class IEpochOracle(kt.oracles.HyperbandOracle):  # type: ignore[misc, name-defined]
        """One bracket, two rounds: ``sampled`` trials at ``first_epochs``, then the best
        ``kept`` of them continued to ``full_epochs`` (Hyperband's max_epochs)."""

        def __init__(
            self,
            objective: Any = None,
            *,
            sampled: int,
            kept: int,
            first_epochs: int,
            full_epochs: int,
            **kwargs: Any,
        ) -> None:
            # set first: HyperbandOracle.__init__ opens its first bracket with them
            self.sampled, self.kept, self.first_epochs = sampled, kept, first_epochs
            super().__init__(objective, max_epochs=full_epochs, hyperband_iterations=1, **kwargs)

        def _get_num_brackets(self) -> int:
            return 1

        def _get_num_rounds(self, bracket_num: int) -> int:
            return 2

        def _get_size(self, bracket_num: int, round_num: int) -> int:
            return self.sampled if round_num == 0 else self.kept

        def _get_epochs(self, bracket_num: int, round_num: int) -> int:
            return self.first_epochs if round_num == 0 else int(self.max_epochs)

        def populate_space(self, trial_id: str) -> dict[str, Any]:
            bracket = self._brackets[0]
            if len(bracket["rounds"][0]) < self.sampled:
                response: dict[str, Any] = self._random_trial(trial_id, bracket)
                if response["status"] == "RUNNING":
                    return response
                # no new configuration is left in the space: continue the best of those drawn
                self.sampled = len(bracket["rounds"][0])
            return promote(self, trial_id)

        def get_state(self) -> dict[str, Any]:
            state: dict[str, Any] = super().get_state()
            state["i_epoch"] = {
                "sampled": self.sampled,
                "kept": self.kept,
                "first_epochs": self.first_epochs,
            }
            return state

        def set_state(self, state: dict[str, Any]) -> None:
            super().set_state(state)
            own = state["i_epoch"]
            self.sampled, self.kept, self.first_epochs = (
                own["sampled"],
                own["kept"],
                own["first_epochs"],
            )

    return IEpochOracle


@functools.cache
def iepoch_tuner_class(kt: Any) -> type:
    """``IEpoch``: ``kt.Hyperband`` driven by the i-epoch oracle."""
    from hpsearch.backends.keras_tuner.brackets import hyperband_runner

    settings = ("sampled", "kept", "first_epochs", "full_epochs")
    return hyperband_runner(kt, iepoch_oracle_class(kt), "IEpoch", settings)
