"""BOHB on Keras Tuner (keras-team/keras-tuner#754): Hyperband's brackets, with each
bracket's new configurations drawn from BOHB's model (hpsearch.study.BohbModel) instead of
at random.

Only the first round of a bracket samples configurations (``HyperbandOracle._random_trial``
asks ``_random_values``); the later rounds promote the best of the round before, as in
Hyperband. So the oracle overrides ``_random_values`` alone: it rebuilds the model from
its own ended trials (their hyperparameters less ``tuner/*``; the budget, ``tuner/epochs``
or the epochs a trial stopped early reached; the score) and asks it for the next
configuration, keyed by the trial count. Everything it needs is in ``self.trials``, which
Keras Tuner reloads on ``--resume``, so a resumed search draws what the uninterrupted one
would have. A value the model does not decide (a random draw, a name outside the space) is
Keras Tuner's own random draw.
"""

from __future__ import annotations

from typing import Any

from hpsearch.space import Space
from hpsearch.study import BohbModel


def bohb_oracle(kt: Any, base: type) -> type:
    """The BOHB oracle class on ``base`` (the smallest-rung HyperbandOracle)."""

    class BohbOracle(base):  # type: ignore[misc, valid-type]
        """HyperbandOracle whose new configurations come from BOHB's model."""

        def __init__(self, *args: Any, model_space: Space, **kwargs: Any) -> None:
            self.model_space = model_space
            super().__init__(*args, **kwargs)

        def model(self) -> BohbModel:
            """BOHB's model of the trials ended so far, in trial order."""
            model = BohbModel(self.model_space)
            for trial in sorted(self.trials.values(), key=lambda t: str(t.trial_id)):
                if str(trial.status) != "COMPLETED" or trial.score is None:
                    continue
                values = trial.hyperparameters.values
                params = {k: v for k, v in values.items() if not k.startswith("tuner/")}
                model.observe(params, self._budget(trial), float(trial.score))
            return model

        def _budget(self, trial: Any) -> int:
            """The budget ``trial`` was evaluated at: its rung's ``tuner/epochs``, as in BOHB
            and Tune's. A trial stopped early (early stopping, the pruner) counts there too,
            with its best value: Keras Tuner records no epoch count (its one metric step is
            the best epoch's index within the fit, and a worker's metrics never reach the
            chief's copy of the trial), so the rung is the one budget both modes know."""
            values = trial.hyperparameters.values
            if "tuner/epochs" not in values:  # a warm-start trial: it trained to the end
                return int(self.max_epochs)
            return int(values["tuner/epochs"])

        def _random_values(self) -> dict[str, Any] | None:
            model = self.model()
            n = len(self.trials)
            for attempt in range(self._max_collisions + 1):
                key = f"{n}.{attempt}"
                if model.model_budget(key) is None:
                    break  # a random configuration: Keras Tuner's own draw
                values = self._fill(model.suggest(key))
                if not self._duplicate(values):
                    return values
            values = super()._random_values()
            return dict(values) if values is not None else None

        def _fill(self, params: dict[str, Any]) -> dict[str, Any]:
            """Values for every active hyperparameter the tuner knows: the model's where
            it has one, else Keras Tuner's random draw (as ``_random_values`` makes)."""
            hps = kt.HyperParameters()
            for hp in self.hyperparameters.space:
                hps.merge([hp])
                if not hps.is_active(hp):
                    continue
                if hp.name in params:
                    hps.values[hp.name] = params[hp.name]
                else:
                    hps.values[hp.name] = hp.random_sample(self._seed_state)
                    self._seed_state += 1
            return dict(hps.values)

    return BohbOracle
