"""What runs in Ray's workers: the function trainable ``train_trial`` and its k-fold path.

Workers unpickle ``train_trial`` by this module's path, so it must stay importable on its
own (ray, keras and TensorFlow are imported inside the functions).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from hpsearch.model import (
    GraphJanitor,
    build_for,
    fit_callbacks,
    fit_options,
    quiet_tensorflow,
    settle_heap,
)
from hpsearch.wide_deep import model_columns

if TYPE_CHECKING:
    from hpsearch.data import Dataset
    from hpsearch.space import Space

#: Files inside each epoch's checkpoint: weights now (to resume a paused Hyperband trial) and
#: the best epoch's weights (for the best model), as plain numpy arrays.
_LATEST, _BEST, _STATE = "latest.npz", "best.npz", "state.json"
#: One per Ray worker process, which runs many trials (actors are reused).
_JANITOR: GraphJanitor | None = None
#: How long a reused actor waits for its previous trial's thread to end (see train_trial).
_RESET_WAIT_S = 120


def payload_for(
    space: Space,
    data: Dataset,
    fixed: dict[str, Any],
    max_epochs: int,
    cpus_per_trial: float,
    verbose: bool,
) -> dict[str, Any]:
    """Everything a trial needs besides its config, shipped to the workers once
    (``tune.with_parameters``): the data as plain arrays and the training settings."""
    search = space.search
    return {
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
        "metric": space.objective.metric,
        "direction": space.objective.direction,
        "cpus_per_trial": cpus_per_trial,
        "checkpoint_every_epoch": search.strategy in ("hyperband", "bohb"),
        "builder": space.builder,
        "builder_dirs": space.builder_dirs(),
        "columns": model_columns(space, data),
        "cv": space.training.cv,
        "verbose": verbose,
    }


def train_trial(config: dict[str, Any], payload: dict[str, Any]) -> None:
    """A function trainable: build, train, report every epoch, checkpoint for Hyperband."""
    import ray

    _prepare_worker(payload)  # before keras loads: it quiets TensorFlow's import
    import keras

    params = {**payload["fixed"], **config}
    data = payload["data"]

    def build() -> Any:
        keras.utils.set_random_seed(payload["seed"])
        return build_for(
            params,
            SimpleNamespace(**data),
            builder=payload["builder"],
            builder_dirs=payload["builder_dirs"],
            columns=payload.get("columns"),
        )

    model = build()
    node_id = ray.get_runtime_context().get_node_id()
    state, best_weights = _restore(model)
    if payload.get("cv"):
        _cross_validate_trial(payload, params, build, node_id)
        return
    report = _report_callback(payload, state, best_weights, node_id)
    _fit(model, params, payload, state["epoch"], report)


def _prepare_worker(payload: dict[str, Any]) -> None:
    """TensorFlow in this (reused) actor: quiet, on the cores Ray gave the trial, with a
    clean session and what the previous trial left swept; then the trial's seed."""
    quiet_tensorflow(payload["verbose"])
    import keras
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


def _restore(model: Any) -> tuple[dict[str, Any], list[Any]]:
    """The trial's progress and best weights so far: from its checkpoint when Tune resumes
    it (a Hyperband trial after a pause, which also gets its latest weights back), else a
    fresh start."""
    import numpy as np
    from ray import tune

    state: dict[str, Any] = {"epoch": 0, "best": None, "best_epoch": 0}
    best_weights = model.get_weights()
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # a Hyperband trial resumed after a pause
        with checkpoint.as_directory() as folder:
            model.set_weights(list(np.load(Path(folder) / _LATEST).values()))
            best_weights = list(np.load(Path(folder) / _BEST).values())
            state = json.loads((Path(folder) / _STATE).read_text())
    return state, best_weights


def _report_callback(
    payload: dict[str, Any], state: dict[str, Any], best_weights: list[Any], node_id: str
) -> Any:
    """A Keras callback that reports each epoch to Tune, tracks the best epoch in ``state``
    and writes the checkpoint (defined lazily: keras and ray load in the worker only)."""
    import keras
    import numpy as np
    from ray import tune

    metric, direction = payload["metric"], payload["direction"]

    class Report(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.best_weights = best_weights

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = {k: float(v) for k, v in (logs or {}).items()}
            value = logs.get(metric, math.nan)
            best = state["best"]
            improved = math.isfinite(value) and (
                best is None or (value > best if direction == "max" else value < best)
            )
            if improved:
                state["best"], state["best_epoch"] = value, epoch + 1
                self.best_weights = self.model.get_weights()
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
                np.savez(Path(folder) / _BEST, *self.best_weights)
                (Path(folder) / _STATE).write_text(json.dumps(state))
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))

    return Report()


def _fit(
    model: Any, params: dict[str, Any], payload: dict[str, Any], initial_epoch: int, report: Any
) -> None:
    """Train from ``initial_epoch`` with early stopping and NaN checks, ``report`` last."""
    data, metric, direction = payload["data"], payload["metric"], payload["direction"]
    # target units first: Report sends the target's units
    callbacks = fit_callbacks(
        data.get("target_scale"),
        metric=metric,
        direction=direction,
        patience=payload["patience"],
        then=[report],
    )
    model.fit(
        data["x_train"],
        data["y_train"],
        validation_data=(data["x_valid"], data["y_valid"]),
        **fit_options(params, data["y_train"], data["task"]),
        epochs=payload["epochs"],
        initial_epoch=initial_epoch,
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


def _read_best(checkpoint: Any) -> list[Any]:
    """The best epoch's weights from a trial's checkpoint."""
    import numpy as np

    with checkpoint.as_directory() as folder:
        return list(np.load(Path(folder) / _BEST).values())
