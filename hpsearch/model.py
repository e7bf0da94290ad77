"""Build a Keras MLP from a plain dict of sampled params.

The builder never sees a ``kt.HyperParameters``: Keras Tuner and Ray Tune both hand it a
dict, so one function serves both backends.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from hpsearch.builders import BuilderError
from hpsearch.space import VOCABULARY
from hpsearch.wide_deep import MODEL_NAMES, wide_and_deep

if TYPE_CHECKING:
    import keras
    import numpy as np

#: Keys of ``params`` that the builder reads; batch_size and class_weight are fit() args.
BUILD_PARAMS = (
    "n_hidden",
    "n_neurons",
    "activation",
    "dropout",
    "learning_rate",
    "optimizer",
    "kernel_initializer",
    "normalize",
    "l1",
    "l2",
    "lr_schedule",
    "lr_drop",
    "lr_epochs_drop",
    "first_decay_steps",
    "layer_shape",
    "batch_size",
    "architecture",
)


def layer_widths(p: dict[str, Any]) -> list[int]:
    """Each hidden layer's width: ``same`` (n_neurons each), ``funnel`` (halving, at least
    1) or ``per_layer`` (``n_neurons_<i>``, falling back to n_neurons)."""
    n, width = int(p["n_hidden"]), int(p["n_neurons"])
    shape = p.get("layer_shape", "same")
    if shape == "funnel":
        return [max(1, width >> i) for i in range(n)]
    if shape == "per_layer":
        return [int(p.get(f"n_neurons_{i + 1}", width)) for i in range(n)]
    return [width] * n


def learning_rate_of(p: dict[str, Any], n_train: int | None) -> Any:
    """The optimizer's learning rate: a float, or a schedule stepping once per batch.

    step: ``learning_rate * lr_drop ** floor(epoch / lr_epochs_drop)`` (the seed's
    piecewise decay); cosine_restarts: Keras's CosineDecayRestarts from learning_rate with
    ``first_decay_steps`` batches in the first period."""
    import keras

    lr, schedule = float(p["learning_rate"]), p.get("lr_schedule", "constant")
    if schedule == "constant":
        return lr
    if schedule == "cosine_restarts":
        return keras.optimizers.schedules.CosineDecayRestarts(lr, int(p["first_decay_steps"]))
    if n_train is None:
        raise ValueError("lr_schedule: step needs the number of training examples")
    steps_per_epoch = math.ceil(n_train / int(p["batch_size"]))
    return keras.optimizers.schedules.ExponentialDecay(
        lr,
        decay_steps=steps_per_epoch * int(p["lr_epochs_drop"]),
        decay_rate=float(p["lr_drop"]),
        staircase=True,
    )


def fit_options(params: dict[str, Any], y_train: Any, task: str) -> dict[str, Any]:
    """``model.fit`` arguments that come from params: batch_size, and class_weight
    (``balanced``: n_samples / (n_classes * count), as scikit-learn computes it)."""
    out: dict[str, Any] = {"batch_size": int(params.get("batch_size", 32))}
    if params.get("class_weight", "none") == "balanced" and task in ("multiclass", "binary"):
        import numpy as np

        labels = np.asarray(y_train).reshape(-1).astype(int)
        counts = np.bincount(labels)
        present = counts > 0
        weights = len(labels) / (present.sum() * np.where(present, counts, 1))
        out["class_weight"] = {int(c): float(weights[c]) for c in np.nonzero(present)[0]}
    return out


_SETTLED = False


def settle_heap() -> None:
    """Move every object alive now out of the garbage collector's sight, once per process.

    Keras Tuner runs ``gc.collect()`` twice per trial (``clear_session`` and ``_try_build``),
    and a full collection walks every tracked object: 0.31 s per call in this process
    (MLflow, SQLAlchemy and pandas loaded) against 0.19 s in a bare Keras Tuner script, so a
    10-trial search lost about 6 s to it (benchmarks/overhead.py). For processes that serve
    one search to their end (a Ray worker, a Keras Tuner worker): what exists now lives until
    exit anyway, and objects made by trials stay collectable. Only the first call freezes: a
    later one would also freeze what earlier trials left alive, cycles included, for good.
    """
    global _SETTLED
    if _SETTLED:
        return
    _SETTLED = True
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """``settle_heap`` for one search in a process that may run more (``compare``, the API):
    frozen for the search, thawed after it, so each search walks only its own objects and
    nothing frozen escapes collection once the search is over."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def quiet_tensorflow(verbose: bool = False) -> None:
    """Import tensorflow with its C++ start-up lines (absl, CUDA probing, oneDNN) kept out
    of the user's terminal, and silence Keras's per-trial warnings; ``verbose`` keeps all."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging
    import warnings

    if "tensorflow" not in sys.modules:
        # absl prints before TF_CPP_MIN_LOG_LEVEL is read, straight to fd 2.
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)

    warnings.filterwarnings("ignore", message=".*Skipping variable loading for optimizer.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    # Keras Tuner's Bayesian oracle fits a GP that warns about length-scale bounds.
    warnings.filterwarnings("ignore", module="sklearn.gaussian_process")
    for name in ("tensorflow", "absl", "keras_tuner", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


class GraphJanitor:
    """Frees what TensorFlow keeps of each trial's traced training step.

    Keras's TF optimizer registers a ``tf.custom_gradient`` under a new name for every
    traced train step (two a trial), in a global registry that is never pruned and whose
    closures hold the whole graph: about 3 MiB a trial on digits, so memory grows without
    bound over a long search (TensorFlow issue 97697). ``clear_session`` does not touch it.
    Call ``sweep()`` after each trial; entries that existed before ``__init__`` stay.
    """

    def __init__(self) -> None:
        self._registry = self._find_registry()
        self._baseline = set(self._registry) if self._registry is not None else set()

    @staticmethod
    def _find_registry() -> dict[str, Any] | None:
        try:
            from tensorflow.python.framework import ops

            registry = ops._gradient_registry._registry
        except (ImportError, AttributeError):  # another TF layout: nothing to free
            return None
        return registry if isinstance(registry, dict) else None

    def sweep(self) -> int:
        """Drop the custom gradients registered since construction; returns how many."""
        if self._registry is None:
            return 0
        stale = [
            k for k in self._registry if k.startswith("CustomGradient-") and k not in self._baseline
        ]
        for key in stale:
            del self._registry[key]
        return len(stale)


def loss_and_metrics(task: str) -> tuple[str, list[Any]]:
    """The loss and the metrics a task's model reports (space.TASK_METRICS lists them)."""
    import keras

    if task == "multiclass":
        return "sparse_categorical_crossentropy", ["accuracy"]
    if task == "binary":
        return "binary_crossentropy", ["accuracy", keras.metrics.AUC(name="auc")]
    return "mse", ["mae", "mse", keras.metrics.RootMeanSquaredError(name="rmse")]


#: Regression metrics that scale with the target (times std), and those in its square (std^2),
#: by the names Keras logs them under (``mae`` or ``mean_absolute_error``, as compiled).
_LINEAR_METRICS = frozenset({"mae", "mean_absolute_error", "rmse", "root_mean_squared_error"})
_SQUARED_METRICS = frozenset({"mse", "mean_squared_error"})


def in_target_units(
    logs: dict[str, Any], scale: float, *, squared_loss: bool = False
) -> dict[str, Any]:
    """``logs`` of a model trained on a target divided by ``scale``, in place, with its
    error metrics (train and ``val_``) in the target's own units. With ``squared_loss``
    (an MSE loss: regression's default objective is ``val_loss``), ``loss`` too, in the
    target's units squared, an L1/L2 penalty scaled with it; another loss (a builder's
    own, say Huber) is left as the optimiser saw it."""
    squared = _SQUARED_METRICS | ({"loss"} if squared_loss else set())
    for key, value in logs.items():
        name = key.removeprefix("val_")
        if name in _LINEAR_METRICS:
            logs[key] = float(value) * scale
        elif name in squared:
            logs[key] = float(value) * scale * scale
    return logs


def evaluate(
    model: Any, x: Any, y: Any, target_scale: float | None, batch_size: int
) -> dict[str, float]:
    """``model.evaluate`` as a dict, a regression's errors in the target's units (evaluate
    runs no epoch callbacks, so target_units cannot do it there)."""
    scores = dict(model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True))
    if target_scale is not None:
        in_target_units(scores, target_scale, squared_loss=is_mse(model.loss))
    return {k: float(v) for k, v in scores.items()}


def is_mse(loss: Any) -> bool:
    """Whether a compiled ``model.loss`` is the mean squared error."""
    name = loss if isinstance(loss, str) else type(loss).__name__
    return name in ("mse", "mean_squared_error", "MeanSquaredError")


def target_units(scale: float | None) -> list[Any]:
    """The callbacks that go FIRST in every ``fit`` of a regression model trained on a
    standardised target: one that rewrites each epoch's logs into the target's units.

    Keras 3 hands one logs dict to each callback in turn (``CallbackList.on_epoch_end``),
    and adds its History and progress bar after the caller's callbacks, as Keras Tuner adds
    its TunerCallback and SaveBestEpoch: everything after this one (EarlyStopping, the
    tuner's oracle, Ray's reports, History) sees target units, and a user's builder that
    compiles its own ``mae`` is covered too. Empty for classification (``scale`` None)."""
    if scale is None:
        return []
    return [_target_units_class()(scale)]


def fit_callbacks(
    target_scale: float | None,
    *,
    metric: str | None = None,
    direction: str = "min",
    patience: int | None = None,
    then: Sequence[Any] = (),
) -> list[Any]:
    """The callbacks every trial's ``fit`` gets, in their one order: target_units first (see
    there), TerminateOnNaN, then ``then`` (an engine's reporter), then EarlyStopping on the
    objective when ``patience`` is set."""
    import keras

    callbacks: list[Any] = [*target_units(target_scale), keras.callbacks.TerminateOnNaN(), *then]
    if patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor=metric, mode=direction, patience=patience)
        )
    return callbacks


def is_fit_callback(callback: Any) -> bool:
    """Whether ``callback`` is one fit_callbacks adds (a k-fold replay hands the rest, an
    engine's own, the fold-mean epochs; these ran inside every fold already)."""
    import keras

    ours = (keras.callbacks.TerminateOnNaN, keras.callbacks.EarlyStopping)
    return isinstance(callback, ours) or is_target_units(callback)


def is_target_units(callback: Any) -> bool:
    """Whether ``callback`` is target_units' (a k-fold replay must not apply it twice)."""
    return isinstance(callback, _target_units_class())


@functools.cache
def _target_units_class() -> type:
    import keras

    class TargetUnits(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self, scale: float) -> None:
            super().__init__()
            self.target_scale = float(scale)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if logs is not None:
                loss = getattr(self.model, "loss", None)
                in_target_units(logs, self.target_scale, squared_loss=is_mse(loss))

    return TargetUnits


def make_optimizer(name: str, learning_rate: Any) -> keras.optimizers.Optimizer:
    """An optimizer by its vocabulary name; ``learning_rate`` may be a schedule."""
    import keras

    classes = {
        "sgd": keras.optimizers.SGD,
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "nadam": keras.optimizers.Nadam,
        "adamw": keras.optimizers.AdamW,
        "adagrad": keras.optimizers.Adagrad,
        "adamax": keras.optimizers.Adamax,
    }
    return classes[name](learning_rate=learning_rate)


def build_model(
    params: dict[str, Any],
    input_shape: Sequence[int],
    task: str,
    n_outputs: int = 1,
    *,
    norm_data: np.ndarray | None = None,
    n_train: int | None = None,
    builder: str | None = None,
    builder_dirs: Sequence[str] = (),
    hp: Any = None,
    columns: Mapping[str, list[int] | None] | None = None,
) -> keras.Model:
    """An MLP: Flatten for images, n_hidden Dense(+Dropout) layers, a task-fitted head; or,
    with ``architecture: wide_deep``, those layers on the deep columns and the wide columns
    concatenated with the last hidden layer into the head (hpsearch.wide_deep).

    Args:
        params: sampled values; missing keys take the vocabulary's defaults.
        input_shape: one example's shape, e.g. (64,) or (28, 28).
        task: "multiclass", "binary" or "regression".
        n_outputs: classes for multiclass, else 1.
        norm_data: train features; with ``normalize`` the model gets a Normalization layer
            adapted on them, so the logged model takes the same inputs as training did.
        n_train: training examples, for ``lr_schedule: step`` (default: len(norm_data)).
        builder: ``module:function`` to call instead (see build_custom).
        hp: Keras Tuner's HyperParameters, for a builder of its form (on Keras Tuner).
        columns: Wide & Deep's ``wide_features`` and ``deep_features`` input indices
            (wide_deep.model_columns; None or a missing path: every input).
    """
    import keras

    if builder:
        return build_custom(builder, builder_dirs, params, input_shape, task, n_outputs, hp)

    p = {k: params.get(k, VOCABULARY[k].default) for k in BUILD_PARAMS}
    p |= {k: v for k, v in params.items() if k.startswith("n_neurons_")}
    if n_train is None and norm_data is not None:
        n_train = len(norm_data)
    l1, l2 = float(p["l1"]), float(p["l2"])
    regularizer = keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    if len(input_shape) > 1:
        x = keras.layers.Flatten()(x)
    if p["normalize"]:
        norm = keras.layers.Normalization()
        if norm_data is None:
            raise ValueError("normalize needs the train features (norm_data)")
        norm.adapt(norm_data.reshape(len(norm_data), -1))
        x = norm(x)
    architecture = str(p["architecture"])
    if architecture == "wide_deep":
        x = wide_and_deep(x, columns, lambda deep: _hidden_stack(deep, p, regularizer))
    else:
        x = _hidden_stack(x, p, regularizer)
    if task == "multiclass":
        outputs = keras.layers.Dense(n_outputs, activation="softmax", name="output")(x)
    elif task == "binary":
        outputs = keras.layers.Dense(1, activation="sigmoid", name="output")(x)
    elif task == "regression":
        outputs = keras.layers.Dense(1, name="output")(x)
    else:
        raise ValueError(f"unknown task {task!r}")
    model = keras.Model(inputs, outputs, name=MODEL_NAMES[architecture])
    loss, metrics = loss_and_metrics(task)
    model.compile(
        loss=loss,
        optimizer=make_optimizer(p["optimizer"], learning_rate_of(p, n_train)),
        metrics=metrics,
    )
    return model


def _hidden_stack(x: Any, p: dict[str, Any], regularizer: Any) -> Any:
    """The n_hidden Dense(+Dropout) layers, each as wide as layer_widths says."""
    import keras

    for i, width in enumerate(layer_widths(p)):
        x = keras.layers.Dense(
            width,
            activation=p["activation"],
            kernel_initializer=p["kernel_initializer"],
            kernel_regularizer=regularizer,
            name=f"hidden_{i + 1}",
        )(x)
        if p["dropout"] > 0:
            x = keras.layers.Dropout(float(p["dropout"]))(x)
    return x


class ModelData(Protocol):
    """What building a model needs from the data: a Dataset, or the same fields as Ray's
    workers receive them."""

    @property
    def input_shape(self) -> Sequence[int]: ...
    @property
    def task(self) -> str: ...
    @property
    def n_outputs(self) -> int: ...
    @property
    def x_train(self) -> Any: ...


def build_for(
    params: dict[str, Any],
    data: ModelData,
    *,
    builder: str | None = None,
    builder_dirs: Sequence[str] = (),
    norm_data: Any = None,
    hp: Any = None,
    columns: Mapping[str, list[int] | None] | None = None,
) -> keras.Model:
    """build_model for loaded data: the one call every engine, the refit and lr-find make.
    ``norm_data`` (default: the training inputs) is what a Normalization layer adapts to;
    ``columns``, Wide & Deep's paths (wide_deep.model_columns of the space and data)."""
    return build_model(
        params,
        data.input_shape,
        data.task,
        data.n_outputs,
        norm_data=data.x_train if norm_data is None else norm_data,
        builder=builder,
        builder_dirs=builder_dirs,
        hp=hp,
        columns=columns,
    )


def load_builder(spec: str, dirs: Sequence[str] = (), *, verbose: bool = False) -> Any:
    """Import exactly ``module:function`` (``dirs`` first on the path), nothing else; a
    module that imports TensorFlow does so quietly, as hpsearch's own imports do."""
    import importlib

    if "tensorflow" not in sys.modules:  # once; later calls must not undo --verbose
        quiet_tensorflow(verbose)
    module_name, _, attr = spec.partition(":")
    added = [d for d in dirs if d not in sys.path]
    sys.path[:0] = added
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BuilderError(f"cannot import '{module_name}': {exc}") from None
    finally:
        for d in added:
            if d in sys.path:
                sys.path.remove(d)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise BuilderError(f"'{module_name}' has no function '{attr}'")
    return fn


def build_custom(
    spec: str,
    dirs: Sequence[str],
    params: dict[str, Any],
    input_shape: Sequence[int],
    task: str,
    n_outputs: int,
    hp: Any = None,
) -> keras.Model:
    """A user's builder, in either form: hpsearch's ``fn(params, input_shape, task)`` (plus
    ``n_outputs=`` when the function takes it), or Keras Tuner's ``fn(hp)``, which gets
    ``hp`` (Keras Tuner's own, on that engine) or else a SampledHP of ``params``. An
    uncompiled model is compiled here with the task's loss and metrics and the
    ``optimizer``/``learning_rate`` params, so the objective (e.g. val_accuracy) is
    reported as for hpsearch's own models."""
    import inspect

    from hpsearch.builders import SampledHP, builder_form, undeclared

    fn = load_builder(spec, dirs)
    if builder_form(fn) == "hp":
        declared = set(hp.values) if hp is not None else set()
        model = fn(hp if hp is not None else SampledHP(params))
        added = [n for n in (hp.values if hp is not None else {}) if n not in declared]
        if added:  # Keras Tuner registered a name the space does not declare
            raise BuilderError(undeclared(added[0], list(params)))
    else:
        kwargs: dict[str, Any] = {}
        if "n_outputs" in inspect.signature(fn).parameters:
            kwargs["n_outputs"] = n_outputs
        model = fn(dict(params), tuple(input_shape), task, **kwargs)
    if not getattr(model, "built", True):  # Sequential() without an Input, as in the seed:
        model.build((None, *input_shape))  # weights exist now, so a checkpoint can load
    if not getattr(model, "compiled", False):
        loss, metrics = loss_and_metrics(task)
        lr = float(params.get("learning_rate", VOCABULARY["learning_rate"].default))
        optimizer = make_optimizer(str(params.get("optimizer", "adam")), lr)
        model.compile(loss=loss, optimizer=optimizer, metrics=metrics)
    return model
