"""The Keras Tuner backend: the tuner classes gain a thin mixin that turns Keras Tuner's trial
hooks into hpsearch's SearchCallback events.

With ``workers > 1`` the search runs in Keras Tuner's distributed mode, supervised by
``parallel``; its chief and worker processes run ``child`` (``python -m
hpsearch.backends.keras_tuner --role worker --tuner-id tuner0 --spec ...``).
"""

from __future__ import annotations

import contextlib
import io
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.backends.base import SearchOutcome
from hpsearch.backends.keras_tuner.hypermodel import fixed_params, make_hypermodel, search_kwargs
from hpsearch.backends.keras_tuner.oracle import NEVER, clamp_to_space, seed_oracle
from hpsearch.backends.keras_tuner.state import atomic_state_files
from hpsearch.backends.trial import error_line
from hpsearch.gpus import WorkerSlot, assign_workers, enable_memory_growth, restrict_to
from hpsearch.model import GraphJanitor, quiet_tensorflow, settled_heap
from hpsearch.space import Space
from hpsearch.trials import (
    FAILED,
    FINISHED,
    NAN_ERROR,
    PRUNED,
    SearchCallback,
    SearchInfo,
    TrialResult,
    plain,
)

if TYPE_CHECKING:
    from hpsearch.data import Dataset

#: What the chief and worker processes run (``python -m``); the name, even when this file
#: itself runs as ``__main__``.
CHILD_MODULE = "hpsearch.backends.keras_tuner"


class KerasTunerBackend:
    """Runs random, grid, hyperband, bayesian and bohb searches with Keras Tuner.

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
        done: frozenset[str] = frozenset(),
    ) -> SearchOutcome:
        """Run the search; with ``resume`` reload the tuner's state from ``workdir`` first:
        finished trials are kept, an interrupted one is run again. ``warm``: earlier
        (params, objective) pairs the oracle starts from (see seed_oracle). ``done`` is
        not needed here: Keras Tuner's state is written as each trial ends (it never lags
        the journal). Budgets and other stops are asked at every epoch and trial start."""
        del done
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
        with quiet_stdout(self.verbose):  # "Reloading Tuner from ..." on resume
            tuner = build_tuner(
                kt, keras, space, data, workdir, callbacks, overwrite=not resume,
                retries=self.retries,
            )  # fmt: skip
        if warm and not resume:
            seed_oracle(kt, tuner.oracle, warm)
        callbacks.on_search_begin(info)
        with settled_heap(), quiet_stdout(self.verbose):  # KT prints retries with print()
            tuner.search(
                data.x_train, data.y_train, **search_kwargs(keras, space, data, self.verbose)
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
                if str(t.trial_id).isdigit() and four_digits(t.trial_id) == best.trial_id
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
        from hpsearch.backends.keras_tuner import parallel

        project = workdir / "tuner"
        if project.exists() and not resume:  # the in-process overwrite=True, done once
            shutil.rmtree(project)
        callbacks.on_search_begin(info)
        run = parallel.run_parallel(
            space,
            workdir,
            self.slots,
            callbacks,
            module=CHILD_MODULE,
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
            with quiet_stdout(verbose):  # "Reloading Tuner from ..." must not reach --json
                tuner = build_tuner(
                    kt, keras, space, data, workdir, SearchCallback(), overwrite=False
                )
                tuner.oracle.reload()
            return tuner.get_best_models(num_models=1)[0]

        return SearchOutcome(run.results, space.objective.direction, load_best, run.warnings)


def quiet_stdout(verbose: bool) -> Any:
    """Keras Tuner prints to stdout, which must stay clean for ``--json``."""
    return contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())


def build_tuner(
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
    hypermodel = make_hypermodel(kt, keras, space, data)
    common: dict[str, Any] = {
        "objective": kt.Objective(objective.metric, direction=objective.direction),
        "seed": search.seed,
        "directory": str(workdir),
        "project_name": "tuner",
        "overwrite": overwrite,
        "executions_per_trial": search.executions_per_trial,
        "max_consecutive_failed_trials": NEVER,
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
    elif search.strategy in ("hyperband", "bohb"):
        from hpsearch.backends.keras_tuner.brackets import hyperband_tuner_class

        bohb = search.strategy == "bohb"
        base = hyperband_tuner_class(kt, bohb)
        extra = {
            "max_epochs": search.hyperband.max_epochs or space.training.epochs,
            "factor": search.hyperband.factor,
            "hyperband_iterations": search.hyperband.iterations,
            "min_epochs": search.hyperband.min_epochs or 1,
        } | ({"model_space": space} if bohb else {})
    elif search.strategy == "i-epoch":
        from hpsearch.backends.keras_tuner.iepoch import iepoch_tuner_class

        base = iepoch_tuner_class(kt)
        sampled, kept = space.i_epoch_rounds()
        extra = {
            "sampled": sampled,
            "kept": kept,
            "first_epochs": search.i_epoch.epochs,
            "full_epochs": space.full_epochs(),
        }
    else:  # pragma: no cover - space.py validates strategies
        raise ValueError(f"keras-tuner has no strategy {search.strategy!r}")

    from keras_tuner.src import config as kt_config

    kt_config.DEBUG = False  # else Keras Tuner prints every failed trial's traceback
    cls = _tuner_class(base)
    tuner = cls(hypermodel, events=events, space=space, worker=worker, **common, **extra)
    tuner.oracle.max_trials = max_trials  # Hyperband has no max_trials of its own: cap it
    return tuner


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
            self._pruned: set[str] = set()  # trials the pruner stopped (search.pruner)
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
            self._events.on_trial_begin(four_digits(tid), self._params(trial))

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
                self._events.on_epoch_end(four_digits(tid), epoch + 1, logs)
                # lost to the median: stop it, unless this epoch ends its rung anyway (bohb):
                # a "pruned" trial there would save nothing and could still be promoted
                rung_end = trial.hyperparameters.values.get("tuner/epochs")
                if self._events.prune(four_digits(tid)) and epoch + 1 != rung_end:
                    self._pruned.add(tid)
            if self._events.stop_reason() or tid in self._pruned:  # a budget, or the pruner
                model.stop_training = True

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)  # the oracle scores the trial and sets its status
            self._janitor.sweep()  # flat memory over long searches (see GraphJanitor)
            tid = trial.trial_id
            result = trial_result(
                trial,
                self.oracle.get_trial(tid),  # over gRPC from the chief, in a worker
                params=self._params(trial),
                space=self._space,
                worker=self._worker,
                started=self._started[tid],
                epochs=self._epochs_run[tid],
                history=self._history[tid],
                pruned=tid in self._pruned,
            )
            self.results.append(result)
            self._events.on_trial_end(result)
            if self._events.stop_reason():  # a budget is spent: the oracle hands out no more
                self.oracle.max_trials = len(self.oracle.trials)

    ReportingTuner.__name__ = f"Reporting{base.__name__}"
    return ReportingTuner


def trial_result(
    trial: Any,
    done: Any,
    *,
    params: dict[str, Any],
    space: Space,
    worker: str | None,
    started: float,
    epochs: int,
    history: dict[str, list[float]],
    pruned: bool = False,
) -> TrialResult:
    """What a ReportingTuner records once Keras Tuner has ended ``trial``: ``done`` is the
    oracle's copy (status and score), ``trial`` the tuner's own (message, hyperparameters).
    A ``pruned`` trial that scored is PRUNED, its objective the best epoch it trained (the
    oracle's score: Keras Tuner scores a trial by its best epoch)."""
    values = trial.hyperparameters.values
    score = done.score
    ok = str(done.status) == "COMPLETED" and score is not None and math.isfinite(score)
    error = None
    message = done.message or trial.message  # the chief's copy has no message
    if not ok:
        error = error_line(message) if message else NAN_ERROR
    search = space.search
    return TrialResult(
        trial_id=four_digits(trial.trial_id),
        status=(PRUNED if pruned else FINISHED) if ok else FAILED,
        params=params,
        objective=float(score) if ok else None,
        epochs=epochs,
        seconds=time.perf_counter() - started,
        history=history,
        first_epoch=int(values.get("tuner/initial_epoch", 0)),
        strategy=search.strategy,
        backend=KerasTunerBackend.name,
        worker=worker,
        seed=search.seed,
        bracket=values.get("tuner/bracket"),
        round=values.get("tuner/round"),
        error=error,
        traceback=message if not ok else None,
    )


def four_digits(kt_trial_id: str) -> str:
    """Keras Tuner pads ids to the width of max_trials; hpsearch always uses four digits."""
    return f"{int(kt_trial_id):04d}"
