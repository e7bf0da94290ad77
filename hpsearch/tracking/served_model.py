"""The model hpsearch logs and registers: raw rows in, answers out (MLflow "models from code").

MLflow runs this file, which travels inside every logged model, wherever the model is
loaded (``mlflow.pyfunc.load_model``, ``mlflow models serve``); hpsearch itself never
imports it. It needs mlflow, numpy, pandas and keras, not hpsearch: the recipe
(``recipe.json``) and the code that applies it (``recipe.py``, hpsearch.recipe as it was at
training time) are the model's artifacts, next to the trained Keras model
(``model.keras``) and the code of hpsearch's own Keras layers (``layers.py``).
``unwrap_python_model().keras_model`` is that Keras model, and ``.recipe`` the recipe.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class HpsearchModel(PythonModel):
    """The search's Keras model behind the recipe that training applied to raw rows."""

    keras_model: Any = None
    recipe: dict[str, Any] | None = None

    def load_context(self, context: Any) -> None:
        import keras

        artifacts = context.artifacts
        self.recipe = json.loads(Path(artifacts["recipe"]).read_text(encoding="utf-8"))
        # The recipe's own code, under a name of its own: two models loaded in one process
        # each keep the code they were logged with.
        self._code = _load_code("hpsearch_recipe", artifacts["recipe_code"])
        custom: dict[str, Any] = {}
        if "layers_code" in artifacts:  # hpsearch's own layers (a Wide & Deep model's)
            custom = _load_code("hpsearch_layers", artifacts["layers_code"]).custom_objects()
        self.keras_model = keras.saving.load_model(
            artifacts["keras_model"], compile=False, custom_objects=custom
        )

    # MLflow reads this hint: a DataFrame makes it keep the logged signature (the raw
    # columns) and derive none of its own; pixel arrays pass through it all the same.
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Raw rows (a DataFrame of the dataset's columns; pixel arrays for images) ->
        ``label`` and one probability column per class, or ``prediction`` in the target's
        units."""
        import numpy as np

        recipe = self.recipe
        assert recipe is not None, "load_context runs first"
        x = self._code.transform(recipe, model_input)
        if len(x):
            out = self.keras_model.predict(x, verbose=0)
        else:  # Keras cannot predict on no rows; the answer is an empty table
            width = len(recipe["classes"]) if recipe["task"] == "multiclass" else 1
            out = np.zeros((0, width), dtype=np.float32)
        return self._code.outputs(recipe, out)


def _load_code(prefix: str, path: str) -> Any:
    """A file the model carries, run as a module under a name of its own."""
    spec = importlib.util.spec_from_file_location(f"{prefix}_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mlflow.models.set_model(HpsearchModel())
