"""The ``model:`` section of a space file: which input columns Wide & Deep feeds its wide
path and which its deep path, resolved against the data's columns.

Fixed model settings, not hyperparameters: they are never searched, and a list would not fit
the trial table's one-value-per-param columns. A name is an input column of the model (after
the data recipe: ``island_Dream``), or a column of the raw table, which stands for every
input it became (``island``: its one-hot columns; a date: its parts); an integer is a
0-based index into the model's inputs (images: the flattened pixels). Columns are checked
when the space is parsed where they are known without reading the data (a built-in dataset
whose options cannot change its columns), and always against the real data's columns
before any search starts (api.load_data).
"""

from __future__ import annotations

from typing import Any, Protocol, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from hpsearch.errors import SpaceError
from hpsearch.space.params import did_you_mean, short

#: The two paths of a Wide & Deep model, by their ``model:`` key.
PATHS: tuple[str, ...] = ("wide_features", "deep_features")
#: An input column: its name, and the raw column it was encoded from.
Column = tuple[str, str]
#: The columns each path takes, as 0-based input indices; None: every input.
Selection = dict[str, Union[list[int], None]]


class ModelSpec(BaseModel):
    """``model: {wide_features: [...], deep_features: [...]}``: each path's columns (names
    or 0-based indices; default: every input on both paths). Only ``architecture:
    wide_deep`` reads them."""

    model_config = ConfigDict(extra="forbid")

    wide_features: list[Union[StrictInt, StrictStr]] | None = Field(None, min_length=1)
    deep_features: list[Union[StrictInt, StrictStr]] | None = Field(None, min_length=1)

    @field_validator(*PATHS, mode="before")
    @classmethod
    def _entries(cls, value: Any) -> Any:
        """A list of names and indices (pydantic's own message names both union arms)."""
        if value is None:
            return value
        if not isinstance(value, list):
            raise ValueError(f"expected a list of column names or indices, got {short(value)}")
        for i, entry in enumerate(value):
            if isinstance(entry, bool) or not isinstance(entry, (int, str)):
                raise ValueError(
                    f"entry {i}: expected a column name or a 0-based index, got {short(entry)}"
                )
        return value

    def is_set(self) -> bool:
        return self.wide_features is not None or self.deep_features is not None


class DatasetOptions(Protocol):
    """The ``dataset:`` section (schema.DatasetSpec, which imports this module)."""

    name: str

    def model_dump(self, *, exclude_defaults: bool = ...) -> dict[str, Any]: ...


def _plain(names: list[str]) -> list[Column]:
    return [(n, n) for n in names]


def _pixels(prefix: str, count: int) -> list[Column]:
    return _plain([f"{prefix}{i}" for i in range(count)])


#: The input columns of the built-in datasets as their default options load them, known
#: without reading them (california's are fetched on first use; validate must not
#: download), in the order the model takes them. tests/space/test_columns.py checks each
#: offline one against the loaded data. Only builtin_columns reads it.
BUILTIN_COLUMNS: dict[str, list[Column]] = {
    "california_housing": _plain(
        "MedInc HouseAge AveRooms AveBedrms Population AveOccup Latitude Longitude".split()
    ),
    "diabetes": _plain("age sex bmi bp s1 s2 s3 s4 s5 s6".split()),
    "iris": _plain(
        ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    ),
    "wine": _plain(
        "alcohol malic_acid ash alcalinity_of_ash magnesium total_phenols flavanoids "
        "nonflavanoid_phenols proanthocyanins color_intensity hue "
        "od280/od315_of_diluted_wines proline".split()
    ),
    "breast_cancer": _plain(
        [
            f"{kind} {what}" if kind != "error" else f"{what} error"
            for kind in ("mean", "error", "worst")
            for what in (
                "radius",
                "texture",
                "perimeter",
                "area",
                "smoothness",
                "compactness",
                "concavity",
                "concave points",
                "symmetry",
                "fractal dimension",
            )
        ]
    ),
    "penguins": [
        *_plain(["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]),
        ("island_Biscoe", "island"),
        ("island_Dream", "island"),
        ("island_Torgersen", "island"),
        ("sex_female", "sex"),
        ("sex_male", "sex"),
    ],
    "digits": _plain([f"pixel_{r}_{c}" for r in range(8) for c in range(8)]),
    "mnist": _pixels("px", 784),
    "fashion_mnist": _pixels("px", 784),
}


#: The ``dataset:`` options that never change a built-in dataset's input columns: they
#: sample, split or scale the rows of the encoded table. Any other option (``missing:
#: impute`` adds penguins' ``sex_missing``; whatever is added later) makes the table unsafe
#: to judge by. (``features``, ``drop``, ``target`` and ``task`` are files' options only.)
COLUMN_NEUTRAL_OPTIONS = frozenset({"name", "split", "scale", "max_rows"})


def builtin_columns(dataset: DatasetOptions) -> list[Column] | None:
    """``dataset``'s input columns when they are known without reading it; None for a file,
    or where its options may change the columns: those are checked once the data is
    loaded, still before a search creates anything."""
    columns = BUILTIN_COLUMNS.get(dataset.name)
    if columns is None or set(dataset.model_dump(exclude_defaults=True)) - COLUMN_NEUTRAL_OPTIONS:
        return None
    return columns


def resolve_selection(
    spec: ModelSpec | None,
    columns: list[Column],
    *,
    dataset: str,
    dropped: dict[str, str] | None = None,
) -> Selection | None:
    """Each path's input indices; None when the space sets neither path. Raises SpaceError
    at the entry at fault (its field, e.g. ``model.wide_features[2]``)."""
    if spec is None or not spec.is_set():
        return None
    out: Selection = {}
    for path in PATHS:
        entries = getattr(spec, path)
        field = f"model.{path}"
        out[path] = (
            None if entries is None else resolve_entries(entries, columns, field, dataset, dropped)
        )
    return out


def resolve_entries(
    entries: list[Any],
    columns: list[Column],
    field: str,
    dataset: str,
    dropped: dict[str, str] | None = None,
) -> list[int]:
    """``entries`` (names and indices) as input indices, in the order given; an unknown
    name, an index out of range or a column named twice is a SpaceError at its entry."""
    out: list[int] = []
    for i, entry in enumerate(entries):
        where = f"{field}[{i}]"
        found = _one_entry(entry, columns, where, dataset, dropped or {})
        twice = next((j for j in found if j in out), None)
        if twice is not None:
            raise SpaceError(
                f"column {short(columns[twice][0])} is already in {field.rpartition('.')[2]}",
                field=where,
            )
        out += found
    return out


def _one_entry(
    entry: Any, columns: list[Column], field: str, dataset: str, dropped: dict[str, str]
) -> list[int]:
    """One entry's input indices: an index, an input's name, or a raw column's inputs."""
    n = len(columns)
    names = [name for name, _ in columns]
    if isinstance(entry, int):
        if not 0 <= entry < n:
            raise SpaceError(
                f"index {entry} is out of range: {dataset} has {n} input columns (0 to {n - 1})",
                field=field,
            )
        named = [j for j, name in enumerate(names) if name == str(entry) and j != entry]
        if named:  # a table whose columns are named 0, 1, ...: which one is meant?
            raise SpaceError(
                f"{entry} is ambiguous in {dataset}: input {entry} is "
                f"{short(names[entry])}, and input {named[0]} is named {short(str(entry))}; "
                f"write {short(names[entry])} for the first or {short(str(entry))} "
                "(quoted) for the second",
                field=field,
            )
        return [entry]
    matches = [j for j, name in enumerate(names) if name == entry]
    if len(matches) > 1:  # a text column's one-hot input named like another column
        raise SpaceError(
            f"{short(entry)} names {len(matches)} inputs of {dataset} (indices "
            f"{', '.join(map(str, matches))}): give the index of the one meant",
            field=field,
        )
    if matches:
        return matches
    encoded = [j for j, (_, source) in enumerate(columns) if source == entry]
    if encoded:
        return encoded
    if entry in dropped:
        raise SpaceError(
            f"column {short(entry)} was dropped from {dataset} ({dropped[entry]})", field=field
        )
    sources = list(dict.fromkeys(source for _, source in columns if source not in names))
    options = names + sources
    listed = ", ".join(short(o) for o in options[:10]) + (", ..." if len(options) > 10 else "")
    raise SpaceError(
        f"{short(entry)} is not a column of {dataset}{did_you_mean(entry, options)}; "
        f"columns: {listed}",
        field=field,
    )


def check_model(
    spec: ModelSpec | None,
    *,
    architectures: list[Any],
    builder: str | None,
    dataset: DatasetOptions,
) -> None:
    """What can be checked of ``model:`` before reading the data: hpsearch's own model
    reads it, one that may be wide_deep, and the columns where builtin_columns knows
    them. Raises SpaceError at the setting at fault."""
    if spec is None or not spec.is_set():
        return
    key = next(p for p in PATHS if getattr(spec, p) is not None)
    if builder:
        raise SpaceError(
            f"{key} shapes hpsearch's own wide_deep model; a builder builds its own model "
            "(drop model: or builder:)",
            field=f"model.{key}",
        )
    if "wide_deep" not in architectures:
        raise SpaceError(
            f"{key} applies to architecture wide_deep, which this space never builds "
            f"(architecture: {', '.join(map(str, architectures))}); set architecture: "
            "wide_deep or {choice: [mlp, wide_deep]}",
            field=f"model.{key}",
        )
    columns = builtin_columns(dataset)
    if columns is not None:
        resolve_selection(spec, columns, dataset=dataset.name)
