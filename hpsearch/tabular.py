"""Users' own tables: read a CSV or parquet file safely, decide what to train on, and say so.

Files nobody here wrote are read defensively: only regular files are opened, the header
must match the rows, the delimiter is detected, and every column that is dropped or
transformed is named in a :class:`DataSummary` (what ``hpsearch validate --data`` prints and
``hpsearch run`` logs as ``data_summary.json``). pandas is imported inside the functions.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch import recipe
from hpsearch.errors import DataError, first_line
from hpsearch.space import DatasetSpec, did_you_mean, short
from hpsearch.space import label as class_label

if TYPE_CHECKING:
    import pandas as pd

#: One-hot encoding stops being sensible beyond this many distinct values in a column.
MAX_CATEGORIES = 50
#: An integer target with at most this many distinct values is read as class labels.
MAX_CLASSES = 20
#: ``task: classification`` still needs a target with at most this many classes.
MAX_FORCED_CLASSES = 1000
#: A column missing in more than this share of rows is dropped rather than those rows.
MOSTLY_MISSING = 0.5
#: Past this share of rows dropped for missing values, the summary warns.
ROWS_DROPPED_WARNING = 0.10
#: The header line must end within this many bytes (binary files and giant lines do not).
MAX_HEADER_BYTES = 1 << 20
_SAMPLE_LINES = 200
_DELIMITERS = (",", ";", "\t", "|")
_ID_WORDS = {"id", "ids", "no", "nr", "num", "number", "index", "idx", "key", "row", "rownum"}
_DATE = re.compile(
    r"""^\s*(?:
        \d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?
            (?:Z|[+-]\d{2}:?\d{2})?
      | \d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?
      | \d{1,2}:\d{2}(?::\d{2})?
    )\s*$""",
    re.X,
)


@dataclass
class DataSummary:
    """What a search trains on, and everything that was dropped or changed on the way."""

    dataset: str
    rows: int = 0
    rows_read: int = 0
    dropped_rows_reasons: list[str] = field(default_factory=list)
    target: str | None = None
    task: str = ""
    task_reason: str = ""
    classes: dict[str, int] | None = None
    features: list[str] = field(default_factory=list)
    feature_kinds: dict[str, str] = field(default_factory=dict)
    dropped_columns: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def dropped_rows(self) -> int:
        return self.rows_read - self.rows

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"dropped_rows": self.dropped_rows}

    def brief(self) -> list[str]:
        """One or two lines for ``hpsearch run``: the shape, then what was dropped."""
        kinds = _count_kinds(self.feature_kinds)
        classes = f", {len(self.classes)} classes" if self.classes else ""
        first = (
            f"data: {self.dataset}: {self.rows:,} rows, {len(self.features)} features "
            f"({kinds}); "
            + (f"target '{self.target}', " if self.target else "")
            + f"{self.task}{classes}"
        )
        dropped = []
        if self.dropped_rows:
            dropped.append(f"{self.dropped_rows:,} rows")
        if self.dropped_columns:
            dropped.append("columns " + ", ".join(self.dropped_columns))
        return [first] + ([f"data: dropped {'; '.join(dropped)}"] if dropped else [])

    def lines(self) -> list[str]:
        """The full summary, for ``hpsearch validate --data``."""
        out = [
            f"data: {self.dataset}",
            f"  rows: {self.rows:,} used of {self.rows_read:,}",
        ]
        out += [f"    dropped {reason}" for reason in self.dropped_rows_reasons]
        out.append(f"  target: {self.target or '(built in)'} -> {self.task} ({self.task_reason})")
        if self.classes:
            counts = ", ".join(f"{k}: {v:,}" for k, v in list(self.classes.items())[:20])
            more = f", ... ({len(self.classes)} in all)" if len(self.classes) > 20 else ""
            out.append(f"  classes: {counts}{more}")
        out.append(f"  features: {len(self.features)} ({_count_kinds(self.feature_kinds)})")
        for name, kind in list(self.feature_kinds.items())[:40]:
            out.append(f"    {name}: {kind}")
        if len(self.feature_kinds) > 40:
            out.append(f"    ... {len(self.feature_kinds) - 40} more")
        for name, reason in self.dropped_columns.items():
            out.append(f"  dropped column {name}: {reason}")
        out += [f"  note: {n}" for n in self.notes]
        out += [f"  warning: {w}" for w in self.warnings]
        return out


def _count_kinds(kinds: dict[str, str]) -> str:
    numeric = sum(k == "numeric" for k in kinds.values())
    parts = [f"{numeric} numeric"] if numeric else []
    one_hot = [k for k in kinds.values() if k.startswith("one-hot")]
    if one_hot:
        parts.append(f"{len(one_hot)} one-hot")
    dates = [k for k in kinds.values() if k.startswith("date")]
    if dates:
        parts.append(f"{len(dates)} date")
    return ", ".join(parts) or "none"


@dataclass
class Table:
    """A file's rows, encoded: features as float32, the target as labels or values."""

    x: np.ndarray
    y: np.ndarray
    class_names: list[str] | None
    summary: DataSummary  # the task and the feature names are the summary's
    encoding: dict[str, Any] = field(default_factory=dict)  # recipe.encode replays it
    rows: np.ndarray | None = None  # each row's position in the frame as read


# ----------------------------------------------------------------------------- reading


def read_file(kind: str, path: Path, label: str, summary: DataSummary) -> pd.DataFrame:
    """Read a csv or parquet file that is a regular file, refusing what cannot be a table
    with one line (a FIFO, a device, a directory, a binary file, a header that does not
    match its rows)."""
    import pandas as pd

    try:
        st = os.stat(path)  # stat, not open: opening a FIFO would block
    except FileNotFoundError:
        raise DataError(f"{label}: no such file") from None
    except OSError as exc:
        raise DataError(f"{label}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{label}: is a directory, expected a {kind} file")
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{label}: not a regular file (a pipe, device or socket): refused")
    if st.st_size == 0:
        raise DataError(f"{label}: the file is empty")
    if kind == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many error types
            raise DataError(
                f"{label}: cannot read parquet: {first_line(exc) or type(exc).__name__}"
            ) from None
        return frame
    encoding, sep = _sniff_csv(path, label, summary)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.read_csv(path, sep=sep, encoding=encoding, low_memory=False)
    except Exception as exc:  # noqa: BLE001 - pandas raises many parser error types
        raise DataError(
            f"{label}: cannot read csv: {first_line(exc) or type(exc).__name__}"
        ) from None


def _open_text(path: Path) -> io.BufferedIOBase:
    """The file's bytes, decompressed as pandas would by its suffix."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        import gzip

        return gzip.open(path, "rb")  # type: ignore[return-value]
    if suffix == ".bz2":
        import bz2

        return bz2.open(path, "rb")  # type: ignore[return-value]
    if suffix == ".xz":
        import lzma

        return lzma.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _sniff_csv(path: Path, label: str, summary: DataSummary) -> tuple[str, str]:
    """The encoding and delimiter of a CSV, from its first lines; refuses a binary file or
    a header whose field count differs from the rows'."""
    if path.suffix.lower() in (".zip", ".zst", ".tar"):
        return "utf-8", ","  # pandas opens these itself; no sniffing
    try:
        with _open_text(path) as handle:
            head = handle.read(MAX_HEADER_BYTES)
    except (OSError, EOFError) as exc:
        raise DataError(f"{label}: cannot read csv: {exc}") from None
    if b"\x00" in head:
        raise DataError(f"{label}: binary data (NUL bytes), not a CSV text file")
    if b"\n" not in head and b"\r" not in head and len(head) >= MAX_HEADER_BYTES:
        raise DataError(f"{label}: no line break in the first {MAX_HEADER_BYTES:,} bytes")
    try:
        text, encoding = head.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the sample's end
            text, encoding = head.decode("latin-1"), "latin-1"
            summary.warnings.append("the file is not UTF-8: read as Latin-1")
        else:
            text, encoding = head[: exc.start].decode("utf-8-sig"), "utf-8-sig"
    lines = text.splitlines()
    if len(head) >= MAX_HEADER_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    lines = [ln for ln in lines[:_SAMPLE_LINES] if ln.strip()]
    if not lines:
        raise DataError(f"{label}: the file is empty")
    sep, counts = _delimiter(lines)
    if len(counts) > 1 and counts[0] != counts[1]:
        raise DataError(
            f"{label}: line 1 (the header) has {counts[0]} fields but line 2 has "
            f"{counts[1]}: the header does not match the rows"
        )
    header = next(csv.reader([lines[0]], delimiter=sep if sep != r"\s+" else " "))
    numeric = sum(_is_number(h) for h in header)
    if header and numeric * 2 >= len(header):
        summary.warnings.append(
            f"the header line looks like data ({', '.join(map(short, header[:4]))}, ...): "
            "is line 1 really the column names?"
        )
    return encoding, sep


def _delimiter(lines: list[str]) -> tuple[str, list[int]]:
    """The delimiter that splits the sample into the most fields, consistently; and the
    field count of each sampled line under it."""
    best: tuple[str, list[int]] = (",", _field_counts(lines, ","))
    best_score = -1
    for sep in _DELIMITERS:
        counts = _field_counts(lines, sep)
        if counts[0] < 2:
            continue
        consistent = sum(c == counts[0] for c in counts) / len(counts)
        score = counts[0] if consistent >= 0.9 else 0
        if score > best_score:
            best, best_score = (sep, counts), score
    if best_score <= 0 and all(len(ln.split()) > 1 for ln in lines):
        counts = [len(ln.split()) for ln in lines]
        if len(set(counts)) == 1:  # whitespace-separated, e.g. sklearn's linnerud
            return r"\s+", counts
    return best


def _field_counts(lines: list[str], sep: str) -> list[int]:
    try:
        return [len(row) for row in csv.reader(lines, delimiter=sep)]
    except csv.Error:
        return [1] * len(lines)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_scalar_columns(frame: pd.DataFrame, label: str) -> None:
    """Refuse a column holding lists, maps or arrays (parquet allows them; a model cannot)."""
    for col in frame.columns:
        if frame[col].dtype != object:
            continue
        sample = frame[col].dropna().head(100)
        for value in sample:
            if isinstance(value, (list, tuple, dict, set, np.ndarray, bytes)):
                raise DataError(
                    f"{label}: column '{col}' holds {type(value).__name__} values, not "
                    "scalars: flatten it or list it in dataset.drop"
                )


# ----------------------------------------------------------------------------- columns


def prepare_table(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    label: str,
    target: str,
    summary: DataSummary | None = None,
) -> Table:
    """Choose and encode the columns of ``frame``: the target, then the features the spec
    keeps, minus identifiers, constants and mostly-missing columns; dates become numbers,
    text becomes one-hot columns. Everything dropped is named in the summary."""

    summary = summary or DataSummary(dataset=label)
    summary.target = target
    columns = _check_columns(frame, spec, label, target)
    summary.rows_read = len(frame)
    kept = _chosen_features(columns, spec, label, target, summary)
    _check_scalar_columns(frame[[*kept, target]], label)  # parquet allows lists; a model not
    features = frame[kept].copy()
    y_col = frame[target]

    _infinite_to_missing(features, summary)
    missing_target = y_col.isna()
    if _is_numeric(y_col):
        missing_target |= ~np.isfinite(y_col.to_numpy(dtype=float, na_value=np.nan))
    date_sources: dict[str, tuple[str, str, str]] = {}  # part column -> (column, part, kind)
    features = _expand_dates(features, summary, date_sources)
    explicit = set(spec.features or [])
    _drop_useless(features, summary, explicit)
    if features.shape[1] == 0:
        raise DataError(
            f"{label}: every feature column was dropped ({_dropped_text(summary)}); "
            "list the ones to keep in dataset.features"
        )
    keep = _rows_to_keep(features, missing_target, spec, summary, len(frame))
    rows = np.flatnonzero(keep.to_numpy(dtype=bool))
    features, y_col = features[keep], y_col[keep]
    summary.rows = len(features)
    if len(features) == 0:
        raise DataError(f"{label}: no rows left after removing missing values")

    encoding = _encoding(features, summary, label, date_sources, kept)
    y, classes = encode_target(y_col, label, spec.task, summary)
    _warn_leaks(frame.loc[features.index], kept, y_col, summary)
    # the very function the logged model applies to raw rows (see hpsearch.recipe)
    x = recipe.encode(encoding, frame.iloc[rows])
    summary.features = [c["name"] for c in encoding["columns"]]
    return Table(x, y, classes, summary, encoding, rows)


def _check_columns(frame: pd.DataFrame, spec: DatasetSpec, label: str, target: str) -> list[str]:
    """The frame's column names, as strings, once each: refuse an empty frame, a missing
    target, a repeated name, or a ``dataset.features``/``drop`` name the file lacks."""
    if frame.empty or len(frame.columns) == 0:
        raise DataError(f"{label}: the dataset is empty")
    frame.columns = [str(c) for c in frame.columns]
    columns = list(frame.columns)
    if target not in columns:
        raise DataError(
            f"{label}: target column {short(target)} not found"
            f"{did_you_mean(target, columns)}; columns: {', '.join(columns[:10])}"
            + (", ..." if len(columns) > 10 else ""),
            field="dataset.target",
        )
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise DataError(f"{label}: two columns are named '{dup}'")
    for key, names in (("features", spec.features or []), ("drop", spec.drop)):
        for name in names:
            if name not in columns:
                raise DataError(
                    f"{label}: dataset.{key} names column {short(name)}, which is not in the "
                    f"file{did_you_mean(name, columns)}",
                    field=f"dataset.{key}",
                )
    return columns


def _chosen_features(
    columns: list[str], spec: DatasetSpec, label: str, target: str, summary: DataSummary
) -> list[str]:
    """The feature columns the spec keeps (all but the target and ``dataset.drop``, or just
    ``dataset.features``), each column left out named in the summary."""
    kept = [c for c in columns if c != target and c not in spec.drop]
    for c in spec.drop:
        summary.dropped_columns[c] = "listed in dataset.drop"
    if spec.features:
        for c in kept:
            if c not in spec.features:
                summary.dropped_columns[c] = "not in dataset.features"
        kept = [c for c in kept if c in spec.features]
    if not kept:
        raise DataError(f"{label}: no feature columns besides the target '{target}'")
    return kept


def _rows_to_keep(
    features: pd.DataFrame,
    missing_target: pd.Series,
    spec: DatasetSpec,
    summary: DataSummary,
    n_rows: int,
) -> pd.Series:
    """Which rows stay: never one without a target; with ``missing: drop``, none with a
    missing feature (a warning past ROWS_DROPPED_WARNING of the file), else a note that
    missing features are imputed."""
    keep = ~missing_target
    if missing_target.any():
        summary.dropped_rows_reasons.append(
            f"{int(missing_target.sum())} of {n_rows} rows with a missing target"
        )
    if spec.missing == "drop":
        incomplete = features.isna().any(axis=1) & keep
        n = int(incomplete.sum())
        if n:
            where = [c for c in features.columns if features.loc[incomplete, c].isna().any()]
            summary.dropped_rows_reasons.append(
                f"{n} of {n_rows} rows with missing values (in {', '.join(where[:5])}"
                + (", ..." if len(where) > 5 else "")
                + ")"
            )
            if n > ROWS_DROPPED_WARNING * n_rows:
                summary.warnings.append(
                    f"{n} of {n_rows} rows ({n / n_rows:.0%}) are dropped for missing "
                    "values: set dataset.missing: impute to keep them"
                )
        keep &= ~incomplete
    elif features.isna().any().any():
        summary.notes.append(
            "imputed missing features: numeric with the train mean, categorical as 'missing'"
        )
    return keep


def _is_numeric(col: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(col)) and not pd.api.types.is_bool_dtype(col)


def _infinite_to_missing(features: pd.DataFrame, summary: DataSummary) -> None:
    """±inf in a numeric column becomes missing, with a note naming the column."""
    for col in features.columns:
        if not _is_numeric(features[col]):
            continue
        values = features[col].to_numpy(dtype=float, na_value=np.nan)
        infinite = np.isinf(values)
        if infinite.any():
            features[col] = np.where(infinite, np.nan, values)
            summary.notes.append(
                f"column '{col}': {int(infinite.sum())} infinite values read as missing"
            )


def _expand_dates(
    features: pd.DataFrame, summary: DataSummary, sources: dict[str, tuple[str, str, str]]
) -> pd.DataFrame:
    """Date and time columns become numeric parts (year, month, day, weekday, and hour and
    minute when the times vary): never one category per date. ``sources`` gets each part
    column's (date column, part, recipe kind: "datetime" read as such, "date" as text)."""
    import pandas as pd

    out = features
    for col in list(features.columns):
        series = features[col]
        if pd.api.types.is_datetime64_any_dtype(series):
            parsed, kind = series, "datetime"
        elif series.dtype == object or pd.api.types.is_string_dtype(series):
            kind = "date"
            values = series.dropna().astype(str)
            if values.empty or values.head(200).map(lambda v: bool(_DATE.match(v))).mean() < 0.9:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(series, errors="coerce", format="mixed")
            if parsed.notna().sum() < 0.5 * series.notna().sum():
                out = out.drop(columns=[col])
                summary.dropped_columns[col] = "looks like dates but does not parse as dates"
                summary.warnings.append(
                    f"column '{col}' looks like dates but does not parse: dropped"
                )
                continue
        else:
            continue
        parts = recipe.date_parts(parsed)
        clock = ("hour", "minute")
        if not any((np.nan_to_num(parts[p]) != 0).any() for p in clock):
            parts = {k: v for k, v in parts.items() if k not in clock}
        out = out.drop(columns=[col])
        for part, numbers in parts.items():
            out[f"{col}_{part}"] = pd.Series(numbers, index=out.index)
            summary.feature_kinds[f"{col}_{part}"] = f"date part of '{col}'"
            sources[f"{col}_{part}"] = (col, part, kind)
        summary.notes.append(f"date column '{col}' expanded into {', '.join(parts)}")
    return out


def _words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {w.lower() for w in re.split(r"[^A-Za-z0-9#]+", spaced) if w} | (
        {"#"} if "#" in name else set()
    )


def _id_like(col: pd.Series, name: str) -> str | None:
    """Why a column is an identifier, or None: text with a unique value per row, or an
    integer column named like an id that is unique or counts up by one."""
    values = col.dropna()
    if len(values) < 10:
        return None
    unique = values.nunique() == len(values)
    if not _is_numeric(col) and unique:
        return "a unique value per row (an identifier)"
    named = bool(_words(name) & (_ID_WORDS | {"#"}))
    if not named:
        return None
    if not _is_numeric(col):
        many = values.nunique() > min(MAX_CATEGORIES, len(values) // 2)
        return "text named like an id with a value for nearly every row" if many else None
    numbers = values.to_numpy(dtype=float)
    if not np.all(np.mod(numbers, 1) == 0):
        return None
    steps = np.diff(numbers)
    counting = len(steps) > 0 and float(np.mean(steps == 1)) >= 0.9
    if unique or counting:
        return "an integer counting rows, named like an id"
    return None


def _drop_useless(features: pd.DataFrame, summary: DataSummary, explicit: set[str]) -> None:
    """Drop, in place and with a reason each, mostly-missing, constant and identifier
    columns, unless ``dataset.features`` keeps them by name."""
    n = len(features)
    for col in list(features.columns):
        series = features[col]
        missing = int(series.isna().sum())
        reason = None
        if n and missing > MOSTLY_MISSING * n:
            reason = f"missing in {missing} of {n} rows"
        elif series.nunique(dropna=True) <= 1:
            reason = "constant" if missing < n else "empty"
        elif col not in explicit:
            reason = _id_like(series, col)
        if reason is None:
            continue
        if col in explicit:
            if reason.startswith("missing"):
                summary.warnings.append(f"column '{col}' is {reason} (kept: in dataset.features)")
            continue
        features.drop(columns=[col], inplace=True)
        summary.feature_kinds.pop(col, None)  # a date part that never changes
        summary.dropped_columns[col] = reason
        if "identifier" in reason or "like an id" in reason:
            summary.warnings.append(
                f"column '{col}' looks like an identifier ({reason}): dropped; list it in "
                "dataset.features to keep it"
            )
        elif reason.startswith("missing"):
            summary.warnings.append(f"column '{col}' is {reason}: dropped instead of those rows")


def _dropped_text(summary: DataSummary) -> str:
    return "; ".join(f"{k}: {v}" for k, v in list(summary.dropped_columns.items())[:4])


def _encoding(
    features: pd.DataFrame,
    summary: DataSummary,
    label: str,
    date_sources: dict[str, tuple[str, str, str]],
    kept: list[str],
) -> dict[str, Any]:
    """The recipe's encoding of the kept columns: numbers stay numbers, booleans become
    0/1, dates their parts, and text one-hot columns over the values seen (a missing value
    is the category 'missing'), after the other columns, as ``pd.get_dummies`` orders them."""
    import pandas as pd

    plain: list[dict[str, Any]] = []
    one_hot: list[dict[str, Any]] = []
    kinds: dict[str, str] = {}
    for col in features.columns:
        series = features[col]
        if col in date_sources:
            source, part, kinds[source] = date_sources[col]
            plain.append({"name": col, "from": source, "op": "date", "part": part})
        elif pd.api.types.is_bool_dtype(series):
            summary.feature_kinds[col] = "numeric"
            kinds[col] = "bool"
            plain.append({"name": col, "from": col, "op": "bool"})
        elif _is_numeric(series):
            summary.feature_kinds[col] = "numeric"
            kinds[col] = "numeric"
            plain.append({"name": col, "from": col, "op": "numeric"})
        else:
            n = series.nunique(dropna=True)
            if n > MAX_CATEGORIES:
                raise DataError(
                    f"{label}: column '{col}' is non-numeric with {n} distinct values; "
                    f"one-hot encoding stops at {MAX_CATEGORIES}: list it in dataset.drop or "
                    "encode it yourself",
                )
            extra = " and missing" if series.isna().any() else ""
            summary.feature_kinds[col] = f"one-hot ({n} values{extra})"
            kinds[col] = "text"
            values = pd.Categorical(recipe.text_values(series)).categories  # get_dummies' order
            one_hot += [
                {"name": f"{col}_{v}", "from": col, "op": "one_hot", "value": str(v)}
                for v in values
            ]
    columns = plain + one_hot
    used = {c["from"] for c in columns}
    return {
        "input": "table",
        "inputs": [{"name": name, "kind": kinds[name]} for name in kept if name in used],
        "columns": columns,
    }


def encode_target(
    y: pd.Series, label: str, forced: str | None, summary: DataSummary
) -> tuple[np.ndarray, list[str] | None]:
    """The target encoded for its task (``dataset.task``, else inferred; both recorded in
    the summary with the reason): class labels as 0..k-1 in sorted order, or values as
    float32."""
    numeric = _is_numeric(y)
    integral = numeric and bool(np.all(np.mod(y.to_numpy(dtype=float), 1) == 0))
    distinct = int(y.nunique())
    name = f"'{y.name}'"
    if forced == "regression" and not numeric:
        raise DataError(
            f"{label}: dataset.task is regression, but target {name} holds text "
            f"({short(y.iloc[0])}, ...)",
            field="dataset.task",
        )
    if forced == "classification" and distinct > MAX_FORCED_CLASSES:
        raise DataError(
            f"{label}: dataset.task is classification, but target {name} has {distinct:,} "
            f"distinct values (at most {MAX_FORCED_CLASSES:,} classes)",
            field="dataset.task",
        )
    hint = "set dataset.task: classification if they are class labels"
    if forced:
        regression, reason = forced == "regression", "dataset.task"
    elif not numeric:
        regression, reason = False, "the target holds labels, not numbers"
    elif not integral:
        regression, reason = True, "the target holds non-integer numbers"
    elif distinct > MAX_CLASSES:
        regression = True
        reason = f"an integer target with {distinct} distinct values (over {MAX_CLASSES}); {hint}"
    elif distinct * 2 > len(y):
        regression = True
        reason = (
            f"an integer target with {distinct} distinct values in {len(y)} rows: too few "
            f"rows a value for classes; {hint}"
        )
    else:
        regression = False
        reason = f"an integer target with {distinct} distinct values (at most {MAX_CLASSES})"
    summary.task_reason = reason
    if regression:
        summary.task = "regression"
        return y.to_numpy(dtype=np.float32), None
    labels = y.unique().tolist()
    numeric_labels = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in labels)
    classes = sorted(labels) if numeric_labels else sorted(labels, key=str)
    if len(classes) < 2:
        raise DataError(
            f"{label}: target {name} has a single class: {short(classes[0])}",
            field="dataset.target",
        )
    lookup = {c: i for i, c in enumerate(classes)}
    encoded = y.map(lookup).to_numpy(dtype=np.int64)
    counts = np.bincount(encoded, minlength=len(classes))
    names = [class_label(c) for c in classes]
    summary.classes = {n: int(k) for n, k in zip(names, counts, strict=True)}
    summary.task = "binary" if len(classes) == 2 else "multiclass"
    return encoded, names


def _warn_leaks(
    frame: pd.DataFrame, columns: list[str], y: pd.Series, summary: DataSummary
) -> None:
    """Warn about a feature that names the class outright (a copy of the target)."""
    if summary.task == "regression":
        return
    classes = y.nunique()
    for col in columns:
        if col not in frame.columns or col in summary.dropped_columns:
            continue
        series = frame[col]
        if series.nunique() != classes:
            continue
        if (y.groupby(series.astype(str)).nunique() == 1).all():
            summary.warnings.append(
                f"column '{col}' determines the target exactly (a copy of it?): a model "
                "that reads it learns nothing else; list it in dataset.drop"
            )


def finite_json(value: Any) -> Any:
    """``value`` with NaN and infinities as None, so ``json.dumps`` writes valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value
