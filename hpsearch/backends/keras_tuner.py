"""Keras Tuner backend: the only module that imports keras_tuner.

The space becomes ``hp.*`` calls inside a ``kt.HyperModel``; the tuner classes gain a thin
mixin that turns Keras Tuner's trial hooks into hpsearch's SearchCallback events.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.backends.base import SearchOutcome
from hpsearch.model import build_model, quiet_tensorflow
from hpsearch.space import Bool, Choice, FloatRange, IntRange, Param, Space, hyperband_trials
from hpsearch.trials import FAILED, FINISHED, SearchCallback, SearchInfo, TrialResult

if TYPE_CHECKING:
    from hpsearch.data import Dataset

#: hpsearch ends runaway searches itself (issue: --max-failures); Keras Tuner must not stop
#: after its default of 3 consecutive failures.
_NEVER = 1_000_000


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


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so params compare and serialise cleanly."""
    return value.item() if hasattr(value, "item") else value


def _error_line(message: str | None) -> str:
    """The last line of a traceback: ``ValueError: ...``."""
    lines = [ln.strip() for ln in (message or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "trial failed"


class KerasTunerBackend:
    """Runs random, hyperband and bayesian searches with Keras Tuner."""

    name = "keras-tuner"

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose

    def run(
        self, space: Space, data: Dataset, workdir: Path, callbacks: SearchCallback
    ) -> SearchOutcome:
        quiet_tensorflow(self.verbose)
        import keras
        import keras_tuner as kt

        search, objective = space.search, space.objective
        warnings: list[str] = []
        max_trials = search.max_trials
        hb_epochs = search.hyperband.max_epochs or space.training.epochs
        if search.strategy == "hyperband":
            full = hyperband_trials(hb_epochs, search.hyperband.factor, search.hyperband.iterations)
            if full > max_trials:
                warnings.append(
                    f"hyperband: max_trials={max_trials} cuts the bracket schedule of {full} "
                    "trials; raise --max-trials to run it whole"
                )
            max_trials = min(max_trials, full)

        hypermodel = _make_hypermodel(kt, keras, space, data)
        common: dict[str, Any] = {
            "objective": kt.Objective(objective.metric, direction=objective.direction),
            "seed": search.seed,
            "directory": str(workdir),
            "project_name": "tuner",
            "overwrite": True,
            "executions_per_trial": search.executions_per_trial,
            "max_consecutive_failed_trials": _NEVER,
        }
        base: type
        extra: dict[str, Any]
        if search.strategy == "random":
            base, extra = kt.RandomSearch, {"max_trials": max_trials}
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
                "max_epochs": hb_epochs,
                "factor": search.hyperband.factor,
                "hyperband_iterations": search.hyperband.iterations,
            }
        else:  # pragma: no cover - space.py validates strategies
            raise ValueError(f"keras-tuner has no strategy {search.strategy!r}")

        tuner = _tuner_class(base)(hypermodel, events=callbacks, space=space, **common, **extra)
        tuner.oracle.max_trials = max_trials  # Hyperband has no max_trials of its own: cap it

        callbacks.on_search_begin(
            SearchInfo(
                experiment=space.name,
                strategy=search.strategy,
                backend=self.name,
                max_trials=max_trials,
                objective=objective.metric,
                direction=objective.direction,
                seed=search.seed,
            )
        )
        fit_callbacks: list[Any] = [keras.callbacks.TerminateOnNaN()]
        if space.training.patience:
            fit_callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=objective.metric,
                    mode=objective.direction,
                    patience=space.training.patience,
                )
            )
        tuner.search(
            data.x_train,
            data.y_train,
            validation_data=(data.x_valid, data.y_valid),
            epochs=space.training.epochs,
            callbacks=fit_callbacks,
            verbose=1 if self.verbose else 0,
        )

        def load_best() -> Any:
            return tuner.get_best_models(num_models=1)[0]

        return SearchOutcome(tuner.results, objective.direction, load_best, warnings)


def _make_hypermodel(kt: Any, keras: Any, space: Space, data: Dataset) -> Any:
    """A kt.HyperModel whose build() samples the space and whose fit() sets batch_size."""

    class SpaceHyperModel(kt.HyperModel):  # type: ignore[misc]
        def build(self, hp: Any) -> Any:
            params = {name: hp_value(hp, name, p) for name, p in space.params.items()}
            keras.utils.set_random_seed(space.search.seed)  # same weights for the same params
            return build_model(
                params, data.input_shape, data.task, data.n_outputs, norm_data=data.x_train
            )

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            return model.fit(*args, batch_size=int(hp.get("batch_size")), **kwargs)

    return SpaceHyperModel(name=space.name)


def _tuner_class(base: type) -> type:
    """``base`` (a kt tuner class) with its trial hooks forwarded to SearchCallback events."""

    class ReportingTuner(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, events: SearchCallback, space: Space, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self._events, self._space = events, space
            self._started: dict[str, float] = {}
            self._history: dict[str, dict[str, list[float]]] = {}
            self._epochs_run: dict[str, int] = {}
            self.results: list[TrialResult] = []

        def _params(self, trial: Any) -> dict[str, Any]:
            values = trial.hyperparameters.values
            return {k: _plain(v) for k, v in values.items() if not k.startswith("tuner/")}

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

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)  # the oracle scores the trial and sets its status
            tid = trial.trial_id
            done = self.oracle.get_trial(tid)
            values = trial.hyperparameters.values
            score = done.score
            ok = str(done.status) == "COMPLETED" and score is not None and math.isfinite(score)
            error = None
            if not ok:
                error = _error_line(done.message) if done.message else "objective is NaN or inf"
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
                seed=search.seed,
                bracket=values.get("tuner/bracket"),
                round=values.get("tuner/round"),
                error=error,
                traceback=done.message if not ok else None,
            )
            self.results.append(result)
            self._events.on_trial_end(result)

    ReportingTuner.__name__ = f"Reporting{base.__name__}"
    return ReportingTuner


def _tid(kt_trial_id: str) -> str:
    """Keras Tuner pads ids to the width of max_trials; hpsearch always uses four digits."""
    return f"{int(kt_trial_id):04d}"


BACKEND_CLASS = KerasTunerBackend
