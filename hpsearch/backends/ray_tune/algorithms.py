"""The strategy table's pieces: the space as Tune distributions, the searchers (Tune's
seeded generator, Optuna's TPE, Keras Tuner's GP oracle, BOHB's model), the concurrency limit
and the budget stopper. Each searcher asks the StallWatch whenever Tune polls it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.backends.ray_tune.bohb import bohb_searcher
from hpsearch.backends.ray_tune.stall import _check_stall
from hpsearch.space import Bool, Choice, FloatRange, IntRange, Param, Space
from hpsearch.trials import SearchCallback

#: Stop checks by key: searchers are pickled with the Tuner's state, callbacks must not be.
_STOP_CHECKS: dict[str, Any] = {}


def tune_domain(param: Param) -> Any:
    """One hyperparameter as a ``ray.tune`` distribution (a fixed value stays a constant)."""
    from ray import tune

    if isinstance(param, IntRange):
        if param.log:
            return tune.lograndint(param.min, param.max + 1)  # upper bound is exclusive
        if param.step:
            return tune.qrandint(param.min, param.max, param.step)  # inclusive
        return tune.randint(param.min, param.max + 1)
    if isinstance(param, FloatRange):
        if param.log:
            return tune.loguniform(param.min, param.max)
        if param.step:
            return tune.quniform(param.min, param.max, param.step)
        return tune.uniform(param.min, param.max)
    if isinstance(param, Choice):
        return tune.choice(list(param.options))
    if isinstance(param, Bool):
        return tune.choice([False, True])
    return param.value


@dataclass
class Plan:
    """What the strategy table gives a Tuner."""

    param_space: dict[str, Any]
    search_alg: Any
    scheduler: Any
    max_epochs: int


def fixed_params(space: Space) -> dict[str, Any]:
    """The params a search does not vary: every trial trains with these values."""
    searched = space.searched()
    return {k: p.value for k, p in space.params.items() if k not in searched}  # type: ignore[union-attr]


def plan_search(
    space: Space,
    workdir: Path,
    warm: Sequence[tuple[dict[str, Any], float]],
    max_concurrent: int | None,
    watch: str,
) -> Plan:
    """The strategy table: the param space, the searcher and the scheduler each strategy
    runs with; searchers limited to ``max_concurrent`` and asking the StallWatch ``watch``."""
    from ray import tune

    search = space.search
    metric, mode = space.objective.metric, space.objective.direction
    param_space = {k: tune_domain(p) for k, p in space.searched().items()}
    for name in space.per_layer_names():  # sampled for every layer; unused ones dropped
        param_space[name] = tune_domain(space.params["n_neurons"])
    max_epochs = space.training.epochs
    if search.strategy in ("hyperband", "asha", "bohb") and search.hyperband.max_epochs:
        max_epochs = search.hyperband.max_epochs
    min_epochs = search.hyperband.min_epochs or 1  # the first rung (ASHA's grace period)

    scheduler: Any = None
    search_alg: Any = _variant_generator(search.seed, max_concurrent, watch)
    if search.strategy in ("hyperband", "bohb"):
        scheduler = _hyperband(max_epochs, search.hyperband.factor, min_epochs)
    elif search.strategy == "asha":
        scheduler = tune.schedulers.ASHAScheduler(
            max_t=max_epochs,
            grace_period=min(min_epochs, max_epochs),  # above max_t: Tune asserts
            reduction_factor=search.hyperband.factor,
        )
    elif search.strategy == "bayesian":
        search_alg = _oracle_searcher(space, workdir, metric, mode, warm, watch)
        param_space = {}  # the oracle samples the space itself
    elif search.strategy == "grid":  # every configuration once: Space.grid(), as on KT
        param_space = {k: tune.grid_search(v) for k, v in space.grid().items()}
    elif search.strategy == "tpe":
        search_alg = _tpe_for(space, warm, watch)
    if search.strategy == "bohb":  # BOHB's model samples the space, in Hyperband's brackets
        search_alg = bohb_searcher(space, metric, mode, watch)
        param_space = {}
    if search.strategy in ("bayesian", "tpe", "bohb"):
        search_alg = _watched_limit(search_alg, max_concurrent, watch)
    return Plan(param_space, search_alg, scheduler, max_epochs)


def _tpe_for(space: Space, warm: Sequence[tuple[dict[str, Any], float]], watch: str | None) -> Any:
    """The tpe strategy's searcher: the seeded TPE sampler, warm-started with ``warm``."""
    from hpsearch.study import tpe_sampler

    # Optuna counts warm trials toward its random start-up: with a warm start the
    # earlier trials are the start-up, and TPE guides the first new trial already.
    startup = min(10, len(warm)) if warm else 10
    sampler = tpe_sampler(space.search.seed, startup)
    warm_args: dict[str, Any] = {}
    if warm:
        names = set(space.searched())
        warm_args = {
            "points_to_evaluate": [{k: v for k, v in p.items() if k in names} for p, _ in warm],
            "evaluated_rewards": [score for _, score in warm],
        }
    return _tpe_searcher(sampler, warm_args, watch)


def _hyperband(max_t: int, factor: int, min_t: int = 1) -> Any:
    """Tune's HyperBandScheduler without its ways to leave a trial PAUSED for good, and
    without the brackets whose first milestone is under ``min_t`` epochs (hyperband.min_epochs:
    such a bracket's milestone reads 0, which Tune skips as a bracket too small).

    A trial that reaches its rung's milestone is paused until the rest of its bracket gets
    there; the bracket is then processed: halved (the best go on) or, at its last rung,
    ended. Tune 2.60 misses two cases, and a paused trial then waits forever (the stall
    watch ends the search):

    - The last rung ends while a trial's pause is still being saved (RUNNING, is_saving):
      ``cleanup_full`` stops only PAUSED trials, so that one turns PAUSED a moment later
      with its bracket done. Two trials that reach max_t together meet this.
    - The last trial short of the milestone leaves the bracket (early stopping, a NaN, an
      error): ``on_trial_remove`` processes the bracket only if that leaves it unfinished
      and it was never halved before (``is_being_processed`` is never reset).
    - ``--resume``: Tune adds the restored run's ended trials to brackets too, where they
      wait for results that never come, so no rung of theirs is ever done.

    Here the last rung stops the trials being paused too (as Tune's halving already does),
    and a trial leaving a bracket whose other trials all wait at the milestone processes
    it; a restored ended trial joins no bracket. Every search Tune's scheduler finishes runs
    the same; only the stalls go."""
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import TrialScheduler, hyperband

    def waiting(trial: Any) -> bool:  # paused, or being paused (its save in flight)
        return bool(trial.status == Trial.PAUSED or trial.is_saving)

    class HyperBandScheduler(hyperband.HyperBandScheduler):  # type: ignore[misc]
        _busy = False  # processing a bracket: the removals it causes must not process it

        def _process_bracket(self, tune_controller: Any, bracket: Any) -> str:
            busy, self._busy = self._busy, True
            try:
                if not (bracket.cur_iter_done() and bracket.finished()):
                    return str(super()._process_bracket(tune_controller, bracket))
                for trial in bracket.current_trials():  # the last rung is done
                    if waiting(trial):
                        tune_controller.stop_trial(trial)
                return str(TrialScheduler.STOP)  # the trial that reported, if any
            finally:
                self._busy = busy

        def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
            # --resume: Tune adds the restored run's ended trials too; in a bracket they
            # would wait for results that never come, and no rung would ever be done.
            if trial.status not in (Trial.TERMINATED, Trial.ERROR):
                super().on_trial_add(tune_controller, trial)

        def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
            if trial not in self._trial_info:  # an ended trial of a restored run
                return
            bracket, _ = self._trial_info[trial]
            bracket.cleanup_trial(trial)
            rest = bracket.current_trials()
            if not self._busy and rest and bracket.cur_iter_done() and all(map(waiting, rest)):
                self._process_bracket(tune_controller, bracket)

    scheduler = HyperBandScheduler(max_t=max_t, reduction_factor=factor)
    first_milestone = scheduler._get_r0
    # the first bracket (every trial to max_t) stays, whatever min_t: Tune would loop
    scheduler._get_r0 = lambda s: r0 if (r0 := first_milestone(s)) >= min_t or not s else 0
    return scheduler


def _variant_generator(seed: int, max_concurrent: int | None, watch: str | None = None) -> Any:
    """Tune's seeded random generator, with the concurrency limit set on it (Tune ignores
    ``max_concurrent_trials`` for a generator passed in) and safe to restore.

    The generator counts the trials it created and has not seen end. A restore with
    unfinished trials restarted gives them new ids, so the old ids would never end and a
    limit of one would wait for them forever: a restored generator forgets them."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    class RestorableVariants(BasicVariantGenerator):  # type: ignore[misc]
        def next_trial(self) -> Any:
            _check_stall(watch)
            return super().next_trial()

        def restore_from_dir(self, dirpath: str) -> None:
            super().restore_from_dir(dirpath)
            self._live_trials = set()

    return RestorableVariants(random_state=seed, max_concurrent=max_concurrent or 0)


def _watched_limit(searcher: Any, max_concurrent: int | None, watch: str | None) -> Any:
    """Tune's ConcurrencyLimiter for a Searcher, asking the StallWatch first. A full limiter
    answers Tune's polls itself, so the searcher inside is never asked; a lost trial (one
    Tune ended without telling the searcher) keeps it full for good, and only this check
    then sees the search stand still. Without a limit the searcher is asked directly."""
    if not max_concurrent:
        return searcher
    from ray.tune.search import ConcurrencyLimiter

    class WatchedLimiter(ConcurrencyLimiter):  # type: ignore[misc]
        def suggest(self, trial_id: str) -> Any:
            _check_stall(watch)
            return super().suggest(trial_id)

        def set_state(self, state: dict[str, Any]) -> None:
            # --resume restarts unfinished trials under new ids: the old ones would never
            # end, and hold the limit for good (as the generator's, see _variant_generator)
            super().set_state(state)
            self.live_trials, self.num_unfinished_live_trials = set(), 0

    return WatchedLimiter(searcher, max_concurrent=max_concurrent)


def _tpe_searcher(sampler: Any, warm_args: dict[str, Any], watch: str | None) -> Any:
    """Optuna's TPE behind Tune, asking the StallWatch whenever Tune polls it."""
    from ray.tune.search.optuna import OptunaSearch

    class WatchedOptuna(OptunaSearch):  # type: ignore[misc]
        def suggest(self, trial_id: str) -> Any:
            _check_stall(watch)
            return super().suggest(trial_id)

    return WatchedOptuna(sampler=sampler, **warm_args)


def _budget_stopper(callbacks: SearchCallback) -> Any:
    """A Tune Stopper that ends the whole search once ``callbacks.stop_reason()`` says so.

    As on Keras Tuner, the search stops the moment a budget is spent: running trials end
    after their current epoch and keep what they trained; queued trials never start."""
    from ray.tune.stopper import Stopper

    key = _stop_key(callbacks)
    _STOP_CHECKS[key] = callbacks.stop_reason

    class BudgetStopper(Stopper):  # type: ignore[misc]
        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            return False

        def stop_all(self) -> bool:
            return _stop_check(key)

    return BudgetStopper()


def forget_stop_check(callbacks: SearchCallback) -> None:
    """Drop the search's entry once it ended: it holds the search's callbacks (the tracker,
    the journal) for as long as the process lives (compare, sweeps, API loops)."""
    _STOP_CHECKS.pop(_stop_key(callbacks), None)


def _stop_key(callbacks: SearchCallback) -> str:
    """The search's key in _STOP_CHECKS: its process and its callbacks."""
    return f"{os.getpid()}-{id(callbacks)}"


def _stop_check(key: str) -> bool:
    """Whether the search of ``key`` should stop: a module function, which cloudpickle
    keeps by reference, so the pickled stopper does not carry the search's callbacks."""
    check = _STOP_CHECKS.get(key)
    return bool(check and check())


def _oracle_searcher(
    space: Space,
    workdir: Path,
    metric: str,
    mode: str,
    warm: Sequence[tuple[dict[str, Any], float]] = (),
    watch: str | None = None,
) -> Any:
    """Keras Tuner's Bayesian oracle behind a Tune Searcher: one GP algorithm, two engines."""
    from ray.tune.search import Searcher

    from hpsearch.backends import borrowed

    suggester = borrowed("bayesian", "ray")(
        space, workdir / "oracle", space.search.max_trials, warm
    )

    class OracleSearcher(Searcher):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(metric=metric, mode=mode)
            self.best: dict[str, float] = {}
            self.exhausted = False

        def suggest(self, trial_id: str) -> Any:  # params, or Searcher.FINISHED when spent
            _check_stall(watch)
            if self.exhausted:
                return Searcher.FINISHED
            params = suggester.suggest(trial_id)
            if params is None:
                self.exhausted = True
                return Searcher.FINISHED
            return params

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            value = result.get(metric)
            if value is None or not math.isfinite(value):
                return
            old = self.best.get(trial_id)
            if old is None or (value > old if mode == "max" else value < old):
                self.best[trial_id] = value

        def on_trial_complete(
            self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
        ) -> None:
            suggester.observe(trial_id, None if error else self.best.get(trial_id))

    return OracleSearcher()
