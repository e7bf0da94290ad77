"""BOHB on Ray: BOHB's model (hpsearch.study.BohbModel, the one Keras Tuner's ``bohb`` uses)
behind a Tune Searcher, run inside the strategy table's Hyperband scheduler.

Tune's own BOHB (TuneBOHB with HyperBandForBOHB) needs hpbandster and ConfigSpace; this
needs nothing new. Every reported epoch is a result at a budget (``training_iteration``
epochs, the trial's best value so far), so a trial paused at a rung and continued later adds
its results at the larger budgets, as a promoted trial does on Keras Tuner.

Tune saves a searcher by pickling it (``save``) and restores it on ``--resume``: the state is
plain data (configurations, results per budget, the count of suggestions), and the model is
rebuilt from it at each suggestion, as Keras Tuner's oracle rebuilds it from its trials.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

from hpsearch.backends.ray_tune.stall import _check_stall
from hpsearch.space import Space
from hpsearch.study import BohbModel


def bohb_searcher(space: Space, metric: str, mode: str, watch: str | None = None) -> Any:
    """The bohb strategy's Searcher (limit it with the strategy table's _watched_limit)."""
    from ray.tune.search import Searcher

    class BohbSearcher(Searcher):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(metric=metric, mode=mode)
            self.configs: dict[str, dict[str, Any]] = {}
            self.results: dict[str, dict[int, float]] = {}  # trial -> budget -> best so far
            self.count = 0

        def model(self) -> BohbModel:
            """BOHB's model of every result so far, trial by trial in suggestion order."""
            model = BohbModel(space)
            for trial_id, scores in self.results.items():
                for budget, value in sorted(scores.items()):
                    model.observe(self.configs[trial_id], budget, value)
            return model

        def suggest(self, trial_id: str) -> dict[str, Any]:
            _check_stall(watch)
            params = self.model().suggest(self.count)
            self.count += 1
            self.configs[trial_id] = params
            return params

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            value, budget = result.get(metric), result.get("training_iteration")
            if trial_id not in self.configs and isinstance(result.get("config"), dict):
                # a trial --resume restarted under a new id, with the config it had
                self.configs[trial_id] = dict(result["config"])
            if trial_id not in self.configs or value is None or budget is None:
                return
            if not math.isfinite(value):
                return
            budget = int(budget)
            if budget == 1:  # a first epoch: a new trial, or one Tune started over
                self.results[trial_id] = {}
            scores = self.results.setdefault(trial_id, {})
            before = [v for b, v in scores.items() if b < budget]
            best = max if mode == "max" else min
            scores[budget] = best([value, *before])

        def on_trial_complete(
            self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
        ) -> None:
            """The trial's last result: Tune hands a searcher no result it answers STOP to
            (the last trial to reach a rung, one the halving cuts, every trial ending at
            max_t, a pruned epoch), so it comes here, and its budget would be missing."""
            if result and not error:
                self.on_trial_result(trial_id, result)

        def save(self, checkpoint_path: str) -> None:
            state = {"configs": self.configs, "results": self.results, "count": self.count}
            Path(checkpoint_path).write_bytes(pickle.dumps(state))

        def restore(self, checkpoint_path: str) -> None:
            state = pickle.loads(Path(checkpoint_path).read_bytes())  # noqa: S301 - Tune's own file
            self.configs, self.results = state["configs"], state["results"]
            self.count = state["count"]

    return BohbSearcher()
