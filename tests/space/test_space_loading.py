"""Search-space files: schema, validation errors with file:line, and the Space helpers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpsearch.space import (
    TASK_METRICS,
    VOCABULARY,
    Bool,
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    Objective,
    SpaceError,
    hyperband_trials,
    load_space,
    parse_logged,
    parse_space,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "search_spaces").glob("*.yaml"))

# Line numbers of the expected errors below count from this five-line base.
BASE = (
    "name: t\n"  # 1
    "dataset:\n"  # 2
    "  name: digits\n"  # 3
    "hyperparameters:\n"  # 4
    "  n_hidden: {int: [1, 3]}\n"  # 5
)
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


def test_declared_defaults_win(write_space: Callable[..., Path]) -> None:
    text = (
        BASE.replace("{int: [1, 3]}", "{int: [1, 3], default: 2}")
        + "  optimizer: {choice: [sgd, adam]}\n"
        + "  activation: {choice: [relu, tanh], default: tanh}\n"
        + "  normalize: {bool: true}\n"
    )
    space = load_space(write_space(text))
    assert space.default_of("n_hidden") == 2
    assert space.default_of("optimizer") == "sgd"  # no default: the first option
    assert space.default_of("activation") == "tanh"
    assert space.params["normalize"] == Bool(default=True)
    assert isinstance(space.params["optimizer"], Choice)


def test_size_of_a_finite_space(write_space: Callable[..., Path]) -> None:
    text = BASE + (
        "  n_neurons: {int: [16, 128], step: 16}\n"
        "  optimizer: {choice: [sgd, adam, nadam]}\n"
        "  dropout: {float: [0.0, 0.3], step: 0.1}\n"
        "  normalize: {bool: false}\n"
    )
    space = load_space(write_space(text))
    assert isinstance(space.params["n_neurons"], IntRange)
    # n_hidden 1..3, n_neurons 16, 32, ..., 128, three optimizers, dropout 0.0..0.3, a bool
    assert space.size() == 3 * 8 * 3 * 4 * 2


def test_size_counts_every_integer_of_a_log_int_range(write_space: Callable[..., Path]) -> None:
    space = load_space(write_space(BASE + "  n_neurons: {int: [4, 8], log: true}\n"))
    assert space.size() == 3 * 5


def test_size_of_a_continuous_space_is_none(write_space: Callable[..., Path]) -> None:
    text = BASE + "  learning_rate: {float: [1e-4, 1e-2], log: true}\n"
    assert load_space(write_space(text)).size() is None


# ----------------------------------------------------------------------------- objective


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("accuracy", "max"),
        ("val_accuracy", "max"),
        ("val_auc", "max"),
        ("loss", "min"),
        ("val_loss", "min"),
        ("mse", "min"),
        ("val_mse", "min"),
        ("mae", "min"),
        ("val_mae", "min"),
        ("val_rmse", "min"),
    ],
)
def test_direction_is_inferred_from_the_metric(metric: str, direction: str) -> None:
    assert Objective.infer(metric).direction == direction


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


# ----------------------------------------------------------------------------- overrides


def test_with_overrides_applies_cli_flags(write_space: Callable[..., Path]) -> None:
    space = load_space(write_space(BASE))
    new = space.with_overrides(strategy="hyperband", max_trials=4, seed=7, epochs=3, backend=None)
    assert (new.search.strategy, new.search.max_trials, new.search.seed) == ("hyperband", 4, 7)
    assert new.training.epochs == 3
    assert new.search.backend == "keras-tuner"  # None keeps the file's value
    # The original is left alone.
    assert (space.search.strategy, space.search.max_trials, space.training.epochs) == (
        "random",
        10,
        10,
    )


@pytest.mark.parametrize(
    ("overrides", "flag", "phrase"),
    [
        ({"strategy": "bogus"}, "--strategy", "unknown strategy 'bogus'"),
        ({"strategy": "hyperbnd"}, "--strategy", "(did you mean 'hyperband'?)"),
        ({"backend": "rey"}, "--backend", "unknown backend 'rey'"),
        ({"max_trials": 0}, "--max-trials", "greater than or equal to 1"),
        ({"epochs": 0}, "--epochs", "greater than or equal to 1"),
    ],
)
def test_with_overrides_rejects_bad_flags(
    write_space: Callable[..., Path], overrides: dict[str, Any], flag: str, phrase: str
) -> None:
    space = load_space(write_space(BASE))
    with pytest.raises(SpaceError) as info:
        space.with_overrides(**overrides)
    assert info.value.field == flag
    assert str(info.value).startswith(f"{flag}: ")
    assert phrase in str(info.value)


# ----------------------------------------------------------------------------- shipped files


def test_digits_space_ships() -> None:
    assert ROOT / "search_spaces" / "digits.yaml" in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_space_loads(path: Path) -> None:
    space = load_space(path)
    assert space.searched(), "a shipped space should search something"
    if space.task is not None:
        assert space.objective.metric.removeprefix("val_") in TASK_METRICS[space.task]


# ----------------------------------------------------------------------------- hyperband


@pytest.mark.parametrize(
    ("max_epochs", "factor", "iterations", "expected"),
    [
        # Keras Tuner: brackets while max_epochs / factor**k >= 1 (10, 3.3, 1.1: 3 brackets);
        # end size s = ceil(1 + log_3 10) = 4; round r of bracket b has
        # ceil(s / (b + 1) * 3 ** (b - r)) trials:
        # b=0: 4; b=1: 6 + 2; b=2: 12 + 4 + 2 -> 30.
        (10, 3, 1, 30),
        (10, 3, 2, 60),
        # 2, 1: 2 brackets; s = ceil(1 + log_2 2) = 2; b=0: 2; b=1: 2 + 1 -> 5 per iteration.
        (2, 2, 2, 10),
        # One bracket of one trial.
        (1, 3, 1, 1),
    ],
)
def test_hyperband_trials_follow_keras_tuner_brackets(
    max_epochs: int, factor: int, iterations: int, expected: int
) -> None:
    assert hyperband_trials(max_epochs, factor, iterations) == expected


def test_epochs_flag_is_every_trials_cap_hyperbands_max_epochs_included() -> None:
    """`--epochs N` wins over the file: training.epochs and Hyperband's (and ASHA's)
    max_epochs both become N; a space without max_epochs keeps none (it follows epochs)."""
    digits = load_space(ROOT / "search_spaces" / "digits.yaml")
    assert digits.search.hyperband.max_epochs == 10
    capped = digits.with_overrides(epochs=2)
    assert capped.training.epochs == 2 and capped.search.hyperband.max_epochs == 2
    assert capped.hyperband_cap()[0] <= capped.search.max_trials
    plain = parse_space("name: t\ndataset: {name: digits}\nhyperparameters:\n  n_hidden: 2\n")
    assert plain.with_overrides(epochs=3).search.hyperband.max_epochs is None
    with pytest.raises(SpaceError, match="--epochs"):
        digits.with_overrides(epochs=0)


def test_a_logged_space_is_parsed_once_and_a_broken_one_is_none() -> None:
    text = "name: t\ndataset: {name: digits}\nhyperparameters:\n  n_hidden: {int: [1, 3]}\n"
    assert parse_logged(text) is parse_logged(text)  # cached: reports ask per search
    assert parse_logged(text).searched_names() == ["n_hidden"]  # type: ignore[union-attr]
    assert parse_logged("nonsense: [") is None and parse_logged(None) is None
