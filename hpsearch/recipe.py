"""The preprocessing recipe: how raw rows become a model's inputs, and its outputs answers.

A recipe is plain JSON (``Dataset.recipe``, ``preprocessing.json``, ``recipe.json`` inside
every logged model). Training encodes, imputes and scales its data with the functions
below, and the logged model ships this very file and applies :func:`transform` to raw
rows at predict time, so the two cannot drift. The file therefore imports nothing but
numpy and pandas (nothing of hpsearch): it runs where hpsearch is not installed.

Layout (``version`` 1)::

    encoding  {"input": "table", "inputs": [{"name", "kind"}], "columns": [...]}
              or {"input": "array", "shape": [28, 28], "divide": 255.0}
    fill      per encoded column: the train mean a missing value becomes
    scaling   {"kind": "standard" | "minmax" | "none", "shift": [...], "scale": [...]}
    target    {"shift": mean, "scale": std} of the train split (regression), else null
    task, classes, features
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

VERSION = 1
#: A text value that was missing becomes this category (its one-hot column, if training saw one).
MISSING = "missing"
#: Date parts, as the pandas ``.dt`` attribute each is read from.
DATE_PARTS = {
    "year": "year",
    "month": "month",
    "day": "day",
    "weekday": "dayofweek",
    "hour": "hour",
    "minute": "minute",
}
_BOOLS = {True: 1.0, False: 0.0, "true": 1.0, "false": 0.0, "True": 1.0, "False": 0.0}


class RecipeError(ValueError):
    """Raw rows the recipe cannot encode: a missing column, text in a numeric column.

    Defined here, not in hpsearch.errors: this file runs inside a logged model, where
    hpsearch (and so hpsearch.errors) may not be installed."""


# ----------------------------------------------------------------------------- raw -> arrays


def transform(recipe: dict[str, Any], raw: Any) -> np.ndarray:
    """Raw rows (a DataFrame with the dataset's columns, or pixel arrays) -> the float32
    array the model takes: encoded, missing values filled, scaled. Columns the recipe does
    not use are ignored; a text value training never saw one-hot encodes as all zeros."""
    x = encode(recipe["encoding"], raw)
    return scale(impute(x, recipe.get("fill")), recipe["scaling"])


def encode(encoding: dict[str, Any], raw: Any) -> np.ndarray:
    """Raw rows -> float32 features, before imputation and scaling (NaN where missing)."""
    if encoding["input"] == "array":
        shape = tuple(int(n) for n in encoding["shape"])
        values = np.asarray(raw, dtype=np.float64)
        if values.ndim < 2 or values[0].size != int(np.prod(shape)):
            raise RecipeError(f"expected pixel arrays of shape (n, {shape}), got {values.shape}")
        values = values.reshape((len(values), *shape))  # flat rows are accepted too
        return (values / float(encoding.get("divide", 1.0))).astype(np.float32)
    return _encode_table(encoding, raw)


def impute(x: np.ndarray, fill: Any) -> np.ndarray:
    """``x`` with each NaN replaced by its column's fill (the train mean; a list or an
    array, one value per column; None: nothing to fill)."""
    if fill is None or not np.isnan(x).any():
        return x
    flat = x.reshape(len(x), -1)
    values = np.asarray(fill, dtype=np.float32)
    return np.where(np.isnan(flat), values, flat).reshape(x.shape).astype(np.float32)


def scale(x: np.ndarray, scaling: dict[str, Any]) -> np.ndarray:
    """``(x - shift) / scale`` per column, in float32, as the train split was scaled."""
    if scaling["kind"] == "none":
        return x
    shape = x.shape
    shift = np.asarray(scaling["shift"], dtype=np.float32)
    factor = np.asarray(scaling["scale"], dtype=np.float32)
    return ((x.reshape(len(x), -1) - shift) / factor).reshape(shape).astype(np.float32)


def scale_target(y: np.ndarray, target: dict[str, Any] | None) -> np.ndarray:
    """A regression target standardised with the train split's mean and std."""
    if target is None:
        return y
    return ((np.asarray(y, dtype=np.float64) - target["shift"]) / target["scale"]).astype(
        np.float32
    )


def target_units(y: np.ndarray, target: dict[str, Any] | None) -> np.ndarray:
    """Model outputs on the standardised target -> the target's own units."""
    values = np.asarray(y, dtype=np.float64)
    return values if target is None else values * target["scale"] + target["shift"]


# ----------------------------------------------------------------------------- model -> answers


def outputs(recipe: dict[str, Any], predictions: Any) -> Any:
    """The model's raw outputs as answers: a DataFrame with ``label`` and one probability
    column per class (named after it), or ``prediction`` in the target's units."""
    import pandas as pd

    values = np.asarray(predictions, dtype=np.float64)
    values = values.reshape(len(values), -1)
    task, classes = recipe["task"], recipe.get("classes")
    if task == "regression":
        return pd.DataFrame({"prediction": target_units(values[:, 0], recipe.get("target"))})
    assert classes is not None, "a classification recipe names its classes"
    if task == "binary":
        p = values[:, 0]
        probs = np.column_stack([1.0 - p, p])
        picked = (p > 0.5).astype(int)  # Keras's binary accuracy threshold
    else:
        probs = values
        picked = values.argmax(axis=1)
    frame = pd.DataFrame({"label": np.asarray(classes, dtype=object)[picked]})
    for i, name in enumerate(classes):
        frame[name] = probs[:, i]
    return frame


# ----------------------------------------------------------------------------- tables


def _encode_table(encoding: dict[str, Any], raw: Any) -> np.ndarray:
    import pandas as pd

    frame = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(raw)
    inputs = encoding["inputs"]
    missing = [i["name"] for i in inputs if i["name"] not in frame.columns]
    if missing:
        raise RecipeError(
            f"missing input column(s) {', '.join(map(repr, missing))}; the model reads "
            + ", ".join(repr(i["name"]) for i in inputs)
        )
    kinds = {i["name"]: i["kind"] for i in inputs}
    decoded: dict[str, Any] = {}
    for name, kind in kinds.items():
        series = frame[name]
        if kind == "numeric":
            decoded[name] = _numeric(series, name)
        elif kind == "bool":
            decoded[name] = pd.Series(series, dtype=object).map(_BOOLS).to_numpy(dtype=np.float64)
        elif kind == "text":
            decoded[name] = text_values(series).to_numpy()
        else:  # "date" (text that holds dates) or "datetime"
            decoded[name] = date_parts(series)
    out = np.empty((len(frame), len(encoding["columns"])), dtype=np.float64)
    for j, col in enumerate(encoding["columns"]):
        source, op = decoded[col["from"]], col["op"]
        if op == "one_hot":
            out[:, j] = source == col["value"]
        elif op == "date":
            out[:, j] = source[col["part"]]
        else:
            out[:, j] = source
    return out.astype(np.float32)


def _numeric(series: Any, name: str) -> np.ndarray:
    import pandas as pd

    try:
        values = pd.to_numeric(series, errors="raise")
    except (ValueError, TypeError):
        bad = next((v for v in series if _not_number(v)), None)
        raise RecipeError(f"column {name!r} must hold numbers, got {bad!r}") from None
    out = pd.Series(values).to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isinf(out), np.nan, out)  # as training reads them: missing


def _not_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return value is not None
    return False


def text_values(series: Any) -> Any:
    """A text column as the strings its one-hot columns compare with (missing: MISSING)."""
    return series.astype(str).where(series.notna(), MISSING)


def date_parts(series: Any) -> dict[str, np.ndarray]:
    """A date column's parts, parsed as training parsed it (unparsable: missing)."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = series
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(series, errors="coerce", format="mixed")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return {
        part: getattr(parsed.dt, attr).astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        for part, attr in DATE_PARTS.items()
    }
