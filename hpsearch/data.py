"""Datasets: load, encode, split with the seed, and scale with train-only statistics.

Heavy libraries (sklearn, pandas, keras) are imported inside the loaders. A search loads its
dataset once and hands the same arrays to every trial.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch.space import BUILTIN_DATASETS, DatasetSpec

if TYPE_CHECKING:
    import pandas as pd

#: One-hot encoding stops being sensible beyond this many distinct values in a column.
MAX_CATEGORIES = 50
#: An integer target with at most this many distinct values is read as class labels.
MAX_CLASSES = 20


class DataError(ValueError):
    """A dataset that cannot be used, with a one-line reason.

    ``field`` names the space-file setting at fault (``dataset.target``), so the CLI can
    point at its line; it defaults to ``dataset.name``, the data itself."""

    def __init__(self, message: str, *, field: str = "dataset.name") -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Dataset:
    """Split, encoded and scaled arrays plus what a model needs to know about them."""

    name: str
    task: str  # "multiclass", "binary" or "regression"
    n_outputs: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str] = field(default_factory=list)
    class_names: list[str] | None = None
    scaling: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def summary(self) -> str:
        return (
            f"{self.name}: {self.task}, {len(self.x_train)}/{len(self.x_valid)}/{len(self.x_test)} "
            f"train/valid/test, input {self.input_shape}"
        )

    def preprocessing(self) -> dict[str, Any]:
        """What a caller must do to raw features before the model sees them."""
        return {
            "dataset": self.name,
            "task": self.task,
            "feature_names": self.feature_names,
            "class_names": self.class_names,
            "scaling": self.scaling,
            "notes": self.notes,
        }


@dataclass
class _Raw:
    """Features and target before splitting; ``test`` is set when the source ships one."""

    x: np.ndarray
    y: np.ndarray
    task: str
    feature_names: list[str]
    class_names: list[str] | None = None
    test: tuple[np.ndarray, np.ndarray] | None = None
    notes: list[str] = field(default_factory=list)


def load_dataset(spec: DatasetSpec, seed: int, base_dir: Path | None = None) -> Dataset:
    """Load, split and scale the dataset a space names. Cached per (spec, seed, dir)."""
    return _load_cached(spec.model_dump_json(), seed, str(base_dir or ""))


@functools.lru_cache(maxsize=4)
def _load_cached(spec_json: str, seed: int, base_dir: str) -> Dataset:
    spec = DatasetSpec.model_validate_json(spec_json)
    raw = _load_raw(spec, Path(base_dir) if base_dir else None)
    return _split_and_scale(spec, raw, seed)


def _load_raw(spec: DatasetSpec, base_dir: Path | None) -> _Raw:
    if spec.is_file:
        kind, _, path = spec.name.partition(":")
        return _load_file(kind, path, spec, base_dir)
    loader = _BUILTIN[spec.name]
    raw = loader(spec)
    assert raw.task == BUILTIN_DATASETS[spec.name], spec.name
    return raw


# ----------------------------------------------------------------------------- built-ins


def _sklearn(name: str) -> Callable[[DatasetSpec], _Raw]:
    def load(spec: DatasetSpec) -> _Raw:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")()
        task = BUILTIN_DATASETS[name]
        names = [str(n) for n in getattr(bunch, "feature_names", [])] or [
            f"x{i}" for i in range(bunch.data.shape[1])
        ]
        classes = None
        if task != "regression":
            classes = [str(c) for c in getattr(bunch, "target_names", np.unique(bunch.target))]
        y = bunch.target.astype(np.float32 if task == "regression" else np.int64)
        return _Raw(bunch.data.astype(np.float32), y, task, names, classes)

    return load


def _california(spec: DatasetSpec) -> _Raw:
    from sklearn.datasets import fetch_california_housing

    try:
        bunch = fetch_california_housing()  # downloads once into sklearn's data home
    except OSError as exc:
        raise DataError(f"california_housing: download failed ({exc}); check the network") from None
    names = list(bunch.feature_names)
    return _Raw(bunch.data.astype(np.float32), bunch.target.astype(np.float32), "regression", names)


def _keras_images(name: str) -> Callable[[DatasetSpec], _Raw]:
    def load(spec: DatasetSpec) -> _Raw:
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras

        module = getattr(keras.datasets, name)
        try:
            (x_tr, y_tr), (x_te, y_te) = module.load_data()  # cached under $KERAS_HOME
        except Exception as exc:  # noqa: BLE001 - urllib, OSError and gzip errors alike
            raise DataError(f"{name}: could not load or download ({exc})") from None
        shape = x_tr.shape[1:]
        names = [f"px{i}" for i in range(int(np.prod(shape)))]
        classes = _FASHION_CLASSES if name == "fashion_mnist" else [str(i) for i in range(10)]
        notes = ["pixels divided by 255"]
        return _Raw(
            (x_tr / 255.0).astype(np.float32),
            y_tr.astype(np.int64),
            "multiclass",
            names,
            classes,
            test=((x_te / 255.0).astype(np.float32), y_te.astype(np.int64)),
            notes=notes,
        )

    return load


_FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def _penguins(spec: DatasetSpec) -> _Raw:
    from palmerpenguins import load_penguins

    frame = load_penguins()  # the CSV that ships in the wheel: no network
    frame = frame.drop(columns=["year"])  # the study year says nothing about a penguin
    return _from_frame(frame, "species", spec, "penguins")


_BUILTIN: dict[str, Callable[[DatasetSpec], _Raw]] = {
    "penguins": _penguins,
    "digits": _sklearn("digits"),
    "iris": _sklearn("iris"),
    "wine": _sklearn("wine"),
    "breast_cancer": _sklearn("breast_cancer"),
    "diabetes": _sklearn("diabetes"),
    "fashion_mnist": _keras_images("fashion_mnist"),
    "mnist": _keras_images("mnist"),
    "california_housing": _california,
}


# ----------------------------------------------------------------------------- files


def _load_file(kind: str, path: str, spec: DatasetSpec, base_dir: Path | None) -> _Raw:
    import pandas as pd

    target = Path(path).expanduser()
    if not target.is_absolute() and base_dir is not None and (base_dir / target).exists():
        target = base_dir / target
    if not target.exists():
        raise DataError(f"{spec.name}: no such file")
    if target.is_dir():
        raise DataError(f"{spec.name}: is a directory, expected a {kind} file")
    if not spec.target:
        raise DataError(
            f"{spec.name}: dataset.target must name the target column", field="dataset.target"
        )
    try:
        frame = pd.read_csv(target) if kind == "csv" else pd.read_parquet(target)
    except Exception as exc:  # noqa: BLE001 - pandas raises many parser error types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{spec.name}: cannot read {kind}: {first}") from None
    return _from_frame(frame, spec.target, spec, spec.name)


def _from_frame(frame: pd.DataFrame, target: str, spec: DatasetSpec, label: str) -> _Raw:
    """Encode a table: one-hot categoricals, infer the task, handle missing rows."""
    import pandas as pd

    if frame.empty or len(frame.columns) == 0:
        raise DataError(f"{label}: the dataset is empty")
    if target not in frame.columns:
        hint = ", ".join(map(str, frame.columns[:10]))
        raise DataError(
            f"{label}: target column '{target}' not found; columns: {hint}",
            field="dataset.target",
        )
    notes: list[str] = []
    y_col = frame[target]
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise DataError(f"{label}: no feature columns besides the target '{target}'")
    before = len(frame)
    keep = y_col.notna()
    if spec.missing == "drop":
        keep &= features.notna().all(axis=1)
        dropped = before - int(keep.sum())
        if dropped:
            notes.append(f"dropped {dropped} of {before} rows with missing values")
    else:
        dropped = before - int(keep.sum())
        if dropped:
            notes.append(f"dropped {dropped} rows with a missing target")
        notes.append(
            "imputed missing features: numeric with the train mean, categorical as 'missing'"
        )
    features, y_col = features[keep], y_col[keep]
    if len(features) == 0:
        raise DataError(f"{label}: no rows left after removing missing values")

    categorical = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    for col in categorical:
        n = features[col].nunique(dropna=True)
        if n > MAX_CATEGORIES:
            raise DataError(
                f"{label}: column '{col}' is non-numeric with {n} distinct values; "
                f"one-hot encoding stops at {MAX_CATEGORIES}: drop it or encode it yourself"
            )
    if categorical:
        filled = features.copy()
        for col in categorical:
            filled[col] = filled[col].astype("object").where(filled[col].notna(), "missing")
        features = pd.get_dummies(filled, columns=categorical, dtype=np.float32)
        notes.append(f"one-hot encoded {', '.join(map(str, categorical))}")
    x = features.to_numpy(dtype=np.float32)
    names = [str(c) for c in features.columns]

    task, y, classes = _encode_target(y_col, label)
    return _Raw(x, y, task, names, classes, notes=notes)


def _encode_target(y: pd.Series, label: str) -> tuple[str, np.ndarray, list[str] | None]:
    """Infer the task from the target column and encode labels as 0..k-1."""
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    integral = numeric and bool(np.all(np.mod(y.to_numpy(dtype=float), 1) == 0))
    if numeric and not (integral and y.nunique() <= MAX_CLASSES):
        return "regression", y.to_numpy(dtype=np.float32), None
    values = y.unique().tolist()
    numeric_labels = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    classes = sorted(values) if numeric_labels else sorted(values, key=str)
    if len(classes) < 2:
        raise DataError(
            f"{label}: target '{y.name}' has a single class: {classes[0]!r}",
            field="dataset.target",
        )
    lookup = {c: i for i, c in enumerate(classes)}
    encoded = y.map(lookup).to_numpy(dtype=np.int64)
    return ("binary" if len(classes) == 2 else "multiclass"), encoded, [str(c) for c in classes]


# ----------------------------------------------------------------------------- split and scale


def _split_and_scale(spec: DatasetSpec, raw: _Raw, seed: int) -> Dataset:
    from sklearn.model_selection import train_test_split

    label = spec.name
    x, y = raw.x, raw.y
    rng = np.random.default_rng(seed)
    if spec.max_rows and len(x) > spec.max_rows:
        idx = np.sort(rng.choice(len(x), spec.max_rows, replace=False))
        x, y = x[idx], y[idx]
        raw.notes.append(f"sampled {spec.max_rows} rows (dataset.max_rows)")
    if len(x) < 10:
        raise DataError(f"{label}: only {len(x)} rows; need at least 10 to split")
    classify = raw.task != "regression"

    def split(a: np.ndarray, b: np.ndarray, frac: float) -> tuple[np.ndarray, ...]:
        strat = b if classify and np.min(np.unique(b, return_counts=True)[1]) >= 2 else None
        try:
            return tuple(train_test_split(a, b, test_size=frac, random_state=seed, stratify=strat))
        except ValueError:  # too few rows of a class for stratification at this size
            return tuple(train_test_split(a, b, test_size=frac, random_state=seed))

    if raw.test is not None:
        x_te, y_te = raw.test
        x_tr, x_va, y_tr, y_va = split(x, y, spec.split.valid)
        if spec.max_rows and len(x_te) > spec.max_rows:
            keep = np.sort(rng.choice(len(x_te), spec.max_rows, replace=False))
            x_te, y_te = x_te[keep], y_te[keep]
    else:
        if spec.split.test > 0:
            x_rest, x_te, y_rest, y_te = split(x, y, spec.split.test)
        else:
            x_rest, y_rest = x, y
            x_te, y_te = x[:0], y[:0]
        valid_frac = spec.split.valid / (1.0 - spec.split.test)
        if valid_frac >= 1:
            raise DataError(
                f"{label}: split.valid + split.test must stay below 1", field="dataset.split"
            )
        x_tr, x_va, y_tr, y_va = split(x_rest, y_rest, valid_frac)
    if len(x_tr) == 0 or len(x_va) == 0:
        raise DataError(f"{label}: the split left an empty train or valid set")

    x_tr, x_va, x_te = (a.astype(np.float32, copy=True) for a in (x_tr, x_va, x_te))
    # spec.missing == "impute": fit the fill on train only, and fill every split (a
    # missing value may sit only in valid or test)
    if any(np.isnan(a).any() for a in (x_tr, x_va, x_te)):
        fill = np.nan_to_num(np.nanmean(x_tr, axis=0))
        for a in (x_tr, x_va, x_te):
            rows, cols = np.where(np.isnan(a))
            a[rows, cols] = fill[cols]
    scaling = _fit_scaler(spec.scale, x_tr)
    x_tr, x_va, x_te = (_apply_scaler(scaling, a) for a in (x_tr, x_va, x_te))
    n_outputs = len(raw.class_names or []) if raw.task == "multiclass" else 1
    data = Dataset(
        name=label,
        task=raw.task,
        n_outputs=n_outputs,
        x_train=x_tr,
        y_train=y_tr,
        x_valid=x_va,
        y_valid=y_va,
        x_test=x_te,
        y_test=y_te,
        feature_names=raw.feature_names,
        class_names=raw.class_names,
        scaling=scaling,
        notes=raw.notes,
    )
    for a in (data.x_train, data.y_train, data.x_valid, data.y_valid, data.x_test, data.y_test):
        a.setflags(write=False)  # shared by every trial of a search: nobody may mutate it
    return data


def _fit_scaler(kind: str, x_train: np.ndarray) -> dict[str, Any]:
    """Statistics from the train split only (the seed scaled test on its own min/max: a leak)."""
    flat = x_train.reshape(len(x_train), -1)
    if kind == "standard":
        mean, std = flat.mean(axis=0), flat.std(axis=0)
        return {"kind": kind, "shift": mean.tolist(), "scale": np.where(std > 0, std, 1.0).tolist()}
    if kind == "minmax":
        lo, hi = flat.min(axis=0), flat.max(axis=0)
        return {
            "kind": kind,
            "shift": lo.tolist(),
            "scale": np.where(hi > lo, hi - lo, 1.0).tolist(),
        }
    return {"kind": "none"}


def _apply_scaler(scaling: dict[str, Any], x: np.ndarray) -> np.ndarray:
    if scaling["kind"] == "none":
        return x
    shape = x.shape
    shift = np.asarray(scaling["shift"], dtype=np.float32)
    scale = np.asarray(scaling["scale"], dtype=np.float32)
    return ((x.reshape(len(x), -1) - shift) / scale).reshape(shape).astype(np.float32)


def dump_preprocessing(data: Dataset, path: Path) -> Path:
    """Write what a caller must apply to raw features before the logged model sees them."""
    path.write_text(json.dumps(data.preprocessing(), indent=1))
    return path
