"""The preprocessing recipe: raw rows replayed into exactly the arrays training used."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hpsearch import recipe
from hpsearch.data import Dataset, load_dataset
from hpsearch.space import DatasetSpec

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "valid", "test")


def _assert_replays(data: Dataset, source: pd.DataFrame) -> None:
    """transform(raw rows of each split) is bit for bit the split's training array."""
    for split in SPLITS:
        raw = source.iloc[data.rows[split]]
        expected = getattr(data, f"x_{split}")
        np.testing.assert_array_equal(recipe.transform(data.recipe, raw), expected)
    json.dumps(data.recipe, allow_nan=False)  # plain JSON, as the model carries it


@pytest.mark.parametrize("missing", ["drop", "impute"])
def test_penguins_raw_rows_replay_the_training_arrays(missing: str) -> None:
    """The real CSV (text columns, missing values): the same arrays from raw rows."""
    from palmerpenguins import load_penguins

    data = load_dataset(DatasetSpec(name="penguins", missing=missing), 42)
    source = load_penguins()  # as a client has it: species and year too, ignored
    _assert_replays(data, source)
    names = [i["name"] for i in data.recipe["encoding"]["inputs"]]
    assert names == ["island", *(c for c in source.columns[2:6]), "sex"]
    if missing == "impute":  # rows with a missing value are among them
        assert source.iloc[data.rows["train"]].isna().any(axis=None)


def test_sklearn_regression_replays_features_and_target() -> None:
    """diabetes: features from the named columns; the target standardised on train and
    given back in its units."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    data = load_dataset(DatasetSpec(name="diabetes"), 42)
    _assert_replays(data, pd.DataFrame(bunch.data, columns=bunch.feature_names))
    target = data.recipe["target"]
    y_raw = bunch.target[data.rows["train"]]
    assert target["shift"] == pytest.approx(y_raw.mean()) and target["scale"] > 50
    assert data.target_scale == pytest.approx(y_raw.std())  # from the train split alone
    assert abs(float(data.y_train.mean())) < 1e-5 and float(data.y_train.std()) == pytest.approx(1)
    for split in SPLITS:
        y = getattr(data, f"y_{split}")
        raw_y = bunch.target[data.rows[split]]
        np.testing.assert_allclose(recipe.target_units(y, target), raw_y, rtol=1e-6)
    assert "target standardised" in " ".join(data.info.notes)  # validate --data says so


def test_user_csv_with_dates_bools_and_infinities_replays(tmp_path: Path) -> None:
    """A file of every column kind, read back as pandas reads it: the same arrays."""
    rng = np.random.default_rng(0)
    n = 90
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "count": rng.integers(0, 100, n),
            "color": np.array(["red", "green", "blue", None], dtype=object)[np.arange(n) % 4],
            "flag": np.arange(n) % 3 == 0,
            "when": pd.date_range("2020-01-01", periods=n, freq="37h").astype(str),
            "spiky": np.where(np.arange(n) % 10 == 0, np.inf, rng.normal(size=n)),
            "y": rng.normal(10.0, 3.0, n),
        }
    )
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    spec = DatasetSpec(name=f"csv:{path}", target="y", missing="impute")
    data = load_dataset(spec, 3)
    kinds = {i["name"]: i["kind"] for i in data.recipe["encoding"]["inputs"]}
    assert kinds == {
        "a": "numeric",
        "count": "numeric",
        "color": "text",
        "flag": "bool",
        "when": "date",
        "spiky": "numeric",
    }
    _assert_replays(data, pd.read_csv(path))


def test_unknown_categories_missing_columns_and_text_in_numbers() -> None:
    """An island never seen encodes as all zeros; a missing column or a word where a
    number belongs is a one-line error naming it."""
    data = load_dataset(DatasetSpec(name="penguins"), 42)
    encoding = data.recipe["encoding"]
    row = {
        "island": "Atlantis",
        "bill_length_mm": 40.0,
        "bill_depth_mm": 18.0,
        "flipper_length_mm": 190.0,
        "body_mass_g": 3700.0,
        "sex": None,
    }
    x = recipe.encode(encoding, pd.DataFrame([row]))
    one_hot = [i for i, c in enumerate(encoding["columns"]) if c["op"] == "one_hot"]
    assert x[0, one_hot].tolist() == [0.0] * len(one_hot)  # no island, no sex seen
    gap = recipe.transform(data.recipe, pd.DataFrame([row | {"bill_length_mm": None}]))
    assert np.isfinite(gap).all()  # a missing number takes the train mean
    assert gap[0, 0] == pytest.approx(0.0, abs=1e-6)  # the mean, standardised
    with pytest.raises(recipe.RecipeError, match=r"missing input column\(s\) 'sex'"):
        recipe.encode(encoding, pd.DataFrame([{k: v for k, v in row.items() if k != "sex"}]))
    with pytest.raises(recipe.RecipeError, match="'body_mass_g' must hold numbers, got 'heavy'"):
        recipe.encode(encoding, pd.DataFrame([row | {"body_mass_g": "heavy"}]))


def test_pixel_arrays_and_answers() -> None:
    """Images take pixel arrays (shaped or flat); answers are labels with probabilities,
    or predictions in the target's units."""
    encoding = {"input": "array", "shape": [2, 2], "divide": 255.0}
    pixels = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    x = recipe.encode(encoding, pixels)
    np.testing.assert_allclose(x, pixels / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(recipe.encode(encoding, pixels.reshape(1, 4)), x)
    with pytest.raises(recipe.RecipeError, match="pixel arrays"):
        recipe.encode(encoding, np.zeros((1, 5)))

    three: dict[str, Any] = {"task": "multiclass", "classes": ["a", "b", "c"]}
    out = recipe.outputs(three, [[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    assert list(out.columns) == ["label", "a", "b", "c"] and list(out["label"]) == ["b", "a"]
    two: dict[str, Any] = {"task": "binary", "classes": ["no", "yes"]}
    out = recipe.outputs(two, [[0.8], [0.5]])
    assert list(out["label"]) == ["yes", "no"] and out["no"].tolist() == pytest.approx([0.2, 0.5])
    reg: dict[str, Any] = {"task": "regression", "target": {"shift": 150.0, "scale": 77.0}}
    assert recipe.outputs(reg, [[0.0], [1.0]])["prediction"].tolist() == [150.0, 227.0]


@pytest.mark.parametrize("name", ["recipe.py", "tracking/served_model.py"])
def test_the_code_a_model_carries_needs_no_hpsearch(name: str) -> None:
    """recipe.py and served_model.py run inside the logged model, where hpsearch may not
    be installed: they import only the standard library, numpy, pandas, mlflow, keras."""
    allowed = {"numpy", "pandas", "mlflow", "keras", "__future__", "importlib", "json", "uuid"}
    allowed |= {"pathlib", "typing", "warnings"}
    tree = ast.parse((ROOT / "hpsearch" / name).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            found.add((node.module or "").split(".")[0])
    assert found <= allowed, found - allowed
