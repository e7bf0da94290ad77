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

from hpsearch import recipe
from hpsearch.space import BUILTIN_DATASETS, DatasetSpec

if TYPE_CHECKING:
    import pandas as pd

from hpsearch.tabular import (  # noqa: F401 - DataError is part of this module's API
    MAX_CATEGORIES,
    MAX_CLASSES,
    DataError,
    DataSummary,
    finite_json,
    prepare_table,
    read_file,
)


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
    notes: list[str] = field(default_factory=list)
    info: DataSummary | None = None  # what was read, dropped and why
    #: raw rows -> model inputs, as plain JSON (see hpsearch.recipe); the logged model's.
    #: The one record of the fill, the scaling and the target's scaling.
    recipe: dict[str, Any] = field(default_factory=dict)
    #: each split's rows as positions in the table as read (``test``: in the test file
    #: when the source ships one), so raw rows can be matched to the arrays
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    #: five raw validation rows, as a client sends them: the logged model's input example
    example: Any = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def scaling(self) -> dict[str, Any]:
        """The features' scaling, fit on the train split (the recipe's)."""
        return dict(self.recipe.get("scaling") or {"kind": "none"})

    @property
    def target_scaling(self) -> dict[str, float] | None:
        """Regression: the train split's {"shift": mean, "scale": std}; y_* are standardised
        with it, and metrics are reported back in the target's units (model.target_units)."""
        return self.recipe.get("target")

    @property
    def target_scale(self) -> float | None:
        """The std the regression target was divided by (None: not scaled)."""
        return None if self.target_scaling is None else float(self.target_scaling["scale"])

    def model_inputs(self) -> tuple[dict[str, Any], Any]:
        """The recipe and raw example rows that a logged model is wrapped with."""
        return self.recipe, self.example

    def summary(self) -> str:
        return (
            f"{self.name}: {self.task}, {len(self.x_train)}/{len(self.x_valid)}/{len(self.x_test)} "
            f"train/valid/test, input {self.input_shape}"
        )

    def preprocessing(self) -> dict[str, Any]:
        """What training did to raw rows (``recipe`` replays all of it; the logged model
        carries it, so a client sends raw rows)."""
        return {
            "dataset": self.name,
            "task": self.task,
            "feature_names": self.feature_names,
            "class_names": self.class_names,
            "notes": self.notes,
            "recipe": self.recipe,
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
    info: DataSummary | None = None
    encoding: dict[str, Any] = field(default_factory=dict)  # recipe["encoding"]
    rows: np.ndarray | None = None  # x's rows as positions in ``source`` (None: all)
    source: Any = None  # the raw table (or arrays) x was encoded from


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
    if raw.info is None:
        raw.info = builtin_summary(spec.name, raw)
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
        return _numeric_table(bunch.data, y, task, names, classes)

    return load


def _california(spec: DatasetSpec) -> _Raw:
    from sklearn.datasets import fetch_california_housing

    try:
        bunch = fetch_california_housing()  # downloads once into sklearn's data home
    except OSError as exc:
        raise DataError(f"california_housing: download failed ({exc}); check the network") from None
    names = [str(n) for n in bunch.feature_names]
    y = bunch.target.astype(np.float32)
    return _numeric_table(bunch.data, y, "regression", names, None)


def _numeric_table(
    data: np.ndarray, y: np.ndarray, task: str, names: list[str], classes: list[str] | None
) -> _Raw:
    """A table of numbers with its feature names, encoded as the logged model will be."""
    import pandas as pd

    source = pd.DataFrame(data, columns=names)  # the rows as a client sends them
    encoding = {
        "input": "table",
        "inputs": [{"name": n, "kind": "numeric"} for n in names],
        "columns": [{"name": n, "from": n, "op": "numeric"} for n in names],
    }
    x = recipe.encode(encoding, source)
    return _Raw(x, y, task, names, classes, encoding=encoding, source=source)


def _keras_images(name: str) -> Callable[[DatasetSpec], _Raw]:
    def load(spec: DatasetSpec) -> _Raw:
        import os

        cached = _keras_cache(name)
        if cached is not None:  # read without keras: validate --data never imports TF
            (x_tr, y_tr), (x_te, y_te) = cached
        else:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            import keras

            module = getattr(keras.datasets, name)
            try:
                (x_tr, y_tr), (x_te, y_te) = module.load_data()  # downloads to $KERAS_HOME
            except Exception as exc:  # noqa: BLE001 - urllib, OSError and gzip errors alike
                raise DataError(f"{name}: could not load or download ({exc})") from None
        shape = x_tr.shape[1:]
        names = [f"px{i}" for i in range(int(np.prod(shape)))]
        classes = _FASHION_CLASSES if name == "fashion_mnist" else [str(i) for i in range(10)]
        notes = ["pixels divided by 255"]
        encoding = {"input": "array", "shape": list(shape), "divide": 255.0}
        return _Raw(
            recipe.encode(encoding, x_tr),
            y_tr.astype(np.int64),
            "multiclass",
            names,
            classes,
            test=(recipe.encode(encoding, x_te), y_te.astype(np.int64)),
            notes=notes,
            encoding=encoding,
            source=x_tr,
        )

    return load


def _keras_cache(name: str) -> tuple[tuple[np.ndarray, np.ndarray], ...] | None:
    """The arrays keras.datasets would return, read from its download cache (the same
    files, ``$KERAS_HOME/datasets``), or None when they are not there yet."""
    import gzip
    import os

    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"
    if name == "mnist":
        path = home / "mnist.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    folder = home / "fashion-mnist"
    parts = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    paths = [folder / f"{p}.gz" for p in parts]
    if not all(p.is_file() for p in paths):
        return None
    arrays = []
    for path in paths:
        with gzip.open(path, "rb") as f:
            raw = f.read()
        dims = raw[3]  # IDX: 0, 0, dtype, number of dimensions, then big-endian sizes
        shape = np.frombuffer(raw, ">i4", count=dims, offset=4).tolist()
        arrays.append(np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape))
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


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
    raw = _from_frame(frame, "species", spec, "penguins")
    assert raw.info is not None
    raw.info.task_reason = "built-in dataset"
    return raw


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
    target = Path(path).expanduser()
    if not target.is_absolute() and base_dir is not None and (base_dir / target).exists():
        target = base_dir / target
    if not spec.target:
        raise DataError(
            f"{spec.name}: dataset.target must name the target column", field="dataset.target"
        )
    summary = DataSummary(dataset=spec.name)
    frame = read_file(kind, target, spec.name, summary)
    return _from_frame(frame, spec.target, spec, spec.name, summary)


def _from_frame(
    frame: pd.DataFrame,
    target: str,
    spec: DatasetSpec,
    label: str,
    summary: DataSummary | None = None,
) -> _Raw:
    """Choose and encode a table's columns (see tabular.prepare_table)."""
    table = prepare_table(frame, spec, label, target, summary)
    info = table.summary
    notes = [f"dropped {r}" for r in info.dropped_rows_reasons]
    notes += [f"dropped column {k}: {v}" for k, v in info.dropped_columns.items()]
    notes += info.notes
    one_hot = [k for k, v in info.feature_kinds.items() if v.startswith("one-hot")]
    if one_hot:
        notes.append(f"one-hot encoded {', '.join(one_hot)}")
    return _Raw(
        table.x,
        table.y,
        info.task,
        info.features,
        table.class_names,
        notes=notes,
        info=info,
        encoding=table.encoding,
        rows=table.rows,
        source=frame,
    )


def builtin_summary(name: str, raw: _Raw) -> DataSummary:
    """The summary of a built-in dataset: nothing dropped, the task known in advance."""
    info = DataSummary(dataset=name, rows=len(raw.x), rows_read=len(raw.x))
    info.task, info.task_reason = raw.task, "built-in dataset"
    info.features = list(raw.feature_names)
    info.feature_kinds = {n: "numeric" for n in raw.feature_names}
    if raw.class_names is not None:
        counts = np.bincount(raw.y.astype(np.int64), minlength=len(raw.class_names))
        info.classes = {c: int(k) for c, k in zip(raw.class_names, counts, strict=True)}
    info.notes = list(raw.notes)
    return info


# ----------------------------------------------------------------------------- split and scale


def _split_and_scale(spec: DatasetSpec, raw: _Raw, seed: int) -> Dataset:
    label = spec.name
    rng = np.random.default_rng(seed)
    x, y, idx = _sample_rows(spec, raw, rng)
    if len(x) < 10:
        raise DataError(f"{label}: only {len(x)} rows; need at least 10 to split")
    (x_tr, y_tr, i_tr), (x_va, y_va, i_va), (x_te, y_te, i_te) = _split_rows(
        spec, raw, (x, y, idx), seed, rng
    )
    if len(x_tr) == 0 or len(x_va) == 0:
        raise DataError(f"{label}: the split left an empty train or valid set")

    # Fill, scaling and target scaling are fit on train only, and applied to every split
    # by the recipe's own functions: what the logged model does to raw rows. The fill is
    # kept even when nothing is missing now (spec.missing: drop): a row sent to the model
    # may lack a value, and it gets the train mean.
    fill = _fit_fill(x_tr)
    x_tr, x_va, x_te = (recipe.impute(a.astype(np.float32), fill) for a in (x_tr, x_va, x_te))
    scaling = _fit_scaler(spec.scale, x_tr)
    x_tr, x_va, x_te = (recipe.scale(a, scaling) for a in (x_tr, x_va, x_te))
    target = _fit_target(y_tr) if raw.task == "regression" else None
    y_tr, y_va, y_te = (recipe.scale_target(a, target) for a in (y_tr, y_va, y_te))
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
        notes=raw.notes,
        info=raw.info,
        recipe={
            "version": recipe.VERSION,
            "dataset": label,
            "task": raw.task,
            "classes": raw.class_names,
            "features": raw.feature_names,
            "encoding": raw.encoding,
            "fill": fill.tolist(),
            "scaling": scaling,
            "target": target,
        },
        rows={"train": i_tr, "valid": i_va, "test": i_te},
        example=_example(raw, i_va[:5]),
    )
    if target is not None:
        _note_target_scaling(data, target)
    for a in (data.x_train, data.y_train, data.x_valid, data.y_valid, data.x_test, data.y_test):
        a.setflags(write=False)  # shared by every trial of a search: nobody may mutate it
    return data


#: One part of a split: features, targets and each row's position in the source.
_Part = tuple[np.ndarray, np.ndarray, np.ndarray]


def _sample_rows(spec: DatasetSpec, raw: _Raw, rng: np.random.Generator) -> _Part:
    """The rows a search uses: all of them, or ``dataset.max_rows`` drawn at random (in
    source order), which the notes and the summary then say."""
    x, y = raw.x, raw.y
    idx = raw.rows if raw.rows is not None else np.arange(len(x))  # positions in the source
    if spec.max_rows and len(x) > spec.max_rows:
        pick = np.sort(rng.choice(len(x), spec.max_rows, replace=False))
        x, y, idx = x[pick], y[pick], idx[pick]
        raw.notes.append(f"sampled {spec.max_rows} rows (dataset.max_rows)")
        if raw.info is not None:
            raw.info.notes.append(f"sampled {spec.max_rows} of {raw.info.rows} rows (max_rows)")
            raw.info.rows = spec.max_rows
    return x, y, idx


def _split_rows(
    spec: DatasetSpec, raw: _Raw, rows: _Part, seed: int, rng: np.random.Generator
) -> tuple[_Part, _Part, _Part]:
    """Train, valid and test parts of ``rows``: a test split the source ships (sampled to
    ``max_rows``) or one cut off first, then valid cut from what is left; stratified for
    classification when every class has two rows."""
    classify = raw.task != "regression"
    x, y, idx = rows
    if raw.test is not None:
        x_te, y_te = raw.test
        i_te = np.arange(len(x_te))
        train, valid = _two_way(rows, spec.split.valid, seed, classify)
        if spec.max_rows and len(x_te) > spec.max_rows:
            keep = np.sort(rng.choice(len(x_te), spec.max_rows, replace=False))
            x_te, y_te, i_te = x_te[keep], y_te[keep], i_te[keep]
        return train, valid, (x_te, y_te, i_te)
    if spec.split.test > 0:
        rest, test = _two_way(rows, spec.split.test, seed, classify)
    else:
        rest, test = rows, (x[:0], y[:0], idx[:0])
    valid_frac = spec.split.valid / (1.0 - spec.split.test)  # < 1: DatasetSpec checks
    train, valid = _two_way(rest, valid_frac, seed, classify)
    return train, valid, test


def _two_way(rows: _Part, frac: float, seed: int, classify: bool) -> tuple[_Part, _Part]:
    """(x, y, positions) of the first part, then of the second (``frac`` of the rows)."""
    from sklearn.model_selection import train_test_split

    a, b, i = rows
    strat = b if classify and np.min(np.unique(b, return_counts=True)[1]) >= 2 else None
    try:
        parts = train_test_split(a, b, i, test_size=frac, random_state=seed, stratify=strat)
    except ValueError:  # too few rows of a class for stratification at this size
        parts = train_test_split(a, b, i, test_size=frac, random_state=seed)
    first, second = tuple(parts[0::2]), tuple(parts[1::2])
    return (first[0], first[1], first[2]), (second[0], second[1], second[2])


def _note_target_scaling(data: Dataset, target: dict[str, float]) -> None:
    """Say that a regression target was standardised, in the notes and the summary."""
    note = (
        f"target standardised with the train mean {target['shift']:.4g} and std "
        f"{target['scale']:.4g}; metrics are reported in the target's units"
    )
    data.notes.append(note)
    if data.info is not None and data.info.notes is not data.notes:
        data.info.notes.append(note)  # validate --data and data_summary.json say it too


def _fit_fill(x_train: np.ndarray) -> np.ndarray:
    """Each column's train mean (0 where train has no value): what a missing value becomes."""
    import warnings

    flat = x_train.reshape(len(x_train), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column with no value at all
        return np.nan_to_num(np.nanmean(flat, axis=0))


def _fit_target(y_train: np.ndarray) -> dict[str, float]:
    """The regression target's train mean and std: the network learns a standardised
    target (an output near 0 with unit spread, whatever the target's units are)."""
    values = np.asarray(y_train, dtype=np.float64)
    std = float(values.std())
    return {"shift": float(values.mean()), "scale": std if std > 0 else 1.0}


def _example(raw: _Raw, positions: np.ndarray) -> Any:
    """The raw source rows at ``positions``, as a client would send them: the recipe's
    input columns, numbers as floats (the logged model's signature says double, so that a
    missing value can be sent as null)."""
    if raw.source is None:
        return None
    if raw.encoding.get("input") == "array":
        return np.asarray(raw.source[positions], dtype=np.float64)
    names = [i["name"] for i in raw.encoding["inputs"]]
    rows = raw.source.iloc[positions][names].reset_index(drop=True)
    for item in raw.encoding["inputs"]:
        if item["kind"] == "numeric":
            rows[item["name"]] = rows[item["name"]].astype("float64")
    return rows


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


def dump_preprocessing(data: Dataset, path: Path) -> Path:
    """Write what a caller must apply to raw features before the logged model sees them."""
    path.write_text(json.dumps(finite_json(data.preprocessing()), indent=1, allow_nan=False))
    return path
