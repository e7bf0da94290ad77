"""The ``model:`` section: Wide & Deep's columns, checked when the space is parsed (built-in
datasets) and resolved against the loaded data's input columns (every dataset)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpsearch.errors import SpaceError
from hpsearch.space import BUILTIN_COLUMNS, DatasetSpec, load_space, parse_space
from hpsearch.space.columns import COLUMN_NEUTRAL_OPTIONS, builtin_columns
from tests.in_process import hpsearch
from tests.spaces import tiny_space_text

ROOT = Path(__file__).resolve().parents[2]
#: The diabetes variant of the tiny space: both architectures, the seed's 0-4 / 2-9 layout.
WIDE_DEEP: dict[str, Any] = {
    "name": "wd",
    "dataset": {"name": "diabetes"},
    "objective": "val_mae",
    "hyperparameters": {"architecture": {"choice": ["mlp", "wide_deep"]}, "n_hidden": 1},
    "model": {"wide_features": ["age", "sex", "bmi", "bp", "s1"], "deep_features": [2, 3, 4]},
}


def _parse(**sections: Any) -> Any:
    return parse_space(tiny_space_text(WIDE_DEEP, **sections))


def test_the_shipped_spaces_validate() -> None:
    """Both shipped spaces parse, their columns checked by name without any data read
    (california's would download)."""
    for name in ("california-wide-deep", "diabetes-wide-deep"):
        space = load_space(ROOT / "search_spaces" / f"{name}.yaml")
        assert space.params["architecture"].values() in (
            ["mlp", "wide_deep"],
            ["wide_deep", "mlp"],
        )
        assert space.model is not None and space.model.wide_features is not None


#: Dataset options a built-in accepts, alone and together; ``missing: impute`` gives
#: penguins a tenth input (``sex_missing``).
OPTIONS: list[dict[str, Any]] = [
    {},
    {"missing": "impute"},
    {"max_rows": 30},
    {"scale": "none"},
    {"split": {"valid": 0.3, "test": 0.1}},
    {"missing": "impute", "max_rows": 30, "scale": "minmax", "split": {"valid": 0.25}},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "defaults")
@pytest.mark.parametrize(
    "name", ["diabetes", "iris", "wine", "breast_cancer", "penguins", "digits"]
)
def test_builtin_columns_are_the_loaded_datas(name: str, options: dict[str, Any]) -> None:
    """The columns parse-time checks judge by are what the data recipe really gives the
    model under the same options, or unknown (None: judged once the data is loaded)."""
    from hpsearch.data import load_dataset
    from hpsearch.wide_deep import data_columns

    spec = DatasetSpec(name=name, **options)
    table = builtin_columns(spec)
    loaded = data_columns(load_dataset(spec, 1))
    assert table is None or table == loaded, (len(table), len(loaded))
    if set(options) <= {"max_rows", "scale", "split"}:  # these only pick and scale rows
        assert table == BUILTIN_COLUMNS[name]


def test_every_other_dataset_option_leaves_the_columns_to_the_data() -> None:
    """Any option outside the row-only ones (those the test above loads) may change a
    built-in's columns: penguins' missing, features, drop, target, and any added later."""
    defaults = DatasetSpec(name="penguins")
    changed = {"missing": "impute", "features": ["island"], "drop": ["sex"], "target": "sex"}
    changed |= {"task": "regression"}
    others = set(DatasetSpec.model_fields) - COLUMN_NEUTRAL_OPTIONS
    assert others == set(changed), "a new dataset option: add it here, or to the neutral ones"
    for key, value in changed.items():
        spec = DatasetSpec.model_construct(**(dict(defaults) | {key: value}))
        assert builtin_columns(spec) is None, key
    assert builtin_columns(defaults) == BUILTIN_COLUMNS["penguins"]


def test_penguins_imputed_columns_are_checked_against_the_data(tmp_path: Path) -> None:
    """``missing: impute`` adds ``sex_missing``: it parses by name and by index (it was
    refused at parse time), and a wrong name is still one line at its entry, from the data."""
    from hpsearch.api import load_data
    from hpsearch.wide_deep import model_columns

    penguins = {"name": "penguins", "missing": "impute"}
    for wide, picked in ((["sex_missing", "island"], [9, 4, 5, 6]), ([9], [9])):
        space = _parse(dataset=penguins, objective="val_accuracy", model={"wide_features": wide})
        data, space = load_data(space)
        assert data.feature_names[9] == "sex_missing"
        assert model_columns(space, data) == {"wide_features": picked, "deep_features": None}
    path = tmp_path / "space.yaml"
    path.write_text(
        tiny_space_text(
            WIDE_DEEP, dataset=penguins, objective="val_accuracy", model={"wide_features": [10]}
        )
    )
    assert hpsearch("validate", str(path), cwd=tmp_path).returncode == 0  # not known yet
    done = hpsearch("validate", str(path), "--data", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "wide_features[0]: index 10 is out of range: penguins has 10 input columns" in line


@pytest.mark.parametrize(
    ("model", "field", "expect"),
    [
        ({"wide_features": ["age", "bmo"]}, "model.wide_features[1]", "(did you mean 'bmi'?)"),
        ({"deep_features": [0, 10]}, "model.deep_features[1]", "index 10 is out of range"),
        ({"deep_features": [-1]}, "model.deep_features[0]", "index -1 is out of range"),
        ({"wide_features": ["bmi", 2]}, "model.wide_features[1]", "'bmi' is already in"),
        ({"wide_features": []}, "model.wide_features", "at least 1 item"),
        ({"wide_features": [True]}, "model.wide_features", "entry 0: expected a column name"),
        ({"deep_features": "bmi"}, "model.deep_features", "expected a list of column names"),
        ({"wide": [1]}, "model.wide", "unknown key 'wide'"),
    ],
)
def test_bad_columns_are_one_line_at_their_entry(
    model: dict[str, Any], field: str, expect: str
) -> None:
    with pytest.raises(SpaceError) as info:
        _parse(model=model)
    assert info.value.field == field, str(info.value)
    assert expect in info.value.problem, str(info.value)
    assert info.value.line is not None


def test_columns_without_wide_deep_or_with_a_builder_are_refused() -> None:
    with pytest.raises(SpaceError, match="applies to architecture wide_deep, which this space"):
        _parse(hyperparameters={"architecture": "mlp"})
    with pytest.raises(SpaceError, match="never builds"):
        _parse(hyperparameters={"n_hidden": 1})  # architecture left at its default, mlp
    with pytest.raises(SpaceError, match="a builder builds its own model"):
        _parse(builder="mod:build")


def test_unknown_architecture_has_a_hint() -> None:
    with pytest.raises(SpaceError) as info:
        _parse(hyperparameters={"architecture": {"choice": ["mlp", "wide_and_deep"]}})
    assert info.value.field == "hyperparameters.architecture.choice[1]"
    assert "did you mean 'wide_deep'?" in info.value.problem


def _csv_space(tmp_path: Path, model: dict[str, Any]) -> Path:
    """A CSV with a text column (one-hot: three inputs), and a space over it."""
    rows = ["a,b,color,when,y"]
    colors = ["red", "green", "blue"]
    rows += [f"{i},{i % 7},{colors[i % 3]},2024-01-{i % 28 + 1:02d},{i * 0.5}" for i in range(40)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    space = tmp_path / "space.yaml"
    space.write_text(
        tiny_space_text(
            WIDE_DEEP,
            dataset={"name": "csv:data.csv", "target": "y"},
            objective="val_loss",
            model=model,
        )
    )
    return space


def test_raw_columns_stand_for_their_inputs(tmp_path: Path) -> None:
    """A text column's name picks its one-hot inputs, a date's its parts; indices and
    input names pick one each, in the order given."""
    from hpsearch.api import load_data
    from hpsearch.wide_deep import model_columns

    space = load_space(_csv_space(tmp_path, {"wide_features": ["color", 0, "when"]}))
    data, space = load_data(space)
    names = data.feature_names
    columns = model_columns(space, data)
    assert columns is not None and columns["deep_features"] is None
    picked = [names[i] for i in columns["wide_features"]]
    assert picked[:4] == ["color_blue", "color_green", "color_red", "a"]
    assert picked[4:] and all(n.startswith("when_") for n in picked[4:])


#: A table exported with numbered columns, and a number column named like a one-hot input.
CLASHING = [("b", "b"), ("color_red", "color_red"), (" spaced ", " spaced "), ("0", "0"),
            ("color_blue", "color"), ("color_red", "color")]  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "expect"),
    [
        (0, "0 is ambiguous in t.csv: input 0 is 'b', and input 3 is named '0'; write 'b'"),
        ("color_red", "'color_red' names 2 inputs of t.csv (indices 1, 5): give the index"),
        (" spaced", "' spaced' is not a column of t.csv (did you mean ' spaced '?); "
                    "columns: 'b', 'color_red', ' spaced ', '0', 'color_blue', "
                    "'color_red', 'color'"),
    ],
)  # fmt: skip
def test_an_ambiguous_entry_is_refused_not_guessed(entry: Any, expect: str) -> None:
    from hpsearch.space.columns import ModelSpec, resolve_selection

    spec = ModelSpec(wide_features=[entry])
    with pytest.raises(SpaceError) as info:
        resolve_selection(spec, CLASHING, dataset="t.csv")
    assert expect in str(info.value)


def test_unambiguous_names_and_indices_of_a_clashing_table_resolve() -> None:
    from hpsearch.space.columns import ModelSpec, resolve_selection

    spec = ModelSpec(wide_features=["0", "color", " spaced "], deep_features=[1, 5])
    picked = resolve_selection(spec, CLASHING, dataset="t.csv")
    assert picked == {"wide_features": [3, 4, 5, 2], "deep_features": [1, 5]}


@pytest.mark.parametrize(
    ("model", "expect"),
    [
        ({"wide_features": ["a", "colour"]}, "wide_features[1]: 'colour' is not a column of"),
        ({"deep_features": [1, 99]}, "deep_features[1]: index 99 is out of range"),
    ],
)
def test_columns_the_data_lacks_stop_a_run_before_anything_is_created(
    tmp_path: Path, model: dict[str, Any], expect: str
) -> None:
    space = _csv_space(tmp_path, model)
    args = ["--tracking-uri", f"sqlite:///{tmp_path}/m.db", "--output", str(tmp_path / "out")]
    done = hpsearch("run", str(space), *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], done.stderr
    assert f"{space}:" in lines[0]  # file:line of the entry
    if "colour" in expect:
        assert "(did you mean 'color'?)" in lines[0]
    assert not (tmp_path / "m.db").exists()  # not even an empty store
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "space.yaml"]
    check = hpsearch("validate", str(space), "--data", cwd=tmp_path)
    assert check.returncode == 2 and expect in check.stderr


def test_validate_shows_the_columns(tmp_path: Path, write_space: Callable[..., Path]) -> None:
    space = write_space(tiny_space_text(WIDE_DEEP))
    done = hpsearch("validate", str(space), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "model: wide_features age, sex, bmi, bp, s1; deep_features 2, 3, 4" in done.stdout
