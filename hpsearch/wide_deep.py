"""Wide & Deep (the seed's section 10.2, after Cheng et al., 2016): the deep MLP on its
columns, and its wide columns going straight to the output layer, concatenated with the
last hidden layer.

``architecture: wide_deep`` picks it; the space's ``model:`` section may give each path
its columns (space.columns), which are resolved here against the loaded data's inputs.
The model keeps one input tensor and picks each path's columns with a SelectColumns layer
(hpsearch.layers), so everything that feeds or serves an MLP feeds and serves it as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hpsearch.errors import SpaceError
from hpsearch.space import resolve_selection
from hpsearch.space.columns import Column, Selection

if TYPE_CHECKING:
    from hpsearch.data import Dataset
    from hpsearch.space import Space

#: The model's name for each architecture (``model.name``, the Keras summary's title).
MODEL_NAMES = {"mlp": "hpsearch_mlp", "wide_deep": "hpsearch_wide_deep"}


def data_columns(data: Dataset) -> list[Column]:
    """The model's input columns, each with the raw column it was encoded from (a one-hot
    column from its text column); images: one per pixel, flattened."""
    encoding = data.recipe.get("encoding") or {}
    if encoding.get("input") == "table":
        return [(str(c["name"]), str(c["from"])) for c in encoding["columns"]]
    return [(n, n) for n in data.feature_names]


def model_columns(space: Space, data: Dataset) -> Selection | None:
    """Each Wide & Deep path's input indices for ``data`` (None: the space sets none, every
    input goes both ways). A name that is not a column, or an index past the inputs, is a
    SpaceError at its line of the space file: raised before a search creates anything."""
    if space.model is None or not space.model.is_set():
        return None
    dropped = dict(data.info.dropped_columns) if data.info is not None else {}
    try:
        return resolve_selection(
            space.model, data_columns(data), dataset=space.dataset.name, dropped=dropped
        )
    except SpaceError as exc:
        raise space.error_at(exc.field or "model", exc.problem) from None


def wide_and_deep(
    x: Any, columns: Mapping[str, list[int] | None] | None, deep: Callable[[Any], Any]
) -> Any:
    """The tensor the output layer takes: Concatenate([wide columns, deep(deep columns)]),
    as the seed's ``concatenate([input_wide, hidden2])``; ``x`` is the (flattened,
    normalised) input, ``deep`` the hidden stack."""
    import keras

    columns = columns or {}
    wide = _select(x, columns.get("wide_features"), "wide_features")
    hidden = deep(_select(x, columns.get("deep_features"), "deep_features"))
    return keras.layers.Concatenate(name="wide_deep")([wide, hidden])


def _select(x: Any, indices: list[int] | None, name: str) -> Any:
    """``x``'s columns at ``indices`` (None: all of them, with no layer at all)."""
    if indices is None:
        return x
    from hpsearch.layers import select_columns_class

    return select_columns_class()(indices, name=name)(x)
