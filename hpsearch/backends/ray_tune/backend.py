"""RayTuneBackend: a search's Tuner, from the space and the strategy table to the outcome.

The space becomes ``tune.*`` distributions; each trial trains ``build_model`` in a Ray worker
(worker.py) and reports every epoch with ``ray.tune.report``. Trial events reach hpsearch's
callbacks from a Tune Callback in the driver (events.py), so workers never talk to MLflow.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.backends.base import SearchOutcome, SearchStalled
from hpsearch.backends.ray_tune.algorithms import (
    Plan,
    _budget_stopper,
    fixed_params,
    forget_stop_check,
    plan_search,
)
from hpsearch.backends.ray_tune.events import (
    NAME,
    _Bridge,
    _forget_bridge,
    _pruning_stopper,
    _Relay,
    _tune_callback,
)
from hpsearch.backends.ray_tune.lifecycle import _is_client, ray_address, start_ray
from hpsearch.backends.ray_tune.stall import _WATCHES, StallWatch
from hpsearch.backends.ray_tune.worker import _read_best, payload_for, train_trial
from hpsearch.model import build_for, quiet_tensorflow
from hpsearch.space import TASK_METRICS, Space
from hpsearch.trials import SearchCallback, SearchInfo
from hpsearch.wide_deep import model_columns

if TYPE_CHECKING:
    from hpsearch.data import Dataset


class RayTuneBackend:
    """Runs random, grid, hyperband, asha, bayesian, tpe and bohb searches with Ray Tune."""

    name = NAME

    def __init__(
        self,
        verbose: bool = False,
        address: str | None = None,
        max_concurrent: int | None = None,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
        time_budget_s: float | None = None,
        gpus: list[int] | None = None,
        retries: int = 0,
    ) -> None:
        self.verbose = verbose
        self.retries = retries
        self.gpus = gpus
        self.address = ray_address(address)
        self.max_concurrent = max_concurrent
        self.cpus_per_trial = cpus_per_trial
        # --gpus without --gpus-per-trial: one trial per GPU.
        self.gpus_per_trial = gpus_per_trial or (1.0 if gpus else 0.0)
        self.time_budget_s = time_budget_s

    def _init_ray(self) -> bool:
        """Connect to the cluster, or start a local Ray; True when this call started it."""
        return start_ray(self.verbose, self.address, self.gpus)

    def run(
        self,
        space: Space,
        data: Dataset,
        workdir: Path,
        callbacks: SearchCallback,
        *,
        resume: bool = False,
        done: frozenset[str] = frozenset(),
        warm: Sequence[tuple[dict[str, Any], float]] = (),
    ) -> SearchOutcome:
        """Run the search; with ``resume`` restore Tune's experiment from ``workdir``:
        trials in ``done`` (hpsearch ids that already ended) are not reported again, and
        interrupted ones run again from scratch. (A trial that ended just before the driver
        died may be trained again, as Ray's saved state can lag by a trial, but its results
        are dropped: the journal and MLflow already hold it.) Any callback may end the search
        (see _budget_stopper)."""
        started = self._init_ray()
        try:
            return self._run(space, data, workdir, callbacks, resume, done, warm)
        finally:
            if started:
                import ray

                ray.shutdown()

    def _run(
        self,
        space: Space,
        data: Dataset,
        workdir: Path,
        callbacks: SearchCallback,
        resume: bool,
        done: frozenset[str],
        warm: Sequence[tuple[dict[str, Any], float]] = (),
    ) -> SearchOutcome:
        from ray import tune

        search, objective = space.search, space.objective
        metric, mode = objective.metric, objective.direction
        fixed = fixed_params(space)
        watch = StallWatch()
        watch_key = f"{os.getpid()}-{id(watch)}"
        _WATCHES[watch_key] = watch
        plan = plan_search(space, workdir, warm, self.max_concurrent, watch_key)

        metric_names = [m for k in TASK_METRICS[data.task] for m in (k, f"val_{k}")]
        bridge = _Bridge(callbacks, space, fixed, metric_names, done)
        # Ray Client (ray://) runs the Tuner, and so its callbacks, on the cluster: events
        # come back through a queue actor and are handled here, in the driver.
        relay = _Relay() if _is_client() else None
        # Budgets and the pruner are checked in this process, where the Tune controller runs.
        stopper = _stopper(callbacks, bridge, space.search.pruner is not None, relay)
        payload = payload_for(
            space, data, fixed, plan.max_epochs, self.cpus_per_trial, self.verbose
        )
        trainable = tune.with_resources(
            tune.with_parameters(train_trial, payload=payload),  # ships the data once
            {"cpu": self.cpus_per_trial, "gpu": self.gpus_per_trial},
        )
        callbacks.on_search_begin(
            SearchInfo(
                experiment=space.name,
                strategy=search.strategy,
                backend=self.name,
                max_trials=search.max_trials,
                objective=metric,
                direction=mode,
                seed=search.seed,
            )
        )
        callback = relay.callback if relay else _tune_callback(bridge, watch)
        tuner = self._tuner(
            space, workdir, plan, trainable, callback, stopper, resume and not relay
        )
        try:
            grid: Any = relay.fit(tuner, bridge, watch) if relay else tuner.fit()
        except Exception as exc:
            if watch.tripped:  # Tune wraps what a callback raised: say it plainly
                raise SearchStalled(watch.tripped) from exc
            raise
        finally:
            _WATCHES.pop(watch_key, None)
            _forget_bridge(bridge)
            forget_stop_check(callbacks)
        bridge.close_open()
        return self._outcome(grid, bridge, space, data)

    def _tuner(
        self,
        space: Space,
        workdir: Path,
        plan: Plan,
        trainable: Any,
        callback: Any,
        stopper: Any,
        restore: bool,
    ) -> Any:
        """A new Tuner for the plan, or (``restore``, when Tune saved one) the interrupted
        run's Tuner restored from ``workdir``."""
        from ray import tune

        search, objective = space.search, space.objective
        experiment = workdir / "ray" / "tune"
        if restore and tune.Tuner.can_restore(str(experiment.resolve())):
            # Interrupted trials run again from scratch, as on Keras Tuner: their epochs
            # were never logged (the process died first), so a full history is wanted.
            tuner = tune.Tuner.restore(
                str(experiment.resolve()),
                trainable=trainable,
                param_space=plan.param_space,
                _resume_config=tune.ResumeConfig(unfinished=tune.ResumeConfig.ResumeType.RESTART),  # type: ignore[arg-type]
            )
            # The restored RunConfig holds unpickled copies of the old run's callbacks,
            # wired to objects of a dead process: hand Tune this run's instead.
            internal: Any = tuner._local_tuner
            internal._run_config.callbacks = [callback]
            internal._run_config.stop = stopper  # the old one asks a dead process's checks
            return tuner
        return tune.Tuner(
            trainable,
            param_space=plan.param_space,
            tune_config=tune.TuneConfig(
                metric=objective.metric,
                mode=objective.direction,
                search_alg=plan.search_alg,
                scheduler=plan.scheduler,
                num_samples=1 if search.strategy == "grid" else search.max_trials,
                # A Searcher comes already limited (_watched_limit); the generator
                # takes its limit itself.
                max_concurrent_trials=None,
                time_budget_s=self.time_budget_s,
                reuse_actors=True,  # import TensorFlow once per worker, not once per trial
            ),
            run_config=tune.RunConfig(
                name="tune",
                storage_path=str((workdir / "ray").resolve()),
                callbacks=[callback],
                stop=stopper,
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=self.retries, fail_fast=False),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            ),
        )

    def _outcome(self, grid: Any, bridge: _Bridge, space: Space, data: Dataset) -> SearchOutcome:
        """The trials the bridge recorded, in id order, with the best one's model loader
        (its checkpoint holds the best epoch's weights) and the time budget's warning."""
        checkpoints = {}
        for res in grid:
            tid = res.metrics.get("trial_id") if res.metrics else None
            if tid and res.checkpoint is not None:
                checkpoints[bridge.tid(tid)] = res.checkpoint
        results = [bridge.results[k] for k in sorted(bridge.results)]
        outcome = SearchOutcome(results, space.objective.direction)
        best = outcome.best
        if best is not None and best.trial_id in checkpoints:
            outcome.load_best_model = partial(
                _load_best, space, data, best.params, checkpoints[best.trial_id], self.verbose
            )
        max_trials = space.search.max_trials
        if len(results) < max_trials and self.time_budget_s:
            outcome.warnings.append(
                f"ray: --time-budget {self.time_budget_s:g}s ended the search after "
                f"{len(results)} of {max_trials} trials"
            )
        return outcome


def _stopper(callbacks: SearchCallback, bridge: _Bridge, pruning: bool, relay: Any) -> Any:
    """The search's Tune Stopper: the callbacks' (a budget, or any callback's stop_reason,
    ends the whole search) and, with a pruner, the pruner's (one trial); None under Ray
    Client, whose Tuner runs on the cluster: there a callback's stop_reason is not asked
    (plan.py refuses budgets and pruners there)."""
    if relay is not None:
        return None
    stop = _budget_stopper(callbacks)
    if not pruning:
        return stop
    from ray.tune.stopper import CombinedStopper

    return CombinedStopper(stop, _pruning_stopper(bridge))


def _load_best(
    space: Space, data: Dataset, params: dict[str, Any], checkpoint: Any, verbose: bool
) -> Any:
    """The best trial's model: built again from its params, with the best epoch's weights."""
    quiet_tensorflow(verbose)

    model = build_for(
        params,
        data,
        builder=space.builder,
        builder_dirs=space.builder_dirs(),
        columns=model_columns(space, data),
    )
    if _is_client():  # the checkpoint sits on the cluster's storage: read it there
        import ray

        weights = ray.get(ray.remote(_read_best).remote(checkpoint))
    else:
        weights = _read_best(checkpoint)
    model.set_weights(weights)
    return model
