"""Keras layers of hpsearch's own models, in a file that imports nothing but keras.

The file travels inside every logged model next to recipe.py, and the model's loader
(tracking/served_model.py) runs it before ``keras.saving.load_model``: Keras finds a custom
layer only once its class is registered, and a served model must load where hpsearch is
not installed. Keras is imported inside the functions, so importing hpsearch stays light.
"""

from __future__ import annotations

import functools
from typing import Any

#: The package a layer is registered under: a saved model names it ``hpsearch>SelectColumns``.
PACKAGE = "hpsearch"


@functools.cache
def select_columns_class() -> type:
    """``SelectColumns(indices)``: the input columns at ``indices`` (last axis), in that
    order. One input tensor stays one input tensor: data pipelines, k-fold CV, the refit
    and the served model feed a Wide & Deep model as they feed an MLP."""
    import keras

    @keras.saving.register_keras_serializable(package=PACKAGE, name="SelectColumns")
    class SelectColumns(keras.layers.Layer):  # type: ignore[misc]
        def __init__(self, indices: list[int], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.indices = [int(i) for i in indices]

        def call(self, inputs: Any) -> Any:
            return keras.ops.take(inputs, self.indices, axis=-1)

        def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
            return (*tuple(input_shape)[:-1], len(self.indices))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "indices": list(self.indices)}

    return SelectColumns


def custom_objects() -> dict[str, type]:
    """The layers by their registered names, for ``keras.saving.load_model``."""
    return {f"{PACKAGE}>SelectColumns": select_columns_class()}
