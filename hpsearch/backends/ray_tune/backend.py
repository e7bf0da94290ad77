"""Ray Tune backend: the only module that imports ray.

The space becomes ``tune.*`` distributions; each trial trains ``build_model`` in a Ray worker
and reports every epoch with ``ray.tune.report``. Trial events reach hpsearch's callbacks
from a Tune Callback in the driver, so workers never talk to MLflow.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from hpsearch.backends.base import SearchOutcome, SearchStalled
from hpsearch.backends.trial import error_line, objective_of
from hpsearch.model import (
    GraphJanitor,
    build_for,
    fit_callbacks,
    fit_options,
    quiet_tensorflow,
    settle_heap,
)
from hpsearch.space import TASK_METRICS, Bool, Choice, FloatRange, IntRange, Param, Space
from hpsearch.trials import FAILED, FINISHED, NAN_ERROR, SearchCallback, SearchInfo, TrialResult

if TYPE_CHECKING:
    from hpsearch.data import Dataset

#: Files inside each epoch's checkpoint: weights now (to resume a paused Hyperband trial) and
#: the best epoch's weights (for the best model), as plain numpy arrays.
_LATEST, _BEST, _STATE = "latest.npz", "best.npz", "state.json"
#: One per Ray worker process, which runs many trials (actors are reused).
_JANITOR: GraphJanitor | None = None
#: How long a reused actor waits for its previous trial's thread to end (see train_trial).
_RESET_WAIT_S = 120


class StallWatch:
    """Notices a Ray search that stopped making progress, so it fails instead of hanging.

    Tune's controller can wedge (P3's Hyperband hang: a failed actor reset lost a trial and
    the --max-concurrent generator waited for it forever; train_trial now prevents that
    cause), and a trial can hang in user code. Both look the same from the driver: no
    trial event. The limit adapts to the search: ``FACTOR`` times
    the longest wait between events so far, at least ``FLOOR_S``; before the first result
    (actor start, imports, a first epoch of unknown length) it is ``FIRST_S``.
    ``$HPSEARCH_STALL_S`` fixes the limit (0: never)."""

    FIRST_S, FLOOR_S, FACTOR = 1800.0, 120.0, 10.0

    def __init__(
        self, fixed: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        env = os.environ.get("HPSEARCH_STALL_S")
        self.fixed = fixed if fixed is not None else (float(env) if env else None)
        self.clock = clock
        self.last = clock()
        self.slowest = 0.0
        self.results = False
        self.tripped: str | None = None

    def beat(self, result: bool = False) -> None:
        """A trial event: an actor started, an epoch reported, a trial ended."""
        now = self.clock()
        if self.results:
            self.slowest = max(self.slowest, now - self.last)
        self.last, self.results = now, self.results or result

    def limit(self) -> float | None:
        if self.fixed is not None:
            return self.fixed or None
        if not self.results:
            return self.FIRST_S
        return max(self.FLOOR_S, self.FACTOR * self.slowest)

    def check(self) -> None:
        """Raise SearchStalled once the wait since the last event passes the limit."""
        limit, idle = self.limit(), self.clock() - self.last
        if limit is None or idle <= limit:
            return
        why = (
            "set by $HPSEARCH_STALL_S"
            if self.fixed
            else f"{self.FACTOR:g}x the longest wait before, at least {self.FLOOR_S:g} s; "
            "$HPSEARCH_STALL_S sets it"
        )
        self.tripped = (
            f"ray: no trial reported for {idle:.0f} s (the limit was {limit:.0f} s, {why}): "
            "a trial hung or Ray Tune stalled. The trials that ended are kept: run the same "
            "command with --resume to go on"
        )
        raise SearchStalled(self.tripped)


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


# ----------------------------------------------------------------------------- in the worker


def train_trial(config: dict[str, Any], payload: dict[str, Any]) -> None:
    """A function trainable: build, train, report every epoch, checkpoint for Hyperband."""
    from ray import tune

    quiet_tensorflow(payload["verbose"])
    import keras
    import numpy as np
    import ray
    import tensorflow as tf

    # Tune reuses this actor for the next trial only if this trial's thread ends within
    # TUNE_FUNCTION_THREAD_TIMEOUT_S of the reset (default 2 s). A trial a scheduler paused
    # or stopped unwinds out of model.fit, which on 2 busy cores can take longer; the reset
    # then fails, Tune marks the next trial ERROR without telling the searcher or any
    # callback, and a --max-concurrent generator waits forever for it (P3's Hyperband
    # hang). Read at each reset, in this process: set before the first one.
    os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", str(_RESET_WAIT_S))
    threads = max(1, int(payload["cpus_per_trial"]))
    try:  # a trial gets the cores Ray gave it, not every core on the node
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised in a reused worker
        pass
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass
    keras.backend.clear_session()  # actors are reused across trials
    settle_heap()  # once per worker: Ray's and Keras's gc.collect() skip the imports
    global _JANITOR
    if _JANITOR is None:
        _JANITOR = GraphJanitor()
    _JANITOR.sweep()  # what the previous trial in this actor left (see GraphJanitor)
    keras.utils.set_random_seed(payload["seed"])
    params = {**payload["fixed"], **config}
    data = payload["data"]

    def build() -> Any:
        keras.utils.set_random_seed(payload["seed"])
        return build_for(
            params,
            SimpleNamespace(**data),
            builder=payload["builder"],
            builder_dirs=payload["builder_dirs"],
        )

    model = build()
    metric, direction = payload["metric"], payload["direction"]
    node_id = ray.get_runtime_context().get_node_id()
    state = {"epoch": 0, "best": None, "best_epoch": 0}
    best_weights = model.get_weights()
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # a Hyperband trial resumed after a pause
        with checkpoint.as_directory() as folder:
            model.set_weights(list(np.load(Path(folder) / _LATEST).values()))
            best_weights = list(np.load(Path(folder) / _BEST).values())
            state = json.loads((Path(folder) / _STATE).read_text())

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            nonlocal best_weights
            logs = {k: float(v) for k, v in (logs or {}).items()}
            value = logs.get(metric, math.nan)
            best = state["best"]
            improved = math.isfinite(value) and (
                best is None or (value > best if direction == "max" else value < best)
            )
            if improved:
                state["best"], state["best_epoch"] = value, epoch + 1
                best_weights = self.model.get_weights()
            state["epoch"] = epoch + 1
            metrics = {**logs, "epoch": epoch + 1, "node_id": node_id, "pid": os.getpid()}
            # A checkpoint costs the driver work on 2 cores: write one when the best epoch
            # moves (for the best model), and every epoch only where a scheduler may pause
            # and later resume the trial (Hyperband).
            if not (improved or payload["checkpoint_every_epoch"]):
                tune.report(metrics)
                return
            with tempfile.TemporaryDirectory() as folder:
                np.savez(Path(folder) / _LATEST, *self.model.get_weights())
                np.savez(Path(folder) / _BEST, *best_weights)
                (Path(folder) / _STATE).write_text(json.dumps(state))
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))

    if payload.get("cv"):
        _cross_validate_trial(payload, params, build, node_id)
        return

    # target units first: Report sends the target's units
    callbacks = fit_callbacks(
        data.get("target_scale"),
        metric=metric,
        direction=direction,
        patience=payload["patience"],
        then=[Report()],
    )
    model.fit(
        data["x_train"],
        data["y_train"],
        validation_data=(data["x_valid"], data["y_valid"]),
        **fit_options(params, data["y_train"], data["task"]),
        epochs=payload["epochs"],
        initial_epoch=state["epoch"],
        callbacks=callbacks,
        verbose=0,
    )


def _cross_validate_trial(
    payload: dict[str, Any], params: dict[str, Any], build: Any, node_id: str
) -> None:
    """training.cv: k folds of train+valid (see hpsearch.cv), then the fold-mean epochs
    reported in order, with the fold scores on the last; the last fold's weights are the
    checkpoint a search's best model loads from."""
    import numpy as np
    from ray import tune

    from hpsearch.cv import cross_validate, replay_epochs

    data, metric, direction = payload["data"], payload["metric"], payload["direction"]
    callbacks = fit_callbacks(  # each fold's history in target units
        data.get("target_scale"), metric=metric, direction=direction, patience=payload["patience"]
    )
    result = cross_validate(
        build,
        np.concatenate([data["x_train"], data["x_valid"]]),
        np.concatenate([data["y_train"], data["y_valid"]]),
        k=int(payload["cv"]),
        seed=int(payload["seed"]),
        task=data["task"],
        metric=metric,
        direction=direction,
        fit_kwargs={
            **fit_options(params, data["y_train"], data["task"]),
            "epochs": payload["epochs"],
            "callbacks": callbacks,
            "verbose": 0,
        },
    )
    n = len(next(iter(result.history.values()), []))
    for epoch, logs, last in replay_epochs(result):  # the last: cv_mean_<metric> (_Bridge)
        metrics = {**logs, "epoch": epoch + 1, "node_id": node_id, "pid": os.getpid()}
        if not last:
            tune.report(metrics)
            continue
        weights = result.last_model.get_weights()
        with tempfile.TemporaryDirectory() as folder:
            np.savez(Path(folder) / _LATEST, *weights)
            np.savez(Path(folder) / _BEST, *weights)
            (Path(folder) / _STATE).write_text(json.dumps({"epoch": n}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


# ----------------------------------------------------------------------------- in the driver


def _ray_trial_index(ray_id: str) -> str | None:
    """``ab12c_00007`` -> ``0007``; None for a searcher's hex id."""
    tail = ray_id.rsplit("_", 1)[-1]
    return f"{int(tail):04d}" if "_" in ray_id and tail.isdigit() else None


class _Bridge:
    """Turns Tune's trial hooks into SearchCallback events and TrialResults."""

    def __init__(
        self,
        events: SearchCallback,
        space: Space,
        fixed: dict[str, Any],
        metric_names: list[str],
        done: frozenset[str] = frozenset(),
    ) -> None:
        self.done = done  # trials an interrupted earlier run had already reported
        self.events, self.space, self.fixed = events, space, fixed
        self.metric_names = metric_names
        self.metric, self.direction = space.objective.metric, space.objective.direction
        self.history: dict[str, dict[str, list[float]]] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self.results: dict[str, TrialResult] = {}
        self.ids: dict[str, str] = {}
        self.configs: dict[str, dict[str, Any]] = {}

    def tid(self, ray_id: str, index: int | None = None) -> str:
        """Ray's ids become 0000, 0001, ...: the counter in ``ab12c_00007`` (random and the
        schedulers' trials, stable across a restore), else the trial's position in Tune's
        trial list, which is creation order (searchers' hex ids)."""
        if ray_id not in self.ids:
            known = _ray_trial_index(ray_id)
            fallback = f"{len(self.ids) if index is None else index:04d}"
            self.ids[ray_id] = known or fallback
        return self.ids[ray_id]

    def start(self, ray_id: str, config: dict[str, Any], index: int | None = None) -> None:
        """Tune started the trial: fix its id now (creation order). The trial begins for
        hpsearch at its first result, as Tune may start an actor well before it trains."""
        self.tid(ray_id, index)
        self.configs.setdefault(ray_id, config)

    def _begin(self, ray_id: str, config: dict[str, Any]) -> str | None:
        tid = self.tid(ray_id)
        if tid in self.done:  # a restored run's trial that ended before
            return None
        if tid not in self.history:
            self.history[tid] = {}
            self.configs[ray_id] = config
            self.events.on_trial_begin(tid, self.params(config))
        return tid

    def result(self, ray_id: str, config: dict[str, Any], result: dict[str, Any]) -> None:
        if "epoch" not in result:
            return
        tid = self._begin(ray_id, config)
        if tid is None:
            return
        logs = {
            k: float(v)
            for k, v in result.items()
            if k in self.metric_names or (k.startswith("cv_") and isinstance(v, (int, float)))
        }
        for k, v in logs.items():
            self.history[tid].setdefault(k, []).append(v)
        self.last[tid] = result
        self.events.on_epoch_end(tid, int(result["epoch"]), logs)

    def params(self, config: dict[str, Any]) -> dict[str, Any]:
        """A trial's params as recorded: fixed ones too, unused per-layer widths not."""
        return self.space.active_params({**self.fixed, **config})

    def close_open(self) -> None:
        """End trials Tune stopped without a completion hook (a budget's stop_all does):
        they keep the epochs they trained."""
        for ray_id, config in list(self.configs.items()):
            if self.tid(ray_id) in self.history:
                self.end(ray_id, config, None)

    def end(self, ray_id: str, config: dict[str, Any], error: str | None) -> None:
        tid = self.tid(ray_id)
        if tid in self.results or tid in self.done:
            return  # already reported, or a trial a restored run had finished before
        if tid not in self.history:
            if error is None and self.events.stop_reason():
                return  # stopped by a budget before its first epoch: it trained nothing
            self._begin(ray_id, config)  # failed before its first epoch: record it
        history = self.history[tid]
        objective = objective_of(history.get(self.metric, []), self.direction)
        if error is None and objective is None:
            error = NAN_ERROR
        cv_mean = history.get(f"cv_mean_{self.metric}")
        if cv_mean and objective is not None:  # k-fold: the mean of each fold's best, as on KT
            objective = cv_mean[-1]
        last = self.last.get(tid, {})
        search = self.space.search
        result = TrialResult(
            trial_id=tid,
            status=FINISHED if error is None else FAILED,
            params=self.params(config),
            objective=objective if error is None else None,
            epochs=len(history.get(self.metric, [])),
            seconds=float(last.get("time_total_s", 0.0)),
            history=history,
            first_epoch=int(last.get("epoch", 0)) - len(history.get(self.metric, [])),
            strategy=search.strategy,
            backend=RayTuneBackend.name,
            seed=search.seed,
            worker=last.get("node_id"),
            error=error_line(error) if error else None,
            traceback=error if error and "\n" in error else None,
        )
        self.results[tid] = result
        self.events.on_trial_end(result)


class RayTuneBackend:
    """Runs random, hyperband, asha, bayesian and tpe searches with Ray Tune."""

    name = "ray"

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
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.max_concurrent = max_concurrent
        self.cpus_per_trial = cpus_per_trial
        # --gpus without --gpus-per-trial: one trial per GPU.
        self.gpus_per_trial = gpus_per_trial or (1.0 if gpus else 0.0)
        self.time_budget_s = time_budget_s

    def _init_ray(self) -> bool:
        """Connect to the cluster, or start a local Ray; True when this call started it."""
        os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/TBX per trial
        # The legacy reporter with verbose=0 prints nothing; the new one always draws a summary box.
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        import ray

        if ray.is_initialized():
            return False
        level = logging.INFO if self.verbose else logging.ERROR
        kwargs: dict[str, Any] = {"log_to_driver": self.verbose, "logging_level": level}
        if self.address:
            if self.gpus is not None:
                raise ValueError(
                    "--gpus: a cluster's GPUs are Ray's to schedule; use --gpus-per-trial"
                )
            _connect(ray, self.address, kwargs)
        else:
            if self.gpus is not None:  # a local Ray sees only the listed GPUs
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, self.gpus))
                kwargs["num_gpus"] = len(self.gpus)
            ray.init(include_dashboard=False, **kwargs)
        if not self.verbose:
            for name in ("ray", "ray.tune", "ray.train", "ray.air"):
                logging.getLogger(name).setLevel(logging.ERROR)
        return True

    def run(
        self,
        space: Space,
        data: Dataset,
        workdir: Path,
        callbacks: SearchCallback,
        *,
        resume: bool = False,
        done: frozenset[str] = frozenset(),
        budgeted: bool = False,
        warm: Sequence[tuple[dict[str, Any], float]] = (),
    ) -> SearchOutcome:
        """Run the search; with ``resume`` restore Tune's experiment from ``workdir``:
        trials in ``done`` (hpsearch ids that already ended) are not reported again, and
        interrupted ones run again from scratch. (A trial that ended just before the driver
        died may be trained again, as Ray's saved state can lag by a trial, but its results
        are dropped: the journal and MLflow already hold it.) ``budgeted``: a budget may stop
        the search (see _budget_stopper)."""
        started = self._init_ray()
        try:
            return self._run(space, data, workdir, callbacks, resume, done, budgeted, warm)
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
        budgeted: bool = False,
        warm: Sequence[tuple[dict[str, Any], float]] = (),
    ) -> SearchOutcome:
        from ray import tune

        search, objective = space.search, space.objective
        metric, mode = objective.metric, objective.direction
        searched = space.searched()
        fixed = {k: p.value for k, p in space.params.items() if k not in searched}  # type: ignore[union-attr]
        param_space = {k: tune_domain(p) for k, p in searched.items()}
        for name in space.per_layer_names():  # sampled for every layer; unused ones dropped
            param_space[name] = tune_domain(space.params["n_neurons"])
        max_epochs = space.training.epochs
        if search.strategy in ("hyperband", "asha") and search.hyperband.max_epochs:
            max_epochs = search.hyperband.max_epochs

        scheduler: Any = None
        watch = StallWatch()
        watch_key = f"{os.getpid()}-{id(watch)}"
        _WATCHES[watch_key] = watch
        search_alg: Any = _variant_generator(search.seed, self.max_concurrent, watch_key)
        if search.strategy == "hyperband":
            scheduler = tune.schedulers.HyperBandScheduler(
                max_t=max_epochs, reduction_factor=search.hyperband.factor
            )
        elif search.strategy == "asha":
            scheduler = tune.schedulers.ASHAScheduler(
                max_t=max_epochs, grace_period=1, reduction_factor=search.hyperband.factor
            )
        elif search.strategy == "bayesian":
            search_alg = _oracle_searcher(space, workdir, metric, mode, warm, watch_key)
            param_space = {}  # the oracle samples the space itself
        elif search.strategy == "grid":  # every configuration once: Space.grid(), as on KT
            param_space = {k: tune.grid_search(v) for k, v in space.grid().items()}
        elif search.strategy == "tpe":
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            # Optuna counts warm trials toward its random start-up: with a warm start the
            # earlier trials are the start-up, and TPE guides the first new trial already.
            startup = min(10, len(warm)) if warm else 10
            sampler = optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=startup)
            warm_args: dict[str, Any] = {}
            if warm:
                names = set(searched)
                warm_args = {
                    "points_to_evaluate": [
                        {k: v for k, v in p.items() if k in names} for p, _ in warm
                    ],
                    "evaluated_rewards": [score for _, score in warm],
                }
            search_alg = _tpe_searcher(sampler, warm_args, watch_key)
        if search.strategy in ("bayesian", "tpe"):
            search_alg = _watched_limit(search_alg, self.max_concurrent, watch_key)

        metric_names = [m for k in TASK_METRICS[data.task] for m in (k, f"val_{k}")]
        bridge = _Bridge(callbacks, space, fixed, metric_names, done)
        # Ray Client (ray://) runs the Tuner, and so its callbacks, on the cluster: events
        # come back through a queue actor and are handled here, in the driver.
        relay = _Relay() if _is_client() else None
        # Budgets are checked in this process, where the Tune controller runs.
        stopper = _budget_stopper(callbacks) if budgeted and relay is None else None
        payload = {
            "data": {
                "x_train": data.x_train,
                "y_train": data.y_train,
                "x_valid": data.x_valid,
                "y_valid": data.y_valid,
                "input_shape": data.input_shape,
                "task": data.task,
                "n_outputs": data.n_outputs,
                "target_scale": data.target_scale,
            },
            "fixed": fixed,
            "seed": search.seed,
            "epochs": max_epochs,
            "patience": space.training.patience,
            "metric": metric,
            "direction": mode,
            "cpus_per_trial": self.cpus_per_trial,
            "checkpoint_every_epoch": search.strategy == "hyperband",
            "builder": space.builder,
            "builder_dirs": space.builder_dirs(),
            "cv": space.training.cv,
            "verbose": self.verbose,
        }
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
        experiment = workdir / "ray" / "tune"
        if resume and not relay and tune.Tuner.can_restore(str(experiment.resolve())):
            # Interrupted trials run again from scratch, as on Keras Tuner: their epochs
            # were never logged (the process died first), so a full history is wanted.
            tuner = tune.Tuner.restore(
                str(experiment.resolve()),
                trainable=trainable,
                param_space=param_space,
                _resume_config=tune.ResumeConfig(unfinished=tune.ResumeConfig.ResumeType.RESTART),  # type: ignore[arg-type]
            )
            # The restored RunConfig holds unpickled copies of the old run's callbacks,
            # wired to objects of a dead process: hand Tune this run's instead.
            internal: Any = tuner._local_tuner
            internal._run_config.callbacks = [callback]
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=param_space,
                tune_config=tune.TuneConfig(
                    metric=metric,
                    mode=mode,
                    search_alg=search_alg,
                    scheduler=scheduler,
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
        try:
            grid: Any = relay.fit(tuner, bridge, watch) if relay else tuner.fit()
        except Exception as exc:
            if watch.tripped:  # Tune wraps what a callback raised: say it plainly
                raise SearchStalled(watch.tripped) from exc
            raise
        finally:
            _WATCHES.pop(watch_key, None)
        bridge.close_open()
        checkpoints = {}
        for res in grid:
            tid = res.metrics.get("trial_id") if res.metrics else None
            if tid and res.checkpoint is not None:
                checkpoints[bridge.tid(tid)] = res.checkpoint
        results = [bridge.results[k] for k in sorted(bridge.results)]
        outcome = SearchOutcome(results, mode)
        best = outcome.best

        def load_best() -> Any:
            quiet_tensorflow(self.verbose)

            assert best is not None
            model = build_for(
                best.params, data, builder=space.builder, builder_dirs=space.builder_dirs()
            )
            checkpoint = checkpoints[best.trial_id]
            if _is_client():  # the checkpoint sits on the cluster's storage: read it there
                import ray

                weights = ray.get(ray.remote(_read_best).remote(checkpoint))
            else:
                weights = _read_best(checkpoint)
            model.set_weights(weights)
            return model

        if best is not None and best.trial_id in checkpoints:
            outcome.load_best_model = load_best
        if len(results) < search.max_trials and self.time_budget_s:
            outcome.warnings.append(
                f"ray: --time-budget {self.time_budget_s:g}s ended the search after "
                f"{len(results)} of {search.max_trials} trials"
            )
        return outcome


@contextmanager
def held_ray(verbose: bool = False, **options: Any) -> Iterator[None]:
    """One Ray for several searches in this process (``compare``): each search finds it up
    and skips Ray's start and stop, 5-9 s a search on 2 cores. Started or joined as a
    search with these options would; a Ray that was up before is left up."""
    started = RayTuneBackend(verbose=verbose, **options)._init_ray()
    try:
        yield
    finally:
        if started:
            import ray

            ray.shutdown()


def _connect(ray: Any, address: str, kwargs: dict[str, Any], attempts: int = 3) -> None:
    """Join a cluster. A Ray Client (ray://) server starts a process per client and, on a
    busy head, can abort the handshake ("Initialization failure from server"): try again."""
    import time

    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=address, **kwargs)
            return
        except ConnectionError:
            if attempt == attempts or not address.startswith("ray://"):
                raise
            time.sleep(2.0 * attempt)


def _read_best(checkpoint: Any) -> list[Any]:
    """The best epoch's weights from a trial's checkpoint."""
    import numpy as np

    with checkpoint.as_directory() as folder:
        return list(np.load(Path(folder) / _BEST).values())


def _is_client() -> bool:
    import ray

    return bool(ray.util.client.ray.is_connected())


class _Relay:
    """Carries Tune's trial events from a remote Tuner (Ray Client) back to the driver."""

    def __init__(self) -> None:
        from ray import tune
        from ray.util.queue import Queue

        self.queue = Queue()
        queue = self.queue

        class Send(tune.Callback):  # type: ignore[misc]
            def on_trial_start(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
                queue.put(("start", trial.trial_id, trial.config, trials.index(trial)))

            def on_trial_result(
                self, iteration: int, trials: Any, trial: Any, result: Any, **info: Any
            ) -> None:
                queue.put(("result", trial.trial_id, trial.config, dict(result)))

            def on_trial_complete(
                self, iteration: int, trials: Any, trial: Any, **info: Any
            ) -> None:
                queue.put(("end", trial.trial_id, trial.config, None))

            def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
                queue.put(
                    ("end", trial.trial_id, trial.config, str(trial.get_error() or "trial failed"))
                )

        self.callback = Send()

    def fit(self, tuner: Any, bridge: _Bridge, watch: StallWatch) -> Any:
        """Run ``tuner.fit`` in a thread; handle its events here until it returns (or the
        watch says it stalled: the remote Tuner ends with the Ray connection)."""
        import queue as std_queue
        import threading

        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["grid"] = tuner.fit()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the driver below
                box["error"] = exc

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        while True:
            try:
                kind, ray_id, config, extra = self.queue.get(timeout=0.5)
            except std_queue.Empty:
                if not worker.is_alive() and self.queue.empty():
                    break
                watch.check()
                continue
            watch.beat(result=kind == "result")
            if kind == "start":
                bridge.start(ray_id, config, extra)
            elif kind == "result":
                bridge.result(ray_id, config, extra)
            else:
                bridge.end(ray_id, config, extra)
        worker.join()
        if "error" in box:
            raise box["error"]
        return box["grid"]


def _tune_callback(bridge: _Bridge, watch: StallWatch) -> Any:
    """A ``tune.Callback`` that forwards to the bridge and, every controller step, asks the
    watch whether the search stalled (defined lazily: ray is optional)."""
    from ray import tune

    class Forward(tune.Callback):  # type: ignore[misc]
        def on_trial_start(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            watch.beat()
            bridge.start(trial.trial_id, trial.config, trials.index(trial))

        def on_trial_result(
            self, iteration: int, trials: Any, trial: Any, result: Any, **info: Any
        ) -> None:
            watch.beat(result=True)
            bridge.result(trial.trial_id, trial.config, result)

        def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            watch.beat()
            bridge.end(trial.trial_id, trial.config, None)

        def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            watch.beat()
            bridge.end(trial.trial_id, trial.config, _trial_error(trial))

        def on_step_end(self, iteration: int, trials: Any, **info: Any) -> None:
            watch.check()  # raises out of tuner.fit: Tune stops its actors and re-raises

    return Forward()


#: Stop checks by key: searchers are pickled with the Tuner's state, callbacks must not be.
_STOP_CHECKS: dict[str, Any] = {}
#: Stall watches by key, for the same reason (a restored searcher finds none: its key is
#: another process's).
_WATCHES: dict[str, StallWatch] = {}


def _check_stall(key: str | None) -> None:
    """Ask the search's StallWatch from inside the searcher: Tune polls it every second
    even while its controller blocks waiting for a trial, when no callback runs."""
    watch = _WATCHES.get(key) if key else None
    if watch is not None:
        watch.check()


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

    key = f"{os.getpid()}-{id(callbacks)}"
    _STOP_CHECKS[key] = callbacks.stop_reason

    class BudgetStopper(Stopper):  # type: ignore[misc]
        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            return False

        def stop_all(self) -> bool:
            check = _STOP_CHECKS.get(key)
            return bool(check and check())

    return BudgetStopper()


def _trial_error(trial: Any) -> str:
    """The failed trial's traceback: Tune writes it to the trial's local error file before
    it calls on_trial_error, but get_error() reads the storage copy, synced later."""
    for attr in ("error_file",):
        path = getattr(trial, attr, None)
        try:
            if path and Path(path).exists():
                text = Path(path).read_text(errors="replace").strip()
                if text:
                    return text
        except (OSError, TypeError):
            pass
    return str(trial.get_error() or "trial failed")


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


BACKEND_CLASS = RayTuneBackend
session = held_ray
