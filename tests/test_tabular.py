"""Real CSVs that ship inside installed packages, read the way a user would point hpsearch at
them: each must give the summary a person reading the file would expect, or one clear line.

The files are found in site-packages at test time (palmerpenguins, scikit-learn, plotly),
never copied into the repo.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hpsearch.space import DatasetSpec
from hpsearch.tabular import DataError, DataSummary, prepare_table, read_file
from tests.in_process import hpsearch


def _package_file(module: str, *parts: str) -> Path:
    import importlib

    path = Path(importlib.import_module(module).__file__).parent.joinpath(*parts)  # type: ignore[arg-type]
    assert path.is_file(), path
    return path


PENGUINS_RAW = ("palmerpenguins", "data", "penguins-raw.csv")
BREAST_CANCER = ("sklearn", "datasets", "data", "breast_cancer.csv")
LINNERUD = ("sklearn", "datasets", "data", "linnerud_exercise.csv")
CARSHARE = ("plotly", "package_data", "datasets", "carshare.csv.gz")
STOCKS = ("plotly", "package_data", "datasets", "stocks.csv.gz")
ELECTION = ("plotly", "package_data", "datasets", "election.csv.gz")
IRIS = ("plotly", "package_data", "datasets", "iris.csv.gz")


def _validate(tmp: Path, where: tuple[str, ...], target: str, **dataset: Any) -> Any:
    """``hpsearch validate --data --json`` on a space naming the file: (exit, data or err)."""
    spec = {"name": f"csv:{_package_file(*where)}", "target": target, **dataset}
    space = {"name": "t", "dataset": spec, "hyperparameters": {"n_hidden": 1}}
    (tmp / "space.yaml").write_text(json.dumps(space))  # JSON is YAML
    done = hpsearch("validate", "space.yaml", "--data", "--json", cwd=tmp)
    if done.returncode != 0:
        return done.returncode, done.stderr
    return 0, json.loads(done.stdout)["data"]


def test_raw_field_study_drops_ids_notes_and_constants_and_expands_dates(tmp_path: Path) -> None:
    code, data = _validate(tmp_path, PENGUINS_RAW, "Species")
    assert code == 0, data
    dropped = data["dropped_columns"]
    assert dropped["Comments"] == "missing in 290 of 344 rows"  # not 310 rows dropped
    assert "named like an id" in dropped["Sample Number"]
    assert "Individual ID" in dropped
    assert dropped["Region"] == dropped["Stage"] == "constant"
    assert data["rows"] == 324 and data["dropped_rows"] == 20
    assert (data["task"], data["target"]) == ("multiclass", "Species")
    assert sum(data["classes"].values()) == 324 and len(data["classes"]) == 3
    assert "Date Egg_year" in data["features"]
    assert not any(f.startswith("Date Egg_20") for f in data["features"])  # no one-hot dates
    assert not any(f.startswith(("Sample Number", "Comments")) for f in data["features"])
    assert any("Sample Number" in w for w in data["warnings"])


def test_a_header_that_does_not_match_its_rows_is_refused(tmp_path: Path) -> None:
    """sklearn's bundled CSV: its first line is "569,30,malignant,benign", rows have 31."""
    code, err = _validate(tmp_path, BREAST_CANCER, "benign")
    assert code == 2
    assert err.count("\n") == 1
    assert "line 1 (the header) has 4 fields but line 2 has 31" in err


def test_whitespace_separated_file_is_read_by_its_columns(tmp_path: Path) -> None:
    code, data = _validate(tmp_path, LINNERUD, "Situps", task="regression")
    assert code == 0, data
    assert data["features"] == ["Chins", "Jumps"] and data["task"] == "regression"


def test_a_24_valued_integer_target_is_regression_unless_task_says_otherwise(
    tmp_path: Path,
) -> None:
    code, data = _validate(tmp_path, CARSHARE, "peak_hour")
    assert code == 0, data
    assert data["task"] == "regression"
    assert "task: classification" in data["task_reason"]
    code, data = _validate(tmp_path, CARSHARE, "peak_hour", task="classification")
    assert code == 0, data
    assert data["task"] == "multiclass" and len(data["classes"]) == 24


def test_an_objective_that_disagrees_with_the_inferred_task_names_task(tmp_path: Path) -> None:
    spec = {"name": f"csv:{_package_file(*CARSHARE)}", "target": "peak_hour"}
    space = {"name": "t", "dataset": spec, "objective": "val_accuracy",
             "hyperparameters": {"n_hidden": 1}}  # fmt: skip
    (tmp_path / "space.yaml").write_text(json.dumps(space))
    done = hpsearch("validate", "space.yaml", "--data", cwd=tmp_path)
    assert done.returncode == 2
    assert "dataset.target: " in done.stderr and "set dataset.task: classification" in done.stderr


def test_date_column_becomes_numeric_parts(tmp_path: Path) -> None:
    code, data = _validate(tmp_path, STOCKS, "GOOG")
    assert code == 0, data
    assert {"date_year", "date_month", "date_day"} <= set(data["features"])
    assert data["dropped_columns"]["date_weekday"] == "constant"  # weekly prices: Mondays
    assert data["task"] == "regression"


def test_identifier_columns_are_dropped_and_features_keeps_one(tmp_path: Path) -> None:
    code, data = _validate(tmp_path, ELECTION, "winner")
    assert code == 0, data
    assert "identifier" in data["dropped_columns"]["district"]
    assert "district_id" in data["dropped_columns"]
    code, data = _validate(
        tmp_path, ELECTION, "winner", features=["district_id", "Coderre", "Joly"]
    )
    assert code == 0, data
    assert data["features"] == ["Coderre", "Joly", "district_id"]  # in the file's order


def test_a_copy_of_the_target_is_warned_about(tmp_path: Path) -> None:
    code, data = _validate(tmp_path, IRIS, "species")
    assert code == 0, data
    assert any("'species_id' determines the target exactly" in w for w in data["warnings"])
    code, data = _validate(tmp_path, IRIS, "species", drop=["species_id"])
    assert code == 0, data
    assert data["features"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert data["dropped_columns"] == {"species_id": "listed in dataset.drop"}


def _prepare(frame: pd.DataFrame, **spec: Any) -> Any:
    full = DatasetSpec.model_validate({"name": "csv:x.csv", "target": "y", **spec})
    return prepare_table(frame, full, "x.csv", "y")


def test_infinite_values_are_missing_and_a_mostly_missing_column_goes() -> None:
    n = 40
    frame = pd.DataFrame({"a": np.arange(n, dtype=float), "b": np.ones(n) * 2.0,
                          "c": np.arange(n) % 3, "y": np.arange(n) % 2})  # fmt: skip
    frame.loc[[1, 2], "a"] = np.inf
    frame.loc[5:, "b"] = np.nan  # missing in 35 of 40 rows
    table = _prepare(frame)
    assert table.summary.dropped_columns == {"b": "missing in 35 of 40 rows"}
    assert any("'a': 2 infinite values read as missing" in n for n in table.summary.notes)
    assert table.summary.rows == 38 and np.isfinite(table.x).all()


def test_many_rows_dropped_for_missing_values_suggests_impute() -> None:
    n = 40
    frame = pd.DataFrame({"a": np.arange(n, dtype=float), "c": np.arange(n) % 3,
                          "y": np.arange(n) % 2})  # fmt: skip
    frame.loc[:9, "a"] = np.nan  # 10 of 40 rows: 25 %, kept as a column
    summary = _prepare(frame).summary
    assert any("set dataset.missing: impute" in w for w in summary.warnings)
    assert not any("impute" in w for w in _prepare(frame, missing="impute").summary.warnings)


def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "p.csv")
    with pytest.raises(DataError, match="not a regular file"):
        read_file("csv", tmp_path / "p.csv", "csv:p.csv", DataSummary(dataset="p"))


def test_semicolon_separated_latin1_file(tmp_path: Path) -> None:
    rows = ["höhe;breite;klasse"] + [f"{i},5;{i % 4};{'jä' if i % 2 else 'nein'}"
                                      for i in range(30)]  # fmt: skip
    (tmp_path / "d.csv").write_bytes("\n".join(rows).encode("latin-1"))
    summary = DataSummary(dataset="d")
    frame = read_file("csv", tmp_path / "d.csv", "csv:d.csv", summary)
    assert list(frame.columns) == ["höhe", "breite", "klasse"]
    assert any("not UTF-8" in w for w in summary.warnings)


# ----------------------------------------------------------------------------- column steps


@pytest.mark.parametrize(
    ("columns", "spec", "message"),
    [
        ([], {}, "the dataset is empty"),
        (["a", "b"], {}, "target column 'y' not found"),
        (["a", "a", "y"], {}, "two columns are named 'a'"),
        (["a", "y"], {"features": ["c"]}, "dataset.features names column 'c'"),
        (["a", "y"], {"drop": ["c"]}, "dataset.drop names column 'c'"),
    ],
)
def test_check_columns_refuses_what_cannot_be_chosen(
    columns: list[str], spec: dict[str, Any], message: str
) -> None:
    """An empty frame, a missing target, a repeated column, a spec naming a missing one."""
    from hpsearch.tabular import _check_columns

    frame = pd.DataFrame([[1] * len(columns)] * 3, columns=columns)
    with pytest.raises(DataError, match=message):
        _check_columns(frame, DatasetSpec(name="csv:x.csv", **spec), "x.csv", "y")


def test_check_columns_names_columns_as_strings() -> None:
    from hpsearch.tabular import _check_columns

    frame = pd.DataFrame([[1, 2, 3]], columns=[0, 1, "y"])
    assert _check_columns(frame, DatasetSpec(name="csv:x.csv"), "x.csv", "y") == ["0", "1", "y"]
    assert list(frame.columns) == ["0", "1", "y"]  # the frame is renamed too


def test_chosen_features_names_every_column_left_out() -> None:
    from hpsearch.tabular import _chosen_features

    summary = DataSummary(dataset="x")
    spec = DatasetSpec(name="csv:x.csv", features=["a", "b"], drop=["c"])
    kept = _chosen_features(["a", "b", "c", "d", "y"], spec, "x", "y", summary)
    assert kept == ["a", "b"]
    assert summary.dropped_columns == {
        "c": "listed in dataset.drop",
        "d": "not in dataset.features",
    }
    with pytest.raises(DataError, match="no feature columns besides the target 'y'"):
        _chosen_features(["c", "y"], DatasetSpec(name="csv:x.csv", drop=["c"]), "x", "y", summary)


def test_rows_to_keep_drops_a_missing_target_and_with_drop_a_missing_feature() -> None:
    """missing: drop loses rows with a missing feature (reasons said); impute keeps them
    with a note; a row without a target goes either way."""
    from hpsearch.tabular import _rows_to_keep

    features = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [1.0, 2.0, 3.0, np.nan]})
    no_target = pd.Series([False, False, True, False])
    dropped = DataSummary(dataset="x")
    keep = _rows_to_keep(features, no_target, DatasetSpec(name="csv:x.csv"), dropped, 4)
    assert list(keep) == [True, False, False, False]
    assert dropped.dropped_rows_reasons == [
        "1 of 4 rows with a missing target",
        "2 of 4 rows with missing values (in a, b)",
    ]
    assert "are dropped for missing values" in dropped.warnings[0]  # 50% > 10%
    imputed = DataSummary(dataset="x")
    spec = DatasetSpec(name="csv:x.csv", missing="impute")
    keep = _rows_to_keep(features, no_target, spec, imputed, 4)
    assert list(keep) == [True, True, False, True]
    assert imputed.warnings == [] and imputed.notes[0].startswith("imputed missing features")
