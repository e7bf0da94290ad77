"""Datasets: built-ins, files, splitting with the seed, and train-only scaling."""

from __future__ import annotations

import gzip
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hpsearch.data import MAX_CATEGORIES, DataError, Dataset, _load_cached, load_dataset
from hpsearch.space import DatasetSpec

ROOT = Path(__file__).resolve().parents[1]


def load(seed: int = 42, **spec: Any) -> Dataset:
    return load_dataset(DatasetSpec(**spec), seed)


def splits(data: Dataset) -> tuple[np.ndarray, ...]:
    return (data.x_train, data.y_train, data.x_valid, data.y_valid, data.x_test, data.y_test)


# ----------------------------------------------------------------------------- built-ins


@pytest.mark.parametrize(
    ("name", "task", "n_outputs", "n_rows", "n_features"),
    [
        ("penguins", "multiclass", 3, 333, 9),  # 11 of 344 rows have a missing value
        ("digits", "multiclass", 10, 1797, 64),
        ("iris", "multiclass", 3, 150, 4),
        ("wine", "multiclass", 3, 178, 13),
        ("breast_cancer", "binary", 1, 569, 30),
        ("diabetes", "regression", 1, 442, 10),
    ],
)
def test_builtin_loads_offline(
    name: str, task: str, n_outputs: int, n_rows: int, n_features: int
) -> None:
    data = load(name=name)
    assert (data.task, data.n_outputs) == (task, n_outputs)
    assert data.input_shape == (n_features,)
    assert len(data.feature_names) == n_features
    sizes = [len(data.x_train), len(data.x_valid), len(data.x_test)]
    assert min(sizes) > 0 and sum(sizes) == n_rows
    # default split: 20 % test, 20 % valid, 60 % train
    assert abs(len(data.x_test) / n_rows - 0.2) < 0.01
    assert abs(len(data.x_valid) / n_rows - 0.2) < 0.01
    for x, y in ((data.x_train, data.y_train), (data.x_valid, data.y_valid)):
        assert len(x) == len(y)
        assert x.dtype == np.float32 and np.isfinite(x).all()
    if task == "regression":
        assert data.class_names is None
    else:
        n_classes = n_outputs if task == "multiclass" else 2
        assert data.class_names is not None and len(data.class_names) == n_classes
        assert set(np.unique(data.y_train)) == set(range(n_classes))


def test_arrays_are_read_only() -> None:
    data = load(name="iris")
    for a in splits(data):
        assert not a.flags.writeable
    with pytest.raises(ValueError):
        data.x_train[0, 0] = 1.0


def test_penguins_drops_rows_with_missing_values() -> None:
    data = load(name="penguins")
    assert sum(len(a) for a in (data.x_train, data.x_valid, data.x_test)) == 333
    assert any(n.startswith("dropped 11 of 344 rows with missing values (in ") for n in data.notes)
    assert any(n.startswith("one-hot encoded island, sex") for n in data.notes)
    assert data.class_names == ["Adelie", "Chinstrap", "Gentoo"]


def test_penguins_impute_keeps_every_row_with_a_target() -> None:
    data = load(name="penguins", missing="impute")
    # no species is missing, so all 344 rows stay
    assert sum(len(a) for a in (data.x_train, data.x_valid, data.x_test)) == 344
    assert any(n.startswith("imputed missing features") for n in data.notes)
    assert not any(n.startswith("dropped") for n in data.notes)
    assert "sex_missing" in data.feature_names
    for x in (data.x_train, data.x_valid, data.x_test):
        assert np.isfinite(x).all()


# ----------------------------------------------------------------------------- split and scale


def test_same_seed_same_split_other_seed_other_split() -> None:
    _load_cached.cache_clear()  # compare two real loads, not one cached object
    first = load(seed=1, name="digits")
    _load_cached.cache_clear()
    again = load(seed=1, name="digits")
    assert first is not again
    for a, b in zip(splits(first), splits(again), strict=True):
        np.testing.assert_array_equal(a, b)
    other = load(seed=2, name="digits")
    assert first.x_train.shape == other.x_train.shape
    assert not np.array_equal(first.x_train, other.x_train)
    assert not np.array_equal(first.y_valid, other.y_valid)


def test_standard_scaling_is_fit_on_train_only() -> None:
    raw = load(seed=0, name="wine", scale="none")
    data = load(seed=0, name="wine", scale="standard")
    np.testing.assert_array_equal(raw.y_train, data.y_train)  # the same split
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1.0, atol=1e-4)
    # valid was not scaled with its own statistics ...
    assert not np.allclose(data.x_valid.mean(axis=0), 0.0, atol=1e-2)
    # ... but with train's: recompute by hand from the unscaled arrays.
    train = raw.x_train.astype(np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    for scaled, unscaled in ((data.x_valid, raw.x_valid), (data.x_test, raw.x_test)):
        np.testing.assert_allclose(scaled, (unscaled - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(data.scaling["shift"], mean, rtol=1e-5)
    assert data.scaling["kind"] == "standard"


def test_minmax_scaling_is_fit_on_train_only() -> None:
    raw = load(seed=0, name="wine", scale="none")
    data = load(seed=0, name="wine", scale="minmax")
    np.testing.assert_allclose(data.x_train.min(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(data.x_train.max(axis=0), 1.0, atol=1e-6)
    lo, hi = raw.x_train.min(axis=0), raw.x_train.max(axis=0)
    np.testing.assert_allclose(data.x_valid, (raw.x_valid - lo) / (hi - lo), rtol=1e-5, atol=1e-5)
    # valid values outside train's range are not clipped
    assert data.x_valid.min() < 0.0 or data.x_valid.max() > 1.0 or data.x_test.min() < 0.0


def test_constant_features_do_not_divide_by_zero() -> None:
    data = load(name="digits")  # some pixels are always 0
    constant = np.ptp(load(name="digits", scale="none").x_train, axis=0) == 0
    assert constant.any()
    assert np.isfinite(data.x_valid).all()
    np.testing.assert_array_equal(data.x_train[:, constant], 0.0)


# ----------------------------------------------------------------------------- csv and parquet


def frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 100, size=n).astype(float),
            "color": rng.choice(["red", "green", "blue"], size=n),
            "species": np.array(["x", "y", "z"])[np.arange(n) % 3],
            "flag": np.array(["no", "yes"])[np.arange(n) % 2],
            "price": rng.normal(10.0, 2.0, size=n),
        }
    )


def write(df: pd.DataFrame, path: Path) -> str:
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
        return f"csv:{path}"
    df.to_parquet(path)
    return f"parquet:{path}"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_one_hot_encodes_categoricals(tmp_path: Path, suffix: str) -> None:
    df = frame()
    name = write(df, tmp_path / f"data{suffix}")
    data = load(name=name, target="species", scale="none")
    assert (data.task, data.n_outputs, data.class_names) == ("multiclass", 3, ["x", "y", "z"])
    assert data.feature_names == [
        "a",
        "b",
        "price",
        "color_blue",
        "color_green",
        "color_red",
        "flag_no",
        "flag_yes",
    ]
    assert "one-hot encoded color, flag" in data.notes
    x = np.concatenate([data.x_train, data.x_valid, data.x_test])
    onehot = x[:, 3:]
    assert set(np.unique(onehot)) == {0.0, 1.0}
    np.testing.assert_array_equal(onehot[:, :3].sum(axis=1), 1.0)  # one color per row
    np.testing.assert_array_equal(onehot[:, 3:].sum(axis=1), 1.0)
    # the numeric columns come through unchanged (scale: none)
    np.testing.assert_allclose(np.sort(x[:, 0]), np.sort(df["a"].to_numpy()), rtol=1e-6)


@pytest.mark.parametrize(
    ("target", "task", "n_outputs"),
    [
        ("species", "multiclass", 3),  # strings, three values
        ("flag", "binary", 1),  # strings, two values
        ("price", "regression", 1),  # floats
        ("b", "regression", 1),  # integers with more than MAX_CLASSES values
    ],
)
def test_file_target_decides_the_task(
    tmp_path: Path, target: str, task: str, n_outputs: int
) -> None:
    name = write(frame(), tmp_path / "data.csv")
    data = load(name=name, target=target)
    assert (data.task, data.n_outputs) == (task, n_outputs)
    assert target not in data.feature_names
    if task == "regression":
        assert data.class_names is None and data.y_train.dtype.kind == "f"
    else:
        assert data.y_train.dtype == np.int64


def test_file_with_few_integer_labels_is_classification(tmp_path: Path) -> None:
    df = frame()
    df["grade"] = np.arange(len(df)) % 4
    name = write(df, tmp_path / "data.csv")
    data = load(name=name, target="grade")
    assert (data.task, data.n_outputs, data.class_names) == ("multiclass", 4, ["0", "1", "2", "3"])


def test_integer_labels_keep_their_numeric_order(tmp_path: Path) -> None:
    df = frame()
    df["grade"] = np.arange(len(df)) % 12
    data = load(name=write(df, tmp_path / "data.csv"), target="grade")
    assert data.class_names == [str(i) for i in range(12)]  # not 0, 1, 10, 11, 2, ...
    x_all = np.concatenate([data.y_train, data.y_valid, data.y_test])
    assert sorted(set(x_all.tolist())) == list(range(12))


def test_relative_file_resolves_against_the_space_folder(tmp_path: Path) -> None:
    write(frame(), tmp_path / "data.csv")
    data = load_dataset(DatasetSpec(name="csv:data.csv", target="flag"), 42, tmp_path)
    assert data.task == "binary"


def test_impute_fills_every_split_with_train_means(tmp_path: Path) -> None:
    n, hole = 60, 7
    df = pd.DataFrame(
        {
            "row": np.arange(n, dtype=float),
            "a": np.arange(n, dtype=float) * 2.0,
            "y": np.arange(n) % 2,
        }
    )
    df.loc[hole, "a"] = np.nan
    name = write(df, tmp_path / "hole.csv")
    hole_outside_train = 0
    for seed in range(5):
        data = load(
            seed=seed,
            name=name,
            target="y",
            features=["row", "a"],  # "row" counts rows: kept only because it is listed
            missing="impute",
            scale="none",
        )
        train_rows = data.x_train[:, 0].astype(int).tolist()
        hole_outside_train += hole not in train_rows
        fill = float(df.loc[[r for r in train_rows if r != hole], "a"].mean())
        for x in (data.x_train, data.x_valid, data.x_test):
            assert np.isfinite(x).all(), f"seed {seed}: a missing value survived"
            for row, a in x:
                expected = fill if int(row) == hole else 2.0 * row
                assert a == pytest.approx(expected, rel=1e-5), (seed, row)
    assert hole_outside_train > 0  # the case where train alone has no missing value


def test_drop_removes_rows_with_missing_features(tmp_path: Path) -> None:
    df = frame()
    df.loc[[3, 4], "a"] = np.nan
    df.loc[5, "color"] = None
    name = write(df, tmp_path / "data.csv")
    data = load(name=name, target="species")
    assert sum(len(a) for a in (data.x_train, data.x_valid, data.x_test)) == 57
    assert "dropped 3 of 60 rows with missing values (in a, color)" in data.notes


def test_file_errors(tmp_path: Path) -> None:
    good = write(frame(), tmp_path / "data.csv")

    def error(**spec: Any) -> str:
        with pytest.raises(DataError) as info:
            load(**spec)
        message = str(info.value)
        assert message.startswith(f"{spec['name']}: "), message
        assert "\n" not in message
        return message

    assert "target column 'nope' not found; columns: a, b, color" in error(name=good, target="nope")
    assert "dataset.target must name the target column" in error(name=good)

    many = frame()
    many["city"] = [f"city{i % 55}" for i in range(len(many))]
    message = error(name=write(many, tmp_path / "many.csv"), target="price")
    assert "column 'city' is non-numeric with 55 distinct values" in message
    assert f"stops at {MAX_CATEGORIES}: list it in dataset.drop" in message

    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,y\n")
    assert "empty" in error(name=f"csv:{header_only}", target="y")

    folder = tmp_path / "folder.csv"
    folder.mkdir()
    assert "is a directory" in error(name=f"csv:{folder}", target="y")
    assert "no such file" in error(name=f"csv:{tmp_path / 'absent.csv'}", target="y")
    assert "no such file" in error(name=f"parquet:{tmp_path / 'absent.parquet'}", target="y")

    single = frame()
    single["kind"] = "same"
    message = error(name=write(single, tmp_path / "single.csv"), target="kind")
    assert "target 'kind' has a single class: 'same'" in message


def test_too_few_rows(tmp_path: Path) -> None:
    name = write(frame(n=8), tmp_path / "tiny.csv")
    with pytest.raises(DataError, match="only 8 rows; need at least 10"):
        load(name=name, target="flag")


# ----------------------------------------------------------------------------- fashion-mnist

_FASHION_SCRIPT = """
import json, sys
import numpy as np
from hpsearch.data import load_dataset
from hpsearch.space import DatasetSpec

raw = load_dataset(DatasetSpec(name="fashion_mnist", scale="none"), 42)
std = load_dataset(DatasetSpec(name="fashion_mnist"), 42)
np.savez(sys.argv[1], **{k: getattr(raw, k) for k in (
    "x_train", "y_train", "x_valid", "y_valid", "x_test", "y_test")},
    std_x_train=std.x_train)
print(json.dumps({"task": raw.task, "n_outputs": raw.n_outputs, "notes": raw.notes,
                  "class_names": raw.class_names, "input_shape": list(raw.input_shape),
                  "std_input_shape": list(std.input_shape)}))
"""


def _idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">ii", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def _idx_images(images: np.ndarray) -> bytes:
    return struct.pack(">iiii", 2051, len(images), 28, 28) + images.astype(np.uint8).tobytes()


def test_fashion_mnist_loads_from_keras_home(tmp_path: Path) -> None:
    n_train, n_test = 50, 20
    # Row i of the train file is filled from i * 5, so every row can be traced back.
    train_x = (np.arange(n_train)[:, None] * 5 + np.arange(784)[None, :]) % 256
    train_x = train_x.reshape(n_train, 28, 28)
    train_y = np.arange(n_train) % 10
    test_x = (np.arange(n_test)[:, None] * 7 + 3 * np.arange(784)[None, :]) % 256
    test_x = test_x.reshape(n_test, 28, 28)
    test_y = (np.arange(n_test) * 3) % 10
    folder = tmp_path / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    files = {
        "train-labels-idx1-ubyte.gz": _idx_labels(train_y),
        "train-images-idx3-ubyte.gz": _idx_images(train_x),
        "t10k-labels-idx1-ubyte.gz": _idx_labels(test_y),
        "t10k-images-idx3-ubyte.gz": _idx_images(test_x),
    }
    for fname, payload in files.items():
        (folder / fname).write_bytes(gzip.compress(payload))

    out = tmp_path / "arrays.npz"
    # keras reads KERAS_HOME once, at import: only a fresh interpreter sees ours.
    env = os.environ | {"KERAS_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", _FASHION_SCRIPT, str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    arrays = np.load(out)

    assert (info["task"], info["n_outputs"]) == ("multiclass", 10)
    assert info["class_names"][0] == "T-shirt/top" and len(info["class_names"]) == 10
    assert info["input_shape"] == [28, 28] == info["std_input_shape"]
    assert "pixels divided by 255" in info["notes"]

    # test is exactly the t10k files, in order, divided by 255
    np.testing.assert_allclose(arrays["x_test"], test_x / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(arrays["y_test"], test_y)
    assert arrays["x_test"].max() <= 1.0 and arrays["x_test"].max() > 0.99

    # train and valid are carved from the train file: 20 % valid, nothing lost or repeated
    assert (len(arrays["x_train"]), len(arrays["x_valid"])) == (40, 10)
    rows = []
    for x_name, y_name in (("x_train", "y_train"), ("x_valid", "y_valid")):
        row_ids = np.rint(arrays[x_name][:, 0, 0] * 255.0).astype(int) // 5
        np.testing.assert_allclose(arrays[x_name], train_x[row_ids] / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(arrays[y_name], train_y[row_ids])
        rows.extend(row_ids.tolist())
    assert sorted(rows) == list(range(n_train))

    # the default (standard) scaling is fit on those 40 train images
    std_x = arrays["std_x_train"].reshape(40, -1)
    varying = arrays["x_train"].reshape(40, -1).std(axis=0) > 0
    np.testing.assert_allclose(std_x[:, varying].mean(axis=0), 0.0, atol=1e-4)


@pytest.mark.parametrize(
    "name", ["penguins", "digits", "iris", "wine", "breast_cancer", "diabetes"]
)
def test_builtin_input_widths_match_the_loaded_data(name: str) -> None:
    """space.BUILTIN_INPUTS bounds model sizes before any data is read: it must be true."""
    from hpsearch.space import BUILTIN_INPUTS

    data = load_dataset(DatasetSpec(name=name), 42)
    assert math.prod(data.input_shape) == BUILTIN_INPUTS[name]


# ----------------------------------------------------------------------------- split steps


def _raw(n: int, task: str = "multiclass", **extra: Any) -> Any:
    from hpsearch.data import _Raw

    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n) % 2 if task != "regression" else np.arange(n, dtype=np.float32)
    return _Raw(x=x, y=y, task=task, feature_names=["a", "b"], **extra)


def test_sample_rows_keeps_max_rows_in_source_order_and_says_so() -> None:
    """max_rows draws that many rows, sorted by position, and adds a note; else all rows."""
    from hpsearch.data import _sample_rows

    raw = _raw(50)
    x, y, idx = _sample_rows(DatasetSpec(name="digits", max_rows=20), raw, np.random.default_rng(0))
    assert len(x) == len(y) == len(idx) == 20
    assert list(idx) == sorted(idx) and len(set(idx)) == 20
    assert (x[:, 0] == raw.x[idx, 0]).all() and (y == raw.y[idx]).all()
    assert raw.notes == ["sampled 20 rows (dataset.max_rows)"]
    every = _raw(50)
    x, _, idx = _sample_rows(DatasetSpec(name="digits"), every, np.random.default_rng(0))
    assert len(x) == 50 and list(idx) == list(range(50)) and every.notes == []


def test_split_rows_cuts_test_then_valid_and_keeps_every_row_once() -> None:
    """Without a shipped test split: disjoint train/valid/test parts, stratified, whose
    positions cover the rows; split.test 0 leaves test empty."""
    from hpsearch.data import _split_rows

    raw = _raw(100)
    rows = (raw.x, raw.y, np.arange(100))
    spec = DatasetSpec(name="digits", split={"valid": 0.2, "test": 0.2})
    train, valid, test = _split_rows(spec, raw, rows, 0, np.random.default_rng(0))
    assert (len(train[0]), len(valid[0]), len(test[0])) == (60, 20, 20)
    seen = np.concatenate([train[2], valid[2], test[2]])
    assert sorted(seen) == list(range(100))
    for x, y, i in (train, valid, test):
        assert (x[:, 0] == raw.x[i, 0]).all() and (y == raw.y[i]).all()
        assert y.mean() == pytest.approx(0.5)  # stratified: half of each class
    no_test = DatasetSpec(name="digits", split={"valid": 0.2, "test": 0.0})
    train, valid, test = _split_rows(no_test, raw, rows, 0, np.random.default_rng(0))
    assert (len(train[0]), len(valid[0]), len(test[0])) == (80, 20, 0)


def test_split_rows_keeps_a_shipped_test_split_and_samples_it_to_max_rows() -> None:
    """A source's own test split is kept as it is (positions in it), cut to max_rows."""
    from hpsearch.data import _split_rows

    shipped = (np.zeros((30, 2), np.float32), np.arange(30) % 2)
    raw = _raw(40, test=shipped)
    rows = (raw.x, raw.y, np.arange(40))
    spec = DatasetSpec(name="mnist", split={"valid": 0.25}, max_rows=12)
    train, valid, test = _split_rows(spec, raw, rows, 0, np.random.default_rng(0))
    assert (len(train[0]), len(valid[0]), len(test[0])) == (30, 10, 12)
    assert list(test[2]) == sorted(test[2]) and max(test[2]) < 30
    whole = DatasetSpec(name="mnist", split={"valid": 0.25})
    *_, test = _split_rows(whole, raw, rows, 0, np.random.default_rng(0))
    assert list(test[2]) == list(range(30))


def test_two_way_falls_back_to_an_unstratified_cut_when_stratifying_fails() -> None:
    """Five classes of two rows cannot be stratified into a 2-row part (sklearn refuses):
    the cut is made anyway, sized as asked; a lone-row class is not stratified at all."""
    from hpsearch.data import _two_way

    for y in (np.repeat(np.arange(5), 2), np.array([0] * 9 + [1])):
        rows = (np.zeros((10, 1)), y, np.arange(10))
        first, second = _two_way(rows, 0.2, 0, classify=True)
        assert (len(first[0]), len(second[0])) == (8, 2)
        assert sorted(np.concatenate([first[2], second[2]])) == list(range(10))
        assert (first[1] == y[first[2]]).all() and (second[1] == y[second[2]]).all()
