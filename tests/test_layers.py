"""hpsearch's own Keras layers: a file that runs inside logged models, keras its only import."""

from __future__ import annotations

import ast
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from hpsearch import layers


def test_select_columns_keeps_the_order_given_and_round_trips() -> None:
    cls = layers.select_columns_class()
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, cls([3, 0], name="pick")(inputs))
    x = np.arange(8, dtype="float32").reshape(2, 4)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x[:, [3, 0]])
    config = keras.saving.serialize_keras_object(model.get_layer("pick"))
    assert config["registered_name"] == "hpsearch>SelectColumns"
    back = keras.saving.deserialize_keras_object(config, custom_objects=layers.custom_objects())
    assert back.indices == [3, 0] and back.compute_output_shape((None, 4)) == (None, 2)


def test_the_file_imports_nothing_of_hpsearch() -> None:
    """It is a logged model's artifact: it must run where hpsearch is not installed."""
    tree = ast.parse(Path(layers.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported <= {"__future__", "functools", "typing", "keras"}, imported
