"""Builders for the custom-builder tests: what a user's ``mypkg.models:build`` looks like."""

from __future__ import annotations

from typing import Any


def build(
    params: dict[str, Any], input_shape: tuple[int, ...], task: str, n_outputs: int = 1
) -> Any:
    """A two-tower MLP with hyperparameters hpsearch does not know (width_mult, towers),
    returned uncompiled: hpsearch compiles it with the task's loss and metrics."""
    import keras

    inputs = keras.Input(shape=input_shape)
    width = int(16 * float(params["width_mult"]))
    towers = [keras.layers.Dense(width, activation=params["tower_activation"])(inputs)
              for _ in range(int(params["towers"]))]  # fmt: skip
    x = keras.layers.Concatenate()(towers) if len(towers) > 1 else towers[0]
    units, activation = (n_outputs, "softmax") if task == "multiclass" else (1, None)
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation)(x))


def broken(params: dict[str, Any], input_shape: tuple[int, ...], task: str) -> Any:
    """A builder that raises for one value of a param: those trials must fail, not the search."""
    if params["towers"] == 2:
        raise ValueError("two towers are not supported by this builder")
    return build(params, input_shape, task, n_outputs=10)


def hangs_after(
    params: dict[str, Any], input_shape: tuple[int, ...], task: str, n_outputs: int = 1
) -> Any:
    """Builds ``hang_after`` models, then hangs in every later build, as a trial stuck on a
    dead data source or a deadlocked library does: the search must end, not wait forever.
    (Counted in files under ``hang_dir``: trials run in separate Ray workers.)"""
    import os
    import time
    from pathlib import Path

    for n in range(int(params["hang_after"])):
        try:
            os.close(os.open(Path(params["hang_dir"]) / f"built-{n}", os.O_CREAT | os.O_EXCL))
            return build(params, input_shape, task, n_outputs)
        except FileExistsError:
            continue
    time.sleep(3600)
    raise TimeoutError("hung for an hour")


def slow_to_stop(
    params: dict[str, Any], input_shape: tuple[int, ...], task: str, n_outputs: int = 1
) -> Any:
    """The two-tower net, whose ``fit`` takes 3 s to unwind, as a trial stopped mid-fit
    does on a loaded machine: longer than Tune's 2 s default wait before it reuses the
    actor for another trial."""
    import time

    import keras

    class SlowToStop(keras.Model):
        def fit(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().fit(*args, **kwargs)
            finally:
                time.sleep(3)

    model = build(params, input_shape, task, n_outputs)
    return SlowToStop(model.inputs, model.outputs)


def build_model(hp: Any) -> Any:
    """The seed's Keras Tuner builder (Hands-On ML 10.3), unchanged but for a record of what
    it was given: the space, not these ranges, decides the values; Keras Tuner passes its
    own HyperParameters, Ray hpsearch's stand-in."""
    import json
    import uuid
    from pathlib import Path

    import keras

    n_hidden = hp.Int("n_hidden", min_value=0, max_value=8, default=2)
    n_neurons = hp.Int("n_neurons", min_value=16, max_value=256)
    learning_rate = hp.Float("learning_rate", min_value=1e-4, max_value=1e-2, sampling="log")
    optimizer = hp.Choice("optimizer", values=["sgd", "adam"])
    if optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    model = keras.Sequential()
    model.add(keras.layers.Flatten())
    for _ in range(n_hidden):
        model.add(keras.layers.Dense(n_neurons, activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    record = {"hp": type(hp).__name__, "n_hidden": n_hidden, "n_neurons": n_neurons}
    folder = Path(hp.Fixed("record_dir", "unused"))
    (folder / f"{uuid.uuid4().hex}.json").write_text(json.dumps(record))
    return model
