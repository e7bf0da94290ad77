"""Keras Tuner backend: the only module that imports keras_tuner.

The space becomes ``hp.*`` calls inside a ``kt.HyperModel``; the tuner classes gain a thin
mixin that turns Keras Tuner's trial hooks into hpsearch's SearchCallback events.

With ``workers > 1`` the search runs in Keras Tuner's distributed mode, supervised by
``kt_parallel``; this module also holds the entry point its chief and worker processes run
(``python -m hpsearch.backends.keras_tuner --role worker --tuner-id tuner0 --spec ...``).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.backends.base import SearchOutcome
from hpsearch.backends.trial import error_line, objective_of
from hpsearch.builders import builder_form
from hpsearch.gpus import WorkerSlot, assign_workers, enable_memory_growth, restrict_to
from hpsearch.model import (
    GraphJanitor,
    build_for,
    fit_callbacks,
    fit_options,
    is_fit_callback,
    load_builder,
    quiet_tensorflow,
    settle_heap,
    settled_heap,
)
from hpsearch.space import Bool, Choice, FloatRange, IntRange, Param, Space
from hpsearch.trials import (
    FAILED,
    FINISHED,
    NAN_ERROR,
    SearchCallback,
    SearchInfo,
    TrialResult,
    plain,
)

if TYPE_CHECKING:
    from hpsearch.data import Dataset

#: hpsearch ends runaway searches itself (issue: --max-failures); Keras Tuner must not stop
#: after its default of 3 consecutive failures.
_NEVER = 1_000_000
#: What the chief and worker processes run (``python -m``); the name, even when this file
#: itself runs as ``__main__``.
_CHILD_MODULE = "hpsearch.backends.keras_tuner"
#: Seconds a worker waits before asking again while Hyperband waits on another worker's
#: trial (Keras Tuner itself asks again at once, in a busy loop against the chief).
_IDLE_POLL_S = 0.2


def hp_value(hp: Any, name: str, param: Param) -> Any:
    """Declare one hyperparameter on a ``kt.HyperParameters`` and return its value."""
    if isinstance(param, IntRange):
        return hp.Int(
            name,
            param.min,
            param.max,
            step=param.step,
            sampling="log" if param.log else "linear",
            default=param.default,
        )
    if isinstance(param, FloatRange):
        return hp.Float(
            name,
            param.min,
            param.max,
            step=param.step,
            sampling="log" if param.log else "linear",
            default=param.default,
        )
    if isinstance(param, Choice):
        return hp.Choice(name, param.options, default=param.default)
    if isinstance(param, Bool):
        return hp.Boolean(name, default=param.default)
    return hp.Fixed(name, param.value)


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


def fixed_params(space: Space) -> dict[str, Any]:
    """The params a search holds fixed, by name (every vocabulary name has one)."""
    searched = space.searched()
    return {k: space.default_of(k) for k in space.params if k not in searched}


class KerasTunerBackend:
    """Runs random, hyperband and bayesian searches with Keras Tuner.

    Args:
        verbose: show Keras's and Keras Tuner's own output (and, in parallel, the children's).
        workers: worker processes; 1 runs in this process, more run Keras Tuner's
            distributed mode (a chief oracle plus one process per worker). None: one per
            listed GPU, else 1.
        gpus: GPU ids to use (this process's CUDA ordinals); workers are pinned to them
            round-robin with CUDA_VISIBLE_DEVICES. None leaves devices to TensorFlow.
    """

    name = "keras-tuner"

    def __init__(
        self,
        verbose: bool = False,
        workers: int | None = None,
        gpus: Sequence[int] | None = None,
        retries: int = 0,
    ) -> None:
        self.verbose = verbose
        self.retries = retries
        self.gpus = list(gpus) if gpus else None
        self.slots: list[WorkerSlot] = assign_workers(workers, self.gpus)
        self.workers = len(self.slots)

    def run(
        self,
        space: Space,
        data: Dataset,
        workdir: Path,
        callbacks: SearchCallback,
        *,
        resume: bool = False,
        warm: Sequence[tuple[dict[str, Any], float]] = (),
    ) -> SearchOutcome:
        """Run the search; with ``resume`` reload the tuner's state from ``workdir`` first:
        finished trials are kept, an interrupted one is run again. ``warm``: earlier
        (params, objective) pairs the oracle starts from (see seed_oracle)."""
        search, objective = space.search, space.objective
        max_trials = space.hyperband_cap()[0]  # its warning is run_search's, said up front
        settings: dict[str, Any] = {"workers": self.workers}
        if self.gpus:
            settings["gpus"] = ",".join(map(str, self.gpus))
        info = SearchInfo(
            experiment=space.name,
            strategy=search.strategy,
            backend=self.name,
            max_trials=max_trials,
            objective=objective.metric,
            direction=objective.direction,
            seed=search.seed,
            settings=settings,
        )
        if self.workers > 1:
            if warm:
                raise ValueError("--warm-start needs one Keras Tuner process (drop --workers)")
            return self._run_parallel(space, data, workdir, callbacks, info, resume)

        quiet_tensorflow(self.verbose)
        import keras
        import keras_tuner as kt

        if self.gpus:
            restrict_to(self.gpus)
        else:
            enable_memory_growth()
        with _quiet_stdout(self.verbose):  # "Reloading Tuner from ..." on resume
            tuner = _build_tuner(
                kt, keras, space, data, workdir, callbacks, overwrite=not resume,
                retries=self.retries,
            )  # fmt: skip
        if warm and not resume:
            seed_oracle(kt, tuner.oracle, warm)
        callbacks.on_search_begin(info)
        with settled_heap(), _quiet_stdout(self.verbose):  # KT prints retries with print()
            tuner.search(
                data.x_train, data.y_train, **_search_kwargs(keras, space, data, self.verbose)
            )

        outcome = SearchOutcome(tuner.results, objective.direction)

        def load_best() -> Any:
            # This search's best, not the oracle's: a warm start's seed trials are the
            # oracle's too, and have no weights here.
            best = outcome.best
            assert best is not None
            trial = next(
                t
                for t in tuner.oracle.trials.values()
                if str(t.trial_id).isdigit() and _tid(t.trial_id) == best.trial_id
            )
            return tuner.load_model(trial)

        outcome.load_best_model = load_best
        return outcome

    def _run_parallel(
        self,
        space: Space,
        data: Dataset,
        workdir: Path,
        callbacks: SearchCallback,
        info: SearchInfo,
        resume: bool = False,
    ) -> SearchOutcome:
        """A chief and ``workers`` processes; their events reach ``callbacks`` here."""
        from hpsearch.backends import kt_parallel

        project = workdir / "tuner"
        if project.exists() and not resume:  # the in-process overwrite=True, done once
            shutil.rmtree(project)
        callbacks.on_search_begin(info)
        run = kt_parallel.run_parallel(
            space,
            workdir,
            self.slots,
            callbacks,
            module=_CHILD_MODULE,
            backend=self.name,
            verbose=self.verbose,
        )
        verbose = self.verbose

        def load_best() -> Any:
            """Rebuild the tuner from its folder (the chief saved the oracle there)."""
            quiet_tensorflow(verbose)
            import keras
            import keras_tuner as kt

            enable_memory_growth()  # the parent never needs a whole card for one model
            with _quiet_stdout(verbose):  # "Reloading Tuner from ..." must not reach --json
                tuner = _build_tuner(
                    kt, keras, space, data, workdir, SearchCallback(), overwrite=False
                )
                tuner.oracle.reload()
            return tuner.get_best_models(num_models=1)[0]

        return SearchOutcome(run.results, space.objective.direction, load_best, run.warnings)


def _quiet_stdout(verbose: bool) -> Any:
    """Keras Tuner prints to stdout, which must stay clean for ``--json``."""
    return contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: into a temporary file beside it, then
    one rename. A stop (Ctrl+C, SIGTERM) raised mid-write leaves the old file as it was."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_state_files() -> None:
    """Keras Tuner writes its state (oracle.json, trial.json, tuner0.json) with a plain
    open-and-write (keras-tuner 1.4.8 ``utils.save_json``); a SIGTERM landing in one left an
    empty oracle.json, and --resume then died on a JSONDecodeError. Local files are written
    atomically instead, once per process."""
    from keras_tuner.src import utils

    if getattr(utils.save_json, "hpsearch_atomic", False):
        return
    original = utils.save_json

    def save_json(path: Any, obj: Any) -> str:
        if "://" in str(path):  # a remote store (gs://): Keras Tuner's own writer
            return str(original(path, obj))
        text = json.dumps(obj)
        write_atomically(str(path), text)
        return text

    save_json.hpsearch_atomic = True  # type: ignore[attr-defined]
    utils.save_json = save_json


def _build_tuner(
    kt: Any,
    keras: Any,
    space: Space,
    data: Dataset,
    workdir: Path,
    events: SearchCallback,
    *,
    overwrite: bool,
    worker: str | None = None,
    retries: int = 0,
) -> Any:
    """The reporting tuner for ``space``: the same one in-process, in every child process
    of a parallel search, and when the parent reloads the best model afterwards."""
    atomic_state_files()
    search, objective = space.search, space.objective
    max_trials = space.hyperband_cap()[0]
    hypermodel = _make_hypermodel(kt, keras, space, data)
    common: dict[str, Any] = {
        "objective": kt.Objective(objective.metric, direction=objective.direction),
        "seed": search.seed,
        "directory": str(workdir),
        "project_name": "tuner",
        "overwrite": overwrite,
        "executions_per_trial": search.executions_per_trial,
        "max_consecutive_failed_trials": _NEVER,
        # An exception marks a trial INVALID, which Keras Tuner retries this many times;
        # a NaN objective is FAILED (see fit) and never retried: it would recur.
        "max_retries_per_trial": retries,
    }
    base: type
    extra: dict[str, Any]
    if search.strategy == "random":
        base, extra = kt.RandomSearch, {"max_trials": max_trials}
    elif search.strategy == "grid":
        base, extra = kt.GridSearch, {"max_trials": max_trials}
    elif search.strategy == "bayesian":
        base = kt.BayesianOptimization
        extra = {
            "max_trials": max_trials,
            "alpha": search.bayesian.alpha,
            "beta": search.bayesian.beta,
            "num_initial_points": search.bayesian.initial_points,
        }
    elif search.strategy == "hyperband":
        base = kt.Hyperband
        extra = {
            "max_epochs": search.hyperband.max_epochs or space.training.epochs,
            "factor": search.hyperband.factor,
            "hyperband_iterations": search.hyperband.iterations,
        }
    else:  # pragma: no cover - space.py validates strategies
        raise ValueError(f"keras-tuner has no strategy {search.strategy!r}")

    from keras_tuner.src import config as kt_config

    kt_config.DEBUG = False  # else Keras Tuner prints every failed trial's traceback
    cls = _tuner_class(base)
    tuner = cls(hypermodel, events=events, space=space, worker=worker, **common, **extra)
    tuner.oracle.max_trials = max_trials  # Hyperband has no max_trials of its own: cap it
    return tuner


def _search_kwargs(keras: Any, space: Space, data: Dataset, verbose: bool) -> dict[str, Any]:
    """What ``tuner.search`` gets besides x and y: validation data, epochs, fit callbacks."""
    objective = space.objective
    # target_units first: everything after it, the tuner's own callbacks included, sees
    # a regression's metrics in the target's units
    callbacks = fit_callbacks(
        data.target_scale,
        metric=objective.metric,
        direction=objective.direction,
        patience=space.training.patience,
    )
    return {
        "validation_data": (data.x_valid, data.y_valid),
        "epochs": space.training.epochs,
        "callbacks": callbacks,
        "verbose": 1 if verbose else 0,
    }


def _make_hypermodel(kt: Any, keras: Any, space: Space, data: Dataset) -> Any:
    """A kt.HyperModel whose build() samples the space and whose fit() sets batch_size."""

    kt_form = (
        bool(space.builder)
        and builder_form(load_builder(str(space.builder), space.builder_dirs())) == "hp"
    )

    class SpaceHyperModel(kt.HyperModel):  # type: ignore[misc]
        def build(self, hp: Any) -> Any:
            # Only searched params are Keras Tuner hyperparameters: each one it declares
            # moves its sampling seed, so fixed ones would make the same seed sample other
            # configurations whenever the vocabulary grows.
            params = fixed_params(space)
            if space.search.strategy == "grid":  # the grid is exactly Space.grid(), both engines
                params |= {name: hp.Choice(name, v) for name, v in space.grid().items()}
            else:
                params |= {name: hp_value(hp, name, p) for name, p in space.searched().items()}
            if params.get("layer_shape") == "per_layer":  # conditional: one per active layer
                for name in space.per_layer_names()[: int(params["n_hidden"])]:
                    params[name] = hp_value(hp, name, space.params["n_neurons"])
            if kt_form:  # the builder reads every value from hp: fixed ones are there too
                for name in fixed_params(space):
                    if isinstance(params[name], (bool, int, float, str)):
                        hp.Fixed(name, params[name])
            keras.utils.set_random_seed(space.search.seed)  # same weights for the same params
            return build_for(
                params,
                data,
                builder=space.builder,
                builder_dirs=space.builder_dirs(),
                hp=hp if kt_form else None,
            )

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            options = fit_options(hp.values, data.y_train, data.task)
            if space.training.cv:
                return self._cross_validate(hp, model, options, kwargs)
            history = model.fit(*args, **options, **kwargs)
            values = history.history.get(space.objective.metric, [])
            if objective_of(values, space.objective.direction) is None:
                raise kt.errors.FailedTrialError(NAN_ERROR)
            return history

        def _cross_validate(
            self, hp: Any, model: Any, options: dict[str, Any], kwargs: dict[str, Any]
        ) -> dict[str, float]:
            """k folds of train+valid, then the fold-mean epochs replayed through Keras
            Tuner's own callbacks, so the trial reports like any other."""
            import numpy as np

            from hpsearch.cv import cross_validate, replay_epochs

            callbacks = list(kwargs.pop("callbacks", []))
            tuners = [c for c in callbacks if not is_fit_callback(c)]
            result = cross_validate(
                lambda: self.build(hp),
                np.concatenate([data.x_train, data.x_valid]),
                np.concatenate([data.y_train, data.y_valid]),
                k=int(space.training.cv or 0),
                seed=space.search.seed,
                task=data.task,
                metric=space.objective.metric,
                direction=space.objective.direction,
                fit_kwargs={
                    **options,
                    "epochs": kwargs.get("epochs"),
                    "callbacks": [c for c in callbacks if c not in tuners],  # per fold
                    "verbose": kwargs.get("verbose", 0),
                },
            )
            last = result.last_model or model
            for cb in tuners:
                cb.set_model(last)
                cb.on_train_begin()
            for epoch, logs, _ in replay_epochs(result):
                for cb in tuners:
                    cb.on_epoch_end(epoch, logs)
            for cb in tuners:
                cb.on_train_end()
            if not math.isfinite(result.score):
                raise kt.errors.FailedTrialError(NAN_ERROR)
            return {space.objective.metric: result.score}

    return SpaceHyperModel(name=space.name)


def _tuner_class(base: type) -> type:
    """``base`` (a kt tuner class) with its trial hooks forwarded to SearchCallback events."""

    class ReportingTuner(base):  # type: ignore[misc, valid-type]
        def __init__(
            self,
            *args: Any,
            events: SearchCallback,
            space: Space,
            worker: str | None = None,
            **kwargs: Any,
        ):
            super().__init__(*args, **kwargs)
            self._events, self._space, self._worker = events, space, worker
            self._started: dict[str, float] = {}
            self._history: dict[str, dict[str, list[float]]] = {}
            self._epochs_run: dict[str, int] = {}
            self.results: list[TrialResult] = []
            self._janitor = GraphJanitor()

        def _params(self, trial: Any) -> dict[str, Any]:
            # before anything is logged: the trial's own record, which build() then reads
            values = clamp_to_space(self._space, trial.hyperparameters.values)
            params = {k: plain(v) for k, v in values.items() if not k.startswith("tuner/")}
            return self._space.active_params(fixed_params(self._space) | params)

        def on_trial_begin(self, trial: Any) -> None:
            super().on_trial_begin(trial)
            tid = trial.trial_id
            self._started[tid] = time.perf_counter()
            self._history[tid], self._epochs_run[tid] = {}, 0
            self._events.on_trial_begin(_tid(tid), self._params(trial))

        def on_epoch_end(self, trial: Any, model: Any, epoch: int, logs: Any = None) -> None:
            super().on_epoch_end(trial, model, epoch, logs=logs)
            tid, logs = trial.trial_id, {k: float(v) for k, v in (logs or {}).items()}
            self._epochs_run[tid] += 1
            history = self._history[tid]
            first = int(trial.hyperparameters.values.get("tuner/initial_epoch", 0))
            # With executions_per_trial > 1 only the first execution's curve is kept.
            if len(next(iter(history.values()), [])) == epoch - first:
                for k, v in logs.items():
                    history.setdefault(k, []).append(v)
                self._events.on_epoch_end(_tid(tid), epoch + 1, logs)
            if self._events.stop_reason():  # a budget is spent: end this trial now
                model.stop_training = True

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)  # the oracle scores the trial and sets its status
            self._janitor.sweep()  # flat memory over long searches (see GraphJanitor)
            tid = trial.trial_id
            done = self.oracle.get_trial(tid)  # over gRPC from the chief, in a worker
            values = trial.hyperparameters.values
            score = done.score
            ok = str(done.status) == "COMPLETED" and score is not None and math.isfinite(score)
            error = None
            message = done.message or trial.message  # the chief's copy has no message
            if not ok:
                error = error_line(message) if message else NAN_ERROR
            search = self._space.search
            result = TrialResult(
                trial_id=_tid(tid),
                status=FINISHED if ok else FAILED,
                params=self._params(trial),
                objective=float(score) if ok else None,
                epochs=self._epochs_run[tid],
                seconds=time.perf_counter() - self._started[tid],
                history=self._history[tid],
                first_epoch=int(values.get("tuner/initial_epoch", 0)),
                strategy=search.strategy,
                backend=KerasTunerBackend.name,
                worker=self._worker,
                seed=search.seed,
                bracket=values.get("tuner/bracket"),
                round=values.get("tuner/round"),
                error=error,
                traceback=message if not ok else None,
            )
            self.results.append(result)
            self._events.on_trial_end(result)
            if self._events.stop_reason():  # a budget is spent: the oracle hands out no more
                self.oracle.max_trials = len(self.oracle.trials)

    ReportingTuner.__name__ = f"Reporting{base.__name__}"
    return ReportingTuner


def _tid(kt_trial_id: str) -> str:
    """Keras Tuner pads ids to the width of max_trials; hpsearch always uses four digits."""
    return f"{int(kt_trial_id):04d}"


# ----------------------------------------------------------------------------- child processes


def child_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of a parallel search's chief and worker processes.

    Each rebuilds the same tuner from the spec the parent wrote and loads the dataset once.
    The chief serves the oracle (``tuner.search`` blocks in Keras Tuner's gRPC server) and
    takes commands on stdin; a worker runs trials and streams their events to the parent.
    """
    import argparse

    from hpsearch.backends import kt_parallel
    from hpsearch.data import load_dataset

    parser = argparse.ArgumentParser(prog=f"python -m {_CHILD_MODULE}")
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--role", choices=("chief", "worker"), required=True)
    parser.add_argument("--tuner-id", required=True)
    args = parser.parse_args(argv)

    events = kt_parallel.EventWriter(kt_parallel.open_event_stream())
    space, workdir, verbose = kt_parallel.read_spec(args.spec)
    chief = args.role == "chief"
    oracle: dict[str, Any] = {}  # filled once the chief's tuner exists

    def on_command(cmd: dict[str, Any]) -> None:
        if cmd.get("cmd") == "fail" and "oracle" in oracle:
            _fail_worker_trial(oracle["oracle"], events, str(cmd["tuner_id"]), str(cmd["error"]))

    kt_parallel.watch_parent(on_command if chief else None)  # before the slow imports
    quiet_tensorflow(verbose)
    if not chief:
        enable_memory_growth()
    import keras
    import keras_tuner as kt

    base_dir = space.source.parent if space.source else None
    data = load_dataset(space.dataset, space.search.seed, base_dir)
    worker = None if chief else args.tuner_id
    tuner = _build_tuner(kt, keras, space, data, workdir, events, overwrite=False, worker=worker)
    if chief:
        oracle["oracle"] = tuner.oracle
    else:
        _poll_gently(tuner)
        kt_parallel.wait_for_chief()
    settle_heap()
    tuner.search(data.x_train, data.y_train, **_search_kwargs(keras, space, data, verbose))
    return 0


def _poll_gently(tuner: Any) -> None:
    """Sleep a little between a worker's requests while the oracle answers IDLE."""
    ask = tuner.oracle.create_trial

    def create_trial(tuner_id: str) -> Any:
        trial = ask(tuner_id)
        if str(trial.status) == "IDLE":
            time.sleep(_IDLE_POLL_S)
        return trial

    tuner.oracle.create_trial = create_trial


def _fail_worker_trial(oracle: Any, events: Any, tuner_id: str, error: str) -> None:
    """In the chief: end a dead worker's running trial as FAILED and forget the worker.

    Without this the oracle waits for that trial forever: Hyperband answers IDLE to the
    other workers, and the chief's server never sees all its tuners leave.
    """
    import keras_tuner as kt

    def fail(oracle: Any) -> None:
        trial = oracle.ongoing_trials.get(tuner_id)
        if trial is not None:
            trial.status = "FAILED"
            trial.message = error
            oracle.end_trial(trial)
            params = {
                k: plain(v)
                for k, v in trial.hyperparameters.values.items()
                if not k.startswith("tuner/")
            }
            events.send(
                "trial_failed", trial_id=_tid(trial.trial_id), params=params, worker=tuner_id
            )
        oracle.tuner_ids.discard(tuner_id)

    kt.synchronized(fail)(oracle)  # under the oracle's lock, as its gRPC handlers run


BACKEND_CLASS = KerasTunerBackend


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
            max_consecutive_failed_trials=_NEVER,
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


if __name__ == "__main__":
    raise SystemExit(child_main())

#: The suggestion algorithms this engine lends to others (backends.borrowed).
SUGGESTERS = {"bayesian": OracleSuggester}
