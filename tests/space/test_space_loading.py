"""Loading space files: validation errors with file:line, the YAML loader, defaults filled
in, the objective resolved, and the shipped files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hpsearch.space import (
    TASK_METRICS,
    VOCABULARY,
    Fixed,
    FloatRange,
    SpaceError,
    TrainingSpec,
    compose_yaml,
    load_space,
    parse_logged,
    parse_space,
    validate_yaml,
)
from tests.space.space_texts import BASE

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "search_spaces").glob("*.yaml"))

# Line numbers of the expected errors below count from BASE's five lines.
MISSING = "<no such file>"
DIRECTORY = "<a directory>"

# fmt: off
ERROR_CASES = [
    # (text, line, field, key phrase)
    pytest.param(BASE + "  dropout: a: b\n", 6, None, "invalid YAML", id="yaml-syntax"),
    pytest.param(
        "name: t\ndataset:\n  name: digits\n hyperparameters:\n  n_hidden: 1\n",
        4, None, "invalid YAML", id="yaml-indentation",
    ),
    pytest.param(
        BASE.replace("[1, 3]", "[5, 3]"),
        5, "hyperparameters.n_hidden.int", "min 5 > max 3", id="min-above-max",
    ),
    pytest.param(
        BASE + "  dropout: {float: [0.0, 0.5], log: true}\n",
        6, "hyperparameters.dropout.float", "a log range must stay above 0", id="log-float-zero",
    ),
    pytest.param(
        BASE.replace("{int: [1, 3]}", "{int: [0, 3], log: true}"),
        5, "hyperparameters.n_hidden.int", "a log range must stay above 0", id="log-int-zero",
    ),
    pytest.param(
        BASE + "  dropout: 1.0\n",
        6, "hyperparameters.dropout", "1.0 is outside [0, 1)", id="dropout-one",
    ),
    pytest.param(
        BASE + "  dropout: -0.1\n",
        6, "hyperparameters.dropout", "-0.1 is below the minimum 0", id="dropout-negative",
    ),
    pytest.param(
        BASE + "  dropout: {float: [0.1, 1.0]}\n",
        6, "hyperparameters.dropout.float[1]", "outside [0, 1)", id="dropout-range-to-one",
    ),
    pytest.param(
        BASE + "  optimizer: {choice: []}\n",
        6, "hyperparameters.optimizer.choice", "choice is empty", id="empty-choice",
    ),
    pytest.param(
        BASE + '  n_neurons: "abc"\n',
        6, "hyperparameters.n_neurons", "expected a number, got 'abc'", id="n-neurons-string",
    ),
    pytest.param(
        BASE + "training:\n  epochs: ten\n",
        7, "training.epochs", "valid integer", id="epochs-string",
    ),
    pytest.param(
        "name: t\ndataset:\n  name: digits\nhyperparameters:\n"
        "  n_hidden:\n    int:\n      - 1\n      - abc\n",
        8, "hyperparameters.n_hidden.int[1]", "expected a number", id="block-list-item",
    ),
    pytest.param(
        BASE + "search:\n  strategy: hyperbnd\n",
        7, "search.strategy", "unknown strategy 'hyperbnd' (did you mean 'hyperband'?)",
        id="unknown-strategy",
    ),
    pytest.param(
        BASE.replace("name: digits", "name: digit"),
        3, "dataset.name", "unknown dataset 'digit' (did you mean 'digits'?)",
        id="unknown-dataset",
    ),
    pytest.param(
        BASE + "  n_neuron: 32\n",
        6, "hyperparameters.n_neuron",
        "unknown hyperparameter 'n_neuron' (did you mean 'n_neurons'?)", id="unknown-hparam",
    ),
    pytest.param(
        BASE + "trainig:\n  epochs: 3\n",
        6, "trainig", "unknown key 'trainig' (did you mean 'training'?)", id="unknown-top-key",
    ),
    pytest.param(
        BASE + "training: {epochs: 5, patiense: 2}\n",
        6, "training.patiense", "unknown key 'patiense' (did you mean 'patience'?)",
        id="unknown-nested-key",
    ),
    pytest.param(
        BASE + "search:\n  hyperband:\n    factor: 1\n",
        8, "search.hyperband.factor", "greater than or equal to 2", id="nested-bound",
    ),
    pytest.param(
        "dataset:\n  name: digits\nhyperparameters:\n  n_hidden: 1\n",
        1, "name", "is required", id="missing-name",
    ),
    pytest.param(
        "name: t\nhyperparameters:\n  n_hidden: 1\n",
        1, "dataset", "is required", id="missing-dataset",
    ),
    pytest.param(
        "name: t\ndataset:\n  name: digits\n",
        1, "hyperparameters", "is required", id="missing-hyperparameters",
    ),
    pytest.param(
        "name: t\ndataset:\n  split: {valid: 0.2}\nhyperparameters:\n  n_hidden: 1\n",
        2, "dataset.name", "is required", id="missing-dataset-name",
    ),
    pytest.param(
        "name: t\ndataset:\n  name: digits\nhyperparameters: {}\n",
        4, "hyperparameters", "declare at least one hyperparameter", id="no-hyperparameters",
    ),
    pytest.param(
        BASE + "objective: val_mae\n",
        6, "objective", "'val_mae' is not reported for a multiclass task",
        id="objective-not-produced",
    ),
    pytest.param(
        BASE + "objective: val_f1\n",
        6, "objective", "cannot infer whether to maximise or minimise 'val_f1'",
        id="objective-direction-unknown",
    ),
    pytest.param("", 1, None, "the file is empty", id="empty-file"),
    pytest.param("- name: t\n- dataset: digits\n", 1, None, "expected a mapping", id="top-list"),
    pytest.param(MISSING, None, None, "no such file", id="missing-file"),
    pytest.param(DIRECTORY, None, None, "is a directory", id="directory"),
]
# fmt: on


@pytest.mark.parametrize(("text", "line", "field", "phrase"), ERROR_CASES)
def test_error_names_file_line_and_field(
    tmp_path: Path,
    write_space: Callable[..., Path],
    text: str,
    line: int | None,
    field: str | None,
    phrase: str,
) -> None:
    if text == MISSING:
        path = tmp_path / "absent.yaml"
    elif text == DIRECTORY:
        path = tmp_path / "folder.yaml"
        path.mkdir()
    else:
        path = write_space(text)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    message = str(info.value)
    prefix = (f"{path}:{line}: " if line else f"{path}: ") + (f"{field}: " if field else "")
    assert message.startswith(prefix), message
    assert phrase in message[len(prefix) :], message
    assert "\n" not in message
    assert (info.value.file, info.value.line, info.value.field) == (str(path), line, field)


def test_parse_space_labels_text_without_a_file() -> None:
    with pytest.raises(SpaceError, match=r"^<space>:5: hyperparameters\.n_hidden\.int: min"):
        parse_space(BASE.replace("[1, 3]", "[3, 1]"))


# ----------------------------------------------------------------------------- parsing


def test_exponent_without_a_dot_is_a_float(write_space: Callable[..., Path]) -> None:
    # Plain YAML 1.1 reads 1e-4 as a string: the loader must not.
    assert yaml.safe_load("x: 1e-4")["x"] == "1e-4"
    text = BASE + "  learning_rate: {float: [1e-4, 1e-2], log: true}\n  dropout: 5e-1\n"
    space = load_space(write_space(text))
    lr = space.params["learning_rate"]
    assert isinstance(lr, FloatRange)
    assert (lr.min, lr.max, lr.log) == (1e-4, 1e-2, True)
    assert space.params["dropout"] == Fixed(value=0.5)


def test_defaults_fill_unlisted_hyperparameters(write_space: Callable[..., Path]) -> None:
    space = load_space(write_space(BASE))
    assert set(space.params) == set(VOCABULARY)
    assert list(space.searched()) == ["n_hidden"]
    for name, info in VOCABULARY.items():
        if name == "n_hidden":
            continue
        assert space.params[name] == Fixed(value=info.default), name
        assert space.default_of(name) == info.default
    # A range without a default starts at its minimum.
    assert space.default_of("n_hidden") == 1
    assert (space.training.epochs, space.search.strategy, space.search.max_trials) == (
        10,
        "random",
        10,
    )


# ----------------------------------------------------------------------------- objective


def test_default_objective_follows_the_task(write_space: Callable[..., Path]) -> None:
    digits = load_space(write_space(BASE, "digits.yaml"))
    assert (digits.objective.metric, digits.objective.direction) == ("val_accuracy", "max")
    diabetes = load_space(write_space(BASE.replace("digits", "diabetes"), "diabetes.yaml"))
    assert (diabetes.objective.metric, diabetes.objective.direction) == ("val_loss", "min")
    assert diabetes.task == "regression"


def test_explicit_direction_for_a_file_dataset(write_space: Callable[..., Path]) -> None:
    text = (
        "name: t\ndataset:\n  name: csv:data.csv\n  target: y\n"
        "objective: {metric: val_f1, direction: max}\n"
        "hyperparameters:\n  n_hidden: 1\n"
    )
    space = load_space(write_space(text))
    assert (space.objective.metric, space.objective.direction) == ("val_f1", "max")
    assert space.task is None and space.dataset.is_file


# ----------------------------------------------------------------------------- shipped files


def test_digits_space_ships() -> None:
    assert ROOT / "search_spaces" / "digits.yaml" in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_space_loads(path: Path) -> None:
    space = load_space(path)
    assert space.searched(), "a shipped space should search something"
    if space.task is not None:
        assert space.objective.metric.removeprefix("val_") in TASK_METRICS[space.task]


def test_a_logged_space_is_parsed_once_and_a_broken_one_is_none() -> None:
    text = "name: t\ndataset: {name: digits}\nhyperparameters:\n  n_hidden: {int: [1, 3]}\n"
    assert parse_logged(text) is parse_logged(text)  # cached: reports ask per search
    assert parse_logged(text).searched_names() == ["n_hidden"]  # type: ignore[union-attr]
    assert parse_logged("nonsense: [") is None and parse_logged(None) is None


def test_compose_yaml_maps_every_key_path_to_its_line() -> None:
    raw, lines, fail = compose_yaml("a:\n  b: [1,\n    2]\n", "f.yaml")
    assert raw == {"a": {"b": [1, 2]}}
    assert lines == {(): 1, ("a",): 1, ("a", "b"): 2, ("a", "b", 0): 2, ("a", "b", 1): 3}
    assert str(fail(("a", "b", 1), "bad")) == "f.yaml:3: a.b[1]: bad"
    with pytest.raises(SpaceError, match=r"^f\.yaml:1: epochs: Input should be greater"):
        validate_yaml({"epochs": 0}, TrainingSpec, fail)


def test_a_repeated_key_is_an_error_not_a_silent_overwrite() -> None:
    with pytest.raises(SpaceError) as info:
        compose_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert str(info.value) == "f.yaml:3: a: duplicate key 'a' (first on line 1)"
