"""build_model: a Keras MLP from a plain dict of params."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

from hpsearch.model import build_model
from hpsearch.space import TASK_METRICS, VOCABULARY


def hidden_layers(model: keras.Model) -> list[keras.layers.Dense]:
    return [layer for layer in model.layers if layer.name.startswith("hidden_")]


def of_type(model: keras.Model, cls: type) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, cls)]


@pytest.mark.parametrize(
    ("task", "n_outputs", "units", "activation", "loss"),
    [
        ("multiclass", 5, 5, "softmax", "sparse_categorical_crossentropy"),
        ("binary", 1, 1, "sigmoid", "binary_crossentropy"),
        ("regression", 1, 1, "linear", "mse"),
    ],
)
def test_head_and_loss_fit_the_task(
    task: str, n_outputs: int, units: int, activation: str, loss: str
) -> None:
    model = build_model({"n_hidden": 1, "n_neurons": 4}, (6,), task, n_outputs)
    head = model.get_layer("output")
    assert isinstance(head, keras.layers.Dense)
    assert head.units == units
    assert head.activation.__name__ == activation
    assert model.loss == loss
    assert model.output_shape == (None, units)


def test_unknown_task_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        build_model({}, (6,), "ranking")


@pytest.mark.parametrize("n_hidden", [0, 1, 3])
def test_hidden_layers_follow_params(n_hidden: int) -> None:
    params = {
        "n_hidden": n_hidden,
        "n_neurons": 12,
        "activation": "tanh",
        "kernel_initializer": "he_normal",
    }
    model = build_model(params, (6,), "multiclass", 3)
    layers = hidden_layers(model)
    assert len(layers) == n_hidden
    assert len(of_type(model, keras.layers.Dense)) == n_hidden + 1  # plus the head
    for layer in layers:
        assert layer.units == 12
        assert layer.activation.__name__ == "tanh"
        assert isinstance(layer.kernel_initializer, keras.initializers.HeNormal)
    assert not of_type(model, keras.layers.Dropout)
    assert not of_type(model, keras.layers.Flatten)


def test_missing_params_take_vocabulary_defaults() -> None:
    model = build_model({}, (6,), "binary")
    layers = hidden_layers(model)
    assert len(layers) == VOCABULARY["n_hidden"].default
    assert {layer.units for layer in layers} == {VOCABULARY["n_neurons"].default}
    assert {layer.activation.__name__ for layer in layers} == {VOCABULARY["activation"].default}
    assert type(model.optimizer).__name__.lower() == VOCABULARY["optimizer"].default
    assert float(model.optimizer.learning_rate) == pytest.approx(
        VOCABULARY["learning_rate"].default
    )


def test_dropout_follows_each_hidden_layer() -> None:
    model = build_model({"n_hidden": 2, "n_neurons": 4, "dropout": 0.3}, (6,), "regression")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [layer.rate for layer in of_type(model, keras.layers.Dropout)] == [0.3, 0.3]


def test_images_are_flattened() -> None:
    model = build_model({"n_hidden": 1, "n_neurons": 8}, (28, 28), "multiclass", 10)
    assert model.input_shape == (None, 28, 28)
    assert isinstance(model.layers[1], keras.layers.Flatten)
    assert tuple(hidden_layers(model)[0].kernel.shape) == (28 * 28, 8)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("sgd", keras.optimizers.SGD),
        ("adam", keras.optimizers.Adam),
        ("rmsprop", keras.optimizers.RMSprop),
        ("nadam", keras.optimizers.Nadam),
        ("adamw", keras.optimizers.AdamW),
        ("adagrad", keras.optimizers.Adagrad),
        ("adamax", keras.optimizers.Adamax),
    ],
)
def test_optimizer_and_learning_rate_from_params(
    name: str, cls: type[keras.optimizers.Optimizer]
) -> None:
    model = build_model({"optimizer": name, "learning_rate": 0.0123}, (6,), "binary")
    assert type(model.optimizer) is cls
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0123, rel=1e-6)


def test_normalize_adapts_to_the_train_features() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal([5.0, -3.0, 0.5], [2.0, 1.0, 0.1], size=(500, 3)).astype(np.float32)
    model = build_model({"normalize": True, "n_hidden": 1}, (3,), "regression", norm_data=data)
    (norm,) = of_type(model, keras.layers.Normalization)
    np.testing.assert_allclose(np.asarray(norm.mean).ravel(), data.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(norm.variance).ravel(), data.var(axis=0), rtol=1e-3)
    normalized = np.asarray(norm(data))
    np.testing.assert_allclose(normalized.mean(axis=0), 0.0, atol=1e-3)
    assert not of_type(build_model({"n_hidden": 1}, (3,), "regression"), keras.layers.Normalization)


def test_normalize_needs_the_train_features() -> None:
    with pytest.raises(ValueError, match="norm_data"):
        build_model({"normalize": True}, (3,), "regression")


def test_normalize_flattens_images_first() -> None:
    data = np.random.default_rng(1).random((20, 4, 4)).astype(np.float32)
    model = build_model({"normalize": True, "n_hidden": 1}, (4, 4), "binary", norm_data=data)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:3] == ["InputLayer", "Flatten", "Normalization"]
    (norm,) = of_type(model, keras.layers.Normalization)
    np.testing.assert_allclose(
        np.asarray(norm.mean).ravel(), data.reshape(20, -1).mean(axis=0), rtol=1e-4
    )


@pytest.mark.parametrize(
    ("task", "n_outputs"), [("multiclass", 3), ("binary", 1), ("regression", 1)]
)
def test_tiny_fit_reports_the_task_metrics(task: str, n_outputs: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 5)).astype(np.float32)
    y: np.ndarray
    if task == "regression":
        y = rng.normal(size=48).astype(np.float32)
    else:
        y = np.arange(48) % (3 if task == "multiclass" else 2)
    keras.utils.set_random_seed(0)
    model = build_model({"n_hidden": 1, "n_neurons": 8}, (5,), task, n_outputs)
    history = model.fit(
        x, y, validation_data=(x[:16], y[:16]), epochs=2, batch_size=16, verbose=0
    ).history
    # The space validator promises these objectives (space.TASK_METRICS).
    for metric in TASK_METRICS[task]:
        assert f"val_{metric}" in history, sorted(history)
        assert len(history[metric]) == 2
        assert np.isfinite(history[metric]).all()
    predictions = model.predict(x[:4], verbose=0)
    assert predictions.shape == (4, n_outputs)
    if task == "multiclass":
        np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


def test_settle_heap_freezes_once_and_leaves_later_garbage_collectable() -> None:
    """Run in a fresh interpreter: freezing is process-wide."""
    import subprocess
    import sys

    code = """
import gc
from hpsearch.model import settle_heap
before = [object() for _ in range(1000)]
settle_heap()
frozen = gc.get_freeze_count()
assert frozen >= 1000, frozen
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a  # a cycle made after the freeze
del a, b
settle_heap()  # a second call must not freeze anything more
assert gc.get_freeze_count() == frozen
assert gc.collect() >= 2  # the cycle is still found
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_settled_heap_freezes_for_one_search_and_thaws_after() -> None:
    """A process that runs several searches (compare) settles each one and thaws after it."""
    import subprocess
    import sys

    code = """
import gc
from hpsearch.model import settled_heap
keep = [object() for _ in range(1000)]
with settled_heap():
    assert gc.get_freeze_count() >= 1000
    try:
        with settled_heap():
            raise RuntimeError("a search that fails")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0  # thawed even when the search raised
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a
with settled_heap():  # the cycle is frozen while the search runs ...
    del a, b
    assert gc.collect() == 0
assert gc.collect() >= 2  # ... and collectable once it is over
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
